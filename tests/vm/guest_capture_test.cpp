// SPDX-License-Identifier: LGPL-2.1-or-later
// zcap's V4L2 capture for real, inside the QEMU guest of tests/vm/run-in-guest:
// vivid frames go through V4l2Source into a zcap::Pipeline with two sinks, a
// checksum sink (below) and the disk sink writing a raw file on /mnt/disk, and
// the file is read back frame by frame against the checksums taken as the
// frames were handed over. See README.md here for the tests and the two VM
// runs (vivid parameters) they need; every device is expected to exist.

#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/videodev2.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <regex>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/disk_sink.h>
#include <zcap/log.h>
#include <zcap/pipeline.h>
#include <zcap/unique_fd.h>
#include <zcap/v4l2_source.h>

#include "../../capture/video_device.h"
#include "guest_checks.h"
#include "test_files.h"

using namespace zcap;
using test::errno_text;
using test::expect_device_clean;
using test::fnv1a;
using test::pfnmap;
using test::raw_device_caps;
using test::VividControl;
using test::vm_flags;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

extern char **environ;

namespace {

/// vivid's single-planar node (multiplanar=1) and multi-planar one (=2).
const std::string kSinglePlanarNode = "/dev/video0";
const std::string kMultiPlanarNode = "/dev/video1";

/// Small enough for TCG; 640x480 YUYV (614400 bytes = 150 pages) and RGB24
/// (921600 bytes = 225 pages) frames are whole 4 KiB blocks, so the disk sink
/// writes them without seam copies.
constexpr uint32_t kWidth = 640;
constexpr uint32_t kHeight = 480;
/// The fastest rate vivid's webcam input offers at 640x480.
constexpr FrameRate kRate{25, 1};
/// Frames per capture of the matrix: a few buffer cycles, 0.4 s at kRate.
constexpr uint64_t kMatrixFrames = 10;

/// Queueing as `zcap record` does: each sink may have this many frames
/// waiting; the disk sink this many writes in flight; and the source enough
/// buffers for all of them (source_buffers()), so that nothing waits for a
/// buffer.
constexpr unsigned kQueueFrames = 4;
constexpr unsigned kQueueDepth = 8;

/// vivid's control names (drivers/media/test-drivers/vivid/vivid-ctrls.c).
constexpr std::string_view kBufferErrorControl = "Inject V4L2_BUF_FLAG_ERROR";
constexpr std::string_view kDisconnectControl = "Disconnect";

/// What the checksum sink saw of one frame.
struct FrameRecord {
	uint64_t sequence = 0;
	uint64_t checksum = 0;
	uint64_t timestamp_ns = 0;		 ///< the driver's capture time
	Clock::time_point received;		 ///< when the sink got the frame
	const std::byte *address = nullptr;	 ///< where the frame's bytes lay
	bool has_dmabuf = false;		 ///< frame.dmabuf() is an open DMA-BUF
	std::optional<uint64_t> dmabuf_checksum; ///< of the same bytes, read via the DMA-BUF
};

/// The checksum of the bytes of @p frame read through a read-only mapping of
/// its DMA-BUF (between DMA_BUF_IOCTL_SYNC calls), or nothing on failure.
std::optional<uint64_t> dmabuf_checksum(const Frame &frame)
{
	const FdAlias dmabuf = frame.dmabuf();
	const off_t size = lseek(dmabuf.fd, 0, SEEK_END);
	if (size <= 0 || uint64_t(size) < dmabuf.offset + frame.data().size())
		return std::nullopt;
	void *map = mmap(nullptr, size_t(size), PROT_READ, MAP_SHARED, dmabuf.fd, 0);
	if (map == MAP_FAILED)
		return std::nullopt;
	dma_buf_sync sync{DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ};
	ioctl(dmabuf.fd, DMA_BUF_IOCTL_SYNC, &sync);
	uint64_t checksum = fnv1a(std::span(static_cast<const std::byte *>(map) + dmabuf.offset,
					    frame.data().size()));
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
	ioctl(dmabuf.fd, DMA_BUF_IOCTL_SYNC, &sync);
	munmap(map, size_t(size));
	return checksum;
}

/// Called by the checksum sink, on its thread, after recording each frame,
/// with the number of frames it has received.
using FrameHook = std::function<void(uint64_t received)>;

/// A sink that records the checksum of every frame as it is handed over, and
/// of the same bytes read through the frame's DMA-BUF when it has one.
class ChecksumSink final : public Sink {
public:
	explicit ChecksumSink(FrameHook hook) : hook_(std::move(hook)) {}

	std::string description() const override { return "checksums"; }
	Status start(const StreamInfo &) override { return {}; }
	Status write(const Frame &frame) override
	{
		FrameRecord r;
		r.sequence = frame.sequence();
		r.checksum = fnv1a(frame.data());
		r.timestamp_ns = frame.timestamp_ns();
		r.received = Clock::now();
		r.address = frame.data().data();
		struct stat st;
		r.has_dmabuf = frame.dmabuf().valid() && fstat(frame.dmabuf().fd, &st) == 0;
		if (r.has_dmabuf)
			r.dmabuf_checksum = dmabuf_checksum(frame);
		records_.push_back(r);
		stats_.frames.fetch_add(1);
		stats_.bytes.fetch_add(frame.data().size());
		if (hook_)
			hook_(records_.size());
		return {};
	}
	bool busy() const override { return false; }
	Status service(std::chrono::milliseconds) override { return {}; }
	Status finish() override { return {}; }

