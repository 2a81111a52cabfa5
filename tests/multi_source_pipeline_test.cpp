// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/multi_source_pipeline.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include <zcap/pattern.h>
#include <zcap/pattern_source.h>

#include "unstartable_source.h"

using namespace zcap;

namespace {

/// Checks every frame against the pattern and notes its timestamp and the
/// run's time zero as the sink saw it.
class CheckingSink final : public Sink {
public:
	std::vector<uint64_t> timestamps;
	std::vector<uint64_t> sequences;
	std::vector<uint64_t> zero_at_write;
	uint64_t corrupt = 0;
	bool finished = false;

	std::string description() const override { return "checking sink"; }
	Status start(const StreamInfo &info) override
	{
		format_ = info.format;
		clock_ = info.clock;
		return {};
	}
	Status write(const Frame &frame) override
	{
		std::vector<std::byte> expected(frame.data().size());
		pattern::render(format_, frame.sequence(), expected);
		corrupt += std::memcmp(expected.data(), frame.data().data(), expected.size()) != 0;
		timestamps.push_back(frame.timestamp_ns());
		sequences.push_back(frame.sequence());
		zero_at_write.push_back(clock_ && clock_->zero() ? *clock_->zero() : UINT64_MAX);
		stats_.frames++;
		return {};
	}
	bool busy() const override { return false; }
	Status service(std::chrono::milliseconds) override { return {}; }
	Status finish() override
	{
		finished = true;
		return {};
	}

private:
	FrameFormat format_;
	const RunClock *clock_ = nullptr;
};

std::unique_ptr<PatternSource> make_source(uint32_t width, FrameRate rate)
{
	Status status;
	auto source =
		PatternSource::create(*packed_format(pixfmt::YUYV, width, 48), rate, 8, status);
	EXPECT_TRUE(source) << status.message();
	return source;
}

} // namespace

TEST(MultiSourcePipeline, EverySourceFeedsItsOwnSinksOnOneTimeZero)
{
	// Different sizes, so that a frame in the wrong sink would not match.
	std::vector<std::unique_ptr<PatternSource>> sources;
	std::vector<CheckingSink *> sinks;
	MultiSourcePipeline pipeline;
	for (uint32_t width : {64u, 32u, 16u}) {
		sources.push_back(make_source(width, {200, 1}));
		size_t index = pipeline.add_source(*sources.back());
		auto sink = std::make_unique<CheckingSink>();
		sinks.push_back(sink.get());
		pipeline.add_sink(index, std::move(sink),
				  {.queue_frames = 4, .policy = OverflowPolicy::block});
	}
	std::atomic<bool> stop{false};
	ASSERT_TRUE(pipeline.run({.frames = 20}, stop).ok());

	ASSERT_TRUE(pipeline.clock()->zero());
	uint64_t zero = *pipeline.clock()->zero();
	const uint64_t period = 1'000'000'000 / 200;
	uint64_t earliest = UINT64_MAX;
	for (size_t i = 0; i < 3; ++i) {
		CheckingSink *sink = sinks[i];
		const SourceResult &result = pipeline.results()[i];
		EXPECT_TRUE(result.status.ok()) << result.status.message();
		EXPECT_TRUE(sink->finished);
		ASSERT_EQ(sink->timestamps.size(), 20u);
		EXPECT_EQ(sink->corrupt, 0u);
		// The zero is known before any sink sees a frame.
		for (uint64_t seen : sink->zero_at_write)
			EXPECT_EQ(seen, zero);
		// Each camera records from its first frame at or after the zero;
		// the frames before it are counted, and the rest follow in order.
		EXPECT_GE(sink->timestamps.front(), zero);
		EXPECT_LT(sink->timestamps.front(), zero + period);
		EXPECT_EQ(sink->sequences.front(), result.frames_before_zero);
		for (size_t n = 1; n < sink->sequences.size(); ++n)
			EXPECT_EQ(sink->sequences[n], sink->sequences[n - 1] + 1);
		earliest = std::min(earliest, sink->timestamps.front());
		EXPECT_EQ(result.frames_in, 20u);
		ASSERT_TRUE(result.start_offset_ns);
		EXPECT_EQ(*result.start_offset_ns, sink->timestamps.front() - zero);
		// Every frame is measured against source 0's.
		EXPECT_EQ(pipeline.alignment(i).frames, 20u);
	}
	EXPECT_EQ(zero, earliest) << "the zero is the last camera's first frame";
	ASSERT_EQ(pipeline.results().size(), 3u);
	EXPECT_EQ(pipeline.alignment(0).max_ns, 0u);
	EXPECT_EQ(pipeline.failed(), 0u);
}

