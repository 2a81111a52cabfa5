// SPDX-License-Identifier: LGPL-2.1-or-later
// zcapfilesink in real pipelines: the frames of videotestsrc recorded to
// Matroska and raw files, checked frame by frame (FFmpeg's framemd5) against
// what GStreamer's filesink writes from the same source; the copies counted
// with and without the offered pool; a full disk; an existing file; and the
// pool's rule that a frame still being written is never lent out again.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include "gst_test_support.h"
#include "tests/test_files.h"

using namespace zcap;
namespace fs = std::filesystem;

namespace {

/// videotestsrc's moving ball: every frame differs, so a frame written in
/// place of another shows.
constexpr const char *kSource = "videotestsrc pattern=ball";
constexpr const char *kCaps = "video/x-raw,format=YUY2,width=1280,height=720,framerate=30/1";
/// 1280x720 YUY2: 1,843,200 bytes, 450 blocks of 4 KiB.
constexpr uint64_t kFrameSize = 1280 * 720 * 2;
constexpr const char *kRawInput = "-f rawvideo -pixel_format yuyv422 -video_size 1280x720";
constexpr auto kTimeout = std::chrono::seconds(120);

/// What a zcap sink counted.
struct Counters {
	uint64_t frames = 0, dropped = 0, copied = 0;
	std::string io_path;
};

/// The counters of the element named @p name in @p pipeline, if any.
Counters counters(GstElement *pipeline, const char *name)
{
	Counters c;
	GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), name);
	if (!sink)
		return c;
	gchar *io_path = nullptr;
	guint64 frames = 0, dropped = 0, copied = 0;
	if (g_object_class_find_property(G_OBJECT_GET_CLASS(sink), "bytes-copied"))
		g_object_get(sink, "frames", &frames, "dropped", &dropped, "bytes-copied", &copied,
			     "io-path", &io_path, nullptr);
	c = {frames, dropped, copied, io_path ? io_path : ""};
	g_free(io_path);
	gst_object_unref(sink);
	return c;
}

/// What a pipeline run ended with, and what its elements "sink" (and
/// "sink2") counted.
struct PipelineRun : Counters {
	std::string error; ///< the first error message; empty when EOS came
	GQuark domain = 0;
	int code = 0;
	Counters second;
};

/// Runs @p launch to EOS or the first error; @p setup may look at the
/// pipeline before it plays.
PipelineRun run(const std::string &launch, const std::function<void(GstElement *)> &setup = {})
{
	gst_init(nullptr, nullptr);
	PipelineRun r;
	GError *error = nullptr;
	GstElement *pipeline = gst_parse_launch(launch.c_str(), &error);
	if (!pipeline || error) {
		r.error = error ? error->message : "cannot parse";
		g_clear_error(&error);
		return r;
	}
	if (setup)
		setup(pipeline);
	gst_element_set_state(pipeline, GST_STATE_PLAYING);
	GstBus *bus = gst_element_get_bus(pipeline);
	GstMessage *message =
		gst_bus_timed_pop_filtered(bus, std::chrono::nanoseconds(kTimeout).count(),
					   GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
	if (!message) {
		r.error = "timed out";
	} else if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
		gst_message_parse_error(message, &error, nullptr);
		r.error = error->message;
		r.domain = error->domain;
		r.code = error->code;
		g_clear_error(&error);
	}
	if (message)
		gst_message_unref(message);
	gst_object_unref(bus);
	// Going to NULL finishes the file; the counters stay readable.
	gst_element_set_state(pipeline, GST_STATE_NULL);
	static_cast<Counters &>(r) = counters(pipeline, "sink");
	r.second = counters(pipeline, "sink2");
	gst_object_unref(pipeline);
	return r;
}

/// The frames GStreamer's own filesink writes from the same source.
std::vector<std::string> reference_md5s(const test::TempDir &dir, unsigned frames,
					const std::string &source = kSource)
{
	fs::path raw = dir / "reference.raw";
	PipelineRun r = run(fmt::format("{} num-buffers={} ! {} ! filesink location=\"{}\"", source,
					frames, kCaps, raw.string()));
	EXPECT_EQ(r.error, "");
	return test::frame_md5s(fmt::format("{} -i '{}'", kRawInput, raw.string()));
}

