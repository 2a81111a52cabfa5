// SPDX-License-Identifier: LGPL-2.1-or-later
// Segmented recording: real files on ext4, split by time and by size, each
// one checked by ffprobe and ffmpeg or byte by byte against the pattern.
#include <zcap/segmented_sink.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>

#include "test_files.h"

using namespace zcap;
namespace fs = std::filesystem;

namespace {

/// Small frames: 153,600 bytes, 37.5 blocks, so that raw segments also
/// exercise placement (every other frame starts 2048 bytes into a block).
const FrameFormat kFormat = *packed_format(pixfmt::YUYV, 320, 240);
/// 100 frames at 100 fps with 300 ms segments: 30 + 30 + 30 + 10 frames, the
/// pattern's paced timestamps being exact.
constexpr uint64_t kFrames = 100;
constexpr FrameRate kRate{100, 1};
constexpr auto kSegmentTime = std::chrono::milliseconds(300);
const std::vector<uint64_t> kSegmentFrames = {30, 30, 30, 10};

struct SegmentedRun {
	Status status;
	uint64_t frames = 0, bytes = 0, copied = 0, dropped = 0;
	uint64_t segments = 0;
	std::vector<fs::path> files;   ///< still on disk, oldest first
	std::vector<fs::path> deleted; ///< by max_files, in order
	std::string description;
};

SegmentedRun record(SegmentedSinkOptions options, FrameRate rate, uint64_t frames)
{
	SegmentedRun r;
	options.disk.queue_depth = 4;
	options.on_delete = [&r](const fs::path &path) { r.deleted.push_back(path); };
	Status status;
	// Buffers for a queue that absorbs a segment switch (the finished
	// file's flush slows the disk for a few frames) on a loaded machine.
	constexpr unsigned kBuffers = 24;
	constexpr unsigned kQueueFrames = 8;
	auto source = PatternSource::create(kFormat, rate, kBuffers, status);
	EXPECT_TRUE(source) << status.message();
	std::unique_ptr<SegmentedSink> sink = make_segmented_sink(options);
	const SegmentedSink &segmented = *sink;
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(sink),
			  {.queue_frames = kQueueFrames, .policy = OverflowPolicy::block});
	std::atomic<bool> stop{false};
	r.status = pipeline.run({.frames = frames}, stop);
	const SinkStats &s = segmented.stats();
	r.frames = s.frames;
	r.bytes = s.bytes;
	r.copied = s.copied_bytes;
	r.dropped = s.dropped;
	r.segments = segmented.segments();
	r.files = segmented.files();
	r.description = segmented.description();
	EXPECT_EQ(source->stats().dropped, 0u) << "the source lost frames: the test proves nothing";
	return r;
}

std::vector<fs::path> names(const test::TempDir &dir, std::initializer_list<const char *> list)
{
	std::vector<fs::path> paths;
	for (const char *name : list)
		paths.push_back(dir / name);
	return paths;
}

/// The files in @p dir, sorted.
std::vector<fs::path> listing(const test::TempDir &dir)
{
	std::vector<fs::path> paths;
	for (const auto &entry : fs::directory_iterator(dir.path()))
		paths.push_back(entry.path());
	std::sort(paths.begin(), paths.end());
	return paths;
}

/// The frames of @p files, in order, as one raw file: Matroska decoded by
/// ffmpeg, raw copied as they are.
fs::path joined(const std::vector<fs::path> &files, const fs::path &out)
{
	std::ofstream joined(out, std::ios::binary);
	for (const fs::path &file : files) {
		fs::path raw = file;
		if (file.extension() == ".mkv") {
			raw = out.string() + ".part";
			int status = -1;
			// Every frame once, whatever its timestamp.
			test::run_command(fmt::format("ffmpeg -v error -y -i '{}' -fps_mode "
						      "passthrough -f rawvideo -pix_fmt {} '{}'",
						      file.string(), ffmpeg_pix_fmt(kFormat.fourcc),
						      raw.string()),
					  &status);
			EXPECT_EQ(status, 0) << "ffmpeg could not decode " << file;
		}
		std::ifstream in(raw, std::ios::binary);
		joined << in.rdbuf();
	}
	return out;
}

/// @p file holds pattern frames @p first, @p first + 1, ... @p end - 1.
void expect_frames(const fs::path &file, uint64_t first, uint64_t end)
{
	test::RawCheck check = test::check_raw_file(file, kFormat, end);
	EXPECT_EQ(check.error, "");
	EXPECT_EQ(check.trailing_bytes, 0u);
	ASSERT_EQ(check.sequences.size(), end - first);
	for (uint64_t i = 0; i < end - first; ++i)
		ASSERT_EQ(check.sequences[i], first + i) << "frame " << i;
}

