// SPDX-License-Identifier: LGPL-2.1-or-later
// ReconnectingSource against scripted fake devices: a camera that goes away
// mid-run is opened again and its frames continue; the gap, the comebacks
// and a node that returns with another format are counted or said; the
// failed capture is freed once its frames are let go. The real comeback
// (vivid's module removed and loaded again) is in tests/vm/guest_multi_test.cpp.
#include <zcap/reconnecting_source.h>

#include <cstring>
#include <functional>
#include <mutex>

#include <gtest/gtest.h>

#include <zcap/log.h>

#include "fake_video_device.h"

using namespace zcap;
using zcap::test::FakeDriver;
using zcap::test::FakeVideoDevice;

namespace {

constexpr unsigned kDeviceBuffers = 4;
constexpr uint64_t kNsPerS = 1000000000;

/// Collects the library's messages while it lives.
class LogCapture {
public:
	LogCapture()
	{
		set_log_handler([this](LogLevel, std::string_view line) {
			std::lock_guard guard(lock_);
			lines_.emplace_back(line);
		});
	}
	~LogCapture() { set_log_handler({}); }
	size_t count(std::string_view text) const
	{
		std::lock_guard guard(lock_);
		size_t n = 0;
		for (const std::string &line : lines_)
			n += line.find(text) != std::string::npos;
		return n;
	}

private:
	mutable std::mutex lock_;
	std::vector<std::string> lines_;
};

class ReconnectingSourceTest : public ::testing::Test {
protected:
	static std::unique_ptr<V4l2Source> open(std::shared_ptr<FakeDriver> driver, Status &status)
	{
		V4l2SourceOptions options;
		options.device = "/dev/video-fake";
		options.buffers = kDeviceBuffers;
		return V4l2Source::open(std::make_unique<FakeVideoDevice>(std::move(driver)),
					options, status);
	}

	/// A source over first_, reopened over each of comebacks_ in turn (a
	/// null one: the node is not there, ENOENT).
	std::unique_ptr<ReconnectingSource> make()
	{
		Status status;
		auto first = open(first_, status);
		EXPECT_TRUE(status) << status.message();
		return std::make_unique<ReconnectingSource>(
			std::move(first), "/dev/video-fake", [this](Status &why) {
				++attempts_;
				if (on_attempt_)
					on_attempt_();
				std::shared_ptr<FakeDriver> next;
				if (!comebacks_.empty()) {
					next = comebacks_.front();
					comebacks_.pop_front();
				}
				if (!next) {
					why = Status::from_errno(ENOENT, "/dev/video-fake");
					return std::unique_ptr<V4l2Source>();
				}
				return open(next, why);
			});
	}

	static uint32_t first_word(const Frame &frame)
	{
		uint32_t word;
		std::memcpy(&word, frame.data().data(), sizeof(word));
		return word;
	}