/// Counts the buffers reaching the pad of element "sink", and those that
/// are zcap frame pool buffers.
struct BufferCount {
	std::atomic<unsigned> buffers{0};
	std::atomic<unsigned> pooled{0};

	void attach(GstElement *pipeline)
	{
		test::probe_sink_buffers(pipeline, "sink", probe, this);
	}

	static GstPadProbeReturn probe(GstPad *, GstPadProbeInfo *info, gpointer data)
	{
		auto *self = static_cast<BufferCount *>(data);
		GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
		++self->buffers;
		if (buffer->pool && gst_buffer_n_memory(buffer) == 1 &&
		    std::string_view(G_OBJECT_TYPE_NAME(buffer->pool)) == "ZcapFrameBufferPool")
			++self->pooled;
		return GST_PAD_PROBE_OK;
	}
};

std::string read_file(const fs::path &path)
{
	std::ifstream in(path, std::ios::binary);
	std::ostringstream out;
	out << in.rdbuf();
	return out.str();
}

TEST(ZcapFileSink, MatroskaFromTheOfferedPoolHasEveryFrameAndNoCopy)
{
	test::TempDir dir;
	constexpr unsigned kFrames = 300;
	fs::path file = dir / "a.mkv";
	BufferCount count;
	PipelineRun r =
		run(fmt::format("{} num-buffers={} ! {} ! zcapfilesink name=sink location=\"{}\"",
				kSource, kFrames, kCaps, file.string()),
		    [&](GstElement *pipeline) { count.attach(pipeline); });
	ASSERT_EQ(r.error, "");

	// Every buffer came in the pool's memory: nothing to copy.
	EXPECT_EQ(count.buffers, kFrames);
	EXPECT_EQ(count.pooled, kFrames);
	EXPECT_EQ(r.copied, 0u);
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_EQ(r.dropped, 0u);
	EXPECT_TRUE(test::expected_direct_path(r.io_path)) << r.io_path;

	EXPECT_EQ(test::probed_frames(file), kFrames);
	std::vector<std::string> md5s = test::frame_md5s(fmt::format("-i '{}'", file.string()));
	EXPECT_EQ(md5s, reference_md5s(dir, kFrames));
}

struct FormatCase {
	const char *caps_format;
	const char *ffmpeg; ///< its FFmpeg pix_fmt, to read GStreamer's raw reference
	bool matroskamux;   ///< GStreamer's matroskamux takes it
};

class ZcapFileSinkFormat : public testing::TestWithParam<FormatCase> {};

// videotestsrc in the format, straight into zcapfilesink's pool: no byte
// copied, and the frames FFmpeg decodes equal those of matroskamux's file
// (or, for formats matroskamux lacks, of filesink's raw frames).
TEST_P(ZcapFileSinkFormat, MatroskaFromVideotestsrcHasNoCopyAndTheReferenceFrames)
{
	constexpr unsigned kFrames = 30;
	const FormatCase c = GetParam();
	const std::string source = fmt::format(
		"{} num-buffers={} ! video/x-raw,format={},width=640,height=480,framerate=30/1",
		kSource, kFrames, c.caps_format);
	test::TempDir dir;
	fs::path file = dir / "zcap.mkv";
	PipelineRun r = run(
		fmt::format("{} ! zcapfilesink name=sink location=\"{}\"", source, file.string()));
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_EQ(r.copied, 0u);

	fs::path reference = dir / (c.matroskamux ? "reference.mkv" : "reference.raw");
	PipelineRun ref =
		run(fmt::format("{} ! {}filesink location=\"{}\"", source,
				c.matroskamux ? "matroskamux ! " : "", reference.string()));
	ASSERT_EQ(ref.error, "");
	const std::string input =
		c.matroskamux
			? fmt::format("-i '{}'", reference.string())
			: fmt::format("-f rawvideo -pixel_format {} -video_size 640x480 -i '{}'",
				      c.ffmpeg, reference.string());
	std::vector<std::string> md5s = test::frame_md5s(fmt::format("-i '{}'", file.string()));
	EXPECT_EQ(md5s.size(), kFrames);
	EXPECT_EQ(md5s, test::frame_md5s(input));
}

