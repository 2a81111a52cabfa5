// SPDX-License-Identifier: LGPL-2.1-or-later
// Several pattern cameras into one multi-track Matroska file.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/multi_source_pipeline.h>
#include <zcap/multi_track_sink.h>
#include <zcap/pattern_source.h>

#include "../sinks/matroska_reader.h"
#include "test_files.h"

using namespace zcap;
namespace fs = std::filesystem;

namespace {

/// Buffers per pattern camera: enough that none is dropped while the
/// io_uring writer holds some.
constexpr unsigned kBuffers = 12;
/// Frames a camera may make before the last one starts (searched for the
/// first recorded pattern frame): 34 s at 30 fps.
constexpr uint64_t kMaxLeadFrames = 1024;

/// Three cameras of different formats and sizes, so that a frame in the
/// wrong track cannot pass for one of its own. The payloads of all three end
/// inside a block (37.5, 112.5 and 4.7 blocks): every tail is padded.
const std::vector<FrameFormat> &camera_formats()
{
	static const std::vector<FrameFormat> formats = {
		*packed_format(pixfmt::YUYV, 320, 240),
		*packed_format(pixfmt::NV12, 640, 480),
		*packed_format(pixfmt::GREY, 160, 120),
	};
	return formats;
}

struct TrackRecording {
	Status status;
	std::vector<SourceResult> results;
	std::vector<uint64_t> frames, copied;
	std::vector<IoPath> io_paths;
};

/// Records @p frames (0: until the file fails) of each camera at @p rate
/// into @p file, every frame kept (OverflowPolicy::block).
TrackRecording record_tracks(const fs::path &file, const std::vector<FrameFormat> &formats,
			     FrameRate rate, uint64_t frames)
{
	TrackRecording r;
	std::vector<std::unique_ptr<PatternSource>> sources;
	std::vector<StreamInfo> tracks;
	for (const FrameFormat &format : formats) {
		Status status;
		sources.push_back(PatternSource::create(format, rate, kBuffers, status));
		EXPECT_TRUE(sources.back()) << status.message();
		if (!sources.back())
			return r;
		tracks.push_back({format, rate, sources.back()->memory_regions()});
	}
	auto sinks = make_matroska_track_sinks(
		{.path = file, .container = Container::matroska, .queue_depth = 4}, tracks);
	std::vector<const Sink *> sink_of;
	MultiSourcePipeline pipeline;
	for (size_t i = 0; i < sources.size(); ++i) {
		size_t index = pipeline.add_source(*sources[i]);
		sink_of.push_back(sinks[i].get());
		pipeline.add_sink(index, std::move(sinks[i]),
				  {.queue_frames = 4, .policy = OverflowPolicy::block});
	}
	std::atomic<bool> stop{false};
	r.status = pipeline.run({.frames = frames}, stop);
	r.results = pipeline.results();
	for (const Sink *sink : sink_of) {
		r.frames.push_back(sink->stats().frames);
		r.copied.push_back(sink->stats().copied_bytes);
		r.io_paths.push_back(sink->stats().io_path);
	}
	return r;
}

/// Frames ffprobe decodes in each video stream, in stream order.
std::vector<uint64_t> probed_stream_frames(const fs::path &file)
{
	std::string out = test::run_command(
		fmt::format("ffprobe -v quiet -count_frames -select_streams v -show_entries "
			    "stream=nb_read_frames -of csv=p=0 '{}'",
			    file.string()));
	std::vector<uint64_t> counts;
	std::istringstream lines(out);
	for (std::string line; std::getline(lines, line);)
		if (!line.empty())
			counts.push_back(std::stoull(line));
	return counts;
}

/// Every track's blocks hold whole pattern frames in order (a camera's first
/// is the one after the frames it let go before the run's time zero);
/// returns each track's sequence numbers.
std::vector<std::vector<uint64_t>> track_sequences(const fs::path &file,
						   const std::vector<FrameFormat> &formats)
{
	std::vector<std::vector<uint64_t>> sequences;
	for (size_t i = 0; i < formats.size(); ++i)
		sequences.push_back(
			test::matroska_pattern_sequences(file, formats[i], 0, 64, i + 1));
	return sequences;
}

/// Each track's first block timestamp (ms from the file's zero).
std::vector<int64_t> first_block_times(const fs::path &file, size_t tracks)
{
	std::vector<int64_t> first(tracks, INT64_MAX);
	for (const test::BlockPayload &block : test::matroska_block_payloads(file))
		if (block.track >= 1 && block.track <= tracks)
			first[block.track - 1] = std::min(first[block.track - 1], block.time_ms);
	return first;
}

} // namespace

