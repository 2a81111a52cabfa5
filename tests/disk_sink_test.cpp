// SPDX-License-Identifier: LGPL-2.1-or-later
// The disk sink writing real files: on ext4 (direct I/O), on tmpfs (the
// counted fallback), and on a file system that fills up.
#include <zcap/disk_sink.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/log.h>
#include <zcap/pattern.h>
#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>

#include "test_files.h"

using namespace zcap;
namespace fs = std::filesystem;

namespace {

using test::Recording;

Recording record(const fs::path &path, const FrameFormat &format, FrameRate rate, uint64_t frames,
		 bool overwrite = false)
{
	return test::record_pattern({.path = path, .queue_depth = 4, .overwrite = overwrite},
				    format, rate, frames);
}

void expect_frames(const fs::path &path, const FrameFormat &format, uint64_t count)
{
	test::RawCheck check = test::check_raw_file(path, format);
	EXPECT_EQ(check.error, "");
	EXPECT_EQ(check.trailing_bytes, 0u);
	ASSERT_EQ(check.sequences.size(), count);
	for (uint64_t i = 0; i < count; ++i)
		ASSERT_EQ(check.sequences[i], i);
}

struct Case {
	uint32_t fourcc;
	uint32_t width, height;
};

std::string case_name(const testing::TestParamInfo<Case> &info)
{
	return fmt::format("{}_{}x{}", fourcc_name(info.param.fourcc), info.param.width,
			   info.param.height);
}

class DirectRecording : public testing::TestWithParam<Case> {};

} // namespace

TEST_P(DirectRecording, EveryByteOnDiskWithODirectAndNoCopiesBeyondTheSeams)
{
	const Case c = GetParam();
	const FrameFormat format = *packed_format(c.fourcc, c.width, c.height);
	test::TempDir dir;
	fs::path path = dir / "out.raw";
	constexpr uint64_t kFrames = 40;

	// Paced, so that the run lasts long enough to look at the descriptor.
	Recording r = record(path, format, {200, 1}, kFrames);
	ASSERT_TRUE(r.status.ok()) << r.status.message();
	EXPECT_TRUE(r.saw_o_direct) << "the file was not open with O_DIRECT";
	EXPECT_TRUE(test::expected_direct_path(r.io_path)) << io_path_name(r.io_path);
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_EQ(r.bytes, kFrames * format.size_image);
	EXPECT_EQ(fs::file_size(path), kFrames * format.size_image);
	expect_frames(path, format, kFrames);

	if (format.size_image % 4096 == 0) {
		EXPECT_EQ(r.copied, 0u) << "block-sized frames must go to disk without a copy";
	} else {
		// Frame boundaries inside a block go through seams: less than a
		// block copied per frame. The pattern places every frame where
		// the file needs it in memory, so no frame is staged whole.
		EXPECT_GT(r.copied, 0u);
		EXPECT_LT(r.copied, kFrames * 4096u);
	}
}

INSTANTIATE_TEST_SUITE_P(Formats, DirectRecording,
			 testing::Values(Case{pixfmt::YUYV, 640, 480}, Case{pixfmt::UYVY, 640, 480},
					 Case{pixfmt::NV12, 640, 480}, Case{pixfmt::GREY, 640, 480},
					 Case{pixfmt::RGB24, 640, 480},
					 Case{pixfmt::BGRA, 640, 480},
					 Case{pixfmt::YUYV, 1920, 1080},
					 Case{pixfmt::GREY, 641, 479},
					 Case{pixfmt::RGB24, 333, 77}),
			 case_name);

TEST(DiskSink, SeamCopiesStayBelowOneBlockPerFrameWhenPagesLineUp)
{
	// 2048x1 GREY: 2048-byte frames, so every frame sits inside a seam and
	// nothing starts off a page boundary mid-bulk: only seam bytes move.
	const FrameFormat format = *packed_format(pixfmt::GREY, 2048, 3);
	test::TempDir dir;
	Recording r = record(dir / "seams.raw", format, {}, 100);
	ASSERT_TRUE(r.status.ok()) << r.status.message();
	EXPECT_LE(r.copied, 100u * 4096u);
	expect_frames(dir / "seams.raw", format, 100);
}

