// SPDX-License-Identifier: LGPL-2.1-or-later
// Matroska recordings checked by third-party readers: FFmpeg decodes every
// frame to the pattern's bytes, GStreamer demuxes them, MJPEG of varying
// sizes round-trips, and a file read while it is written holds only whole
// frames.
#include <zcap/disk_sink.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/frame_pool.h>
#include <zcap/pattern.h>
#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>

#include "test_files.h"

using namespace zcap;
namespace fs = std::filesystem;

namespace {

using test::frame_md5s;
using test::probed_frames;
using test::Recording;

Recording record_mkv(const fs::path &path, const FrameFormat &format, FrameRate rate,
		     uint64_t frames)
{
	return test::record_pattern(
		{.path = path, .container = Container::matroska, .queue_depth = 4}, format, rate,
		frames);
}

/// What ffprobe says of the first video stream, as "key=value" lines.
std::string probe(const fs::path &file)
{
	return test::run_command(fmt::format(
		"ffprobe -v error -count_frames -select_streams v:0 -show_entries "
		"stream=codec_name,width,height,pix_fmt,nb_read_frames -of default=nw=1 '{}'",
		file.string()));
}

/// framemd5 of pattern frames @p sequences (test_files.h).
std::vector<std::string> pattern_md5s(const FrameFormat &format,
				      const std::vector<uint64_t> &sequences,
				      const test::TempDir &dir)
{
	return test::pattern_md5s(format, sequences, dir.path());
}

/// The same for pattern frames 0..count-1.
std::vector<std::string> pattern_md5s(const FrameFormat &format, uint64_t count,
				      const test::TempDir &dir)
{
	std::vector<uint64_t> sequences(count);
	std::iota(sequences.begin(), sequences.end(), 0);
	return pattern_md5s(format, sequences, dir);
}

/// Pattern sequence numbers of @p file's frames (test_files.h): usually 0, 1,
/// 2...; a gap is a frame zcap record dropped (and counted) when the disk fell
/// behind on a loaded machine.
std::vector<uint64_t> pattern_sequences(const fs::path &file, const FrameFormat &format)
{
	return test::matroska_pattern_sequences(file, format);
}

/// Frames GStreamer's matroskademux pushes out of @p file.
int gst_frame_count(const fs::path &file)
{
	std::istringstream out(test::run_command(fmt::format(
		"gst-launch-1.0 -v filesrc location='{}' ! matroskademux ! fakesink silent=false",
		file.string())));
	int frames = 0;
	for (std::string line; std::getline(out, line);)
		frames += line.find("last-message = chain") != std::string::npos;
	return frames;
}

class MatroskaFormats : public testing::TestWithParam<uint32_t> {};

TEST_P(MatroskaFormats, FfmpegDecodesEveryFrameToThePatternBytes)
{
	constexpr uint64_t kFrames = 12;
	test::TempDir dir;
	const FrameFormat format = *packed_format(GetParam(), 640, 480);
	const PixelFormatInfo &info = *format_info(GetParam());
	fs::path file = dir / "pattern.mkv";

	Recording r = record_mkv(file, format, {30, 1}, kFrames);
	ASSERT_TRUE(r.status) << r.status.message();
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_TRUE(r.saw_o_direct);
	EXPECT_TRUE(test::expected_direct_path(r.io_path)) << io_path_name(r.io_path);
	// The pattern's buffers have room after each frame for the padding that
	// lets a payload's last block go from the buffer: nothing is copied.
	EXPECT_EQ(r.copied, 0u);

	EXPECT_EQ(probe(file), fmt::format("codec_name=rawvideo\nwidth=640\nheight=480\n"
					   "pix_fmt={}\nnb_read_frames={}\n",
					   info.ffmpeg_reads, kFrames));
	EXPECT_EQ(frame_md5s(fmt::format("-i '{}'", file.string())),
		  pattern_md5s(format, kFrames, dir));
	if (info.gstreamer_reads) {
		EXPECT_EQ(gst_frame_count(file), int(kFrames));
	}
}

std::string fourcc_case_name(const testing::TestParamInfo<uint32_t> &info)
{
	std::string name = fourcc_name(info.param);
	std::replace(name.begin(), name.end(), '-', '_');
	return name;
}

INSTANTIATE_TEST_SUITE_P(Raw, MatroskaFormats,
			 testing::Values(pixfmt::YUYV, pixfmt::UYVY, pixfmt::NV12, pixfmt::NV21,
					 pixfmt::YU12, pixfmt::YV12, pixfmt::GREY, pixfmt::Y16,
					 pixfmt::RGB24, pixfmt::BGR24, pixfmt::BGRA, pixfmt::XBGR,
					 pixfmt::SBGGR8, pixfmt::SRGGB8),
			 fourcc_case_name);

TEST(Matroska, FinishedFileHasDurationCuesAndSeeksToTheRightFrame)
{
	constexpr uint64_t kFrames = 75;
	test::TempDir dir;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	fs::path file = dir / "seek.mkv";
	Recording r = record_mkv(file, format, {25, 1}, kFrames);
	ASSERT_TRUE(r.status) << r.status.message();

	// 75 frames at 25 fps: 3 s, in Clusters of at most 1 s.
	EXPECT_EQ(test::run_command(fmt::format("ffprobe -v error -show_entries format=duration "
						"-of csv=p=0 '{}'",
						file.string())),
		  "3.000000\n");
	std::string discovered = test::run_command("gst-discoverer-1.0 '" + file.string() + "'");
	EXPECT_NE(discovered.find("Duration: 0:00:03.000000000"), std::string::npos) << discovered;
	EXPECT_NE(discovered.find("Seekable: yes"), std::string::npos) << discovered;

	// Frame 50 is at 2.0 s.
	std::vector<std::string> all = pattern_md5s(format, kFrames, dir);
	std::vector<std::string> seeked =
		frame_md5s(fmt::format("-ss 2.0 -i '{}' -frames:v 1", file.string()));
	ASSERT_EQ(seeked.size(), 1u);
	EXPECT_EQ(seeked[0], all[50]);
}

TEST(Matroska, LargeFramesWithPartialBlocksAreNotCopied)
{
	// 1920x1080 YUYV frames are 4,147,200 bytes, 1012.5 blocks.
	constexpr uint64_t kFrames = 20;
	test::TempDir dir;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 1920, 1080);
	Recording r = record_mkv(dir / "big.mkv", format, {}, kFrames);
	ASSERT_TRUE(r.status) << r.status.message();
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_EQ(r.copied, 0u);
}

