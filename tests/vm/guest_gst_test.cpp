// SPDX-License-Identifier: LGPL-2.1-or-later
// zcap's GStreamer plugin on a real V4L2 device, inside the QEMU guest of
// tests/vm/run-in-guest started with --gstreamer (see README.md here):
// vivid's frames through zcapsrc, and through GStreamer's own v4l2src, into
// zcapfilesink. A probe on zcapfilesink's sink pad takes every buffer's
// checksum, memory and mapping as it is handed over; the file is then read
// back against those checksums, and the elements' counters are held to what
// each path must copy.

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gst/allocators/allocators.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include "guest_checks.h"
#include "test_files.h"

using namespace zcap;
using test::expect_device_clean;
using test::fnv1a;
using test::pfnmap;
using test::vm_flags;
namespace fs = std::filesystem;

namespace {

/// vivid's single-planar node (see run-in-guest's vivid parameters).
const std::string kNode = "/dev/video0";

/// 640x480 YUYV frames are 614,400 bytes, 150 whole pages: neither a raw
/// nor a Matroska file needs a seam or tail copied, so any copy counted is
/// one the path itself made.
constexpr unsigned kWidth = 640;
constexpr unsigned kHeight = 480;
constexpr uint64_t kFrameBytes = uint64_t(kWidth) * kHeight * 2;
constexpr const char *kCaps = "video/x-raw,format=YUY2,width=640,height=480";
/// Frames per pipeline: a few buffer cycles, 0.4 s at vivid's 25 fps.
constexpr uint64_t kFrames = 10;
/// For one pipeline from PLAYING to EOS under TCG.
constexpr GstClockTime kTimeout = 60 * GST_SECOND;

/// What zcapfilesink reports for its two direct paths (zcap::io_path_name).
constexpr std::string_view kRegistered = "io_uring+O_DIRECT+registered-buffers";
constexpr std::string_view kDirect = "io_uring+O_DIRECT";

/// The exporter of the DMA-BUF @p fd ("exp_name" in /proc/self/fdinfo).
std::string dmabuf_exporter(int fd)
{
	std::ifstream info(fmt::format("/proc/self/fdinfo/{}", fd));
	std::string line;
	while (std::getline(info, line))
		if (line.starts_with("exp_name:"))
			return line.substr(line.find_first_not_of(" \t", 9));
	return {};
}

/// The file the mapping holding @p address maps ("/memfd:name (deleted)",
/// "/dev/video0", "/dmabuf:"), from /proc/self/maps.
std::string mapped_file(const void *address)
{
	std::ifstream maps("/proc/self/maps");
	const auto target = reinterpret_cast<uintptr_t>(address);
	std::string line;
	while (std::getline(maps, line)) {
		unsigned long start, end;
		int path = 0;
		if (std::sscanf(line.c_str(), "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &path) >=
			    2 &&
		    start <= target && target < end)
			return path ? line.substr(size_t(path)) : "";
	}
	return {};
}

/// What a buffer's memory is: "dmabuf <exporter>", "memfd", "fd <target>"
/// or the allocator's memory type (GStreamer's "SystemMemory" for wrapped
/// memory, "V4l2Memory" for v4l2src's MMAP buffers).
std::string memory_kind(GstMemory *memory)
{
	if (gst_is_dmabuf_memory(memory))
		return "dmabuf " + dmabuf_exporter(gst_dmabuf_memory_get_fd(memory));
	if (gst_is_fd_memory(memory)) {
		std::error_code ec;
		const std::string target = fs::read_symlink(
			fmt::format("/proc/self/fd/{}", gst_fd_memory_get_fd(memory)), ec);
		return target.starts_with("/memfd:") ? "memfd" : "fd " + target;
	}
	return memory->allocator ? memory->allocator->mem_type : "?";
}

/// What the probe saw of one buffer as zcapfilesink was handed it.
struct BufferRecord {
	uint64_t offset = 0; ///< the frame's sequence number
	uint64_t size = 0;
	uint64_t checksum = 0;
	unsigned memories = 0;
	std::string memory;  ///< memory_kind() of the first memory
	std::string pool;    ///< the type of the pool the buffer came from, or ""
	std::string mapping; ///< what its mapping maps (/proc/self/maps)
	bool pfnmap = false;
	std::string flags;	///< VmFlags of its mapping
	std::string bars_error; ///< empty: vivid's colour bars
};

/// One pipeline from PLAYING to EOS, with the elements' counters at EOS.
struct PipelineRun {
	std::string error; ///< empty when it reached EOS
	std::vector<BufferRecord> buffers;
	uint64_t src_frames = 0, src_dropped = 0; ///< zcapsrc's counters
	uint64_t sink_frames = 0, sink_dropped = 0, bytes_copied = 0;
	std::string io_path;
	std::string proposed_pool; ///< the type of the pool the sink proposes
};

uint64_t uint64_property(GstElement *element, const char *name)
{
	guint64 value = 0;
	EXPECT_TRUE(g_object_class_find_property(G_OBJECT_GET_CLASS(element), name))
		<< GST_ELEMENT_NAME(element) << " has no property " << name;
	g_object_get(element, name, &value, nullptr);
	return value;
}

std::string string_property(GstElement *element, const char *name)
{
	gchar *value = nullptr;
	EXPECT_TRUE(g_object_class_find_property(G_OBJECT_GET_CLASS(element), name))
		<< GST_ELEMENT_NAME(element) << " has no property " << name;
	g_object_get(element, name, &value, nullptr);
	std::string text = value ? value : "";
	g_free(value);
	return text;
}

GstPadProbeReturn record_buffer(GstPad *, GstPadProbeInfo *info, gpointer data)
{
	auto *buffers = static_cast<std::vector<BufferRecord> *>(data);
	GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
	BufferRecord r;
	r.offset = GST_BUFFER_OFFSET(buffer);
	r.memories = gst_buffer_n_memory(buffer);
	r.memory = memory_kind(gst_buffer_peek_memory(buffer, 0));
	if (buffer->pool)
		r.pool = G_OBJECT_TYPE_NAME(buffer->pool);
	GstMapInfo map;
	if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
		const std::span bytes(reinterpret_cast<const std::byte *>(map.data), map.size);
		r.size = map.size;
		r.checksum = fnv1a(bytes);
		r.mapping = mapped_file(map.data);
		r.flags = vm_flags(map.data);
		r.pfnmap = pfnmap(map.data);
		r.bars_error = map.size >= kFrameBytes
				       ? test::colour_bars_mismatch(bytes, kWidth, kHeight)
				       : "short frame";
		gst_buffer_unmap(buffer, &map);
	} else {
		r.bars_error = "cannot map the buffer";
	}
	buffers->push_back(r);
	return GST_PAD_PROBE_OK;
}

/// The type of the buffer pool @p sink proposes upstream for its caps, or "".
std::string proposed_pool(GstElement *sink)
{
	GstPad *pad = gst_element_get_static_pad(sink, "sink");
	GstCaps *caps = gst_pad_get_current_caps(pad);
	std::string type;
	if (caps) {
		GstQuery *query = gst_query_new_allocation(caps, TRUE);
		GstBufferPool *pool = nullptr;
		if (gst_pad_query(pad, query) && gst_query_get_n_allocation_pools(query) > 0)
			gst_query_parse_nth_allocation_pool(query, 0, &pool, nullptr, nullptr,
							    nullptr);
		if (pool) {
			type = G_OBJECT_TYPE_NAME(pool);
			gst_object_unref(pool);
		}
		gst_query_unref(query);
		gst_caps_unref(caps);
	}
	gst_object_unref(pad);
	return type;
}

void init_gstreamer()
{
	static std::once_flag once;
	std::call_once(once, [] { gst_init(nullptr, nullptr); });
}

/// Runs @p description, which names its sink "sink" (a zcapfilesink), to EOS.
PipelineRun run_pipeline(const std::string &description)
{
	init_gstreamer();
	std::printf("pipeline: %s\n", description.c_str());
	PipelineRun run;
	GError *error = nullptr;
	GstElement *pipeline = gst_parse_launch(description.c_str(), &error);
	if (!pipeline || error) {
		run.error = error ? error->message : "gst_parse_launch failed";
		g_clear_error(&error);
		if (pipeline)
			gst_object_unref(pipeline);
		return run;
	}
	GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
	GstPad *pad = gst_element_get_static_pad(sink, "sink");
	gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, record_buffer, &run.buffers, nullptr);
	gst_object_unref(pad);

