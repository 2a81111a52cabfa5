// SPDX-License-Identifier: LGPL-2.1-or-later
// Segmented recordings on a disk that fills up (a small ext4 on a loop
// device): with --max-files the ring goes on, deleting its oldest file;
// without, or with nothing left to delete, the recording stops cleanly. Every
// file left is checked frame by frame against the pattern.
#include <zcap/segmented_sink.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/pattern.h>
#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>

#include "test_files.h"

using namespace zcap;
namespace fs = std::filesystem;

namespace {

/// 640x480 NV12: 460,800 bytes, 112.5 blocks, so the disk fills mid-frame.
const FrameFormat kDiskFormat = *packed_format(pixfmt::NV12, 640, 480);
constexpr FrameRate kDiskRate{60, 1};
/// The loop device's ext4: about 40 MiB free for root.
constexpr unsigned kDiskMiB = 48;

struct RingRun {
	Status status;
	uint64_t frames_in = 0;	     ///< frames the pipeline handed to the sink
	uint64_t frames = 0;	     ///< written whole, over all segments
	uint64_t dropped = 0;	     ///< by the sink (queue full, lost to an error)
	uint64_t source_dropped = 0; ///< sequence numbers the source skipped
	uint64_t segments = 0;
	std::vector<fs::path> files;
	std::vector<fs::path> deleted;
	std::vector<std::string> warnings;
};

RingRun record(const fs::path &pattern, uint64_t max_bytes, unsigned max_files, uint64_t frames)
{
	test::LogCapture log;
	RingRun r;
	SegmentedSinkOptions options;
	options.pattern = pattern;
	options.disk.container = container_for(pattern);
	options.disk.queue_depth = 4;
	options.max_bytes = max_bytes;
	options.max_files = max_files;
	options.on_delete = [&r](const fs::path &path) { r.deleted.push_back(path); };
	Status status;
	auto source = PatternSource::create(kDiskFormat, kDiskRate, 12, status);
	EXPECT_TRUE(source) << status.message();
	std::unique_ptr<SegmentedSink> sink = make_segmented_sink(options);
	const SegmentedSink &segmented = *sink;
	Pipeline pipeline(*source);
	// As zcap record --segment: 8 frames of queue, every frame kept.
	pipeline.add_sink(std::move(sink), {.queue_frames = 8, .policy = OverflowPolicy::block});
	std::atomic<bool> stop{false};
	r.status = pipeline.run({.frames = frames}, stop);
	r.frames_in = pipeline.frames_in();
	r.frames = segmented.stats().frames;
	r.dropped = segmented.stats().dropped;
	r.source_dropped = source->stats().dropped;
	r.segments = segmented.segments();
	r.files = segmented.files();
	r.warnings = log.warnings();
	return r;
}

/// The files in @p dir, sorted.
std::vector<fs::path> listing(const fs::path &dir)
{
	std::vector<fs::path> paths;
	for (const auto &entry : fs::directory_iterator(dir))
		if (entry.path().filename() != "lost+found")
			paths.push_back(entry.path());
	std::sort(paths.begin(), paths.end());
	return paths;
}

/// The "frames: N" zcap inspect says of @p file (-1 without a number), and
/// whether it says the file was finished cleanly.
int64_t inspected_frames(const fs::path &file, bool &finished)
{
	const char *zcap = std::getenv("ZCAP");
	EXPECT_TRUE(zcap) << "ZCAP names the zcap binary";
	std::istringstream out(test::run_command(
		fmt::format("'{}' inspect '{}'", zcap ? zcap : "zcap", file.string())));
	int64_t frames = -1;
	finished = false;
	for (std::string line; std::getline(out, line);) {
		if (line.rfind("frames: ", 0) == 0)
			frames = std::stoll(line.substr(8));
		finished |= line.rfind("finished cleanly", 0) == 0;
	}
	return frames;
}

/// Checks every file of @p r: playable (ffprobe and zcap inspect count the
/// same frames), every frame a whole pattern frame, in order across files.
/// Returns every sequence number found, in order; @p finished counts the
/// files with Cues and sizes (one whose index did not fit is still valid).
std::vector<uint64_t> check_files(const RingRun &r, unsigned *finished = nullptr)
{
	std::vector<uint64_t> all;
	uint64_t next = 0;
	for (const fs::path &file : r.files) {
		SCOPED_TRACE(file.string());
		// The first kept file starts after the deleted ones: anywhere.
		std::vector<uint64_t> sequences = test::matroska_pattern_sequences(
			file, kDiskFormat, next, (all.empty() ? r.frames_in : 64) + 1);
		EXPECT_GT(sequences.size(), 0u);
		EXPECT_EQ(test::probed_frames(file), sequences.size());
		bool clean;
		EXPECT_EQ(inspected_frames(file, clean), int64_t(sequences.size()));
		if (finished)
			*finished += clean;
		if (!sequences.empty())
			next = sequences.back() + 1;
		all.insert(all.end(), sequences.begin(), sequences.end());
	}
	return all;
}

/// The files' frames, in order (check_files), start at the first frame and
/// every number missing is a frame the source counted as dropped (on a
/// loaded machine) or the sink did.
void expect_from_the_first_frame(const std::vector<uint64_t> &sequences, const RingRun &r)
{
	ASSERT_FALSE(sequences.empty());
	EXPECT_EQ(sequences.front(), 0u);
	EXPECT_LE(sequences.back() + 1 - sequences.size(), r.dropped + r.source_dropped);
}

bool root_or_skip()
{
	return geteuid() == 0 || test::root_tests_required();
}

} // namespace