/// Buffers of exactly one frame each, with no room after it: what a
/// driver's buffers of exactly sizeimage bytes look like.
class TightBuffers final : public FrameOwner {
public:
	TightBuffers(size_t size, unsigned count)
	    : stride_((size + 4095) / 4096 * 4096), count_(count)
	{
		void *p = mmap(nullptr, stride_ * count, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		EXPECT_NE(p, MAP_FAILED);
		memory_ = static_cast<std::byte *>(p);
		for (unsigned i = 0; i < count; ++i)
			slots_.push_back(std::make_unique<FrameSlot>(
				*this, i, std::span(memory_ + i * stride_, size), FdAlias{}));
	}
	~TightBuffers() { munmap(memory_, stride_ * count_); }

	MemoryRegion region() const { return {memory_, stride_ * count_}; }
	FrameSlot &slot(unsigned i) { return *slots_[i]; }
	bool in_use(unsigned i) const { return busy_[i].load(); }
	void lend(unsigned i) { busy_[i] = true; }
	void recycle(FrameSlot &slot) noexcept override { busy_[slot.index()] = false; }

private:
	size_t stride_;
	unsigned count_;
	std::byte *memory_ = nullptr;
	std::vector<std::unique_ptr<FrameSlot>> slots_;
	std::array<std::atomic<bool>, 8> busy_{};
};

TEST(Matroska, WithoutRoomAfterTheFrameOnlyTailsAreCopiedAtMostATenthOfAPercent)
{
	constexpr unsigned kFrames = 10;
	test::TempDir dir;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 1920, 1080);
	TightBuffers buffers(format.size_image, 2);
	fs::path file = dir / "tight.mkv";
	auto sink =
		make_disk_sink({.path = file, .container = Container::matroska, .queue_depth = 2});
	ASSERT_TRUE(sink->start(
		{.format = format, .frame_rate = {30, 1}, .regions = {buffers.region()}}));
	for (unsigned i = 0; i < kFrames; ++i) {
		unsigned b = i % 2;
		while (buffers.in_use(b))
			ASSERT_TRUE(sink->service(std::chrono::milliseconds(10)));
		FrameSlot &slot = buffers.slot(b);
		pattern::render(format, i, slot.memory());
		slot.metadata() = {.format = format,
				   .bytes_used = format.size_image,
				   .sequence = i,
				   .timestamp_ns = uint64_t(i) * 1'000'000'000 / 30};
		buffers.lend(b);
		ASSERT_TRUE(sink->write(Frame::adopt(slot)));
	}
	ASSERT_TRUE(sink->finish());

	// Each 4,147,200-byte frame leaves a 2048-byte tail for the seam.
	const SinkStats &s = sink->stats();
	EXPECT_EQ(s.frames.load(), kFrames);
	EXPECT_EQ(s.copied_bytes.load(), uint64_t(kFrames) * 2048);
	EXPECT_LE(double(s.copied_bytes.load()), 0.001 * double(s.bytes.load()));
	EXPECT_EQ(frame_md5s(fmt::format("-i '{}'", file.string())),
		  pattern_md5s(format, kFrames, dir));
}

TEST(Matroska, TwoSinksSharingFramesPadInTheirBuffersOnceAndBothFilesAreRight)
{
	// The room after a frame is one sink's: the other copies the frame's
	// 2048-byte tail into its seam instead of writing the same bytes.
	constexpr uint64_t kFrames = 10;
	const std::array<const char *, 2> names{"a.mkv", "b.mkv"};
	test::TempDir dir;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 1920, 1080);
	Status status;
	// Paced: FFmpeg counts frames by their timestamps.
	auto source = PatternSource::create(format, {30, 1}, 8, status);
	ASSERT_TRUE(source) << status.message();
	Pipeline pipeline(*source);
	for (const char *name : names)
		pipeline.add_sink(make_disk_sink({.path = dir / name,
						  .container = Container::matroska,
						  .queue_depth = 4}),
				  {.policy = OverflowPolicy::block});
	std::atomic<bool> stop{false};
	status = pipeline.run({.frames = kFrames}, stop);
	ASSERT_TRUE(status) << status.message();