	GstBus *bus = gst_element_get_bus(pipeline);
	if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
		run.error = "cannot go to PLAYING";
	GstMessage *message = gst_bus_timed_pop_filtered(
		bus, kTimeout, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
	if (!message) {
		run.error = "no EOS within the timeout";
	} else if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
		gchar *debug = nullptr;
		gst_message_parse_error(message, &error, &debug);
		run.error = fmt::format("{}: {} ({})", GST_OBJECT_NAME(GST_MESSAGE_SRC(message)),
					error->message, debug ? debug : "");
		g_clear_error(&error);
		g_free(debug);
	}
	if (message)
		gst_message_unref(message);

	GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
	if (g_object_class_find_property(G_OBJECT_GET_CLASS(src), "frames")) {
		run.src_frames = uint64_property(src, "frames");
		run.src_dropped = uint64_property(src, "dropped");
	}
	gst_object_unref(src);
	run.sink_frames = uint64_property(sink, "frames");
	run.sink_dropped = uint64_property(sink, "dropped");
	run.bytes_copied = uint64_property(sink, "bytes-copied");
	run.io_path = string_property(sink, "io-path");
	run.proposed_pool = proposed_pool(sink);
	gst_element_set_state(pipeline, GST_STATE_NULL);
	gst_object_unref(bus);
	gst_object_unref(sink);
	gst_object_unref(pipeline);