TEST(DiskFaults, FullDiskWithMaxFilesKeepsTheRingGoing)
{
	if (!root_or_skip())
		GTEST_SKIP() << "needs root for a loop device";
	test::LoopFs disk(kDiskMiB);
	ASSERT_EQ(disk.error(), "");
	// 16 MiB segments, 3 kept: the disk fills in the third and every few
	// segments after; 420 frames (194 MB) are four times what it holds.
	constexpr uint64_t kFrames = 420;
	RingRun r = record(disk.mountpoint() / "ring.mkv", 16ull << 20, 3, kFrames);
	ASSERT_TRUE(r.status.ok()) << r.status.message();

	// The full disk happened, and was said once (and maybe that the last
	// segment's index did not fit).
	ASSERT_FALSE(r.warnings.empty()) << "the disk never filled up";
	EXPECT_NE(r.warnings[0].find("No space left on device"), std::string::npos)
		<< r.warnings[0];
	EXPECT_NE(r.warnings[0].find("going on in the next segment"), std::string::npos)
		<< r.warnings[0];
	for (size_t i = 1; i < r.warnings.size(); ++i)
		EXPECT_NE(r.warnings[i].find("the last segment keeps its"), std::string::npos)
			<< r.warnings[i];

	// At most 3 files, all this run's, the newest kept; the rest deleted.
	EXPECT_LE(r.files.size(), 3u);
	EXPECT_EQ(listing(disk.mountpoint()), r.files);
	EXPECT_EQ(r.files.size() + r.deleted.size(), r.segments);
	EXPECT_GE(r.segments, 10u);

	// Every frame handed over was written whole or counted as dropped.
	EXPECT_EQ(r.frames_in, kFrames);
	EXPECT_EQ(r.frames + r.dropped, r.frames_in);
	unsigned finished = 0;
	std::vector<uint64_t> sequences = check_files(r, &finished);
	ASSERT_FALSE(sequences.empty());
	// Sequence numbers missing from the kept files after their first frame
	// are all counted drops (the source's or the sink's).
	const uint64_t total = kFrames + r.source_dropped;
	const uint64_t missing = total - sequences.front() - sequences.size();
	EXPECT_LE(missing, r.dropped + r.source_dropped);
	fmt::print("{} segments, {} kept ({} finished cleanly) with {} frames ({}..{}), {} "
		   "dropped by the sink, {} by the source\n",
		   r.segments, r.files.size(), finished, sequences.size(), sequences.front(),
		   sequences.back(), r.dropped, r.source_dropped);
}

TEST(DiskFaults, FullDiskWithoutMaxFilesStopsCleanlyWithEverySegmentWhole)
{
	if (!root_or_skip())
		GTEST_SKIP() << "needs root for a loop device";
	test::LoopFs disk(kDiskMiB);
	ASSERT_EQ(disk.error(), "");
	// 8 MiB segments: the disk holds four and a bit. Each new segment finds
	// the room the previous one did not use (no preallocation left behind).
	RingRun r = record(disk.mountpoint() / "all.mkv", 8ull << 20, 0, 0);
	ASSERT_FALSE(r.status.ok());
	EXPECT_EQ(r.status.code(), std::errc::no_space_on_device) << r.status.message();
	ASSERT_FALSE(r.files.empty());
	EXPECT_NE(r.status.message().find(r.files.back().string()), std::string::npos)
		<< r.status.message();
	EXPECT_GE(r.files.size(), 4u);
	EXPECT_TRUE(r.deleted.empty());
	EXPECT_EQ(listing(disk.mountpoint()), r.files);

	std::vector<uint64_t> sequences = check_files(r);
	EXPECT_EQ(sequences.size(), r.frames);
	expect_from_the_first_frame(sequences, r);
	// The whole disk was used: 40 MiB free, less what the files' headers,
	// padding and the frame that did not fit take.
	EXPECT_GE(r.frames * kDiskFormat.size_image, 36ull << 20);
}

TEST(DiskFaults, FullDiskWithOnlyTheNewestSegmentLeftStopsCleanly)
{
	if (!root_or_skip())
		GTEST_SKIP() << "needs root for a loop device";
	test::LoopFs disk(kDiskMiB);
	ASSERT_EQ(disk.error(), "");
	// A segment larger than the disk: nothing of this run to delete.
	RingRun r = record(disk.mountpoint() / "one.mkv", 1ull << 30, 3, 0);
	ASSERT_FALSE(r.status.ok());
	EXPECT_EQ(r.status.code(), std::errc::no_space_on_device) << r.status.message();
	ASSERT_EQ(r.files.size(), 1u);
	EXPECT_NE(r.status.message().find(r.files[0].string()), std::string::npos)
		<< r.status.message();
	EXPECT_TRUE(r.deleted.empty());
	EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
	std::vector<uint64_t> sequences = check_files(r);
	EXPECT_EQ(sequences.size(), r.frames);
	EXPECT_GT(r.frames, 70u);
	expect_from_the_first_frame(sequences, r);
}
