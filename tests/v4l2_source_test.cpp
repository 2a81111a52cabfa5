// SPDX-License-Identifier: LGPL-2.1-or-later
// V4l2Source's logic against a scripted fake device: memory-mode choice,
// pinning, drop and error accounting, disconnects, timeouts and teardown. The
// same behaviour is proven on a real driver (vivid) in tests/vm.
#include <zcap/v4l2_source.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "fake_video_device.h"

using namespace zcap;
using zcap::test::FakeDriver;
using zcap::test::FakeVideoDevice;

namespace {

constexpr unsigned kBuffers = 4;

class V4l2SourceTest : public ::testing::Test {
protected:
	std::unique_ptr<V4l2Source> open(IoMode io, Status &status)
	{
		V4l2SourceOptions options;
		options.device = "/dev/video-fake";
		options.io = io;
		options.buffers = kBuffers;
		return V4l2Source::open(std::make_unique<FakeVideoDevice>(driver_), options,
					status);
	}
	std::unique_ptr<V4l2Source> open(IoMode io = IoMode::automatic)
	{
		Status status;
		auto source = open(io, status);
		EXPECT_TRUE(status) << status.message();
		return source;
	}
	void script(std::initializer_list<FakeDriver::Capture> captures)
	{
		driver_->script.insert(driver_->script.end(), captures);
	}
	static uint32_t first_word(const Frame &frame)
	{
		uint32_t word;
		std::memcpy(&word, frame.data().data(), sizeof(word));
		return word;
	}
	bool driver_holds(uint32_t index) const
	{
		return std::find(driver_->queued.begin(), driver_->queued.end(), index) !=
		       driver_->queued.end();
	}