SegmentedSinkOptions by_time(const fs::path &pattern)
{
	SegmentedSinkOptions options;
	options.pattern = pattern;
	options.disk.container = container_for(pattern);
	options.max_duration = kSegmentTime;
	return options;
}

} // namespace

TEST(SegmentedSink, MatroskaSegmentsArePlayableAndHoldEveryFrameOnce)
{
	test::TempDir dir;
	SegmentedRun r = record(by_time(dir / "rec.mkv"), kRate, kFrames);
	ASSERT_TRUE(r.status.ok()) << r.status.message();
	EXPECT_EQ(r.description, "segments " + (dir / "rec-%04N.mkv").string());
	EXPECT_EQ(r.segments, 4u);
	const auto expected =
		names(dir, {"rec-0001.mkv", "rec-0002.mkv", "rec-0003.mkv", "rec-0004.mkv"});
	ASSERT_EQ(r.files, expected);
	EXPECT_EQ(listing(dir), expected);
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_EQ(r.bytes, kFrames * kFormat.size_image);

	for (size_t i = 0; i < r.files.size(); ++i)
		EXPECT_EQ(test::probed_frames(r.files[i]), kSegmentFrames[i]) << r.files[i];
	// Each segment's timestamps start at zero: it lasts its frames' time.
	std::string duration = test::run_command(
		fmt::format("ffprobe -v error -show_entries format=duration -of csv=p=0 '{}'",
			    r.files[1].string()));
	EXPECT_NEAR(std::stod(duration), 0.3, 0.011) << duration;

	expect_frames(joined(r.files, dir / "decoded"), 0, kFrames);
}

TEST(SegmentedSink, RawSegmentsHoldEveryFrameOnceAndSplitOnTime)
{
	test::TempDir dir;
	SegmentedRun r = record(by_time(dir / "cam-%N.raw"), kRate, kFrames);
	ASSERT_TRUE(r.status.ok()) << r.status.message();
	ASSERT_EQ(r.files, names(dir, {"cam-1.raw", "cam-2.raw", "cam-3.raw", "cam-4.raw"}));
	for (size_t i = 0; i < r.files.size(); ++i)
		EXPECT_EQ(fs::file_size(r.files[i]), kSegmentFrames[i] * kFormat.size_image);
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_LT(r.copied, kFrames * 4096u) << "more than the seams copied";
	expect_frames(joined(r.files, dir / "all"), 0, kFrames);
}

TEST(SegmentedSink, ByteLimitKeepsSegmentsWithinItAndFramesWhereTheFileWantsThem)
{
	// 3.5 frames: 3 per segment, an odd count, so that the raw file after a
	// switch wants its first frame where the previous one's fourth would
	// not have been. Placement advice ahead of the switch gets it right.
	const uint64_t limit = kFormat.size_image * 7 / 2;
	constexpr uint64_t kCount = 20;
	for (const char *name : {"seg.raw", "seg.mkv"}) {
		SCOPED_TRACE(name);
		test::LogCapture log;
		test::TempDir dir;
		SegmentedSinkOptions options;
		options.pattern = dir / name;
		options.disk.container = container_for(name);
		options.max_bytes = limit;
		SegmentedRun r = record(options, kRate, kCount);
		ASSERT_TRUE(r.status.ok()) << r.status.message();
		ASSERT_EQ(r.segments, 7u);
		ASSERT_EQ(r.files.size(), 7u);
		for (const fs::path &file : r.files)
			EXPECT_LE(fs::file_size(file), limit + kFormat.size_image) << file;
		if (options.disk.container == Container::matroska) {
			uint64_t probed = 0;
			for (const fs::path &file : r.files)
				probed += test::probed_frames(file);
			EXPECT_EQ(probed, kCount);
		} else {
			for (const fs::path &file : r.files)
				EXPECT_LE(fs::file_size(file), limit) << file;
			EXPECT_EQ(fs::file_size(r.files.back()), 2 * kFormat.size_image);
		}
		EXPECT_EQ(r.frames, kCount);
		EXPECT_LT(r.copied, kCount * 4096u) << "frames staged around a switch";
		EXPECT_EQ(log.warnings(), std::vector<std::string>{});
		expect_frames(joined(r.files, dir / "all"), 0, kCount);
	}
}