	std::printf("%zu buffers (%s in %s, pool %s; sink proposes %s), sink: %llu frames, %llu "
		    "dropped, %llu bytes copied, %s\n",
		    run.buffers.size(), run.buffers.empty() ? "-" : run.buffers[0].memory.c_str(),
		    run.buffers.empty() ? "-" : run.buffers[0].mapping.c_str(),
		    run.buffers.empty() || run.buffers[0].pool.empty()
			    ? "none"
			    : run.buffers[0].pool.c_str(),
		    run.proposed_pool.c_str(), static_cast<unsigned long long>(run.sink_frames),
		    static_cast<unsigned long long>(run.sink_dropped),
		    static_cast<unsigned long long>(run.bytes_copied), run.io_path.c_str());
	std::printf("source: %llu frames, %llu dropped; offsets %llu..%llu\n",
		    static_cast<unsigned long long>(run.src_frames),
		    static_cast<unsigned long long>(run.src_dropped),
		    static_cast<unsigned long long>(
			    run.buffers.empty() ? 0 : run.buffers.front().offset),
		    static_cast<unsigned long long>(
			    run.buffers.empty() ? 0 : run.buffers.back().offset));
	if (!run.buffers.empty())
		std::printf("frame memory %s\n", run.buffers[0].flags.c_str());
	return run;
}

/// The frames of @p file, a raw recording or a Matroska file, in order:
/// their sizes and checksums. A Matroska payload must start on a block.
std::vector<std::pair<uint64_t, uint64_t>> recorded_frames(const fs::path &file, bool matroska)
{
	std::vector<test::BlockPayload> payloads;
	if (matroska) {
		payloads = test::matroska_block_payloads(file);
	} else {
		EXPECT_EQ(fs::file_size(file) % kFrameBytes, 0u) << file;
		for (uint64_t offset = 0; offset + kFrameBytes <= fs::file_size(file);
		     offset += kFrameBytes)
			payloads.push_back({offset, kFrameBytes});
	}
	std::ifstream in(file, std::ios::binary);
	std::vector<std::pair<uint64_t, uint64_t>> frames;
	for (const test::BlockPayload &payload : payloads) {
		if (matroska) {
			EXPECT_EQ(payload.offset % 4096, 0u) << "payload " << frames.size();
		}
		std::vector<std::byte> bytes(payload.size);
		in.seekg(std::streamoff(payload.offset));
		EXPECT_TRUE(in.read(reinterpret_cast<char *>(bytes.data()),
				    std::streamsize(bytes.size())))
			<< "payload " << frames.size() << " of " << file;
		frames.emplace_back(payload.size, fnv1a(bytes));
	}
	return frames;
}

/// A source and its I/O mode, with what zcapfilesink must see and do.
struct GstCase {
	std::string element; ///< zcapsrc or v4l2src
	std::string io_mode;
	bool matroska = false;
	/// The memory of the buffers the sink gets: a memory_kind() prefix.
	std::string memory;
	/// What their mapping maps: a mapped_file() prefix.
	std::string mapping;
	/// The buffers are mapped VM_PFNMAP (vgem): staged, every byte copied.
	bool staged = false;
	/// The buffers come from the pool zcapfilesink proposes.
	bool sink_pool = false;
};