INSTANTIATE_TEST_SUITE_P(
	Formats, ZcapFileSinkFormat,
	testing::Values(FormatCase{"I420", "yuv420p", true}, FormatCase{"YV12", "", true},
			FormatCase{"BGR", "bgr24", true}, FormatCase{"NV21", "nv21", false},
			FormatCase{"GRAY16_LE", "gray16le", false},
			FormatCase{"BGRx", "bgr0", false}, FormatCase{"xRGB", "0rgb", false}),
	[](const auto &info) { return std::string(info.param.caps_format); });

// Bayer and 16-bit grey from zcapsrc's pattern: FFmpeg decodes the Matroska
// file to the pattern's bytes, and nothing was copied.
TEST(ZcapFileSink, ZcapsrcBayerAndDeepGreyGiveThePatternWithoutACopy)
{
	constexpr uint64_t kFrames = 10;
	for (auto [caps, fourcc] : {std::pair{"video/x-bayer,format=bggr", pixfmt::SBGGR8},
				    std::pair{"video/x-raw,format=GRAY16_LE", pixfmt::Y16}}) {
		SCOPED_TRACE(caps);
		test::TempDir dir;
		const fs::path file = dir / "zcapsrc.mkv";
		PipelineRun r = run(fmt::format("zcapsrc num-buffers={} is-live=false ! "
						"{},width=640,height=480 ! zcapfilesink name=sink "
						"location=\"{}\"",
						kFrames, caps, file.string()));
		ASSERT_EQ(r.error, "");
		EXPECT_EQ(r.frames, kFrames);
		EXPECT_EQ(r.copied, 0u);
		std::vector<uint64_t> sequences(kFrames);
		for (uint64_t i = 0; i < kFrames; ++i)
			sequences[i] = i;
		EXPECT_EQ(test::frame_md5s(fmt::format("-i '{}'", file.string())),
			  test::pattern_md5s(*packed_format(fourcc, 640, 480), sequences,
					     dir.path()));
	}
}

TEST(ZcapFileSink, RawFileIsTheFramesBackToBack)
{
	test::TempDir dir;
	constexpr unsigned kFrames = 60;
	fs::path file = dir / "a.raw";
	PipelineRun r =
		run(fmt::format("{} num-buffers={} ! {} ! zcapfilesink name=sink location=\"{}\"",
				kSource, kFrames, kCaps, file.string()));
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_EQ(r.copied, 0u);

	fs::path reference = dir / "reference.raw";
	ASSERT_EQ(run(fmt::format("{} num-buffers={} ! {} ! filesink location=\"{}\"", kSource,
				  kFrames, kCaps, reference.string()))
			  .error,
		  "");
	EXPECT_EQ(fs::file_size(file), kFrames * kFrameSize);
	EXPECT_TRUE(read_file(file) == read_file(reference)) << "the raw files differ";
}

TEST(ZcapFileSink, RawFramesOffBlocksArePlacedSoOnlySeamsAreCopied)
{
	// 640x480 NV12 frames are 112.5 blocks: every other one starts in the
	// middle of a block in the file. The pool puts those 2048 bytes into a
	// page in memory too, so that their bulk is written from their pages;
	// the half block where two frames meet is assembled in a seam, the only
	// bytes copied: 2048 a frame.
	test::TempDir dir;
	constexpr unsigned kFrames = 100;
	constexpr const char *kNv12 = "video/x-raw,format=NV12,width=640,height=480";
	fs::path file = dir / "a.raw";
	PipelineRun r =
		run(fmt::format("{} num-buffers={} ! {} ! zcapfilesink name=sink location=\"{}\"",
				kSource, kFrames, kNv12, file.string()));
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_EQ(r.copied, kFrames * 2048u);

	fs::path reference = dir / "reference.raw";
	ASSERT_EQ(run(fmt::format("{} num-buffers={} ! {} ! filesink location=\"{}\"", kSource,
				  kFrames, kNv12, reference.string()))
			  .error,
		  "");
	EXPECT_EQ(fs::file_size(file), kFrames * 460800u);
	EXPECT_TRUE(read_file(file) == read_file(reference)) << "the raw files differ";
}