	std::shared_ptr<FakeDriver> first_ = std::make_shared<FakeDriver>();
	std::deque<std::shared_ptr<FakeDriver>> comebacks_;
	unsigned attempts_ = 0;
	std::function<void()> on_attempt_;
	std::atomic<bool> stop_{false};
};

TEST_F(ReconnectingSourceTest, FramesContinueAfterTheNodeComesBack)
{
	LogCapture messages;
	first_->script = {{0}, {1}, {0, 0, ENODEV}};
	auto back = std::make_shared<FakeDriver>();
	back->script = {{10}, {11}};
	comebacks_ = {nullptr, back};
	auto source = make();
	ASSERT_TRUE(source->start());
	const std::vector<MemoryRegion> before = source->memory_regions();
	ASSERT_FALSE(before.empty());

	for (uint32_t expected : {0u, 1u, 10u, 11u}) {
		auto frame = source->next_frame(stop_);
		ASSERT_TRUE(frame) << source->last_error().message();
		EXPECT_EQ(first_word(*frame), expected);
		EXPECT_EQ(frame->timestamp_ns(), expected * kNsPerS);
		// The failed capture's memory keeps its addresses (a sink may have
		// registered them): the new buffers lie elsewhere.
		for (const MemoryRegion &old : before)
			EXPECT_TRUE(expected < 10 ||
				    frame->data().data() >= old.base + old.length ||
				    frame->data().data() + frame->data().size() <= old.base)
				<< "frame " << expected << " in the failed capture's memory";
	}
	// Not there once, then back and streaming.
	EXPECT_EQ(attempts_, 2u);
	EXPECT_TRUE(back->streaming);
	const ReconnectStats &stats = source->reconnect_stats();
	EXPECT_EQ(stats.reconnects, 1u);
	// From the frame at 1 s to the one at 10 s: 9 s at 30 fps (the fake's
	// rate), 270 periods, the 269 frames between missed.
	EXPECT_EQ(stats.offline_ns, 9 * kNsPerS);
	EXPECT_EQ(stats.frames_missed, 269u);
	EXPECT_FALSE(stats.waiting);
	EXPECT_EQ(source->stats().frames, 4u);
	EXPECT_TRUE(source->last_error());
	// The failed capture let its node go: no buffers, nothing streaming.
	EXPECT_FALSE(first_->streaming);
	EXPECT_EQ(first_->buffers, 0u);
	EXPECT_EQ(messages.count("was disconnected: No such device; waiting for "
				 "/dev/video-fake to come back"),
		  1u);
	EXPECT_EQ(messages.count("/dev/video-fake is back"), 1u);
}

TEST_F(ReconnectingSourceTest, TheFailedCaptureLetsTheNodeGoOnlyOnceItsFramesAreLetGo)
{
	first_->script = {{0}, {0, 0, ENODEV}};
	auto back = std::make_shared<FakeDriver>();
	back->script = {{5}, {6}};
	comebacks_ = {back};
	auto source = make();
	ASSERT_TRUE(source->start());
	auto held = source->next_frame(stop_);
	ASSERT_TRUE(held);
	auto after = source->next_frame(stop_);
	ASSERT_TRUE(after);
	EXPECT_EQ(first_word(*after), 5u);
	// A sink still holds the frame from before: its buffers stay.
	EXPECT_NE(first_->buffers, 0u);
	EXPECT_EQ(first_word(*held), 0u);
	held.reset();
	after.reset();
	ASSERT_TRUE(source->next_frame(stop_));
	EXPECT_EQ(first_->buffers, 0u);
}

TEST_F(ReconnectingSourceTest, ANodeBackWithAnotherFormatIsSaidOnceAndWaitedFor)
{
	LogCapture messages;
	first_->script = {{0}, {0, 0, ENODEV}};
	auto smaller = [] {
		auto driver = std::make_shared<FakeDriver>();
		driver->width = 32;
		driver->height = 24;
		return driver;
	};
	auto back = std::make_shared<FakeDriver>();
	back->script = {{3}};
	comebacks_ = {smaller(), smaller(), back};
	auto source = make();
	ASSERT_TRUE(source->start());
	ASSERT_TRUE(source->next_frame(stop_));
	auto frame = source->next_frame(stop_);
	ASSERT_TRUE(frame) << source->last_error().message();
	EXPECT_EQ(first_word(*frame), 3u);
	EXPECT_EQ(attempts_, 3u);
	EXPECT_EQ(messages.count("/dev/video-fake is back with 32x24 YUYV (1536 bytes a frame), "
				 "not the 64x48 YUYV (6144 bytes a frame) it recorded; waiting "
				 "for it as it was"),
		  1u);
	EXPECT_EQ(source->reconnect_stats().reconnects, 1u);
}

TEST_F(ReconnectingSourceTest, AFailureBeforeTheFirstFrameIsNotWaitedFor)
{
	first_->script = {{0, 0, ENODEV}};
	auto source = make();
	ASSERT_TRUE(source->start());
	EXPECT_FALSE(source->next_frame(stop_));
	EXPECT_EQ(source->last_error().code(), std::errc::no_such_device);
	EXPECT_EQ(attempts_, 0u);
}

TEST_F(ReconnectingSourceTest, ACameraNotBackByTheEndEndsWithWhyItWent)
{
	first_->script = {{0}, {0, 0, ENODEV}};
	auto source = make();
	ASSERT_TRUE(source->start());
	ASSERT_TRUE(source->next_frame(stop_));
	// The run's end time (--duration) is already past: one look, then over.
	source->set_end_time(1);
	EXPECT_FALSE(source->next_frame(stop_));
	EXPECT_EQ(source->last_error().message(),
		  "/dev/video-fake was disconnected: No such device");
	EXPECT_EQ(source->reconnect_stats().reconnects, 0u);
	EXPECT_FALSE(source->reconnect_stats().waiting);
}

TEST_F(ReconnectingSourceTest, TheStopFlagEndsTheWait)
{
	first_->script = {{0}, {0, 0, ENODEV}};
	// Ctrl-C while the node is not there.
	on_attempt_ = [this] { stop_ = true; };
	auto source = make();
	ASSERT_TRUE(source->start());
	ASSERT_TRUE(source->next_frame(stop_));
	EXPECT_FALSE(source->next_frame(stop_));
	EXPECT_EQ(attempts_, 1u);
	EXPECT_FALSE(source->reconnect_stats().waiting);
	EXPECT_EQ(source->last_error().code(), std::errc::no_such_device);
}

} // namespace