	std::shared_ptr<FakeDriver> driver_ = std::make_shared<FakeDriver>();
	std::atomic<bool> stop_{false};
};

TEST_F(V4l2SourceTest, AutoPrefersUserptrOnTheMemfdPool)
{
	auto source = open();
	ASSERT_TRUE(source);
	EXPECT_EQ(source->io_mode(), IoMode::userptr);
	EXPECT_EQ(source->io_note(), "userptr");
	EXPECT_EQ(driver_->memory, V4L2_MEMORY_USERPTR);
	EXPECT_EQ(driver_->queued.size(), kBuffers);

	script({{0}});
	ASSERT_TRUE(source->start());
	auto frame = source->next_frame(stop_);
	ASSERT_TRUE(frame);
	// The device filled the pool's pages, which a file descriptor also
	// reaches: the alias sendfile and splice need.
	EXPECT_TRUE(frame->memfd().valid());
	EXPECT_EQ(first_word(*frame), 0u);
	EXPECT_EQ(reinterpret_cast<unsigned long>(frame->data().data()),
		  driver_->userptrs[frame->slot_index()]);
}

TEST_F(V4l2SourceTest, AutoFallsBackToMmapAndSaysWhy)
{
	driver_->refuse_userptr = true;
	auto source = open();
	ASSERT_TRUE(source);
	EXPECT_EQ(source->io_mode(), IoMode::mmap);
	EXPECT_NE(source->io_note().find("mmap (userptr refused: "), std::string::npos)
		<< source->io_note();
	EXPECT_NE(source->description().find(source->io_note()), std::string::npos);

	script({{0}});
	ASSERT_TRUE(source->start());
	auto frame = source->next_frame(stop_);
	ASSERT_TRUE(frame);
	EXPECT_TRUE(frame->dmabuf().valid()) << "MMAP buffers are exported with EXPBUF";
	EXPECT_EQ(frame->data().data(), driver_->mmap_memory[frame->slot_index()].data());
}

TEST_F(V4l2SourceTest, UserptrRefusedOnlyAtQueueTimeAlsoFallsBack)
{
	driver_->refuse_userptr_queue = true;
	auto source = open();
	ASSERT_TRUE(source);
	EXPECT_EQ(source->io_mode(), IoMode::mmap);
	EXPECT_NE(source->io_note().find("VIDIOC_QBUF"), std::string::npos) << source->io_note();
}

TEST_F(V4l2SourceTest, ExplicitModeIsNotSecondGuessed)
{
	driver_->refuse_userptr = true;
	Status status;
	auto source = open(IoMode::userptr, status);
	EXPECT_FALSE(source);
	EXPECT_NE(status.message().find("VIDIOC_REQBUFS (userptr)"), std::string::npos)
		<< status.message();
}

TEST_F(V4l2SourceTest, BufferIsQueuedAgainOnlyWhenTheLastReferenceGoes)
{
	auto source = open(IoMode::mmap);
	ASSERT_TRUE(source);
	script({{0}, {1}});
	ASSERT_TRUE(source->start());

	auto frame = source->next_frame(stop_);
	ASSERT_TRUE(frame);
	const uint32_t index = frame->slot_index();
	EXPECT_FALSE(driver_holds(index));

	Frame in_flight = *frame; // as an io_uring write would hold it
	frame.reset();
	ASSERT_TRUE(source->next_frame(stop_));
	EXPECT_FALSE(driver_holds(index)) << "queued while a write still reads it";
	in_flight.reset();
	EXPECT_FALSE(driver_holds(index)) << "queued on the thread that dropped the frame";
	script({{2}});
	ASSERT_TRUE(source->next_frame(stop_));
	EXPECT_TRUE(driver_holds(index)) << "queued by the capture thread before it waits";
}

TEST_F(V4l2SourceTest, FramesDroppedOnASinkThreadAreQueuedByTheCaptureThread)
{
	// A capture thread hands every frame to a sink thread, which drops the
	// last reference while the capture goes on: as in a pipeline.
	constexpr uint32_t kFrames = 200;
	auto source = open(IoMode::userptr);
	ASSERT_TRUE(source);
	const size_t queued_at_setup = driver_->queue_threads.size();
	std::thread::id capture_id;
	std::atomic<unsigned> advice_elsewhere{0};
	source->set_placement([&](uint64_t ahead) -> std::optional<uint32_t> {
		if (std::this_thread::get_id() != capture_id)
			++advice_elsewhere;
		return uint32_t(ahead % 2 * 2048);
	});
	for (uint32_t i = 0; i < kFrames; ++i)
		script({{i}});

	std::mutex lock;
	std::condition_variable handed;
	std::deque<Frame> frames;
	bool ended = false;
	std::vector<uint64_t> sequences;
	std::thread sink([&] {
		for (;;) {
			std::unique_lock guard(lock);
			handed.wait(guard, [&] { return !frames.empty() || ended; });
			if (frames.empty())
				return;
			Frame frame = std::move(frames.front());
			frames.pop_front();
			guard.unlock();
			sequences.push_back(frame.sequence());
			EXPECT_EQ(first_word(frame), uint32_t(frame.sequence()));
			frame.reset(); // the last reference, on this thread
		}
	});
	Status started;
	std::thread capture([&] {
		capture_id = std::this_thread::get_id();
		started = source->start();
		for (uint32_t i = 0; started && i < kFrames; ++i) {
			std::optional<Frame> frame = source->next_frame(stop_);
			if (!frame)
				break;
			std::lock_guard guard(lock);
			frames.push_back(std::move(*frame));
			handed.notify_one();
		}
		source->stop();
		std::lock_guard guard(lock);
		ended = true;
		handed.notify_one();
	});
	capture.join();
	sink.join();

	ASSERT_TRUE(started) << started.message();
	ASSERT_EQ(sequences.size(), kFrames) << source->last_error().message();
	for (uint32_t i = 0; i < kFrames; ++i)
		EXPECT_EQ(sequences[i], i);
	EXPECT_EQ(source->stats().dropped, 0u);
	// Buffers went round many times, every QBUF on the capture thread.
	ASSERT_GT(driver_->queue_threads.size(), queued_at_setup + kFrames - kBuffers);
	for (size_t i = queued_at_setup; i < driver_->queue_threads.size(); ++i)
		ASSERT_EQ(driver_->queue_threads[i], capture_id) << "QBUF " << i;
	EXPECT_EQ(advice_elsewhere, 0u) << "placement advice asked off the capture thread";
}

TEST_F(V4l2SourceTest, UserptrBuffersAreQueuedWhereTheSinksWantTheFrame)
{
	// 64x48 YUYV frames are 6144 bytes: frame n of a raw file starts
	// n * 2048 into a page, and a sink asks for the same in memory.
	auto source = open(IoMode::userptr);
	ASSERT_TRUE(source);
	std::vector<uint64_t> asked;
	source->set_placement([&](uint64_t ahead) -> std::optional<uint32_t> {
		asked.push_back(ahead);
		return 2048;
	});
	script({{0}});
	ASSERT_TRUE(source->start());
	// Queued at set-up before any advice, the buffers are queued again at
	// start, each told how many frames come before its own.
	EXPECT_EQ(asked, (std::vector<uint64_t>{0, 1, 2, 3}));
	ASSERT_EQ(driver_->queued.size(), kBuffers);
	for (uint32_t index : driver_->queued)
		EXPECT_EQ(driver_->userptrs[index] % 4096, 2048u) << "buffer " << index;

	auto frame = source->next_frame(stop_);
	ASSERT_TRUE(frame);
	const uint32_t index = frame->slot_index();
	const auto address = reinterpret_cast<uintptr_t>(frame->data().data());
	EXPECT_EQ(address, driver_->userptrs[index]);
	EXPECT_EQ(frame->data().size(), driver_->size_image());
	EXPECT_EQ(address - reinterpret_cast<uintptr_t>(source->memory_regions()[0].base),
		  frame->memfd().offset)
		<< "the file alias points at the frame too";
	frame.reset();
	script({{1}});
	ASSERT_TRUE(source->next_frame(stop_)); // queued again, after the three the driver holds
	EXPECT_EQ(asked.back(), kBuffers - 1);
	EXPECT_EQ(driver_->userptrs[index], address);
}

TEST_F(V4l2SourceTest, DriversThatWantUserptrOnAPageKeepFramesThere)
{
	driver_->userptr_on_pages_only = true;
	auto source = open(IoMode::userptr);
	ASSERT_TRUE(source);
	source->set_placement([](uint64_t) -> std::optional<uint32_t> { return 2048; });
	script({{0}});
	ASSERT_TRUE(source->start());
	auto frame = source->next_frame(stop_);
	ASSERT_TRUE(frame);
	const uint32_t index = frame->slot_index();
	frame.reset();
	script({{1}});
	ASSERT_TRUE(source->next_frame(stop_));
	EXPECT_TRUE(driver_holds(index)) << "queued again, on the page";
	EXPECT_EQ(driver_->userptrs[index] % 4096, 0u);
}

TEST_F(V4l2SourceTest, SequenceGapsAreCountedAsDrops)
{
	auto source = open();
	ASSERT_TRUE(source);
	script({{10}, {11}, {15}, {16}});
	ASSERT_TRUE(source->start());
	std::vector<uint64_t> sequences;
	for (int i = 0; i < 4; ++i) {
		auto frame = source->next_frame(stop_);
		ASSERT_TRUE(frame);
		sequences.push_back(frame->sequence());
		EXPECT_EQ(first_word(*frame), uint32_t(frame->sequence()));
	}
	EXPECT_EQ(sequences, (std::vector<uint64_t>{10, 11, 15, 16}));
	EXPECT_EQ(source->stats().dropped, 3u);
	EXPECT_EQ(source->stats().frames, 4u);
}

TEST_F(V4l2SourceTest, SequenceWrapIsNotADrop)
{
	auto source = open();
	ASSERT_TRUE(source);
	script({{0xffffffffu}, {0}});
	ASSERT_TRUE(source->start());
	auto a = source->next_frame(stop_);
	auto b = source->next_frame(stop_);
	ASSERT_TRUE(a && b);
	EXPECT_EQ(b->sequence(), a->sequence() + 1);
	EXPECT_EQ(source->stats().dropped, 0u);
}

TEST_F(V4l2SourceTest, RepeatedOrBackwardSequencesAreNoDrops)
{
	auto source = open();
	ASSERT_TRUE(source);
	script({{5}, {5}, {7}, {4}, {5}});
	ASSERT_TRUE(source->start());
	std::vector<uint64_t> sequences;
	for (int i = 0; i < 5; ++i) {
		auto frame = source->next_frame(stop_);
		ASSERT_TRUE(frame);
		sequences.push_back(frame->sequence());
	}
	// Each frame a number of its own, in order; only 6 was lost.
	EXPECT_EQ(sequences, (std::vector<uint64_t>{5, 6, 8, 9, 10}));
	EXPECT_EQ(source->stats().dropped, 1u);
}

TEST_F(V4l2SourceTest, CorruptBuffersAreCountedSkippedAndRequeued)
{
	auto source = open();
	ASSERT_TRUE(source);
	script({{0}, {1, V4L2_BUF_FLAG_ERROR}, {2}});
	ASSERT_TRUE(source->start());
	auto a = source->next_frame(stop_);
	auto b = source->next_frame(stop_);
	ASSERT_TRUE(a && b);
	EXPECT_EQ(a->sequence(), 0u);
	EXPECT_EQ(b->sequence(), 2u);
	EXPECT_EQ(source->stats().errors, 1u);
	EXPECT_EQ(source->stats().frames, 2u);
	EXPECT_EQ(driver_->queued.size(), kBuffers - 2) << "the corrupt buffer went back";
}

TEST_F(V4l2SourceTest, DisconnectEndsTheCaptureWithAClearError)
{
	auto source = open();
	ASSERT_TRUE(source);
	script({{0}, {0, 0, ENODEV}});
	ASSERT_TRUE(source->start());
	auto frame = source->next_frame(stop_);
	ASSERT_TRUE(frame);
	EXPECT_FALSE(source->next_frame(stop_));
	EXPECT_EQ(source->last_error().message(),
		  "/dev/video-fake was disconnected: No such device");
	// The frame captured before stays valid until its holder lets go.
	EXPECT_EQ(first_word(*frame), 0u);
}

TEST_F(V4l2SourceTest, NoFrameForTooLongIsATimeout)
{
	auto source = open();
	ASSERT_TRUE(source);
	ASSERT_TRUE(source->start());
	const auto begin = std::chrono::steady_clock::now();
	EXPECT_FALSE(source->next_frame(stop_));
	EXPECT_GE(std::chrono::steady_clock::now() - begin, V4l2Source::kMinTimeout);
	EXPECT_EQ(source->last_error().code(), std::errc::timed_out);
	EXPECT_NE(source->last_error().message().find("no frame for"), std::string::npos);
}

TEST_F(V4l2SourceTest, StopFlagEndsTheWaitWithoutAnError)
{
	auto source = open();
	ASSERT_TRUE(source);
	ASSERT_TRUE(source->start());
	stop_ = true;
	EXPECT_FALSE(source->next_frame(stop_));
	EXPECT_TRUE(source->last_error());
}

TEST_F(V4l2SourceTest, AdjustedFormatIsRefused)
{
	V4l2SourceOptions options;
	options.device = "/dev/video-fake";
	options.fourcc = V4L2_PIX_FMT_NV12;
	Status status;
	auto source = V4l2Source::open(std::make_unique<FakeVideoDevice>(driver_), options, status);
	EXPECT_FALSE(source);
	EXPECT_EQ(status.message(), "/dev/video-fake does not capture NV12 (it offers YUYV; see "
				    "zcap formats -d /dev/video-fake)");
}

TEST_F(V4l2SourceTest, FrameRateIsAskedFor)
{
	V4l2SourceOptions options;
	options.device = "/dev/video-fake";
	options.rate = {25, 1};
	Status status;
	auto source = V4l2Source::open(std::make_unique<FakeVideoDevice>(driver_), options, status);
	ASSERT_TRUE(source) << status.message();
	EXPECT_EQ(driver_->timeperframe_den, 25u);
	EXPECT_EQ(source->frame_rate().num, 25u);
	EXPECT_EQ(source->frame_rate().den, 1u);
}

TEST_F(V4l2SourceTest, MultiPlanarSingleBufferFormatCaptures)
{
	driver_->mplane = true;
	auto source = open(IoMode::mmap);
	ASSERT_TRUE(source);
	script({{7}});
	ASSERT_TRUE(source->start());
	auto frame = source->next_frame(stop_);
	ASSERT_TRUE(frame);
	EXPECT_EQ(frame->data().size(), driver_->size_image());
	EXPECT_EQ(first_word(*frame), 7u);
}

TEST_F(V4l2SourceTest, UnknownLayoutsOfSeveralBuffersAreRefusedClearly)
{
	driver_->mplane = true;
	driver_->planes = 2; // YUYV has one plane: two buffers is no layout zcap knows
	Status status;
	auto source = open(IoMode::automatic, status);
	EXPECT_FALSE(source);
	EXPECT_NE(status.message().find("separate buffers"), std::string::npos) << status.message();
}

class MultiBufferFormatTest : public V4l2SourceTest,
			      public ::testing::WithParamInterface<uint32_t> {
protected:
	static constexpr uint32_t kHeader = 128;
	void SetUp() override
	{
		driver_->mplane = true;
		driver_->fourccs = {GetParam()};
		driver_->planes = format_info(GetParam())->num_buffers;
	}
	std::unique_ptr<V4l2Source> open_format(IoMode io, Status &status)
	{
		V4l2SourceOptions options;
		options.device = "/dev/video-fake";
		options.io = io;
		options.buffers = kBuffers;
		options.fourcc = GetParam();
		return V4l2Source::open(std::make_unique<FakeVideoDevice>(driver_), options,
					status);
	}
};

TEST_P(MultiBufferFormatTest, PlanesLandBackToBackInOneBuffer)
{
	// A header before the first plane (V4L2's data_offset, as vivid has)
	// stays out of the frame.
	driver_->plane0_header = kHeader;
	Status status;
	auto source = open_format(IoMode::automatic, status);
	ASSERT_TRUE(source) << status.message();
	EXPECT_EQ(source->io_mode(), IoMode::userptr);
	const FrameFormat packed = *packed_format(GetParam(), driver_->width, driver_->height);
	const FrameFormat format = source->format();
	EXPECT_EQ(format.size_image, packed.size_image);
	ASSERT_EQ(format.num_planes, packed.num_planes);
	for (uint32_t i = 0; i < packed.num_planes; ++i) {
		// The planes of a file, back to back.
		EXPECT_EQ(format.planes[i].offset, packed.planes[i].offset) << "plane " << i;
		EXPECT_EQ(format.planes[i].stride, packed.planes[i].stride) << "plane " << i;
		EXPECT_EQ(format.planes[i].size, packed.planes[i].size) << "plane " << i;
	}

	script({{5}});
	ASSERT_TRUE(source->start());
	auto frame = source->next_frame(stop_);
	ASSERT_TRUE(frame);
	ASSERT_EQ(frame->data().size(), packed.size_image);
	EXPECT_EQ(first_word(*frame), 5u);
	// Each plane went where the driver wrote it: no byte was moved.
	const auto &queued = driver_->plane_userptrs[frame->slot_index()];
	ASSERT_EQ(queued.size(), driver_->planes);
	const auto start = reinterpret_cast<unsigned long>(frame->data().data());
	for (uint32_t i = 0; i < driver_->planes; ++i) {
		const PlaneLayout &plane = packed.planes[i];
		const uint32_t header = i == 0 ? kHeader : 0;
		EXPECT_EQ(queued[i].first + header, start + plane.offset) << "plane " << i;
		auto bytes = frame->data().subspan(plane.offset, plane.size);
		const size_t skip = i == 0 ? sizeof(uint32_t) : 0; // the sequence number
		EXPECT_TRUE(std::all_of(bytes.begin() + skip, bytes.end(),
					[&](std::byte b) { return b == std::byte(0x10 + i); }))
			<< "plane " << i;
	}
}

TEST_P(MultiBufferFormatTest, DriverMemoryIsRefusedWithTheWayThatWorks)
{
	for (IoMode io : {IoMode::mmap, IoMode::dmabuf}) {
		Status status;
		auto source = open_format(io, status);
		EXPECT_FALSE(source);
		EXPECT_NE(status.message().find("--io userptr only"), std::string::npos)
			<< status.message();
	}
}

TEST_P(MultiBufferFormatTest, APlaneFilledInPartEndsTheCaptureClearly)
{
	Status status;
	auto source = open_format(IoMode::userptr, status);
	ASSERT_TRUE(source) << status.message();
	driver_->short_plane_bytes = 16;
	script({{1}});
	ASSERT_TRUE(source->start());
	EXPECT_FALSE(source->next_frame(stop_));
	EXPECT_NE(source->last_error().message().find("a layout zcap does not know"),
		  std::string::npos)
		<< source->last_error().message();
	EXPECT_EQ(source->stats().frames.load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(NvAndYuvM, MultiBufferFormatTest,
			 ::testing::Values(V4L2_PIX_FMT_NV12M, V4L2_PIX_FMT_YUV420M),
			 [](const auto &info) { return fourcc_name(info.param); });

TEST_F(V4l2SourceTest, TeardownStopsStreamingAndFreesTheBuffers)
{
	{
		auto source = open(IoMode::mmap);
		ASSERT_TRUE(source);
		script({{0}});
		ASSERT_TRUE(source->start());
		ASSERT_TRUE(source->next_frame(stop_));
	}
	EXPECT_FALSE(driver_->streaming);
	EXPECT_EQ(driver_->mapped, 0u);
	EXPECT_EQ(driver_->buffers, 0u) << "REQBUFS(0) frees the driver's buffers";
}

} // namespace
