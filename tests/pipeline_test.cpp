// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/pipeline.h>

#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <zcap/pattern.h>
#include <zcap/pattern_source.h>

#include "unstartable_source.h"

using namespace zcap;

namespace {

/// A sink that records what it saw, may be slow, may hold frames as if the
/// kernel were still reading them, and may fail at a given frame.
class RecordingSink final : public Sink {
public:
	struct Seen {
		uint64_t sequence;
		const std::byte *data;
		bool intact; ///< the bytes equal the pattern when the sink let go
	};

	std::chrono::milliseconds delay{0};
	size_t hold = 0;      ///< frames kept "in flight" after write()
	int64_t fail_at = -1; ///< write() number that fails
	std::vector<Seen> seen;
	bool finished = false;

	std::string description() const override { return "recording sink"; }
	Status start(const StreamInfo &info) override
	{
		format_ = info.format;
		return {};
	}
	Status write(const Frame &frame) override
	{
		if (int64_t(writes_++) == fail_at)
			return Status::from_errno(EIO, "injected failure");
		std::this_thread::sleep_for(delay);
		held_.push_back(frame);
		while (held_.size() > hold)
			release_oldest();
		return {};
	}
	bool busy() const override { return !held_.empty(); }
	Status service(std::chrono::milliseconds) override
	{
		if (!held_.empty())
			release_oldest();
		return {};
	}
	Status finish() override
	{
		while (!held_.empty())
			release_oldest();
		finished = true;
		return {};
	}

private:
	void release_oldest()
	{
		const Frame &f = held_.front();
		std::vector<std::byte> expected(f.data().size());
		pattern::render(format_, f.sequence(), expected);
		bool intact = std::memcmp(expected.data(), f.data().data(), expected.size()) == 0;
		seen.push_back({f.sequence(), f.data().data(), intact});
		stats_.frames++;
		held_.pop_front();
	}

	FrameFormat format_;
	uint64_t writes_ = 0;
	std::deque<Frame> held_;
};

std::unique_ptr<PatternSource> make_source(FrameRate rate, unsigned buffers)
{
	Status status;
	auto source =
		PatternSource::create(*packed_format(pixfmt::YUYV, 64, 48), rate, buffers, status);
	EXPECT_TRUE(source) << status.message();
	return source;
}

} // namespace

TEST(Pipeline, FansOutOneFrameToEverySinkWithoutCopying)
{
	auto source = make_source({}, 8);
	Pipeline pipeline(*source);
	std::vector<RecordingSink *> sinks;
	for (int i = 0; i < 3; ++i) {
		auto sink = std::make_unique<RecordingSink>();
		sinks.push_back(sink.get());
		pipeline.add_sink(std::move(sink),
				  {.queue_frames = 2, .policy = OverflowPolicy::block});
	}
	std::atomic<bool> stop{false};
	ASSERT_TRUE(pipeline.run({.frames = 50}, stop).ok());

	for (RecordingSink *sink : sinks) {
		EXPECT_TRUE(sink->finished);
		ASSERT_EQ(sink->seen.size(), 50u);
		for (size_t i = 0; i < 50; ++i) {
			EXPECT_EQ(sink->seen[i].sequence, i);
			EXPECT_TRUE(sink->seen[i].intact) << "frame " << i;
			// The same frame is the same pages in every sink.
			EXPECT_EQ(sink->seen[i].data, sinks[0]->seen[i].data);
		}
	}
	EXPECT_EQ(pipeline.frames_in(), 50u);
}

TEST(Pipeline, FramesHeldByInFlightIoAreNotReused)
{
	// Four buffers; the sink keeps three frames "in flight". If the source
	// refilled a held buffer, the sink would see the wrong bytes on release.
	auto source = make_source({}, 4);
	Pipeline pipeline(*source);
	auto sink = std::make_unique<RecordingSink>();
	sink->hold = 3;
	RecordingSink *s = sink.get();
	pipeline.add_sink(std::move(sink), {.queue_frames = 1, .policy = OverflowPolicy::block});
	std::atomic<bool> stop{false};
	ASSERT_TRUE(pipeline.run({.frames = 100}, stop).ok());
	ASSERT_EQ(s->seen.size(), 100u);
	for (const auto &seen : s->seen)
		EXPECT_TRUE(seen.intact) << "frame " << seen.sequence << " changed while pinned";
}

TEST(Pipeline, ASlowSinkDropsFramesAndCountsThemWithoutSlowingOthers)
{
	auto source = make_source({200, 1}, 12);
	Pipeline pipeline(*source);
	auto slow = std::make_unique<RecordingSink>();
	slow->delay = std::chrono::milliseconds(20);
	auto fast = std::make_unique<RecordingSink>();
	RecordingSink *s = slow.get(), *f = fast.get();
	pipeline.add_sink(std::move(slow), {.queue_frames = 1, .policy = OverflowPolicy::drop});
	// The fast sink blocks rather than drops: on a loaded machine a 20 ms
	// hiccup of its thread must not be mistaken for the slow sink's doing.
	pipeline.add_sink(std::move(fast), {.queue_frames = 8, .policy = OverflowPolicy::block});
	std::atomic<bool> stop{false};
	ASSERT_TRUE(pipeline.run({.frames = 100}, stop).ok());

	EXPECT_EQ(f->seen.size(), 100u);
	EXPECT_EQ(source->stats().dropped.load(), 0u);
	EXPECT_GT(s->stats().dropped.load(), 0u);
	EXPECT_EQ(s->seen.size() + s->stats().dropped.load(), 100u);
	for (size_t i = 1; i < s->seen.size(); ++i)
		EXPECT_LT(s->seen[i - 1].sequence, s->seen[i].sequence);
}

