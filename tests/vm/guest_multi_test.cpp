// SPDX-License-Identifier: LGPL-2.1-or-later
// Several vivid cameras in one zcap process, inside the QEMU guest of
// tests/vm/run-in-guest with vivid n_devs=4 (two single-planar and two
// multi-planar capture nodes): a 4-track Matroska file and 4 raw files in one
// run, each frame equal to the frame handed over; zcap record --reconnect
// with the module removed and loaded again mid-run, every camera back in its
// track; and a camera that disconnects mid-run while the other three go on.
// See README.md here.

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
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
	// One timeline: the earliest first frame at 0 and each track's first
	// frame where the pipeline says its camera started (Matroska's 1 ms
	// ticks). How far apart the cameras start is measured and printed, not
	// asserted: 2 frame periods (80 ms) idle, up to 136 ms seen on a loaded
	// guest, where STREAMON itself waits for the CPU.
	EXPECT_EQ(*std::min_element(first_ms.begin(), first_ms.end()), 0);
	for (size_t i = 0; i < kCameras; ++i) {
		const std::optional<uint64_t> start = rig.pipeline.results()[i].start_offset_ns;
		ASSERT_TRUE(start) << node(i);
		EXPECT_NEAR(double(first_ms[i]), double(*start) / 1e6, 1.0) << node(i);
	}
	std::printf("cameras' first frames within %lld ms (a frame period: %lld ms)\n",
		    static_cast<long long>(*std::max_element(first_ms.begin(), first_ms.end())),
		    static_cast<long long>(1000 * kRate.den / kRate.num));
}

namespace {

/// The vivid module's file and parameters, as run-in-guest loaded it.
struct VividModule {
	std::string path, params;
};

VividModule vivid_module()
{
	VividModule module;
	std::ifstream modules("/etc/zcap-vm/modules");
	std::string kind, name, path;
	while (modules >> kind >> name >> path)
		if (name == "vivid")
			module.path = path;
	std::ifstream config("/zcap-run/config");
	const std::string key = "ZCAP_VM_VIVID_PARAMS='";
	for (std::string line; std::getline(config, line);)
		if (line.starts_with(key))
			module.params = line.substr(key.size(), line.size() - key.size() - 1);
	return module;
}

int remove_vivid()
{
	return syscall(SYS_delete_module, "vivid", O_NONBLOCK) == 0 ? 0 : errno;
}

/// Frames of each track in the (live) file, by a walk that stops at the
/// space preallocated after them.
std::vector<uint64_t> track_frames(const fs::path &mkv)
{
	std::vector<uint64_t> frames(kCameras);
	for (const test::BlockPayload &block : test::matroska_block_payloads(mkv))
		if (block.track >= 1 && block.track <= kCameras)
			++frames[block.track - 1];
	return frames;
}

/// How a look at the recording or the module went on: until @p done says
/// so (true), or the recording ended, or kHangGuard passed (a hang, not a
/// slow machine: the whole test takes 25-33 s under TCG).
constexpr auto kHangGuard = std::chrono::seconds(300);
constexpr auto kLookAgain = std::chrono::milliseconds(200);

bool wait_for(pid_t recorder, const std::function<bool()> &done)
{
	const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
	while (!done()) {
		if (waitpid(recorder, nullptr, WNOHANG) != 0 ||
		    std::chrono::steady_clock::now() > give_up)
			return false;
		std::this_thread::sleep_for(kLookAgain);
	}
	return true;
}

/// A number of a camera's record in zcap's --stats-json.
double camera_number(const std::string &json, size_t camera, const std::string &key)
{
	const size_t at = json.find(fmt::format("{{\"camera\": {},", camera + 1));
	const std::regex number(", \"" + key + "\": ([0-9.]+)");
	std::smatch match;
	std::string record = json.substr(at, json.find('}', json.find("from_first", at)) - at);
	return std::regex_search(record, match, number) ? std::stod(match[1]) : -1;
}

} // namespace