void PrintTo(const GstCase &c, std::ostream *os)
{
	*os << c.element << " io-mode=" << c.io_mode << (c.matroska ? " mkv" : " raw");
}

std::string case_name(const testing::TestParamInfo<GstCase> &info)
{
	const GstCase &c = info.param;
	return fmt::format("{}_{}_{}", c.element, c.io_mode, c.matroska ? "mkv" : "raw");
}

std::vector<GstCase> gst_cases()
{
	std::vector<GstCase> cases;
	for (bool matroska : {false, true}) {
		// zcapsrc's frames as frame_memory.h wraps them: USERPTR frames
		// over their memfd, MMAP frames over their EXPBUF DMA-BUF, DMABUF
		// frames over vgem's (exported by DRM PRIME, "drm"; vgem is the
		// guest's only DRM driver; VM_PFNMAP when mapped: staged).
		cases.push_back({"zcapsrc", "userptr", matroska, "memfd", "/memfd:"});
		cases.push_back({"zcapsrc", "mmap", matroska, "dmabuf videobuf2", ""});
		cases.push_back({"zcapsrc", "dmabuf", matroska, "dmabuf drm", "", true});
		// v4l2src: its MMAP buffers (vb2-vmalloc pages, written from their
		// own mapping of the device), the same exported as DMA-BUFs, or
		// (userptr) the pages of the pool zcapfilesink proposes, queued as
		// USERPTR buffers.
		cases.push_back({"v4l2src", "mmap", matroska, "V4l2Memory", "/dev/video0"});
		cases.push_back({"v4l2src", "dmabuf", matroska, "dmabuf videobuf2", ""});
		cases.push_back({"v4l2src", "userptr", matroska, "", "/memfd:", false, true});
	}
	return cases;
}

class GuestGst : public testing::TestWithParam<GstCase> {};

} // namespace

TEST_P(GuestGst, EveryFrameInTheFileAsHandedOver)
{
	const GstCase &c = GetParam();
	test::TempDir dir(".");
	const fs::path file = dir / (c.matroska ? "gst.mkv" : "gst.raw");
	const PipelineRun run = run_pipeline(fmt::format(
		"{} name=src device={} io-mode={} num-buffers={} ! {} ! zcapfilesink name=sink "
		"location={} container={}",
		c.element, kNode, c.io_mode, kFrames, kCaps, file.string(),
		c.matroska ? "mkv" : "raw"));
	ASSERT_EQ(run.error, "");
	ASSERT_EQ(run.buffers.size(), kFrames);

	// Every buffer a whole vivid frame, one memory of the expected kind; each
	// frame differs from the one before (vivid's OSD counts on), but where
	// vivid repeated a sequence number: on a loaded guest its thread may
	// fill two buffers within one frame period, with the same number (and
	// at times the same picture). v4l2src then repeats the offset; zcapsrc
	// numbers frames on.
	for (size_t i = 0; i < run.buffers.size(); ++i) {
		SCOPED_TRACE(fmt::format("buffer {}", i));
		const BufferRecord &b = run.buffers[i];
		EXPECT_EQ(b.size, kFrameBytes);
		EXPECT_EQ(b.memories, 1u);
		EXPECT_EQ(b.bars_error, "");
		EXPECT_TRUE(b.memory.starts_with(c.memory))
			<< b.memory << ", expected " << c.memory;
		EXPECT_TRUE(b.mapping.starts_with(c.mapping))
			<< b.mapping << ", expected " << c.mapping;
		EXPECT_EQ(b.pfnmap, c.staged) << b.flags;
		if (c.sink_pool) {
			EXPECT_NE(b.pool, "");
			EXPECT_EQ(b.pool, run.proposed_pool);
		}
		if (i == 0)
			continue;
		const BufferRecord &previous = run.buffers[i - 1];
		const bool repeated = b.checksum == previous.checksum;
		if (repeated)
			fmt::print("buffer {}: vivid repeated the picture of buffer {}\n", i,
				   i - 1);
		if (c.element == "v4l2src") {
			if (repeated)
				EXPECT_EQ(b.offset, previous.offset);
			EXPECT_GE(b.offset, previous.offset);
		} else {
			EXPECT_GT(b.offset, previous.offset);
		}
	}

	// zcapsrc counts every frame it pushed, and every sequence number
	// missing between them as dropped.
	if (c.element == "zcapsrc") {
		EXPECT_EQ(run.src_frames, kFrames);
		EXPECT_EQ(run.buffers.back().offset - run.buffers.front().offset + 1 - kFrames,
			  run.src_dropped);
	}

	// The sink's counters: every frame, none dropped, and copies only for
	// frames it cannot write from their own pages.
	EXPECT_EQ(run.sink_frames, kFrames);
	EXPECT_EQ(run.sink_dropped, 0u);
	EXPECT_EQ(run.bytes_copied, c.staged ? kFrames * kFrameBytes : 0u);
	// Registered buffers for the memfd pages zcapfilesink knows (zcapsrc's
	// USERPTR frames, its own pool's); O_DIRECT from the buffers' own pages
	// otherwise. (The property tells how the sink is set up: it may have
	// registered its pool's pages even when upstream does not use them.)
	if (c.mapping == "/memfd:")
		EXPECT_EQ(run.io_path, kRegistered);
	else
		EXPECT_TRUE(run.io_path.starts_with(kDirect)) << run.io_path;

	// The file: exactly the frames handed over, in order, byte for byte.
	const auto frames = recorded_frames(file, c.matroska);
	ASSERT_EQ(frames.size(), run.buffers.size());
	for (size_t i = 0; i < frames.size(); ++i) {
		EXPECT_EQ(frames[i].first, kFrameBytes) << "frame " << i;
		EXPECT_EQ(frames[i].second, run.buffers[i].checksum) << "frame " << i << " differs";
	}
	expect_device_clean(kNode);
}