TEST(ZcapFileSink, ZcapsrcPlacesRawFramesOffBlocksSoOnlySeamsAreCopied)
{
	// The same 112.5-block frames from zcapsrc, which asks the sink where
	// each frame should start in memory (frame_memory.h, FramePlacement):
	// only the seams are copied, not every other frame (half the bytes).
	test::TempDir dir;
	constexpr unsigned kFrames = 100;
	fs::path file = dir / "a.raw";
	PipelineRun r = run(fmt::format("zcapsrc is-live=false num-buffers={} ! "
					"video/x-raw,format=NV12,width=640,height=480 ! "
					"zcapfilesink name=sink location=\"{}\"",
					kFrames, file.string()));
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_LE(r.copied, kFrames * 2048u);

	const FrameFormat format = *packed_format(pixfmt::NV12, 640, 480);
	test::RawCheck check = test::check_raw_file(file, format, 0);
	EXPECT_EQ(check.error, "");
	EXPECT_EQ(check.sequences.size(), kFrames);
}

TEST(ZcapFileSink, ZcapsrcFramesGoToTwoFilesWithoutACopy)
{
	// zcapsrc's frames, shared by two sinks through tee: each writes them
	// from the source's own pages (registered with io_uring), the Matroska
	// sink its padding into the room after each frame.
	test::TempDir dir;
	constexpr unsigned kFrames = 100;
	fs::path mkv = dir / "a.mkv", raw = dir / "a.raw";
	PipelineRun r = run(fmt::format(
		"zcapsrc is-live=false num-buffers={} ! {} ! tee name=t ! queue ! zcapfilesink "
		"name=sink location=\"{}\" t. ! queue ! zcapfilesink name=sink2 location=\"{}\"",
		kFrames, kCaps, mkv.string(), raw.string()));
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_EQ(r.second.frames, kFrames);
	EXPECT_EQ(r.copied, 0u);
	EXPECT_EQ(r.second.copied, 0u);
	EXPECT_EQ(r.io_path, io_uring_refusal().empty() ? "io_uring+O_DIRECT+registered-buffers"
							: "aio+O_DIRECT");

	const FrameFormat format = *packed_format(pixfmt::YUYV, 1280, 720);
	test::RawCheck check = test::check_raw_file(raw, format, 0);
	EXPECT_EQ(check.error, "");
	EXPECT_EQ(check.sequences.size(), kFrames);
	EXPECT_EQ(test::frame_md5s(fmt::format("-i '{}'", mkv.string())),
		  test::pattern_md5s(format, check.sequences, dir.path()));
}

TEST(ZcapFileSink, ContainerPropertyOverridesTheFileName)
{
	test::TempDir dir;
	fs::path file = dir / "a.video";
	PipelineRun r =
		run(fmt::format("{} num-buffers=10 ! {} ! zcapfilesink name=sink container=mkv "
				"location=\"{}\"",
				kSource, kCaps, file.string()));
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(test::probed_frames(file.string()), 10u);
}