TEST(Pipeline, BlockPolicyLosesNothing)
{
	auto source = make_source({}, 4);
	Pipeline pipeline(*source);
	auto slow = std::make_unique<RecordingSink>();
	slow->delay = std::chrono::milliseconds(2);
	RecordingSink *s = slow.get();
	pipeline.add_sink(std::move(slow), {.queue_frames = 1, .policy = OverflowPolicy::block});
	std::atomic<bool> stop{false};
	ASSERT_TRUE(pipeline.run({.frames = 60}, stop).ok());
	EXPECT_EQ(s->seen.size(), 60u);
	EXPECT_EQ(s->stats().dropped.load(), 0u);
}

TEST(Pipeline, AFailingSinkIsReportedAndTheOthersGoOn)
{
	auto source = make_source({}, 8);
	Pipeline pipeline(*source);
	auto failing = std::make_unique<RecordingSink>();
	failing->fail_at = 5;
	auto healthy = std::make_unique<RecordingSink>();
	RecordingSink *bad = failing.get(), *good = healthy.get();
	pipeline.add_sink(std::move(failing), {.policy = OverflowPolicy::block});
	pipeline.add_sink(std::move(healthy), {.policy = OverflowPolicy::block});
	std::atomic<bool> stop{false};
	Status status = pipeline.run({.frames = 40}, stop);

	EXPECT_FALSE(status.ok());
	EXPECT_NE(status.message().find("injected failure"), std::string::npos);
	EXPECT_TRUE(bad->finished) << "a failed sink still gets finish()";
	EXPECT_EQ(bad->seen.size(), 5u);
	EXPECT_EQ(good->seen.size(), 40u);
	EXPECT_FALSE(pipeline.results()[0].status.ok());
	EXPECT_TRUE(pipeline.results()[1].status.ok());
}

TEST(Pipeline, StopsWhenEverySinkHasFailed)
{
	auto source = make_source({}, 4);
	Pipeline pipeline(*source);
	auto failing = std::make_unique<RecordingSink>();
	failing->fail_at = 3;
	pipeline.add_sink(std::move(failing), {.policy = OverflowPolicy::block});
	std::atomic<bool> stop{false};
	EXPECT_FALSE(pipeline.run({}, stop).ok()); // no limit: only the failure ends it
	EXPECT_LT(pipeline.frames_in(), 1000u);
}

TEST(Pipeline, StopFlagEndsARunAtTheFrameRate)
{
	auto source = make_source({50, 1}, 4);
	Pipeline pipeline(*source);
	auto sink = std::make_unique<RecordingSink>();
	RecordingSink *s = sink.get();
	pipeline.add_sink(std::move(sink), {});
	// Raised once the sink has 10 frames, however long a loaded machine
	// takes to get there; the run ends without a frame limit.
	constexpr uint64_t kFrames = 10;
	std::atomic<bool> stop{false};
	auto stop_after_some = [&] {
		if (s->stats().frames.load() >= kFrames)
			stop = true;
	};
	auto begin = std::chrono::steady_clock::now();
	EXPECT_TRUE(pipeline.run({}, stop, stop_after_some, std::chrono::milliseconds(10)).ok());
	auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin);
	ASSERT_GE(s->seen.size(), kFrames);
	// Never faster than 50 fps: frame n is not made before n / 50 s.
	EXPECT_LE(double(s->seen.back().sequence) / 50, elapsed.count());
	// Every frame made was seen, or counted when the sink's queue was
	// full (the source counts those it could not make).
	EXPECT_EQ(s->seen.size() + s->stats().dropped.load(), pipeline.frames_in());
	for (size_t i = 1; i < s->seen.size(); ++i)
		EXPECT_LT(s->seen[i - 1].sequence, s->seen[i].sequence);
}

TEST(Pipeline, SinksAreFinishedWhenTheSourceCannotStart)
{
	test::UnstartableSource source("unstartable", EIO);

	Pipeline pipeline(source);
	auto sink = std::make_unique<RecordingSink>();
	RecordingSink *recording = sink.get();
	pipeline.add_sink(std::move(sink), {});
	std::atomic<bool> stop{false};
	Status status = pipeline.run({.frames = 5}, stop);
	EXPECT_EQ(status.message(), "STREAMON: Input/output error");
	EXPECT_TRUE(recording->finished) << "a started sink must close its output";
}

TEST(Pipeline, SourcesHearWhereTheSinksWantFrames)
{
	// A sink that wants frame i at (i * 1000) % 4096 into a page.
	class PlacingSink final : public Sink {
	public:
		std::string description() const override { return "placing"; }
		Status start(const StreamInfo &) override { return {}; }
		Status write(const Frame &frame) override
		{
			offsets.push_back(reinterpret_cast<uintptr_t>(frame.data().data()) % 4096);
			return {};
		}
		bool busy() const override { return false; }
		Status service(std::chrono::milliseconds) override { return {}; }
		Status finish() override { return {}; }
		std::optional<uint32_t> page_offset(uint64_t index) const override
		{
			return uint32_t(index * 1000 % 4096);
		}
		std::vector<uintptr_t> offsets;
	};
	auto source = make_source({}, 4);
	Pipeline pipeline(*source);
	auto sink = std::make_unique<PlacingSink>();
	PlacingSink *placing = sink.get();
	pipeline.add_sink(std::move(sink), {.queue_frames = 1, .policy = OverflowPolicy::block});
	std::atomic<bool> stop{false};
	ASSERT_TRUE(pipeline.run({.frames = 20}, stop));
	ASSERT_EQ(placing->offsets.size(), 20u);
	for (uint64_t i = 0; i < 20; ++i)
		EXPECT_EQ(placing->offsets[i], i * 1000 % 4096) << "frame " << i;
}
