// SPDX-License-Identifier: LGPL-2.1-or-later
// Several vivid cameras in one zcap process, inside the QEMU guest of
// tests/vm/run-in-guest with vivid n_devs=4 (two single-planar and two
// multi-planar capture nodes): a 4-track Matroska file and 4 raw files in one
// run, each frame equal to the frame handed over, and a camera that
// disconnects mid-run while the other three go on. See README.md here.

#include <cstdio>
#include <fstream>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/disk_sink.h>
#include <zcap/multi_source_pipeline.h>
#include <zcap/multi_track_sink.h>
#include <zcap/v4l2_source.h>

#include "../sinks/matroska_reader.h"
#include "guest_checks.h"
#include "test_files.h"

using namespace zcap;
namespace fs = std::filesystem;

namespace {

constexpr size_t kCameras = 4;
/// 640x360 YUYV: 460,800 bytes, 112.5 blocks, so every payload's last block
/// is padded in its buffer; 25 fps, the fastest vivid's webcam input offers.
constexpr uint32_t kWidth = 640;
constexpr uint32_t kHeight = 360;
constexpr FrameRate kRate{25, 1};
constexpr uint64_t kFrames = 30;
/// Each sink may queue this many frames; the source has buffers for all of
/// them, the writes in flight and spares.
constexpr unsigned kQueueFrames = 4;
constexpr unsigned kBuffers = 3 * kQueueFrames + 8 + 2;

std::string node(size_t camera)
{
	return fmt::format("/dev/video{}", camera);
}

/// Checksums every frame as it is handed over; calls a hook with the count.
class ChecksumSink final : public Sink {
public:
	std::function<void(uint64_t)> hook;

	std::string description() const override { return "checksums"; }
	Status start(const StreamInfo &) override { return {}; }
	Status write(const Frame &frame) override
	{
		uint64_t count;
		{
			std::lock_guard guard(lock_);
			checksums_.push_back(test::fnv1a(frame.data()));
			count = checksums_.size();
		}
		stats_.frames++;
		if (hook)
			hook(count);
		return {};
	}
	bool busy() const override { return false; }
	Status service(std::chrono::milliseconds) override { return {}; }
	Status finish() override { return {}; }

	std::vector<uint64_t> checksums() const
	{
		std::lock_guard guard(lock_);
		return checksums_;
	}

private:
	mutable std::mutex lock_;
	std::vector<uint64_t> checksums_;
};

struct Rig {
	std::vector<std::unique_ptr<V4l2Source>> sources;
	std::vector<ChecksumSink *> checksums;
	std::vector<const Sink *> tracks, files;
	MultiSourcePipeline pipeline;
	Status status;
};

/// Opens the four cameras; each feeds a checksum sink, its track of
/// @p mkv and, when @p raw_pattern is given, its own raw file.
void open_rig(Rig &rig, const fs::path &mkv, const std::string &raw_pattern)
{
	std::vector<StreamInfo> infos;
	for (size_t i = 0; i < kCameras; ++i) {
		V4l2SourceOptions options;
		options.device = node(i);
		options.fourcc = pixfmt::YUYV;
		options.width = kWidth;
		options.height = kHeight;
		options.rate = kRate;
		options.buffers = kBuffers;
		Status status;
		rig.sources.push_back(V4l2Source::open(options, status));
		ASSERT_TRUE(rig.sources.back()) << node(i) << ": " << status.message();
		infos.push_back({rig.sources.back()->format(), rig.sources.back()->frame_rate(),
				 rig.sources.back()->memory_regions()});
	}
	auto tracks = make_matroska_track_sinks(
		{.path = mkv, .container = Container::matroska, .queue_depth = 4}, infos);
	const SinkOptions queue{.queue_frames = kQueueFrames, .policy = OverflowPolicy::block};
	for (size_t i = 0; i < kCameras; ++i) {
		size_t slot = rig.pipeline.add_source(*rig.sources[i]);
		auto checksum = std::make_unique<ChecksumSink>();
		rig.checksums.push_back(checksum.get());
		rig.pipeline.add_sink(slot, std::move(checksum), queue);
		rig.tracks.push_back(tracks[i].get());
		rig.pipeline.add_sink(slot, std::move(tracks[i]), queue);
		if (raw_pattern.empty())
			continue;
		auto file = make_disk_sink(
			{.path = fmt::format(fmt::runtime(raw_pattern), i + 1), .queue_depth = 4});
		rig.files.push_back(file.get());
		rig.pipeline.add_sink(slot, std::move(file), queue);
	}
}

/// The checksums of track @p track's payloads, in file order.
std::vector<uint64_t> track_checksums(const fs::path &file, uint64_t track)
{
	std::vector<uint64_t> sums;
	std::ifstream in(file, std::ios::binary);
	for (const test::BlockPayload &block : test::matroska_block_payloads(file)) {
		if (block.track != track)
			continue;
		std::vector<std::byte> payload(block.size);
		in.seekg(std::streamoff(block.offset));
		in.read(reinterpret_cast<char *>(payload.data()), std::streamsize(payload.size()));
		sums.push_back(test::fnv1a(payload));
	}
	return sums;
}

/// The checksums of a raw file's frames of @p frame_bytes each.
std::vector<uint64_t> raw_checksums(const fs::path &file, size_t frame_bytes)
{
	std::vector<uint64_t> sums;
	std::ifstream in(file, std::ios::binary);
	std::vector<std::byte> frame(frame_bytes);
	while (in.read(reinterpret_cast<char *>(frame.data()), std::streamsize(frame.size())))
		sums.push_back(test::fnv1a(frame));
	return sums;
}

} // namespace