	uint64_t copied = 0;
	for (size_t i = 0; i < names.size(); ++i) {
		EXPECT_EQ(pipeline.sink(i).stats().frames.load(), kFrames);
		copied += pipeline.sink(i).stats().copied_bytes.load();
	}
	EXPECT_EQ(copied, kFrames * 2048);
	// The same frames in both (a loaded machine may make the source skip
	// some pattern numbers).
	const std::vector<uint64_t> sequences = pattern_sequences(dir / names[0], format);
	EXPECT_EQ(sequences.size(), kFrames);
	EXPECT_EQ(pattern_sequences(dir / names[1], format), sequences);
	const std::vector<std::string> expected = pattern_md5s(format, sequences, dir);
	for (const char *name : names)
		EXPECT_EQ(frame_md5s(fmt::format("-i '{}'", (dir / name).string())), expected)
			<< name;
}

TEST(Matroska, FormatsReadersCannotDecodeAreRefusedBeforeTheFileIsMade)
{
	test::TempDir dir;
	FrameFormat format = *packed_format(pixfmt::YUYV, 64, 48);
	format.fourcc = fourcc('V', 'Y', 'U', 'Y');
	auto sink = make_disk_sink({.path = dir / "x.mkv", .container = Container::matroska});
	Status status = sink->start({.format = format, .frame_rate = {30, 1}, .regions = {}});
	ASSERT_FALSE(status);
	EXPECT_EQ(status.message(), (dir / "x.mkv").string() +
					    ": no Matroska reader decodes VYUY frames (neither "
					    "FFmpeg nor GStreamer's matroskademux); record them "
					    "with --container raw");
	EXPECT_FALSE(fs::exists(dir / "x.mkv"));
}

TEST(Matroska, ARecordingWithoutFramesIsStillAValidFile)
{
	test::TempDir dir;
	fs::path file = dir / "empty.mkv";
	auto sink = make_disk_sink({.path = file, .container = Container::matroska});
	ASSERT_TRUE(sink->start({.format = *packed_format(pixfmt::YUYV, 64, 48),
				 .frame_rate = {30, 1},
				 .regions = {}}));
	ASSERT_TRUE(sink->finish());
	// FFmpeg 5.1 refuses any Matroska file without frames, its own too;
	// GStreamer reads the track.
	int status = -1;
	std::string out = test::run_command(
		fmt::format("gst-discoverer-1.0 '{}' 2>&1", file.string()), &status);
	EXPECT_EQ(status, 0);
	EXPECT_NE(out.find("Width: 64"), std::string::npos) << out;
}