TEST(SegmentedSink, MaxFilesKeepsTheNewestSegmentsAndDeletesOnlyItsOwn)
{
	test::TempDir dir;
	// Not this run's: must survive.
	std::ofstream(dir / "other.raw") << "someone else's";
	SegmentedSinkOptions options = by_time(dir / "keep.raw");
	options.max_files = 2;
	SegmentedRun r = record(options, kRate, kFrames);
	ASSERT_TRUE(r.status.ok()) << r.status.message();
	EXPECT_EQ(r.segments, 4u);
	EXPECT_EQ(r.deleted, names(dir, {"keep-0001.raw", "keep-0002.raw"}));
	const auto kept = names(dir, {"keep-0003.raw", "keep-0004.raw"});
	ASSERT_EQ(r.files, kept);
	EXPECT_EQ(listing(dir), names(dir, {"keep-0003.raw", "keep-0004.raw", "other.raw"}));
	EXPECT_EQ(r.frames, kFrames) << "stats count the deleted segments' frames too";
	expect_frames(joined(kept, dir / "all"), 60, kFrames);
}

TEST(SegmentedSink, RefusesANameItUsedAlreadyAndKeepsTheEarlierSegment)
{
	// A time pattern with a resolution of seconds and 300 ms segments.
	test::TempDir dir;
	SegmentedRun r = record(by_time(dir / "rec-%Y%m%d-%H%M%S.raw"), kRate, kFrames);
	ASSERT_FALSE(r.status.ok());
	EXPECT_NE(r.status.message().find("like an earlier one"), std::string::npos)
		<< r.status.message();
	// The clock may tick over between segments: each file is whole.
	ASSERT_GE(r.files.size(), 1u);
	uint64_t first = 0;
	for (const fs::path &file : r.files) {
		EXPECT_EQ(fs::file_size(file), 30 * kFormat.size_image);
		expect_frames(file, first, first + 30);
		first += 30;
	}
	EXPECT_EQ(listing(dir), r.files);
}

TEST(SegmentedSink, NeverOverwritesAnExistingFileUnlessAsked)
{
	test::TempDir dir;
	std::ofstream(dir / "rec-0002.raw") << "precious";
	SegmentedRun r = record(by_time(dir / "rec.raw"), kRate, kFrames);
	ASSERT_FALSE(r.status.ok());
	EXPECT_NE(r.status.message().find("rec-0002.raw"), std::string::npos) << r.status.message();
	EXPECT_NE(r.status.message().find("File exists"), std::string::npos) << r.status.message();
	std::string content;
	std::ifstream(dir / "rec-0002.raw") >> content;
	EXPECT_EQ(content, "precious");
	EXPECT_EQ(r.files, names(dir, {"rec-0001.raw"}));
	EXPECT_EQ(r.frames, 30u);
	expect_frames(dir / "rec-0001.raw", 0, 30);

	SegmentedSinkOptions options = by_time(dir / "rec.raw");
	options.disk.overwrite = true;
	r = record(options, kRate, kFrames);
	ASSERT_TRUE(r.status.ok()) << r.status.message();
	expect_frames(joined(r.files, dir / "all"), 0, kFrames);
}

TEST(SegmentedSink, NamesFollowThePattern)
{
	// Mid-May 2026: the same year in every time zone.
	constexpr std::time_t kWhen = 1779000000;
	auto name = [&](const char *pattern, uint64_t sequence) {
		fs::path path;
		Status status = segment_path(pattern, sequence, kWhen, path);
		return status ? path.string() : "error: " + status.message();
	};
	EXPECT_EQ(name("/d/rec.mkv", 1), "/d/rec-0001.mkv");
	EXPECT_EQ(name("/d/rec", 12345), "/d/rec-12345");
	EXPECT_EQ(name("a-%N.raw", 12), "a-12.raw");
	EXPECT_EQ(name("%03N-%Y.raw", 7), "007-2026.raw");
	EXPECT_EQ(name("%Y.mkv", 7), "2026.mkv") << "a time conversion alone names segments";
	EXPECT_EQ(name("100%%.raw", 2), "100%-0002.raw") << "%% is no conversion";
	EXPECT_EQ(name("a%%N.raw", 2), "a%N-0002.raw");
	EXPECT_NE(name("rec%", 1).find("invalid segment name pattern"), std::string::npos);
	EXPECT_NE(name("rec-%99N", 1).find("invalid segment name pattern"), std::string::npos);
}