// Before the Disconnect test (it leaves /dev/video1 unregistered): every
// node of the module goes away and comes back.
TEST(GuestMulti, ReconnectBringsEveryCameraBackIntoItsTrackWhenTheModuleReturns)
{
	// Frames each track has before the module goes, and after it is back.
	constexpr uint64_t kBefore = 3;
	constexpr uint64_t kAfter = 3;
	const char *files = std::getenv("ZCAP_VM_FILES");
	ASSERT_TRUE(files) << "not in the guest (ZCAP_VM_FILES is not set)";
	const std::string zcap = fs::path(files) / "zcap";
	const VividModule vivid = vivid_module();
	ASSERT_FALSE(vivid.path.empty() || vivid.params.empty());

	test::TempDir dir(".");
	const fs::path mkv = dir / "back.mkv", json = dir / "back.json", log = dir / "back.log";
	std::vector<std::string> argv{zcap, "record", "--reconnect",
				      "-o", mkv,      "--stats-json",
				      json, "--size", fmt::format("{}x{}", kWidth, kHeight),
				      "-f", "YUYV",   "--fps",
				      "25"};
	for (size_t i = 0; i < kCameras; ++i)
		argv.insert(argv.end(), {"-d", node(i)});
	const auto begin = std::chrono::steady_clock::now();
	auto step = [&](const char *what) {
		std::printf("%.1f s: %s\n",
			    std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
				    .count(),
			    what);
	};
	const pid_t recorder = test::spawn_program(argv, log);
	ASSERT_GT(recorder, 0) << std::strerror(-recorder);
	auto zcap_log = [&] {
		std::stringstream out;
		out << std::ifstream(log).rdbuf();
		return out.str();
	};
	auto every_track_has = [&](const std::vector<uint64_t> &least) {
		std::vector<uint64_t> frames = track_frames(mkv);
		for (size_t i = 0; i < kCameras; ++i)
			if (frames[i] < least[i])
				return false;
		return true;
	};
	ASSERT_TRUE(wait_for(recorder, [&] {
		return every_track_has(std::vector<uint64_t>(kCameras, kBefore));
	})) << zcap_log();

	step("every track has its first frames");
	// zcap holds the nodes open: the module is in use.
	const int busy = remove_vivid();
	std::printf("rmmod vivid while recording: %s\n", busy ? std::strerror(busy) : "removed");
	if (busy) {
		// Unbinding the driver unregisters every node (as unplugging a
		// camera does): zcap lets them go, and the module can go.
		std::string device;
		for (const auto &entry : fs::directory_iterator("/sys/bus/platform/drivers/vivid"))
			if (entry.path().filename().string().starts_with("vivid"))
				device = entry.path().filename();
		ASSERT_FALSE(device.empty());
		std::ofstream("/sys/bus/platform/drivers/vivid/unbind") << device << std::flush;
		step("vivid unbound");
		ASSERT_TRUE(wait_for(recorder,
				     [] {
					     std::ifstream refcnt("/sys/module/vivid/refcnt");
					     int count = -1;
					     refcnt >> count;
					     return count == 0;
				     }))
			<< "zcap kept vivid in use\n"
			<< zcap_log();
		step("zcap let go of every node");
		const int removed = remove_vivid();
		ASSERT_EQ(removed, 0) << std::strerror(removed);
	}
	step("vivid removed");
	const std::vector<uint64_t> gone = track_frames(mkv);
	ASSERT_EQ(std::system(fmt::format("insmod {} {}", vivid.path, vivid.params).c_str()), 0);
	step("vivid loaded");
	std::vector<uint64_t> least;
	for (uint64_t frames : gone)
		least.push_back(frames + kAfter);
	ASSERT_TRUE(wait_for(recorder, [&] { return every_track_has(least); })) << zcap_log();
	step("every track has frames again");
	ASSERT_EQ(kill(recorder, SIGINT), 0);
	int wstatus = 0;
	ASSERT_EQ(waitpid(recorder, &wstatus, 0), recorder);
	const std::string out = zcap_log();
	std::printf("zcap record:\n%s", out.c_str());
	EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << wstatus;

	std::stringstream stats;
	stats << std::ifstream(json).rdbuf();
	matroska::Summary summary;
	const Status read = matroska::summarize(mkv, summary);
	ASSERT_TRUE(read) << read.message();
	EXPECT_TRUE(summary.finished());
	ASSERT_EQ(summary.tracks.size(), kCameras);
	std::vector<std::vector<test::BlockPayload>> blocks(kCameras);
	for (const test::BlockPayload &block : test::matroska_block_payloads(mkv))
		blocks.at(block.track - 1).push_back(block);
	std::ifstream in(mkv, std::ios::binary);
	for (size_t i = 0; i < kCameras; ++i) {
		SCOPED_TRACE(node(i));
		// Back once, into its own track: every frame it wrote is there.
		EXPECT_EQ(camera_number(stats.str(), i, "reconnects"), 1);
		const double offline_ms = camera_number(stats.str(), i, "offline_ms");
		EXPECT_GT(offline_ms, 0);
		EXPECT_EQ(camera_number(stats.str(), i, "frames"), summary.tracks[i].frames);
		EXPECT_EQ(blocks[i].size(), summary.tracks[i].frames);
		EXPECT_GT(summary.tracks[i].frames, gone[i]);
		// One timeline: times never go back, and the time away is a gap.
		int64_t largest_step = 0;
		for (size_t b = 1; b < blocks[i].size(); ++b) {
			EXPECT_GE(blocks[i][b].time_ms, blocks[i][b - 1].time_ms);
			largest_step = std::max(largest_step,
						blocks[i][b].time_ms - blocks[i][b - 1].time_ms);
		}
		// Block times are whole milliseconds.
		EXPECT_GE(double(largest_step) + 1, offline_ms);
		// Every frame before and after is a whole vivid frame.
		std::vector<std::byte> payload(kWidth * kHeight * 2);
		for (const test::BlockPayload &block : blocks[i]) {
			ASSERT_EQ(block.size, payload.size());
			in.seekg(std::streamoff(block.offset));
			in.read(reinterpret_cast<char *>(payload.data()),
				std::streamsize(payload.size()));
			ASSERT_EQ(test::colour_bars_mismatch(payload, kWidth, kHeight), "")
				<< "frame at " << block.time_ms << " ms";
		}
		std::printf("%s: %llu frames, back after %.0f ms, about %.0f frames missed\n",
			    node(i).c_str(),
			    static_cast<unsigned long long>(summary.tracks[i].frames), offline_ms,
			    camera_number(stats.str(), i, "frames_missed"));
	}
	EXPECT_NE(out.find("came back 1 time"), std::string::npos);
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