INSTANTIATE_TEST_SUITE_P(Vivid, GuestGst, testing::ValuesIn(gst_cases()), case_name);

// The tools work in the guest: gst-inspect-1.0 finds zcap's elements (its
// registry built by the plugin scanner), and the gst-launch-1.0 line
// records a Matroska file of whole frames.
TEST(GuestGstTools, InspectFindsTheElements)
{
	for (const char *element : {"zcapsrc", "zcapfilesink", "zcaphttpsink"}) {
		int status = -1;
		const std::string out =
			test::run_command(fmt::format("gst-inspect-1.0 {} 2>&1", element), &status);
		EXPECT_EQ(status, 0) << element << ":\n" << out;
		EXPECT_NE(out.find("Filename"), std::string::npos) << out;
		EXPECT_NE(out.find("libgstzcap.so"), std::string::npos) << out;
	}
	const std::string src = test::run_command("gst-inspect-1.0 zcapsrc 2>&1");
	for (const char *property :
	     {"device", "io-mode", "buffers", "is-live", "frames", "dropped"})
		EXPECT_NE(src.find(fmt::format("  {} ", property)), std::string::npos)
			<< "zcapsrc has no property " << property;
	const std::string sink = test::run_command("gst-inspect-1.0 zcapfilesink 2>&1");
	for (const char *property :
	     {"location", "container", "overwrite", "frames", "dropped", "bytes-copied", "io-path"})
		EXPECT_NE(sink.find(fmt::format("  {} ", property)), std::string::npos)
			<< "zcapfilesink has no property " << property;
}

TEST(GuestGstTools, LaunchRecordsDmabufFrames)
{
	test::TempDir dir(".");
	const fs::path file = dir / "launch.mkv";
	int status = -1;
	const std::string out = test::run_command(
		fmt::format("gst-launch-1.0 -e zcapsrc device={} io-mode=dmabuf num-buffers={} ! "
			    "{} ! zcapfilesink location={} 2>&1",
			    kNode, kFrames, kCaps, file.string()),
		&status);
	std::printf("%s", out.c_str());
	ASSERT_EQ(status, 0) << out;
	const std::vector<test::BlockPayload> payloads = test::matroska_block_payloads(file);
	ASSERT_EQ(payloads.size(), kFrames);
	for (const test::BlockPayload &payload : payloads)
		EXPECT_EQ(payload.size, kFrameBytes);
	expect_device_clean(kNode);
}