TEST(MultiTrack, EveryFrameOfEveryTrackIsThePatternOnOneTimeline)
{
	test::TempDir dir;
	fs::path file = dir / "three.mkv";
	constexpr uint64_t kFrames = 30;
	const auto &formats = camera_formats();
	TrackRecording r = record_tracks(file, formats, {30, 1}, kFrames);
	ASSERT_TRUE(r.status.ok()) << r.status.message();

	// Every frame of every track is the pattern frame it was, in order,
	// written from the capture pages (nothing copied).
	std::vector<std::vector<uint64_t>> sequences = track_sequences(file, formats);
	for (size_t i = 0; i < formats.size(); ++i) {
		SCOPED_TRACE(fmt::format("track {}", i + 1));
		EXPECT_EQ(r.frames[i], kFrames);
		EXPECT_EQ(r.copied[i], 0u);
		EXPECT_EQ(r.io_paths[i], IoPath::uring_direct_fixed);
		ASSERT_EQ(sequences[i].size(), kFrames);
		for (uint64_t n = 0; n < kFrames; ++n)
			EXPECT_EQ(sequences[i][n], r.results[i].frames_before_zero + n);
	}
	// FFmpeg decodes every frame of every stream.
	EXPECT_EQ(probed_stream_frames(file), std::vector<uint64_t>(formats.size(), kFrames));
	// The first frames of all tracks lie within 2 frame periods (66 ms at
	// 30 fps) on the file's one timeline, which starts when the last
	// camera's first frame was captured.
	std::vector<int64_t> first = first_block_times(file, formats.size());
	EXPECT_EQ(*std::min_element(first.begin(), first.end()), 0);
	EXPECT_LE(*std::max_element(first.begin(), first.end()), 66);
	for (size_t i = 0; i < formats.size(); ++i)
		EXPECT_EQ(int64_t(*r.results[i].start_offset_ns + 500'000) / 1'000'000, first[i]);

	// zcap's reader sees three finished tracks of 30 frames each.
	matroska::Summary summary;
	ASSERT_TRUE(matroska::summarize(file, summary));
	EXPECT_TRUE(summary.finished());
	ASSERT_EQ(summary.tracks.size(), formats.size());
	for (size_t i = 0; i < formats.size(); ++i) {
		EXPECT_EQ(summary.tracks[i].frames, kFrames);
		EXPECT_EQ(summary.tracks[i].width, formats[i].width);
		EXPECT_EQ(summary.tracks[i].gaps, 0u);
	}
	// Players seek in each track: FFmpeg finds a frame of track 3 at 0.5 s.
	std::string seeked = test::run_command(fmt::format(
		"ffprobe -v error -select_streams v:2 -read_intervals 0.5%+#1 -show_entries "
		"packet=pts_time -of csv=p=0 '{}'",
		file.string()));
	EXPECT_FALSE(seeked.empty());
}

TEST(MultiTrack, SigkillLeavesEveryCompleteFrameOfEveryTrackReadable)
{
	const auto &formats = camera_formats();
	std::mt19937 random(20261202);
	std::uniform_int_distribution<int> moment(200, 2000);
	for (int kill = 0; kill < 6; ++kill) {
		int ms = moment(random);
		SCOPED_TRACE(fmt::format("killed after {} ms", ms));
		test::TempDir dir;
		fs::path file = dir / "killed.mkv";
		// A child process records until it is killed.
		pid_t child = fork();
		ASSERT_GE(child, 0);
		if (child == 0) {
			record_tracks(file, formats, {30, 1}, 0);
			_exit(0);
		}
		for (int i = 0; i < 1000 && !fs::exists(file); ++i)
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		std::this_thread::sleep_for(std::chrono::milliseconds(ms));
		::kill(child, SIGKILL);
		int status = 0;
		waitpid(child, &status, 0);
		ASSERT_TRUE(WIFSIGNALED(status));
		ASSERT_NO_FATAL_FAILURE(test::wait_for_last_writes(file));

		// Every block of every track is a whole pattern frame in order.
		std::vector<std::vector<uint64_t>> sequences;
		ASSERT_NO_FATAL_FAILURE(sequences = track_sequences(file, formats));
		matroska::Summary summary;
		ASSERT_TRUE(matroska::summarize(file, summary));
		EXPECT_FALSE(summary.finished());
		ASSERT_EQ(summary.tracks.size(), formats.size());
		for (size_t i = 0; i < formats.size(); ++i)
			EXPECT_EQ(summary.tracks[i].frames, sequences[i].size())
				<< "track " << i + 1;
		// FFmpeg reads them too (checked twice: it scans the preallocated
		// zeros after them byte by byte).
		if (kill % 3 == 0) {
			std::vector<uint64_t> expected;
			for (const auto &track : sequences)
				expected.push_back(track.size());
			EXPECT_EQ(probed_stream_frames(file), expected);
		}
	}
}

TEST(MultiTrack, DiskFullEndsEveryTrackWithAPlayableFile)
{
	if (geteuid() != 0 && !test::root_tests_required())
		GTEST_SKIP() << "needs root for a loop device";
	test::LoopFs small(32);
	ASSERT_EQ(small.error(), "");
	const std::vector<FrameFormat> formats = {*packed_format(pixfmt::NV12, 640, 480),
						  *packed_format(pixfmt::YUYV, 320, 240)};
	fs::path file = small.mountpoint() / "full.mkv";

	TrackRecording r = record_tracks(file, formats, {60, 1}, 0);
	ASSERT_FALSE(r.status.ok());
	EXPECT_EQ(r.status.code(), std::errc::no_space_on_device) << r.status.message();
	EXPECT_NE(r.status.message().find("2 of 2 sources failed"), std::string::npos)
		<< r.status.message();

	// Every frame counted as written is in the file, whole; nothing else.
	std::vector<std::vector<uint64_t>> sequences = track_sequences(file, formats);
	std::vector<uint64_t> counted;
	for (size_t i = 0; i < formats.size(); ++i) {
		EXPECT_GT(r.frames[i], 10u);
		EXPECT_EQ(sequences[i].size(), r.frames[i]) << "track " << i + 1;
		counted.push_back(r.frames[i]);
	}
	EXPECT_EQ(probed_stream_frames(file), counted);
}