TEST(ZcapFileSink, VideoconvertWritesIntoTheOfferedPool)
{
	// A transform that makes new buffers takes them from the pool too.
	test::TempDir dir;
	constexpr unsigned kFrames = 30;
	const std::string convert = fmt::format(
		"{} num-buffers={} ! video/x-raw,format=I420,width=1280,height=720 ! videoconvert",
		kSource, kFrames);
	fs::path file = dir / "a.mkv";
	BufferCount count;
	PipelineRun r = run(fmt::format("{} ! {} ! zcapfilesink name=sink location=\"{}\"", convert,
					kCaps, file.string()),
			    [&](GstElement *pipeline) { count.attach(pipeline); });
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(count.pooled, kFrames);
	EXPECT_EQ(r.copied, 0u);

	fs::path reference = dir / "reference.raw";
	ASSERT_EQ(run(fmt::format("{} ! {} ! filesink location=\"{}\"", convert, kCaps,
				  reference.string()))
			  .error,
		  "");
	EXPECT_EQ(test::frame_md5s(fmt::format("-i '{}'", file.string())),
		  test::frame_md5s(fmt::format("{} -i '{}'", kRawInput, reference.string())));
}

TEST(ZcapFileSink, BuffersOfUpstreamsOwnPoolAreCopiedAndCounted)
{
	// identity drops the allocation query: videotestsrc fills buffers of its
	// own pool, whose memory does not start on a page. Each frame's bulk
	// (the whole frame: 450 blocks, its payload on a block in the file) is
	// therefore staged in aligned memory for its direct write: exactly
	// every frame byte is copied, and counted.
	test::TempDir dir;
	constexpr unsigned kFrames = 60;
	fs::path file = dir / "a.mkv";
	BufferCount count;
	PipelineRun r = run(fmt::format("{} num-buffers={} ! {} ! identity drop-allocation=true ! "
					"zcapfilesink name=sink location=\"{}\"",
					kSource, kFrames, kCaps, file.string()),
			    [&](GstElement *pipeline) { count.attach(pipeline); });
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(count.buffers, kFrames);
	EXPECT_EQ(count.pooled, 0u);
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_EQ(r.copied, kFrames * kFrameSize);

	EXPECT_EQ(test::probed_frames(file), kFrames);
	EXPECT_EQ(test::frame_md5s(fmt::format("-i '{}'", file.string())),
		  reference_md5s(dir, kFrames));
}

TEST(ZcapFileSink, ExistingFileIsAnErrorUnlessOverwriteIsSet)
{
	test::TempDir dir;
	fs::path file = dir / "a.mkv";
	std::ofstream(file) << "keep me";
	const std::string launch =
		fmt::format("{} num-buffers=5 ! {} ! zcapfilesink name=sink location=\"{}\"",
			    kSource, kCaps, file.string());

	PipelineRun r = run(launch);
	EXPECT_EQ(r.domain, GST_RESOURCE_ERROR);
	EXPECT_EQ(r.code, GST_RESOURCE_ERROR_OPEN_WRITE);
	EXPECT_NE(r.error.find(file.string() + " already exists"), std::string::npos) << r.error;
	EXPECT_NE(r.error.find("overwrite=true"), std::string::npos) << r.error;
	EXPECT_EQ(read_file(file), "keep me");

	r = run(launch + " overwrite=true");
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(test::probed_frames(file), 5u);
}

TEST(ZcapFileSink, FullDiskIsAnErrorAndLeavesAPlayableFile)
{
	if (geteuid() != 0 && !test::root_tests_required())
		GTEST_SKIP() << "needs root for a loop device";
	test::LoopFs small(32);
	ASSERT_EQ(small.error(), "");
	fs::path file = small.mountpoint() / "full.mkv";
	// 200 frames are 369 MB: the disk fills after a dozen.
	constexpr unsigned kFrames = 200;
	PipelineRun r =
		run(fmt::format("{} num-buffers={} ! {} ! zcapfilesink name=sink location=\"{}\"",
				kSource, kFrames, kCaps, file.string()));
	EXPECT_EQ(r.domain, GST_RESOURCE_ERROR);
	EXPECT_EQ(r.code, GST_RESOURCE_ERROR_NO_SPACE_LEFT);
	EXPECT_NE(r.error.find("No space left on device"), std::string::npos) << r.error;
	EXPECT_NE(r.error.find(file.string()), std::string::npos) << r.error;

	// Every frame counted is in the file, whole and in order.
	ASSERT_GT(r.frames, 5u);
	EXPECT_EQ(test::probed_frames(file), r.frames);
	test::TempDir dir;
	std::vector<std::string> expected = reference_md5s(dir, unsigned(r.frames));
	EXPECT_EQ(test::frame_md5s(fmt::format("-i '{}'", file.string())), expected);
}