	/// Read after Pipeline::run() has returned (the sink thread is gone).
	const std::vector<FrameRecord> &records() const { return records_; }

private:
	FrameHook hook_;
	std::vector<FrameRecord> records_;
};

/// What to capture.
struct CaptureSetup {
	std::string device;
	uint32_t fourcc = pixfmt::YUYV;
	IoMode io = IoMode::automatic;
	uint64_t frames = kMatrixFrames;
	FrameRate rate = kRate;
	uint32_t width = kWidth, height = kHeight;
	Container container = Container::raw;
};

/// A finished capture: the source (still open, for its stats and mappings),
/// the pipeline with its sinks, and what the run returned.
struct Capture {
	std::unique_ptr<V4l2Source> source;
	std::unique_ptr<Pipeline> pipeline;
	const ChecksumSink *checksums = nullptr;
	fs::path file;
	Status status;
	std::vector<std::string> warnings;

	/// Closes the pipeline, then the source (which the pipeline refers to).
	void close()
	{
		pipeline.reset();
		source.reset();
	}

	const std::vector<FrameRecord> &records() const { return checksums->records(); }
	const SinkStats &disk() const { return pipeline->sink(1).stats(); }
	uint32_t frame_size() const { return source->format().size_image; }
};

/// Opens @p setup's device and runs it into the checksum sink and a disk sink
/// writing @p file, both with OverflowPolicy::block: no frame is skipped.
/// @p hook runs after each checksum; it may read c.source.
void capture(const CaptureSetup &setup, const fs::path &file, Capture &c, FrameHook hook = {})
{
	V4l2SourceOptions options;
	options.device = setup.device;
	options.fourcc = setup.fourcc;
	options.width = setup.width;
	options.height = setup.height;
	options.rate = setup.rate;
	options.io = setup.io;
	auto checksums = std::make_unique<ChecksumSink>(std::move(hook));
	std::unique_ptr<Sink> disk = make_disk_sink(
		{.path = file, .container = setup.container, .queue_depth = kQueueDepth});
	const SinkOptions block{kQueueFrames, OverflowPolicy::block};
	const PlannedSink plan[] = {{*checksums, block}, {*disk, block}};
	options.buffers = source_buffers(plan);
	Status status;
	c.source = V4l2Source::open(options, status);
	ASSERT_TRUE(c.source) << status.message();
	ASSERT_EQ(c.source->format().fourcc, setup.fourcc);
	ASSERT_EQ(c.source->format().width, setup.width);
	ASSERT_EQ(c.source->format().height, setup.height);

	test::LogCapture log;
	c.file = file;
	c.pipeline = std::make_unique<Pipeline>(*c.source);
	c.checksums = checksums.get();
	c.pipeline->add_sink(std::move(checksums), block);
	c.pipeline->add_sink(std::move(disk), block);
	std::atomic<bool> stop{false};
	c.status = c.pipeline->run({.frames = setup.frames}, stop);
	c.warnings = log.warnings();
	std::printf("%s: %s: %llu frames (%llu dropped, %llu errors), disk %s, %llu of %llu "
		    "bytes copied\n",
		    setup.device.c_str(), c.source->description().c_str(),
		    static_cast<unsigned long long>(c.source->stats().frames.load()),
		    static_cast<unsigned long long>(c.source->stats().dropped.load()),
		    static_cast<unsigned long long>(c.source->stats().errors.load()),
		    std::string(io_path_name(c.disk().io_path.load())).c_str(),
		    static_cast<unsigned long long>(c.disk().copied_bytes.load()),
		    static_cast<unsigned long long>(c.disk().bytes.load()));
}

/// The file holds exactly the frames the checksum sink saw, in order, whole.
void expect_file_matches(const Capture &c)
{
	const auto &records = c.records();
	const uint64_t size = c.frame_size();
	EXPECT_EQ(c.disk().frames.load(), records.size());
	EXPECT_EQ(c.disk().bytes.load(), records.size() * size);
	EXPECT_EQ(c.disk().dropped.load(), 0u);
	ASSERT_EQ(fs::file_size(c.file), records.size() * size) << c.file;

	std::ifstream in(c.file, std::ios::binary);
	std::vector<std::byte> frame(size);
	for (size_t i = 0; i < records.size(); ++i) {
		ASSERT_TRUE(in.read(reinterpret_cast<char *>(frame.data()), std::streamsize(size)))
			<< "frame " << i << " of " << c.file;
		ASSERT_EQ(fnv1a(frame), records[i].checksum)
			<< "frame " << i << " (sequence " << records[i].sequence
			<< ") differs on disk";
	}
}

/// Sequence numbers rise; every one missing is a frame the source counted as
/// dropped (no buffer queued) or as an error (skipped).
void expect_sequences_accounted(const Capture &c)
{
	const auto &records = c.records();
	ASSERT_FALSE(records.empty());
	uint64_t missing = 0;
	for (size_t i = 1; i < records.size(); ++i) {
		ASSERT_GT(records[i].sequence, records[i - 1].sequence) << "frame " << i;
		missing += records[i].sequence - records[i - 1].sequence - 1;
	}
	EXPECT_EQ(missing, c.source->stats().dropped.load() + c.source->stats().errors.load());
	EXPECT_EQ(c.source->stats().frames.load(), records.size());
}

/// How the disk sink wrote: directly, through io_uring, from registered
/// buffers only if @p expect_registered (io_uring in 6.1 registers anonymous,
/// shmem and hugetlb memory: memfd USERPTR buffers; it refuses other
/// file-backed mappings such as vivid's MMAP buffers, EOPNOTSUPP, and cannot
/// pin VM_PFNMAP ones). Frames in VM_PFNMAP memory cannot be written directly
/// at all: every byte was copied to staging (the frames are whole blocks, no
/// seam), with one warning. Other frames: not a byte copied, no warning.
void expect_disk_io(const Capture &c, bool expect_pfnmap, bool expect_registered)
{
	const auto &records = c.records();
	ASSERT_FALSE(records.empty());
	const std::string flags = vm_flags(records.front().address);
	std::printf("frame memory %s\n", flags.c_str());
	const bool staged = pfnmap(records.front().address);
	EXPECT_EQ(staged, expect_pfnmap) << flags;
	EXPECT_EQ(c.disk().io_path.load(),
		  expect_registered ? IoPath::uring_direct_fixed : IoPath::uring_direct)
		<< io_path_name(c.disk().io_path.load());
	if (staged) {
		EXPECT_EQ(c.disk().copied_bytes.load(), c.disk().bytes.load());
		ASSERT_EQ(c.warnings.size(), 1u) << fmt::format("{}", fmt::join(c.warnings, "\n"));
		EXPECT_NE(c.warnings[0].find("EFAULT, a VM_PFNMAP mapping"), std::string::npos)
			<< c.warnings[0];
	} else {
		EXPECT_EQ(c.disk().copied_bytes.load(), 0u);
		EXPECT_TRUE(c.warnings.empty()) << fmt::format("{}", fmt::join(c.warnings, "\n"));
	}
}

/// Every frame carries an open DMA-BUF if @p expected, and reading the frame
/// through it gives the very bytes the frame showed.
void expect_dmabufs(const Capture &c, bool expected)
{
	for (const FrameRecord &r : c.records()) {
		EXPECT_EQ(r.has_dmabuf, expected) << "sequence " << r.sequence;
		if (r.has_dmabuf) {
			EXPECT_EQ(r.dmabuf_checksum, r.checksum) << "sequence " << r.sequence;
		}
	}
}

/// Runs @p argv with stdout and stderr to @p log; its wait status, or a
/// negative errno when it could not be run.
int run_program(const std::vector<std::string> &argv, const fs::path &log)
{
	const pid_t pid = test::spawn_program(argv, log);
	if (pid < 0)
		return pid;
	int wstatus;
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return wstatus;
}

// --- The capture matrix --------------------------------------------------------

struct MatrixCase {
	std::string device;
	uint32_t fourcc;
	IoMode io;
};

std::string matrix_case_name(const testing::TestParamInfo<MatrixCase> &info)
{
	const MatrixCase &c = info.param;
	return fmt::format("{}_{}_{}", c.device == kMultiPlanarNode ? "mplane" : "splane",
			   fourcc_name(c.fourcc), io_mode_name(c.io));
}

std::vector<MatrixCase> matrix_cases()
{
	std::vector<MatrixCase> cases;
	for (const std::string &device : {kSinglePlanarNode, kMultiPlanarNode})
		for (uint32_t fourcc : {pixfmt::YUYV, pixfmt::RGB24})
			for (IoMode io : {IoMode::userptr, IoMode::mmap, IoMode::dmabuf})
				cases.push_back({device, fourcc, io});
	return cases;
}

class GuestCaptureMatrix : public testing::TestWithParam<MatrixCase> {};

/// The real device, noting the thread of every VIDIOC_QBUF.
class QueueThreadDevice final : public VideoDevice {
public:
	explicit QueueThreadDevice(std::unique_ptr<VideoDevice> device) : device_(std::move(device))
	{
	}