TEST(DiskSink, FramesNotPlacedForTheFileAreStagedCountedAndWarnedOnce)
{
	// 1920x1080 YUYV frames from a pool without placement advice: every
	// other frame lands 2048 bytes into a file block but starts on a page
	// in memory, so its bulk is copied to aligned memory before the write.
	test::LogCapture log;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 1920, 1080);
	constexpr uint64_t kFrames = 6;
	Status status;
	auto pool = FramePool::create(format.size_image, 2, status);
	ASSERT_TRUE(pool) << status.message();
	test::TempDir dir;
	auto sink = make_disk_sink({.path = dir / "unplaced.raw"});
	ASSERT_TRUE(sink->start({format, {30, 1}, {pool->region()}}));
	EXPECT_EQ(sink->page_offset(1), 2048u) << "the file wants frame 1 at 2048 into a page";
	for (uint64_t i = 0; i < kFrames; ++i) {
		FrameSlot *slot;
		while (!(slot = pool->acquire(std::chrono::steady_clock::now())))
			ASSERT_TRUE(
				sink->service(std::chrono::milliseconds(10))); // writes pin both
		pattern::render(format, i, slot->memory().first(format.size_image));
		slot->metadata() = {
			.format = format, .bytes_used = format.size_image, .sequence = i};
		ASSERT_TRUE(sink->write(Frame::adopt(*slot)));
	}
	ASSERT_TRUE(sink->finish());
	const uint64_t odd_bulks = kFrames / 2 * (format.size_image - 2048);
	EXPECT_GE(sink->stats().copied_bytes, odd_bulks);
	EXPECT_LT(sink->stats().copied_bytes, odd_bulks + kFrames * 4096);
	expect_frames(dir / "unplaced.raw", format, kFrames);
	auto warnings = log.warnings();
	ASSERT_EQ(warnings.size(), 1u);
	EXPECT_NE(warnings[0].find("copied to aligned memory"), std::string::npos) << warnings[0];
}

TEST(DiskSink, TmpfsFallsBackToBufferedWritesSaysSoOnceAndCountsTheCopies)
{
	test::LogCapture log;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 640, 480);
	test::TempDir dir("/dev/shm");
	fs::path path = dir / "out.raw";
	Recording r = record(path, format, {}, 30);
	ASSERT_TRUE(r.status.ok()) << r.status.message();
	EXPECT_EQ(r.io_path, IoPath::buffered);
	EXPECT_EQ(r.copied, r.bytes);
	EXPECT_EQ(r.bytes, 30u * format.size_image);
	expect_frames(path, format, 30);

	auto warnings = log.warnings();
	ASSERT_EQ(warnings.size(), 1u);
	EXPECT_NE(warnings[0].find("page cache"), std::string::npos) << warnings[0];
	EXPECT_NE(warnings[0].find(path.string()), std::string::npos) << warnings[0];
}

TEST(DiskSink, DiskFullStopsWithAClearErrorAndKeepsEveryWholeFrame)
{
	if (geteuid() != 0 && !test::root_tests_required())
		GTEST_SKIP() << "needs root for a loop device";
	test::LoopFs small(32);
	ASSERT_EQ(small.error(), "");
	const FrameFormat format = *packed_format(pixfmt::YUYV, 1280, 720);
	fs::path path = small.mountpoint() / "full.raw";

	Recording r = record(path, format, {}, 0);
	ASSERT_FALSE(r.status.ok());
	EXPECT_EQ(r.status.code(), std::errc::no_space_on_device) << r.status.message();
	EXPECT_NE(r.status.message().find(path.string()), std::string::npos) << r.status.message();

	ASSERT_GT(r.frames, 5u);
	EXPECT_EQ(fs::file_size(path), r.frames * format.size_image);
	expect_frames(path, format, r.frames);
}

TEST(DiskSink, NeverOverwritesAnExistingFileUnlessAsked)
{
	test::TempDir dir;
	fs::path path = dir / "keep.raw";
	std::ofstream(path) << "precious";
	const FrameFormat format = *packed_format(pixfmt::GREY, 64, 64);

	Recording r = record(path, format, {}, 3);
	EXPECT_EQ(r.status.code(), std::errc::file_exists) << r.status.message();
	EXPECT_EQ(fs::file_size(path), 8u);

	r = record(path, format, {}, 3, true);
	ASSERT_TRUE(r.status.ok()) << r.status.message();
	expect_frames(path, format, 3);
}

TEST(DiskSink, UnwritablePathIsAClearError)
{
	const FrameFormat format = *packed_format(pixfmt::GREY, 64, 64);
	Recording r = record("/nonexistent-dir/out.raw", format, {}, 3);
	EXPECT_EQ(r.status.code(), std::errc::no_such_file_or_directory);
	EXPECT_NE(r.status.message().find("/nonexistent-dir/out.raw"), std::string::npos);
}