/// Keeps a reference to the memory of the last kHeld buffers that reach
/// element "sink" (as a sink holding the frame, not the buffer, would) and
/// checks, when letting go of each, that its bytes did not change meanwhile.
class MemoryHolder {
public:
	static constexpr size_t kHeld = 4;

	~MemoryHolder() { release(0); }

	void attach(GstElement *pipeline)
	{
		test::probe_sink_buffers(pipeline, "sink", probe, this);
	}

	/// Lets go of all but @p keep memories, checking each.
	void release(size_t keep)
	{
		std::lock_guard lock(lock_);
		while (held_.size() > keep) {
			auto [memory, hash] = held_.front();
			held_.pop_front();
			if (digest(memory) != hash)
				++changed_;
			++checked_;
			gst_memory_unref(memory);
		}
	}

	unsigned checked() const { return checked_; }
	unsigned changed() const { return changed_; }

private:
	static size_t digest(GstMemory *memory)
	{
		GstMapInfo map;
		if (!gst_memory_map(memory, &map, GST_MAP_READ))
			return 0;
		size_t h = std::hash<std::string_view>{}(
			{reinterpret_cast<const char *>(map.data), map.size});
		gst_memory_unmap(memory, &map);
		return h;
	}

	static GstPadProbeReturn probe(GstPad *, GstPadProbeInfo *info, gpointer data)
	{
		auto *self = static_cast<MemoryHolder *>(data);
		GstMemory *memory = gst_buffer_get_memory(GST_PAD_PROBE_INFO_BUFFER(info), 0);
		{
			std::lock_guard lock(self->lock_);
			self->held_.emplace_back(memory, digest(memory));
		}
		self->release(kHeld);
		return GST_PAD_PROBE_OK;
	}

	std::mutex lock_;
	std::deque<std::pair<GstMemory *, size_t>> held_;
	std::atomic<unsigned> checked_{0};
	std::atomic<unsigned> changed_{0};
};

TEST(ZcapFileSink, PoolNeverLendsAFrameStillInUse)
{
	// The pool has few frames for what is held: the sink's writes in
	// flight and the memories held here. Every buffer comes back to the
	// pool while its frame is still in use, which must not be lent out
	// again until it is free: the producer then waits for one.
	test::TempDir dir;
	constexpr unsigned kFrames = 600;
	fs::path file = dir / "a.mkv";
	MemoryHolder holder;
	BufferCount count;
	PipelineRun r =
		run(fmt::format("{} num-buffers={} ! {} ! zcapfilesink name=sink location=\"{}\"",
				kSource, kFrames, kCaps, file.string()),
		    [&](GstElement *pipeline) {
			    count.attach(pipeline);
			    holder.attach(pipeline);
		    });
	ASSERT_EQ(r.error, "");
	holder.release(0);
	EXPECT_EQ(count.pooled, kFrames);
	EXPECT_EQ(holder.checked(), kFrames);
	EXPECT_EQ(holder.changed(), 0u) << "frames were overwritten while held";
	EXPECT_EQ(r.copied, 0u);
	EXPECT_EQ(r.frames, kFrames);
	EXPECT_EQ(test::frame_md5s(fmt::format("-i '{}'", file.string())),
		  reference_md5s(dir, kFrames));
}