	int ioctl(unsigned long request, void *arg) override
	{
		if (request == VIDIOC_QBUF) {
			std::lock_guard lock(lock_);
			queue_threads_.push_back(std::this_thread::get_id());
		}
		return device_->ioctl(request, arg);
	}
	void *mmap(size_t length, off_t offset) override { return device_->mmap(length, offset); }
	void munmap(void *address, size_t length) override { device_->munmap(address, length); }
	int poll(int timeout_ms, int wake_fd) override
	{
		return device_->poll(timeout_ms, wake_fd);
	}
	const std::string &path() const override { return device_->path(); }

	std::vector<std::thread::id> queue_threads()
	{
		std::lock_guard lock(lock_);
		return queue_threads_;
	}

private:
	std::unique_ptr<VideoDevice> device_;
	std::mutex lock_;
	std::vector<std::thread::id> queue_threads_;
};

} // namespace

// The last reference to a frame is dropped on a sink's thread while vivid
// streams: the buffer goes back to the capture thread, which alone queues
// it (VIDIOC_QBUF) and asks where the next frame should start.
TEST(GuestCapture, BuffersDroppedOnASinkThreadAreQueuedByTheCaptureThread)
{
	constexpr uint64_t kFrames = 30;
	/// Frames the sink thread holds before it lets the oldest go.
	constexpr size_t kHeld = 3;
	Status status;
	auto real = open_video_device(kSinglePlanarNode, status);
	ASSERT_TRUE(real) << status.message();
	auto owned = std::make_unique<QueueThreadDevice>(std::move(real));
	QueueThreadDevice &device = *owned;
	V4l2SourceOptions options;
	options.device = kSinglePlanarNode;
	options.fourcc = pixfmt::YUYV;
	options.width = kWidth;
	options.height = kHeight;
	options.rate = kRate;
	options.io = IoMode::userptr;
	options.buffers = kHeld + kSpareSourceBuffers;
	auto source = V4l2Source::open(std::move(owned), options, status);
	ASSERT_TRUE(source) << status.message();
	const size_t queued_at_setup = device.queue_threads().size();
	std::thread::id capture_id;
	std::atomic<unsigned> advice_elsewhere{0};
	source->set_placement([&](uint64_t) -> std::optional<uint32_t> {
		if (std::this_thread::get_id() != capture_id)
			++advice_elsewhere;
		return 0;
	});

	std::mutex lock;
	std::condition_variable handed;
	std::deque<Frame> frames;
	bool ended = false;
	std::vector<uint64_t> sequences;
	std::thread sink([&] {
		std::deque<Frame> held;
		for (;;) {
			std::unique_lock guard(lock);
			handed.wait(guard, [&] { return !frames.empty() || ended; });
			if (frames.empty())
				return;
			held.push_back(std::move(frames.front()));
			frames.pop_front();
			guard.unlock();
			sequences.push_back(held.back().sequence());
			if (held.size() > kHeld)
				held.pop_front(); // the last reference, on this thread
		}
	});
	std::atomic<bool> stop{false};
	Status started;
	std::thread capture([&] {
		capture_id = std::this_thread::get_id();
		started = source->start();
		for (uint64_t i = 0; started && i < kFrames; ++i) {
			std::optional<Frame> frame = source->next_frame(stop);
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
	// Frames the driver could not capture into a buffer are counted.
	EXPECT_EQ(sequences.back() - sequences.front() + 1,
		  kFrames + source->stats().dropped.load());
	const std::vector<std::thread::id> threads = device.queue_threads();
	ASSERT_GT(threads.size(), queued_at_setup + kFrames - options.buffers);
	for (size_t i = queued_at_setup; i < threads.size(); ++i)
		ASSERT_EQ(threads[i], capture_id) << "VIDIOC_QBUF " << i;
	EXPECT_EQ(advice_elsewhere, 0u) << "placement advice asked off the capture thread";
	source.reset();
	expect_device_clean(kSinglePlanarNode);
}

// libv4l2's mplane plugin shows the multi-planar node to V4l2Source as a
// single-planar one; the kernel node itself only speaks the MPLANE API, so
// captures from it go through the multi-planar path.
TEST(GuestCapture, NodesAreSingleAndMultiPlanarOnly)
{
	const uint32_t single = raw_device_caps(kSinglePlanarNode);
	EXPECT_TRUE(single & V4L2_CAP_VIDEO_CAPTURE);
	EXPECT_FALSE(single & V4L2_CAP_VIDEO_CAPTURE_MPLANE);
	const uint32_t multi = raw_device_caps(kMultiPlanarNode);
	EXPECT_TRUE(multi & V4L2_CAP_VIDEO_CAPTURE_MPLANE);
	EXPECT_FALSE(multi & V4L2_CAP_VIDEO_CAPTURE);
}

TEST_P(GuestCaptureMatrix, EveryFrameOnDiskAsHandedOver)
{
	const MatrixCase &m = GetParam();
	test::TempDir dir(".");
	Capture c;
	ASSERT_NO_FATAL_FAILURE(capture({m.device, m.fourcc, m.io}, dir / "capture.raw", c));
	ASSERT_TRUE(c.status) << c.status.message();
	EXPECT_EQ(c.source->io_mode(), m.io);
	ASSERT_EQ(c.records().size(), kMatrixFrames);
	EXPECT_EQ(c.frame_size() % 4096, 0u) << "the frames are whole pages (see kWidth)";
	ASSERT_NO_FATAL_FAILURE(expect_file_matches(c));
	ASSERT_NO_FATAL_FAILURE(expect_sequences_accounted(c));

	// USERPTR frames live in memfd pages; MMAP frames in vb2-vmalloc pages
	// mapped with remap_vmalloc_range(); both pin. vgem's DMA-BUF mappings
	// (drm_gem_shmem_mmap() in 6.1) are VM_PFNMAP: every frame is staged.
	expect_disk_io(c, m.io == IoMode::dmabuf, m.io == IoMode::userptr);
	// MMAP frames carry the EXPBUF DMA-BUF, DMABUF frames the vgem one.
	expect_dmabufs(c, m.io != IoMode::userptr);
	if (m.io == IoMode::dmabuf) {
		EXPECT_NE(c.source->io_note().find("vgem"), std::string::npos)
			<< c.source->io_note();
	}

	c.close();
	expect_device_clean(m.device);
}

INSTANTIATE_TEST_SUITE_P(Vivid, GuestCaptureMatrix, testing::ValuesIn(matrix_cases()),
			 matrix_case_name);

class GuestMatroska : public testing::TestWithParam<IoMode> {};

// 640x360 YUYV frames are 460,800 bytes, 112.5 pages. In Matroska every
// payload starts on a block, and its last half block goes to disk from the
// capture buffer itself, padded by a Void in the buffer's unused room: the
// driver's MMAP buffer (a whole number of pages), the USERPTR slice, the
// vgem buffer.
TEST_P(GuestMatroska, PayloadsAreTheFramesAsHandedOver)
{
	const IoMode io = GetParam();
	test::TempDir dir(".");
	Capture c;
	CaptureSetup setup{kSinglePlanarNode, pixfmt::YUYV, io};
	setup.width = 640;
	setup.height = 360;
	setup.container = Container::matroska;
	ASSERT_NO_FATAL_FAILURE(capture(setup, dir / "capture.mkv", c));
	ASSERT_TRUE(c.status) << c.status.message();
	const auto &records = c.records();
	ASSERT_EQ(records.size(), kMatrixFrames);
	EXPECT_EQ(c.disk().frames.load(), records.size());

	std::vector<test::BlockPayload> blocks = test::matroska_block_payloads(c.file);
	ASSERT_EQ(blocks.size(), records.size());
	std::ifstream in(c.file, std::ios::binary);
	std::vector<std::byte> frame(c.frame_size());
	for (size_t i = 0; i < blocks.size(); ++i) {
		ASSERT_EQ(blocks[i].size, c.frame_size()) << "frame " << i;
		EXPECT_EQ(blocks[i].offset % 4096, 0u) << "frame " << i;
		in.seekg(std::streamoff(blocks[i].offset));
		ASSERT_TRUE(in.read(reinterpret_cast<char *>(frame.data()),
				    std::streamsize(frame.size())));
		ASSERT_EQ(fnv1a(frame), records[i].checksum)
			<< "frame " << i << " (sequence " << records[i].sequence
			<< ") differs on disk";
	}
	// vgem's DMA-BUF mappings are VM_PFNMAP: those frames are staged.
	if (io == IoMode::dmabuf)
		EXPECT_EQ(c.disk().copied_bytes.load(), c.disk().bytes.load());
	else
		EXPECT_EQ(c.disk().copied_bytes.load(), 0u);
	c.close();
	expect_device_clean(kSinglePlanarNode);
}

INSTANTIATE_TEST_SUITE_P(Vivid, GuestMatroska,
			 testing::Values(IoMode::userptr, IoMode::mmap, IoMode::dmabuf),
			 [](const testing::TestParamInfo<IoMode> &info) {
				 return std::string(io_mode_name(info.param));
			 });

// 640x360 YUYV frames are 460,800 bytes, 112.5 pages: in the raw file every
// other frame starts 2048 bytes into a block. USERPTR buffers are queued at
// that offset into their page (placement.h), so the disk sink writes them
// straight from their pages too: it copies only the seam blocks.
TEST(GuestCapture, UserptrFramesArePlacedWhereTheFileNeedsThem)
{
	constexpr uint64_t kFrames = 40;
	constexpr uint32_t kPlacedWidth = 640, kPlacedHeight = 360;
	test::TempDir dir(".");
	Capture c;
	ASSERT_NO_FATAL_FAILURE(capture({.device = kSinglePlanarNode,
					 .io = IoMode::userptr,
					 .frames = kFrames,
					 .width = kPlacedWidth,
					 .height = kPlacedHeight},
					dir / "placed.raw", c));
	ASSERT_TRUE(c.status) << c.status.message();
	ASSERT_EQ(c.records().size(), kFrames);
	const uint64_t size = c.frame_size();
	ASSERT_EQ(size % 4096, 2048u);
	ASSERT_NO_FATAL_FAILURE(expect_file_matches(c));

	// Frame i starts in memory where it starts in the file, modulo a page.
	for (uint64_t i = 0; i < kFrames; ++i) {
		const auto address = reinterpret_cast<uintptr_t>(c.records()[i].address);
		EXPECT_EQ(address % 4096, i * size % 4096) << "frame " << i;
	}
	// Copies: the seams only, under a block per frame; no warning.
	EXPECT_GT(c.disk().copied_bytes.load(), 0u);
	EXPECT_LT(c.disk().copied_bytes.load(), kFrames * 4096);
	EXPECT_TRUE(c.warnings.empty()) << fmt::format("{}", fmt::join(c.warnings, "\n"));
	c.close();
	expect_device_clean(kSinglePlanarNode);
}

TEST(GuestCapture, AutoPicksUserptr)
{
	for (const std::string &device : {kSinglePlanarNode, kMultiPlanarNode}) {
		V4l2SourceOptions options;
		options.device = device;
		Status status;
		auto source = V4l2Source::open(options, status);
		ASSERT_TRUE(source) << status.message();
		EXPECT_EQ(source->io_mode(), IoMode::userptr) << device;
		EXPECT_EQ(source->io_note(), "userptr") << device;
		EXPECT_NE(source->description().find("userptr"), std::string::npos);
	}
}

TEST(GuestCapture, FrameRate25)
{
	// 1.8 s at 25 fps: 44 intervals.
	constexpr uint64_t kFrames = 45;
	constexpr double kTolerance = 0.10;
	test::TempDir dir(".");
	Capture c;
	ASSERT_NO_FATAL_FAILURE(
		capture({.device = kSinglePlanarNode, .frames = kFrames}, dir / "rate.raw", c));
	ASSERT_TRUE(c.status) << c.status.message();
	EXPECT_EQ(c.source->frame_rate().num, kRate.num);
	EXPECT_EQ(c.source->frame_rate().den, kRate.den);
	const auto &records = c.records();
	ASSERT_EQ(records.size(), kFrames);

	// Over the device's sequence numbers, which count the frames it could
	// not capture too (a loaded host makes the guest drop some); when the
	// frames arrived depends on that load and is only printed.
	const double intervals = double(records.back().sequence - records.front().sequence);
	const double captured =
		intervals /
		(double(records.back().timestamp_ns - records.front().timestamp_ns) / 1e9);
	const double received =
		double(kFrames - 1) /
		std::chrono::duration<double>(records.back().received - records.front().received)
			.count();
	std::printf("frame rate: %.3f fps by capture timestamps, %.3f fps as received\n", captured,
		    received);
	EXPECT_NEAR(captured, kRate.value(), kRate.value() * kTolerance);
	ASSERT_NO_FATAL_FAILURE(expect_file_matches(c));
}

TEST(GuestCapture, BufferErrorIsSkipped)
{
	// Pressed at the kFirstPress-th frame, and again once the first error
	// was seen (vivid flags the next buffer it fills after a press).
	constexpr uint64_t kFrames = 30;
	constexpr uint64_t kFirstPress = 5;
	constexpr uint64_t kPresses = 2;
	VividControl control(kSinglePlanarNode, kBufferErrorControl);
	ASSERT_TRUE(control.found());
	test::TempDir dir(".");
	Capture c;
	uint64_t presses = 0;
	auto hook = [&](uint64_t received) {
		const uint64_t errors = c.source->stats().errors.load();
		if (received >= kFirstPress && presses < kPresses &&
		    (!presses || errors >= presses)) {
			EXPECT_EQ(control.press(), 0) << errno_text();
			++presses;
		}
	};
	ASSERT_NO_FATAL_FAILURE(capture({.device = kSinglePlanarNode, .frames = kFrames},
					dir / "errors.raw", c, hook));
	ASSERT_TRUE(c.status) << c.status.message();
	ASSERT_EQ(presses, kPresses);
	const uint64_t errors = c.source->stats().errors.load();
	// A press is lost only on a tick that had no buffer to fill, a drop.
	EXPECT_GE(errors, 1u);
	EXPECT_LE(errors, kPresses);
	EXPECT_LE(kPresses - errors, c.source->stats().dropped.load());
	// The capture went on to the end, past the errors.
	EXPECT_EQ(c.records().size(), kFrames);
	ASSERT_NO_FATAL_FAILURE(expect_sequences_accounted(c));
	ASSERT_NO_FATAL_FAILURE(expect_file_matches(c));
}

TEST(GuestCapture, CliRecordLeavesDeviceClean)
{
	constexpr uint64_t kFrames = 20;
	constexpr uint64_t kFrameBytes = uint64_t(kWidth) * kHeight * 2; // YUYV
	const char *files = std::getenv("ZCAP_VM_FILES");
	ASSERT_TRUE(files) << "not in the guest (ZCAP_VM_FILES is not set)";
	const std::string zcap = fs::path(files) / "zcap";
	ASSERT_TRUE(fs::exists(zcap)) << zcap << ": pass --file <build>/zcap to run-in-guest";

	test::TempDir dir(".");
	const fs::path output = dir / "cli.raw", log = dir / "cli.log";
	const int wstatus =
		run_program({zcap, "record", "-s", kSinglePlanarNode, "-n", std::to_string(kFrames),
			     "-o", output, "--size", fmt::format("{}x{}", kWidth, kHeight), "-f",
			     "YUYV", "--fps", fmt::format("{}/{}", kRate.num, kRate.den),
			     // Every frame captured reaches the file, however slowly
			     // a loaded host lets the guest write.
			     "--policy", "block"},
			    log);
	ASSERT_GE(wstatus, 0) << "cannot run " << zcap << ": " << std::strerror(-wstatus);

	std::stringstream out;
	out << std::ifstream(log).rdbuf();
	std::printf("zcap record:\n%s", out.str().c_str());
	ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << out.str();
	EXPECT_EQ(fs::file_size(output), kFrames * kFrameBytes);
	// "  source: /dev/video0 (vivid, vivid) 640x480 YUYV at 25 fps, userptr, 14 buffers"
	EXPECT_NE(out.str().find(fmt::format("recorded {} frames", kFrames)), std::string::npos);
	EXPECT_NE(out.str().find("source: " + kSinglePlanarNode), std::string::npos);
	EXPECT_NE(out.str().find(", userptr, "), std::string::npos);
	expect_device_clean(kSinglePlanarNode);
}

// --- Without io_uring: zcap record as a container runs it ------------------------

namespace {

/// vivid's "OSD Text Mode" menu (vivid-ctrls.c): all text, or none. Without
/// the text (frame counter, time) every frame of its colour bar is the same.
constexpr std::string_view kOsdControl = "OSD Text Mode";
constexpr int32_t kOsdAll = 0, kOsdNone = 2;

/// Sets vivid's OSD off on a node for a test's life.
class OsdOff {
public:
	explicit OsdOff(const std::string &node) : control_(node, kOsdControl)
	{
		EXPECT_EQ(control_.set(kOsdNone), 0) << errno_text();
	}
	~OsdOff() { control_.set(kOsdAll); }

private:
	test::VividControl control_;
};

/// A file run-in-guest copied into the guest (--file).
fs::path guest_file(const std::string &name)
{
	const char *files = std::getenv("ZCAP_VM_FILES");
	EXPECT_TRUE(files) << "not in the guest (ZCAP_VM_FILES is not set)";
	const fs::path path = fs::path(files ? files : "") / name;
	EXPECT_TRUE(fs::exists(path))
		<< path << ": pass --file <build>/" << name << " to run-in-guest";
	return path;
}

/// The disk sink's entry of `zcap record --stats-json`.
struct DiskStatsJson {
	std::string io_path;
	uint64_t frames = 0, bytes = 0, dropped = 0, copied_bytes = 0;
	std::string io_uring_refusal;
};

std::optional<DiskStatsJson> disk_stats_json(const std::string &json)
{
	static const std::regex entry(
		R"re("io_path": "([^"]*)", "frames": (\d+), "bytes": (\d+), "dropped": (\d+), )re"
		R"re("copied_bytes": (\d+), "error": null, "io_uring_refusal": (null|"[^"]*"))re");
	std::smatch m;
	if (!std::regex_search(json, m, entry))
		return std::nullopt;
	return DiskStatsJson{
		m[1], std::stoull(m[2]), std::stoull(m[3]), std::stoull(m[4]), std::stoull(m[5]),
		m[6]};
}

std::string read_text(const fs::path &path)
{
	std::stringstream text;
	text << std::ifstream(path).rdbuf();
	return text.str();
}

struct NoIoUringCase {
	IoMode io;
	Container container;
	std::string refusal; ///< tests/no_io_uring's: eperm or enosys
};

class GuestNoIoUring : public testing::TestWithParam<NoIoUringCase> {};

} // namespace

// `zcap record` on vivid under tests/no_io_uring, as Docker (EPERM) or Podman
// (ENOSYS) runs it: it writes through Linux AIO into the O_DIRECT file,
// says why, copies nothing (640x480 YUYV frames are whole blocks), and every
// frame in the file is vivid's frame as this process captured it (OSD off).
TEST_P(GuestNoIoUring, CliRecordsEveryFrameThroughAio)
{
	constexpr uint64_t kFrames = 10;
	constexpr uint64_t kReferenceFrames = 2;
	const NoIoUringCase &p = GetParam();
	const fs::path zcap = guest_file("zcap"), jail = guest_file("no_io_uring");
	ASSERT_FALSE(HasFailure());
	OsdOff osd(kSinglePlanarNode);
	ASSERT_FALSE(HasFailure());
	test::TempDir dir(".");

	// The reference: vivid's frame as handed over to this process, with
	// io_uring allowed.
	Capture reference;
	ASSERT_NO_FATAL_FAILURE(
		capture({.device = kSinglePlanarNode, .io = p.io, .frames = kReferenceFrames},
			dir / "reference.raw", reference));
	ASSERT_TRUE(reference.status) << reference.status.message();
	ASSERT_EQ(reference.records().size(), kReferenceFrames);
	const uint64_t checksum = reference.records()[0].checksum;
	ASSERT_EQ(reference.records()[1].checksum, checksum) << "vivid's frames change";
	const uint64_t frame_bytes = reference.frame_size();
	ASSERT_EQ(frame_bytes % 4096, 0u);
	reference.close();

	const bool mkv = p.container == Container::matroska;
	const fs::path output = dir / (mkv ? "jailed.mkv" : "jailed.raw");
	const fs::path stats = dir / "stats.json", log = dir / "record.log";
	const int wstatus = run_program({jail,		 p.refusal,
					 zcap,		 "record",
					 "-d",		 kSinglePlanarNode,
					 "--io",	 std::string(io_mode_name(p.io)),
					 "-n",		 std::to_string(kFrames),
					 "-o",		 output,
					 "--size",	 fmt::format("{}x{}", kWidth, kHeight),
					 "-f",		 "YUYV",
					 "--fps",	 fmt::format("{}/{}", kRate.num, kRate.den),
					 "--policy",	 "block",
					 "--stats-json", stats},
					log);
	ASSERT_GE(wstatus, 0) << "cannot run " << jail << ": " << std::strerror(-wstatus);
	const std::string out = read_text(log);
	std::printf("%s %s record:\n%s", p.refusal.c_str(), zcap.c_str(), out.c_str());
	ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << out;
	EXPECT_NE(out.find(fmt::format(", {}, ", io_mode_name(p.io))), std::string::npos) << out;
	EXPECT_NE(out.find("written via aio+O_DIRECT"), std::string::npos) << out;

	const std::string json = read_text(stats);
	const std::optional<DiskStatsJson> disk = disk_stats_json(json);
	ASSERT_TRUE(disk) << json;
	EXPECT_EQ(disk->io_path, "aio+O_DIRECT");
	const std::string refused = p.refusal == "eperm" ? "EPERM" : "ENOSYS";
	EXPECT_TRUE(disk->io_uring_refusal.starts_with("\"io_uring refused (" + refused))
		<< disk->io_uring_refusal;
	EXPECT_EQ(disk->frames, kFrames);
	EXPECT_EQ(disk->bytes, kFrames * frame_bytes);
	EXPECT_EQ(disk->dropped, 0u);
	EXPECT_EQ(disk->copied_bytes, 0u);

	std::vector<std::byte> frame(frame_bytes);
	std::ifstream in(output, std::ios::binary);
	if (mkv) {
		const std::vector<test::BlockPayload> blocks =
			test::matroska_block_payloads(output);
		ASSERT_EQ(blocks.size(), kFrames);
		for (size_t i = 0; i < blocks.size(); ++i) {
			ASSERT_EQ(blocks[i].size, frame_bytes) << "frame " << i;
			EXPECT_EQ(blocks[i].offset % 4096, 0u) << "frame " << i;
			in.seekg(std::streamoff(blocks[i].offset));
			ASSERT_TRUE(in.read(reinterpret_cast<char *>(frame.data()),
					    std::streamsize(frame.size())));
			ASSERT_EQ(fnv1a(frame), checksum) << "frame " << i << " differs on disk";
		}
		// zcap's own reader: every frame, and a finished file.
		const fs::path inspect = dir / "inspect.json";
		const int inspected = run_program({zcap, "inspect", "--json", output}, inspect);
		const std::string report = read_text(inspect);
		ASSERT_TRUE(inspected >= 0 && WIFEXITED(inspected) && WEXITSTATUS(inspected) == 0)
			<< report;
		EXPECT_NE(report.find(fmt::format("\"frames\": {}", kFrames)), std::string::npos)
			<< report;
		EXPECT_NE(report.find("\"finished\": true"), std::string::npos) << report;
	} else {
		ASSERT_EQ(fs::file_size(output), kFrames * frame_bytes);
		for (uint64_t i = 0; i < kFrames; ++i) {
			ASSERT_TRUE(in.read(reinterpret_cast<char *>(frame.data()),
					    std::streamsize(frame.size())));
			ASSERT_EQ(fnv1a(frame), checksum) << "frame " << i << " differs on disk";
		}
	}
	expect_device_clean(kSinglePlanarNode);
}

// Each capture I/O mode and container once, under each refusal once.
INSTANTIATE_TEST_SUITE_P(
	Vivid, GuestNoIoUring,
	testing::Values(NoIoUringCase{IoMode::userptr, Container::raw, "eperm"},
			NoIoUringCase{IoMode::mmap, Container::raw, "enosys"},
			NoIoUringCase{IoMode::userptr, Container::matroska, "enosys"},
			NoIoUringCase{IoMode::mmap, Container::matroska, "eperm"}),
	[](const testing::TestParamInfo<NoIoUringCase> &info) {
		return fmt::format("{}_{}_{}", io_mode_name(info.param.io),
				   info.param.container == Container::matroska ? "mkv" : "raw",
				   info.param.refusal);
	});

// --- Faults: run with vivid allocators=1,0 (see README.md) ----------------------

// /dev/video0 has contiguous DMA memory: its MMAP buffers are mapped with
// remap_pfn_range() (VM_PFNMAP), which O_DIRECT cannot pin (EFAULT).
TEST(GuestFaults, PfnmapBuffersAreStagedWithOneWarning)
{
	test::TempDir dir(".");
	Capture c;
	ASSERT_NO_FATAL_FAILURE(
		capture({.device = kSinglePlanarNode, .io = IoMode::mmap}, dir / "pfnmap.raw", c));
	ASSERT_TRUE(c.status) << c.status.message();
	ASSERT_EQ(c.records().size(), kMatrixFrames);
	expect_disk_io(c, true, false);
	expect_dmabufs(c, true);
	ASSERT_NO_FATAL_FAILURE(expect_file_matches(c));
	ASSERT_NO_FATAL_FAILURE(expect_sequences_accounted(c));
	c.close();
	expect_device_clean(kSinglePlanarNode);
}

// vivid offers no USERPTR with contiguous DMA memory: auto falls back to MMAP.
TEST(GuestFaults, AutoFallsBackToMmapOnContiguousMemory)
{
	V4l2SourceOptions options;
	options.device = kSinglePlanarNode;
	Status status;
	auto source = V4l2Source::open(options, status);
	ASSERT_TRUE(source) << status.message();
	EXPECT_EQ(source->io_mode(), IoMode::mmap);
	std::printf("io: %s\n", source->io_note().c_str());
	EXPECT_TRUE(source->io_note().starts_with("mmap (userptr refused: /dev/video0: "
						  "VIDIOC_REQBUFS (userptr)"))
		<< source->io_note();
}

// Last: the node is gone for the rest of the VM's life.
TEST(GuestFaults, DisconnectEndsCaptureCleanly)
{
	// Far more than are captured before the press ends the capture.
	constexpr uint64_t kFrames = 1000;
	constexpr uint64_t kPressAt = 5;
	VividControl control(kMultiPlanarNode, kDisconnectControl);
	ASSERT_TRUE(control.found());
	test::TempDir dir(".");
	Capture c;
	auto hook = [&](uint64_t received) {
		if (received == kPressAt) {
			EXPECT_EQ(control.press(), 0) << errno_text();
		}
	};
	ASSERT_NO_FATAL_FAILURE(capture({.device = kMultiPlanarNode, .frames = kFrames},
					dir / "disconnect.raw", c, hook));
	ASSERT_FALSE(c.status) << "the capture went on after the disconnect";
	std::printf("capture ended: %s\n", c.status.message().c_str());
	EXPECT_NE(c.status.message().find("disconnected"), std::string::npos) << c.status.message();
	EXPECT_EQ(c.source->last_error().message(), c.status.message());
	// Frames let go after the disconnect are not queued again (no warning).
	EXPECT_TRUE(c.warnings.empty()) << fmt::format("{}", fmt::join(c.warnings, "\n"));
	EXPECT_GE(c.records().size(), kPressAt);
	EXPECT_LT(c.records().size(), kFrames);
	ASSERT_NO_FATAL_FAILURE(expect_file_matches(c));
	ASSERT_NO_FATAL_FAILURE(expect_sequences_accounted(c));
}