TEST(Matroska, DiskFullStopsWithAClearErrorAndKeepsAPlayableFile)
{
	if (geteuid() != 0 && !test::root_tests_required())
		GTEST_SKIP() << "needs root for a loop device";
	test::LoopFs small(32);
	ASSERT_EQ(small.error(), "");
	// 640x480 NV12: 112.5 blocks a frame, so the disk fills mid-frame.
	const FrameFormat format = *packed_format(pixfmt::NV12, 640, 480);
	fs::path file = small.mountpoint() / "full.mkv";

	// Paced (a source that a loaded machine holds up drops frames: the
	// file then has gaps in its pattern numbers).
	Recording r = record_mkv(file, format, {60, 1}, 0);
	ASSERT_FALSE(r.status.ok());
	EXPECT_EQ(r.status.code(), std::errc::no_space_on_device) << r.status.message();
	EXPECT_NE(r.status.message().find(file.string()), std::string::npos) << r.status.message();

	// Every frame counted as written is in the file, whole; nothing else is.
	ASSERT_GT(r.frames, 20u);
	EXPECT_EQ(probed_frames(file), r.frames);
	std::vector<uint64_t> sequences = pattern_sequences(file, format);
	EXPECT_EQ(sequences.size(), r.frames);
	EXPECT_TRUE(std::is_sorted(sequences.begin(), sequences.end()));
	test::TempDir dir;
	EXPECT_EQ(frame_md5s(fmt::format("-i '{}'", file.string())),
		  pattern_md5s(format, sequences, dir));
}

TEST(Matroska, TmpfsWritesTheSameFileThroughThePageCacheAndCountsTheCopies)
{
	test::LogCapture log;
	const FrameFormat format = *packed_format(pixfmt::NV12, 320, 240);
	test::TempDir dir("/dev/shm");
	fs::path file = dir / "out.mkv";
	Recording r = record_mkv(file, format, {30, 1}, 20);
	ASSERT_TRUE(r.status) << r.status.message();
	EXPECT_EQ(r.io_path, IoPath::buffered);
	EXPECT_EQ(r.copied, r.bytes);
	EXPECT_EQ(r.bytes, 20u * format.size_image);
	EXPECT_EQ(probed_frames(file), 20u);
	EXPECT_EQ(frame_md5s(fmt::format("-i '{}'", file.string())), pattern_md5s(format, 20, dir));
	auto warnings = log.warnings();
	ASSERT_EQ(warnings.size(), 1u);
	EXPECT_NE(warnings[0].find("page cache"), std::string::npos) << warnings[0];
}

/// JPEG files of different sizes, made by FFmpeg from its test source.
std::vector<std::vector<std::byte>> jpeg_frames(const test::TempDir &dir, int count)
{
	int status = 0;
	test::run_command(
		fmt::format("ffmpeg -v error -f lavfi -i testsrc=s=640x480:r=30 "
			    "-frames:v {} -pix_fmt yuvj420p -c:v mjpeg -q:v 4 '{}/%03d.jpg'",
			    count, dir.path().string()),
		&status);
	EXPECT_EQ(status, 0);
	std::vector<std::vector<std::byte>> frames;
	for (int i = 1; i <= count; ++i) {
		std::ifstream in(dir / fmt::format("{:03}.jpg", i), std::ios::binary);
		std::string bytes((std::istreambuf_iterator<char>(in)), {});
		const auto *p = reinterpret_cast<const std::byte *>(bytes.data());
		frames.emplace_back(p, p + bytes.size());
	}
	return frames;
}