TEST(ZcapFileSink, StoppingMidStreamLeavesAPlayableFile)
{
	gst_init(nullptr, nullptr);
	test::TempDir dir;
	fs::path file = dir / "a.mkv";
	GstElement *pipeline = gst_parse_launch(
		fmt::format("{} is-live=true ! {} ! zcapfilesink name=sink location=\"{}\"",
			    kSource, kCaps, file.string())
			.c_str(),
		nullptr);
	ASSERT_TRUE(pipeline);
	gst_element_set_state(pipeline, GST_STATE_PLAYING);
	EXPECT_EQ(test::bus_error(pipeline, std::chrono::seconds(1)), "");
	gst_element_set_state(pipeline, GST_STATE_NULL);
	GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
	guint64 frames = 0;
	g_object_get(sink, "frames", &frames, nullptr);
	gst_object_unref(sink);
	gst_object_unref(pipeline);

	// About 30 frames in that second, each one whole in a finished file.
	ASSERT_GT(frames, 10u);
	EXPECT_EQ(test::probed_frames(file), frames);
	EXPECT_EQ(test::frame_md5s(fmt::format("-i '{}'", file.string())),
		  reference_md5s(dir, unsigned(frames)));
}

/// Pushes a frame of @p bytes bytes, all @p value, at @p pts into appsrc.
void push(GstElement *appsrc, size_t bytes, uint8_t value, GstClockTime pts)
{
	GstBuffer *buffer = gst_buffer_new_allocate(nullptr, bytes, nullptr);
	gst_buffer_memset(buffer, 0, value, bytes);
	GST_BUFFER_PTS(buffer) = pts;
	GstFlowReturn ret;
	g_signal_emit_by_name(appsrc, "push-buffer", buffer, &ret);
	gst_buffer_unref(buffer);
}

void set_caps(GstElement *appsrc, const char *caps)
{
	GstCaps *c = gst_caps_from_string(caps);
	g_object_set(appsrc, "caps", c, nullptr);
	gst_caps_unref(c);
}

TEST(ZcapFileSink, CapsChangeIsRefusedUnlessTheFormatStaysTheSame)
{
	gst_init(nullptr, nullptr);
	test::TempDir dir;
	fs::path file = dir / "a.mkv";
	GstElement *pipeline = gst_parse_launch(
		fmt::format("appsrc name=src format=time ! zcapfilesink name=sink location=\"{}\"",
			    file.string())
			.c_str(),
		nullptr);
	ASSERT_TRUE(pipeline);
	GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
	constexpr size_t kSmall = 320 * 240 * 2;
	set_caps(src, "video/x-raw,format=YUY2,width=320,height=240,framerate=30/1");
	gst_element_set_state(pipeline, GST_STATE_PLAYING);
	for (unsigned i = 0; i < 3; ++i)
		push(src, kSmall, uint8_t(i), i * GST_SECOND / 30);
	// Another rate, the same frames: taken.
	set_caps(src, "video/x-raw,format=YUY2,width=320,height=240,framerate=15/1");
	for (unsigned i = 3; i < 5; ++i)
		push(src, kSmall, uint8_t(i), i * GST_SECOND / 30);
	// Another size: refused, with both formats named.
	set_caps(src, "video/x-raw,format=YUY2,width=640,height=480,framerate=30/1");
	push(src, 4 * kSmall, 9, 5 * GST_SECOND / 30);

	std::string error = test::bus_error(pipeline, std::chrono::seconds(10));
	EXPECT_NE(error.find("changed mid-stream from 320x240 YUYV to 640x480 YUYV"),
		  std::string::npos)
		<< error;
	gst_element_set_state(pipeline, GST_STATE_NULL);
	gst_object_unref(src);
	gst_object_unref(pipeline);
	// The frames before are kept, in a finished file.
	EXPECT_EQ(test::probed_frames(file), 5u);
}

TEST(ZcapFileSink, InspectShowsTheDocumentedProperties)
{
	int status = -1;
	std::string out = test::run_command("gst-inspect-1.0 zcapfilesink 2>&1", &status);
	ASSERT_EQ(status, 0) << out;
	for (const char *text : {"location", "The file to record to", "container", "auto", "raw",
				 "mkv", "overwrite", "Replace the file if it exists", "frames",
				 "dropped", "bytes-copied", "io-path", "O_DIRECT through io_uring"})
		EXPECT_NE(out.find(text), std::string::npos) << text << " missing in\n" << out;
}

} // namespace