TEST(GuestMulti, FourCamerasIntoAFourTrackFileAndFourFilesOnOneTimeline)
{
	test::TempDir dir(".");
	const fs::path mkv = dir / "four.mkv";
	Rig rig;
	ASSERT_NO_FATAL_FAILURE(open_rig(rig, mkv, (dir / "cam{}.raw").string()));
	std::atomic<bool> stop{false};
	rig.status = rig.pipeline.run({.frames = kFrames}, stop);
	ASSERT_TRUE(rig.status.ok()) << rig.status.message();

	matroska::Summary summary;
	ASSERT_TRUE(matroska::summarize(mkv, summary));
	EXPECT_TRUE(summary.finished());
	ASSERT_EQ(summary.tracks.size(), kCameras);
	std::vector<int64_t> first_ms(kCameras, INT64_MAX);
	for (const test::BlockPayload &block : test::matroska_block_payloads(mkv))
		first_ms[block.track - 1] = std::min(first_ms[block.track - 1], block.time_ms);
	for (size_t i = 0; i < kCameras; ++i) {
		SCOPED_TRACE(node(i));
		std::vector<uint64_t> handed = rig.checksums[i]->checksums();
		// Every frame handed over is in its track and its file, as it was.
		EXPECT_EQ(handed.size(), kFrames);
		EXPECT_EQ(summary.tracks[i].frames, handed.size());
		EXPECT_EQ(track_checksums(mkv, i + 1), handed);
		EXPECT_EQ(
			raw_checksums(dir / fmt::format("cam{}.raw", i + 1), kWidth * kHeight * 2),
			handed);
		EXPECT_EQ(rig.tracks[i]->stats().frames.load(), kFrames);
		EXPECT_EQ(rig.tracks[i]->stats().copied_bytes.load(), 0u);
		EXPECT_EQ(rig.files[i]->stats().frames.load(), kFrames);
		// Frames the driver dropped are counted, never silently missing.
		std::printf("%s: %s, device dropped %llu, starts at +%.1f ms, from camera 1: "
			    "median %.2f ms, max %.2f ms\n",
			    node(i).c_str(), rig.sources[i]->io_note().c_str(),
			    static_cast<unsigned long long>(rig.sources[i]->stats().dropped.load()),
			    double(rig.pipeline.results()[i].start_offset_ns.value_or(0)) / 1e6,
			    double(rig.pipeline.alignment(i).median_ns) / 1e6,
			    double(rig.pipeline.alignment(i).max_ns) / 1e6);
	}
	// One timeline: the first frames within 2 frame periods (80 ms).
	EXPECT_EQ(*std::min_element(first_ms.begin(), first_ms.end()), 0);
	EXPECT_LE(*std::max_element(first_ms.begin(), first_ms.end()),
		  2 * 1000 * kRate.den / kRate.num);
}

// Last: the disconnected node is gone for the rest of the VM's life.
TEST(GuestMulti, ADisconnectedCameraEndsAloneAndTheOthersKeepRecording)
{
	constexpr size_t kLost = 1; // /dev/video1, multi-planar
	constexpr uint64_t kPressAt = 5;
	test::TempDir dir(".");
	const fs::path mkv = dir / "three-left.mkv";
	Rig rig;
	ASSERT_NO_FATAL_FAILURE(open_rig(rig, mkv, ""));
	test::VividControl control(node(kLost), "Disconnect");
	ASSERT_TRUE(control.found());
	rig.checksums[kLost]->hook = [&](uint64_t received) {
		if (received == kPressAt) {
			EXPECT_EQ(control.press(), 0) << test::errno_text();
		}
	};
	std::atomic<bool> stop{false};
	rig.status = rig.pipeline.run({.frames = kFrames}, stop);
	ASSERT_FALSE(rig.status.ok());
	std::printf("run ended: %s\n", rig.status.message().c_str());
	EXPECT_NE(rig.status.message().find("1 of 4 sources failed"), std::string::npos)
		<< rig.status.message();
	EXPECT_EQ(rig.pipeline.failed(), 1u);
	const SourceResult &lost = rig.pipeline.results()[kLost];
	EXPECT_NE(lost.status.message().find("disconnected"), std::string::npos)
		<< lost.status.message();

	matroska::Summary summary;
	ASSERT_TRUE(matroska::summarize(mkv, summary));
	EXPECT_TRUE(summary.finished());
	ASSERT_EQ(summary.tracks.size(), kCameras);
	for (size_t i = 0; i < kCameras; ++i) {
		SCOPED_TRACE(node(i));
		std::vector<uint64_t> handed = rig.checksums[i]->checksums();
		if (i == kLost) {
			EXPECT_GE(handed.size(), kPressAt);
			EXPECT_LT(handed.size(), kFrames);
		} else {
			EXPECT_TRUE(rig.pipeline.results()[i].status.ok());
			EXPECT_EQ(handed.size(), kFrames);
		}
		EXPECT_EQ(summary.tracks[i].frames, handed.size());
		EXPECT_EQ(track_checksums(mkv, i + 1), handed);
	}
}