TEST(Matroska, MjpegFramesOfEverySizeRoundTrip)
{
	constexpr int kFrames = 30;
	test::TempDir dir;
	auto jpegs = jpeg_frames(dir, kFrames);
	ASSERT_EQ(jpegs.size(), size_t(kFrames));
	size_t largest = 0;
	std::set<size_t> sizes;
	for (const auto &j : jpegs) {
		largest = std::max(largest, j.size());
		sizes.insert(j.size());
	}
	ASSERT_GT(sizes.size(), size_t(kFrames / 2)) << "the JPEGs should differ in size";

	Status status;
	auto pool = FramePool::create(largest, 4, status);
	ASSERT_TRUE(pool) << status.message();
	FrameFormat format{.fourcc = pixfmt::MJPEG,
			   .width = 640,
			   .height = 480,
			   .num_planes = 1,
			   .size_image = uint32_t(largest)};
	fs::path file = dir / "mjpeg.mkv";
	auto sink =
		make_disk_sink({.path = file, .container = Container::matroska, .queue_depth = 2});
	ASSERT_TRUE(sink->start(
		{.format = format, .frame_rate = {30, 1}, .regions = {pool->region()}}));
	auto deadline = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(5); };
	for (int i = 0; i < kFrames; ++i) {
		FrameSlot *slot = pool->acquire(deadline());
		while (!slot) {
			ASSERT_TRUE(sink->service(std::chrono::milliseconds(10)));
			slot = pool->acquire(deadline());
		}
		std::copy(jpegs[i].begin(), jpegs[i].end(), slot->memory().begin());
		slot->metadata() = {.format = format,
				    .bytes_used = uint32_t(jpegs[i].size()),
				    .sequence = uint64_t(i),
				    .timestamp_ns = uint64_t(i) * 1'000'000'000 / 30};
		ASSERT_TRUE(sink->write(Frame::adopt(*slot)));
		while (pool->free_count() == 0)
			ASSERT_TRUE(sink->service(std::chrono::milliseconds(10)));
	}
	ASSERT_TRUE(sink->finish());
	EXPECT_EQ(sink->stats().frames.load(), uint64_t(kFrames));

	EXPECT_EQ(probe(file), fmt::format("codec_name=mjpeg\nwidth=640\nheight=480\n"
					   "pix_fmt=yuvj420p\nnb_read_frames={}\n",
					   kFrames));
	// The packets are the JPEG files byte for byte.
	EXPECT_EQ(frame_md5s(fmt::format("-i '{}' -c copy", file.string())),
		  frame_md5s(fmt::format("-i '{}/%03d.jpg' -c copy", dir.path().string())));
	EXPECT_EQ(gst_frame_count(file), kFrames);
}

/// `zcap record` of the pattern into @p file, running until killed.
/// Copies @p from to @p to in file order, until a read finds its end: what
/// a reader of a growing file sees. std::filesystem::copy_file stops at the
/// size it found first, so a frame whose header it reached after the file
/// grew lost its payload's tail in the copy (seen at frame 574, where the
/// payload crosses the first 256 MiB of preallocation).
void copy_as_it_grows(const fs::path &from, const fs::path &to)
{
	std::ifstream in(from, std::ios::binary);
	std::ofstream out(to, std::ios::binary);
	ASSERT_TRUE(in && out) << from << " -> " << to;
	out << in.rdbuf();
	out.close();
	ASSERT_TRUE(out) << to << ": writing the copy";
}

class BackgroundRecording {
public:
	BackgroundRecording(const fs::path &file, const FrameFormat &format) : file_(file)
	{
		const char *zcap = std::getenv("ZCAP");
		EXPECT_TRUE(zcap) << "ZCAP names the zcap binary";
		std::string size = fmt::format("{}x{}", format.width, format.height);
		std::string fourcc = fourcc_name(format.fourcc);
		std::vector<std::string> args = {zcap ? zcap : "zcap",
						 "record",
						 "-q",
						 "-o",
						 file.string(),
						 "--size",
						 size,
						 "-f",
						 fourcc,
						 "-t",
						 "60s"};
		std::vector<char *> argv;
		for (std::string &a : args)
			argv.push_back(a.data());
		argv.push_back(nullptr);
		spawned_ = std::chrono::steady_clock::now();
		EXPECT_EQ(posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ), 0);
	}
	~BackgroundRecording() { kill(SIGKILL); }

	/// Waits until zcap has made the file (it opens the source first),
	/// at most 10 s.
	void wait_for_file() const
	{
		for (int i = 0; i < 1000 && !fs::exists(file_); ++i)
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		ASSERT_TRUE(fs::exists(file_)) << "zcap record did not start";
	}

	/// How long zcap had run when it was killed: the most its source can
	/// have been capturing.
	std::chrono::duration<double> ran() const { return killed_ - spawned_; }

	void kill(int signal)
	{
		if (pid_ <= 0)
			return;
		killed_ = std::chrono::steady_clock::now();
		::kill(pid_, signal);
		int status;
		waitpid(pid_, &status, 0);
		pid_ = -1;
	}

private:
	fs::path file_;
	pid_t pid_ = -1;
	std::chrono::steady_clock::time_point spawned_, killed_;
};