TEST(MultiSourcePipeline, ACameraThatCannotStartFailsAlone)
{
	auto good = make_source(64, {200, 1});
	test::UnstartableSource bad("camera on a full hub", ENOSPC);
	MultiSourcePipeline pipeline;
	pipeline.add_source(bad);
	size_t index = pipeline.add_source(*good);
	auto sink = std::make_unique<CheckingSink>();
	CheckingSink *checking = sink.get();
	pipeline.add_sink(index, std::move(sink), {.policy = OverflowPolicy::block});
	auto bad_sink = std::make_unique<CheckingSink>();
	CheckingSink *bad_checking = bad_sink.get();
	pipeline.add_sink(0, std::move(bad_sink), {});

	std::atomic<bool> stop{false};
	Status status = pipeline.run({.frames = 15}, stop);
	EXPECT_EQ(status.message(), "1 of 2 sources failed; source 1 (camera on a full hub): "
				    "STREAMON: No space left on device");
	EXPECT_EQ(pipeline.failed(), 1u);
	EXPECT_EQ(pipeline.results()[0].status.code(), std::errc::no_space_on_device);
	EXPECT_FALSE(pipeline.results()[0].start_offset_ns);
	EXPECT_TRUE(pipeline.results()[1].status.ok());
	// The other camera recorded all its frames, on its own time zero.
	EXPECT_EQ(checking->timestamps.size(), 15u);
	EXPECT_EQ(checking->corrupt, 0u);
	EXPECT_EQ(*pipeline.clock()->zero(), checking->timestamps.front());
	EXPECT_TRUE(bad_checking->finished);
	EXPECT_TRUE(bad_checking->timestamps.empty());
}

TEST(MultiSourcePipeline, TheStopFlagEndsEverySource)
{
	std::vector<std::unique_ptr<PatternSource>> sources;
	MultiSourcePipeline pipeline;
	for (int i = 0; i < 2; ++i) {
		sources.push_back(make_source(64, {50, 1}));
		size_t index = pipeline.add_source(*sources.back());
		pipeline.add_sink(index, std::make_unique<CheckingSink>(), {});
	}
	std::atomic<bool> stop{false};
	size_t calls = 0;
	Status status = pipeline.run(
		{}, stop,
		[&] {
			if (++calls == 3)
				stop = true;
		},
		std::chrono::milliseconds(10));
	EXPECT_TRUE(status.ok()) << status.message();
	EXPECT_GE(calls, 3u);
	for (const SourceResult &result : pipeline.results())
		EXPECT_TRUE(result.status.ok());
}

TEST(FrameAlignment, MeasuresTheNearestReferenceFrameWhateverTheArrivalOrder)
{
	FrameAlignment alignment(2);
	// Source 1 is 3 ms after source 0 at 100 fps; some of its frames arrive
	// before the reference frame they are nearest to.
	alignment.add(1, 3'000'000);
	alignment.add(0, 0);
	alignment.add(0, 10'000'000);
	alignment.add(1, 13'000'000);
	alignment.add(1, 23'000'000);
	alignment.add(0, 20'000'000);
	alignment.add(1, 29'000'000); // 1 ms before the next reference frame
	alignment.add(0, 30'000'000);
	alignment.reference_ended();
	AlignmentStats stats = alignment.stats(1);
	EXPECT_EQ(stats.frames, 4u);
	EXPECT_EQ(stats.max_ns, 3'000'000u);
	EXPECT_EQ(stats.median_ns, 3'000'000u);
	EXPECT_EQ(alignment.stats(0).frames, 4u);
	EXPECT_EQ(alignment.stats(0).max_ns, 0u);
}