TEST(Matroska, SigkillAtTwentyMomentsLeavesFilesThatPlayEveryCompletedFrame)
{
	// Killed at 20 moments spread over the first 2.2 s, in and between
	// Clusters (one a second), from a fixed seed so that a failure repeats.
	// 320x240 YUYV frames are 37.5 blocks: their last block is padded.
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	std::mt19937 random(20261130);
	std::uniform_int_distribution<int> moment(150, 2200);
	const char *zcap = std::getenv("ZCAP");
	ASSERT_TRUE(zcap);
	for (int kill = 0; kill < 20; ++kill) {
		int ms = moment(random);
		SCOPED_TRACE(fmt::format("killed after {} ms", ms));
		test::TempDir dir;
		fs::path file = dir / "killed.mkv";
		BackgroundRecording recording(file, format);
		ASSERT_NO_FATAL_FAILURE(recording.wait_for_file());
		std::this_thread::sleep_for(std::chrono::milliseconds(ms));
		recording.kill(SIGKILL);
		ASSERT_NO_FATAL_FAILURE(test::wait_for_last_writes(file));

		// Every block is a whole pattern frame, of those made at 30 fps
		// while zcap ran (a loaded machine may let it run longer than
		// asked, or make fewer).
		std::vector<uint64_t> sequences;
		ASSERT_NO_FATAL_FAILURE(sequences = pattern_sequences(file, format));
		const uint64_t frames = sequences.size();
		EXPECT_LE(frames, uint64_t(recording.ran().count() * 30) + 1);
		// FFmpeg decodes the same frames (checked on a few: it scans the
		// preallocated zeros after them byte by byte, which takes seconds).
		if (kill % 8 == 0) {
			EXPECT_EQ(probed_frames(file), frames);
			EXPECT_EQ(frame_md5s(fmt::format("-i '{}'", file.string())),
				  pattern_md5s(format, sequences, dir));
		}
		// zcap inspect agrees, and says the recording was interrupted.
		std::string inspected = test::run_command(
			fmt::format("'{}' inspect --json '{}'", zcap, file.string()));
		EXPECT_NE(inspected.find(fmt::format("\"frames\": {},", frames)), std::string::npos)
			<< frames << " pattern frames read; zcap inspect: " << inspected;
		EXPECT_NE(inspected.find("\"finished\": false"), std::string::npos) << inspected;
	}
}

TEST(Matroska, AFileReadWhileItIsWrittenHoldsOnlyWholeFrames)
{
	// 640x480 NV12 frames end in the middle of a block: a reader that saw a
	// header before the frame's last block was on disk would decode a frame
	// that ends in zeros.
	const FrameFormat format = *packed_format(pixfmt::NV12, 640, 480);
	test::TempDir dir;
	fs::path file = dir / "live.mkv";
	BackgroundRecording recording(file, format);
	ASSERT_NO_FATAL_FAILURE(recording.wait_for_file());
	// Four snapshots a quarter of a second apart, and more until one holds
	// a frame, however slowly a loaded machine lets zcap start (at most
	// a minute: a broken zcap fails rather than hangs the test).
	constexpr int kSnapshots = 4;
	constexpr int kMostSnapshots = 240;
	uint64_t last = 0;
	for (int snapshot = 0; snapshot < kSnapshots || (last == 0 && snapshot < kMostSnapshots);
	     ++snapshot) {
		std::this_thread::sleep_for(std::chrono::milliseconds(250));
		fs::path copy = dir / fmt::format("snapshot{}.mkv", snapshot);
		ASSERT_NO_FATAL_FAILURE(copy_as_it_grows(file, copy));
		uint64_t frames = probed_frames(copy);
		SCOPED_TRACE(fmt::format("snapshot {} with {} frames", snapshot, frames));
		EXPECT_GE(frames, last);
		std::vector<uint64_t> sequences = pattern_sequences(copy, format);
		EXPECT_EQ(sequences.size(), frames);
		EXPECT_EQ(frame_md5s(fmt::format("-i '{}'", copy.string())),
			  pattern_md5s(format, sequences, dir));
		last = frames;
		fs::remove(copy);
	}
	EXPECT_GT(last, 0u);
	recording.kill(SIGINT);
	// A clean stop after that finishes the file: every frame, and a Duration.
	uint64_t frames = probed_frames(file);
	EXPECT_GE(frames, last);
	std::vector<uint64_t> sequences = pattern_sequences(file, format);
	EXPECT_EQ(sequences.size(), frames);
	EXPECT_EQ(frame_md5s(fmt::format("-i '{}'", file.string())),
		  pattern_md5s(format, sequences, dir));
	EXPECT_NE(test::run_command(fmt::format("ffprobe -v error -show_entries format=duration "
						"-of csv=p=0 '{}'",
						file.string())),
		  "N/A\n");
}

} // namespace
