// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-zcapsrc
 * @title: zcapsrc
 *
 * Captures video into zcap's pinned, reference-counted buffers and pushes
 * them downstream without a copy: from a V4L2 device (through libv4l2, the
 * buffers shared as USERPTR memfd slices, driver buffers exported as
 * DMA-BUFs, or DRM dumb buffers), or from zcap's built-in test pattern.
 *
 * Each buffer holds one GstMemory over the frame's pages: fd memory (memfd)
 * or dmabuf memory when the frame has a file alias, mapped without mmap()
 * through the mapping zcap already has. A capture buffer goes back to the
 * device (or the pattern's pool) only when every GstMemory sharing it is
 * freed; when all of them are held downstream, frames are dropped, counted
 * in #GstZcapSrc:dropped and reported on the bus.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 zcapsrc num-buffers=300 ! video/x-raw,format=YUY2,width=1280,height=720 ! \
 *     matroskamux ! filesink location=pattern.mkv
 * gst-launch-1.0 zcapsrc device=/dev/video0 io-mode=userptr ! videoconvert ! autovideosink
 * ]|
 */
#include "zcapsrc.h"

#include <time.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <new>
#include <string>

#include <gst/base/gstpushsrc.h>
#include <gst/video/video.h>

#include <zcap/disk_sink.h>
#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>
#include <zcap/v4l2_query.h>
#include <zcap/v4l2_source.h>

#include "caps_format.h"
#include "frame_memory.h"

GST_DEBUG_CATEGORY_STATIC(zcapsrc_debug);
#define GST_CAT_DEFAULT zcapsrc_debug

namespace zcap::gst {

namespace {

/// Like zcap record without options: the frames a disk sink may hold
/// (SinkOptions' queue and DiskSinkOptions' writes in flight: 4 + 8) and
/// the spare ones (2).
constexpr unsigned kDefaultBuffers = SinkOptions{}.queue_frames +
				     disk_sink_held_frames(kDefaultDiskQueueDepth) +
				     kSpareSourceBuffers;
static_assert(kDefaultBuffers == 14, "the buffers property's documented default");
/// A source cannot capture with fewer: one buffer filling, one downstream.
constexpr unsigned kMinBuffers = 2;
/// zcap record's own limit.
constexpr unsigned kMaxBuffers = 1024;

/// Like zcap record without options.
constexpr int kDefaultWidth = 1280;
constexpr int kDefaultHeight = 720;
constexpr FrameRate kDefaultRate{30, 1};
constexpr const char *kDefaultFormat = "YUY2";

/// Drops are reported at most this often: one message per burst of lost
/// frames, not one per frame, however long downstream holds the buffers.
constexpr auto kDropReportInterval = std::chrono::seconds(1);

/// The device property's value (and unset) for the built-in pattern.
constexpr const char *kPatternDevice = "pattern";

enum Property {
	kPropDevice = 1,
	kPropIoMode,
	kPropBuffers,
	kPropIsLive,
	kPropFrames,
	kPropDropped,
};

/// The element's C++ state, constructed in instance init and destroyed in
/// finalize.
struct State {
	// Properties, under the object lock.
	std::string device;
	IoMode io = IoMode::automatic;
	unsigned buffers = kDefaultBuffers;
	bool pattern_live = true;

	// Streaming, between start() and stop().
	std::shared_ptr<Source> source;
	std::shared_ptr<const FrameOrigin> origin;
	GstCaps *device_caps = nullptr; ///< V4L2: what the device offers
	FrameRate rate;
	/// Of raw video, for the video meta; unknown for JPEG.
	GstVideoFormat video_format = GST_VIDEO_FORMAT_UNKNOWN;
	bool live = true;
	std::atomic<bool> flushing{false};

	// Counting, for the frames/dropped properties and the drop reports.
	std::atomic<uint64_t> frames{0};
	std::atomic<uint64_t> dropped{0};
	std::optional<uint64_t> next_sequence; ///< the sequence that follows the last frame
	/// The sequence after the last frame pushed, for the source's placement
	/// advice: asked on the streaming thread within next_frame(), but
	/// set_caps() may run on another.
	std::atomic<uint64_t> placement_next{0};
	uint64_t first_sequence = 0;
	uint64_t first_timestamp_ns = 0;
	uint64_t unreported = 0; ///< drops since the last report
	std::chrono::steady_clock::time_point last_report;
};

} // namespace

} // namespace zcap::gst

using namespace zcap;
using namespace zcap::gst;

struct GstZcapSrc {
	GstPushSrc parent;
	State *state;
};

struct GstZcapSrcClass {
	GstPushSrcClass parent_class;
};

G_DEFINE_TYPE(GstZcapSrc, gst_zcap_src, GST_TYPE_PUSH_SRC)
GST_ELEMENT_REGISTER_DEFINE(zcapsrc, "zcapsrc", GST_RANK_NONE, gst_zcap_src_get_type())

namespace {

#define GST_ZCAP_SRC(obj) (reinterpret_cast<GstZcapSrc *>(obj))

GType io_mode_get_type()
{
	static const GEnumValue values[] = {
		{int(IoMode::automatic), "userptr, else mmap, else dmabuf", "auto"},
		{int(IoMode::userptr), "memfd buffers the device fills (USERPTR)", "userptr"},
		{int(IoMode::mmap), "driver buffers, exported as DMA-BUF (MMAP)", "mmap"},
		{int(IoMode::dmabuf), "DRM dumb buffers imported as DMA-BUF", "dmabuf"},
		{0, nullptr, nullptr},
	};
	static const GType type = g_enum_register_static("GstZcapIoMode", values);
	return type;
}

bool is_pattern(const std::string &device)
{
	return device.empty() || device == kPatternDevice;
}

/// Whether the source is live: unless the pattern runs unpaced.
bool is_live(const std::string &device, bool pattern_live)
{
	return !is_pattern(device) || pattern_live;
}

/// What the built-in pattern can make: the raw and Bayer formats it draws,
/// any size.
GstCaps *pattern_caps()
{
	return all_formats_caps(true);
}

/// The frame rates of @p sizes on @p structure.
void set_rates(GstStructure *structure, const V4l2FrameSizes &sizes)
{
	if (!sizes.rates.empty()) {
		GValue list = G_VALUE_INIT;
		gst_value_list_init(&list, sizes.rates.size());
		for (const FrameRate &r : sizes.rates) {
			GValue rate = G_VALUE_INIT;
			g_value_init(&rate, GST_TYPE_FRACTION);
			gst_value_set_fraction(&rate, int(r.num), int(r.den));
			gst_value_list_append_and_take_value(&list, &rate);
		}
		gst_structure_take_value(structure, "framerate", &list);
	} else if (!sizes.max_rate.unlimited()) {
		gst_structure_set(structure, "framerate", GST_TYPE_FRACTION_RANGE,
				  int(sizes.min_rate.num), int(sizes.min_rate.den),
				  int(sizes.max_rate.num), int(sizes.max_rate.den), nullptr);
	} else {
		gst_structure_set(structure, "framerate", GST_TYPE_FRACTION_RANGE, 0, 1, G_MAXINT,
				  1, nullptr);
	}
}

/// One caps value for a size or a range of sizes.
void set_size(GstStructure *structure, const char *field, uint32_t min, uint32_t max, uint32_t step)
{
	GValue value = G_VALUE_INIT;
	if (min == max) {
		g_value_init(&value, G_TYPE_INT);
		g_value_set_int(&value, int(min));
	} else {
		g_value_init(&value, GST_TYPE_INT_RANGE);
		gst_value_set_int_range_step(&value, int(min), int(max), int(step));
	}
	gst_structure_take_value(structure, field, &value);
}

/// Caps for the formats, sizes and rates of a V4L2 device that zcap can
/// record; the formats in the driver's order.
GstCaps *device_caps(const std::vector<V4l2FormatInfo> &formats)
{
	GstCaps *caps = gst_caps_new_empty();
	for (const V4l2FormatInfo &format : formats) {
		for (const V4l2FrameSizes &sizes : format.frame_sizes) {
			GstStructure *structure = format_structure(format.fourcc);
			if (!structure)
				break;
			set_size(structure, "width", sizes.min_width, sizes.max_width,
				 sizes.step_width);
			set_size(structure, "height", sizes.min_height, sizes.max_height,
				 sizes.step_height);
			set_rates(structure, sizes);
			caps = gst_caps_merge_structure(caps, structure);
		}
	}
	return caps;
}

uint64_t monotonic_ns()
{
	timespec now{};
	clock_gettime(CLOCK_MONOTONIC, &now);
	return uint64_t(now.tv_sec) * GST_SECOND + uint64_t(now.tv_nsec);
}

GstClockTime frame_duration(FrameRate rate)
{
	return rate.unlimited() ? GST_CLOCK_TIME_NONE
				: gst_util_uint64_scale(GST_SECOND, rate.den, rate.num);
}

/// Tells the application about frames lost since the last report: a
/// warning and a QoS message with the counts.
void report_drops(GstZcapSrc *src, GstClockTime timestamp)
{
	State &s = *src->state;
	if (!s.unreported)
		return;
	const uint64_t lost = s.unreported;
	const uint64_t total = s.dropped.load();
	s.unreported = 0;
	s.last_report = std::chrono::steady_clock::now();

	GST_ELEMENT_WARNING(src, STREAM, FAILED,
			    ("%" G_GUINT64_FORMAT " frames dropped (%" G_GUINT64_FORMAT
			     " in all): every capture buffer was held downstream",
			     lost, total),
			    ("raise the buffers property, or free buffers sooner downstream"));
	GstMessage *qos =
		gst_message_new_qos(GST_OBJECT(src), s.live, GST_CLOCK_TIME_NONE,
				    GST_CLOCK_TIME_NONE, timestamp, frame_duration(s.rate));
	gst_message_set_qos_stats(qos, GST_FORMAT_BUFFERS, s.frames.load(), total);
	gst_element_post_message(GST_ELEMENT(src), qos);
}

/// Counts the frames skipped before one of sequence @p sequence, and
/// reports them once per kDropReportInterval.
void count_drops(GstZcapSrc *src, uint64_t sequence, GstClockTime timestamp)
{
	State &s = *src->state;
	if (s.next_sequence && sequence > *s.next_sequence) {
		const uint64_t lost = sequence - *s.next_sequence;
		s.dropped += lost;
		s.unreported += lost;
	}
	s.next_sequence = sequence + 1;
	if (s.unreported && std::chrono::steady_clock::now() - s.last_report >= kDropReportInterval)
		report_drops(src, timestamp);
}

/// The running time of a frame captured at @p timestamp_ns (CLOCK_MONOTONIC):
/// live, the pipeline clock's now less how long ago the frame was captured,
/// whatever that clock is; else, from the stream's start at the negotiated
/// rate.
GstClockTime frame_pts(GstZcapSrc *src, const Frame &frame)
{
	State &s = *src->state;
	if (!s.live) {
		if (!s.rate.unlimited())
			return gst_util_uint64_scale(frame.sequence() - s.first_sequence,
						     GST_SECOND * s.rate.den, s.rate.num);
		return frame.timestamp_ns() - s.first_timestamp_ns;
	}
	GstClock *clock = gst_element_get_clock(GST_ELEMENT(src));
	if (!clock)
		return GST_CLOCK_TIME_NONE;
	const GstClockTime now = gst_clock_get_time(clock);
	const GstClockTime base = gst_element_get_base_time(GST_ELEMENT(src));
	gst_object_unref(clock);
	const uint64_t mono = monotonic_ns();
	const uint64_t age = mono > frame.timestamp_ns() ? mono - frame.timestamp_ns() : 0;
	const GstClockTime running = now > base ? now - base : 0;
	return running > age ? running - age : 0;
}

GstBuffer *wrap_frame(GstZcapSrc *src, Frame frame)
{
	State &s = *src->state;
	const FrameFormat format = frame.format();
	const uint64_t sequence = frame.sequence();
	GstBuffer *buffer = gst_buffer_new();
	gst_buffer_append_memory(buffer, frame_memory_new(std::move(frame), s.origin));

	if (s.video_format != GST_VIDEO_FORMAT_UNKNOWN) {
		// The frame's own layout: a device's lines may be padded.
		gsize offsets[GST_VIDEO_MAX_PLANES] = {};
		gint strides[GST_VIDEO_MAX_PLANES] = {};
		for (uint32_t i = 0; i < format.num_planes; ++i) {
			offsets[i] = format.planes[i].offset;
			strides[i] = gint(format.planes[i].stride);
		}
		gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, s.video_format,
					       format.width, format.height, format.num_planes,
					       offsets, strides);
	}
	GST_BUFFER_OFFSET(buffer) = sequence;
	GST_BUFFER_OFFSET_END(buffer) = sequence + 1;
	return buffer;
}

// GObject

void set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
	GstZcapSrc *src = GST_ZCAP_SRC(object);
	State &s = *src->state;
	GST_OBJECT_LOCK(src);
	switch (id) {
	case kPropDevice: {
		const char *device = g_value_get_string(value);
		s.device = device ? device : "";
		break;
	}
	case kPropIoMode:
		s.io = IoMode(g_value_get_enum(value));
		break;
	case kPropBuffers:
		s.buffers = g_value_get_uint(value);
		break;
	case kPropIsLive:
		s.pattern_live = g_value_get_boolean(value);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
		break;
	}
	const bool live = is_live(s.device, s.pattern_live);
	GST_OBJECT_UNLOCK(src);
	// Before the source pauses: GstBaseSrc decides then whether to preroll
	// (and takes the object lock to be told).
	gst_base_src_set_live(GST_BASE_SRC(src), live);
}

void get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
	GstZcapSrc *src = GST_ZCAP_SRC(object);
	State &s = *src->state;
	GST_OBJECT_LOCK(src);
	switch (id) {
	case kPropDevice:
		g_value_set_string(value, s.device.empty() ? nullptr : s.device.c_str());
		break;
	case kPropIoMode:
		g_value_set_enum(value, int(s.io));
		break;
	case kPropBuffers:
		g_value_set_uint(value, s.buffers);
		break;
	case kPropIsLive:
		g_value_set_boolean(value, s.pattern_live);
		break;
	case kPropFrames:
		g_value_set_uint64(value, s.frames.load());
		break;
	case kPropDropped:
		g_value_set_uint64(value, s.dropped.load());
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
		break;
	}
	GST_OBJECT_UNLOCK(src);
}

void finalize(GObject *object)
{
	GstZcapSrc *src = GST_ZCAP_SRC(object);
	if (src->state->device_caps)
		gst_caps_unref(src->state->device_caps);
	delete src->state;
	G_OBJECT_CLASS(gst_zcap_src_parent_class)->finalize(object);
}

// GstBaseSrc

/// The properties streaming uses, read once under the object lock.
struct Settings {
	std::string device;
	IoMode io;
	unsigned buffers;
	bool pattern_live;
};

Settings settings(GstZcapSrc *src)
{
	GST_OBJECT_LOCK(src);
	const State &s = *src->state;
	Settings settings{s.device, s.io, s.buffers, s.pattern_live};
	GST_OBJECT_UNLOCK(src);
	return settings;
}

gboolean start(GstBaseSrc *base)
{
	GstZcapSrc *src = GST_ZCAP_SRC(base);
	State &s = *src->state;
	const Settings set = settings(src);
	s.frames = 0;
	s.dropped = 0;
	s.next_sequence.reset();
	s.unreported = 0;
	s.last_report = {};
	s.flushing = false;
	s.live = is_live(set.device, set.pattern_live);
	if (is_pattern(set.device))
		return TRUE;

	// What the device offers, for negotiation; opening it fails here with
	// a clear message when it is missing or no capture device.
	Status status;
	const auto formats = list_v4l2_formats(set.device, status);
	if (!status) {
		GST_ELEMENT_ERROR(src, RESOURCE, NOT_FOUND,
				  ("Cannot use video device \"%s\".", set.device.c_str()),
				  ("%s", status.message().c_str()));
		return FALSE;
	}
	GstCaps *caps = device_caps(formats);
	if (gst_caps_is_empty(caps)) {
		gst_caps_unref(caps);
		GST_ELEMENT_ERROR(src, RESOURCE, SETTINGS,
				  ("Video device \"%s\" offers no format zcap can capture.",
				   set.device.c_str()),
				  ("zcap captures YUYV, UYVY, NV12, GREY, RGB24, BGRA and MJPEG"));
		return FALSE;
	}
	GST_OBJECT_LOCK(src);
	gst_caps_replace(&s.device_caps, caps);
	GST_OBJECT_UNLOCK(src);
	gst_caps_unref(caps);
	return TRUE;
}

/// Stops and forgets the source; buffers downstream keep it alive until
/// their memory is freed.
void close_source(GstZcapSrc *src)
{
	State &s = *src->state;
	if (s.source)
		s.source->stop();
	s.source.reset();
	s.origin.reset();
}

gboolean stop(GstBaseSrc *base)
{
	GstZcapSrc *src = GST_ZCAP_SRC(base);
	State &s = *src->state;
	report_drops(src, GST_CLOCK_TIME_NONE);
	close_source(src);
	GST_OBJECT_LOCK(src);
	gst_caps_replace(&s.device_caps, nullptr);
	GST_OBJECT_UNLOCK(src);
	return TRUE;
}

GstCaps *get_caps(GstBaseSrc *base, GstCaps *filter)
{
	GstZcapSrc *src = GST_ZCAP_SRC(base);
	State &s = *src->state;
	GstCaps *caps = nullptr;
	GST_OBJECT_LOCK(src);
	if (is_pattern(s.device))
		caps = pattern_caps();
	else if (s.device_caps)
		caps = gst_caps_ref(s.device_caps);
	GST_OBJECT_UNLOCK(src);
	if (!caps)
		caps = gst_pad_get_pad_template_caps(GST_BASE_SRC_PAD(base));
	if (filter) {
		GstCaps *filtered = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
		gst_caps_unref(caps);
		caps = filtered;
	}
	return caps;
}

GstCaps *fixate(GstBaseSrc *base, GstCaps *caps)
{
	caps = gst_caps_truncate(gst_caps_make_writable(caps));
	GstStructure *structure = gst_caps_get_structure(caps, 0);
	gst_structure_fixate_field_nearest_int(structure, "width", kDefaultWidth);
	gst_structure_fixate_field_nearest_int(structure, "height", kDefaultHeight);
	gst_structure_fixate_field_nearest_fraction(structure, "framerate", int(kDefaultRate.num),
						    int(kDefaultRate.den));
	if (gst_structure_has_field(structure, "format"))
		gst_structure_fixate_field_string(structure, "format", kDefaultFormat);
	return GST_BASE_SRC_CLASS(gst_zcap_src_parent_class)->fixate(base, caps);
}

/// The source for @p format, started; null after posting an error.
std::shared_ptr<Source> open_source(GstZcapSrc *src, const Settings &set, const FrameFormat &format,
				    FrameRate rate)
{
	Status status;
	std::shared_ptr<Source> source;
	if (is_pattern(set.device)) {
		// Unpaced, the pattern is made as fast as buffers come back.
		source = PatternSource::create(format, set.pattern_live ? rate : FrameRate{},
					       set.buffers, status);
	} else {
		V4l2SourceOptions options;
		options.device = set.device;
		options.fourcc = format.fourcc;
		options.width = format.width;
		options.height = format.height;
		options.rate = rate;
		options.io = set.io;
		options.buffers = set.buffers;
		source = V4l2Source::open(options, status);
	}
	if (!source) {
		GST_ELEMENT_ERROR(
			src, RESOURCE, OPEN_READ,
			("Cannot capture %s %ux%u from %s.", fourcc_name(format.fourcc).c_str(),
			 format.width, format.height,
			 is_pattern(set.device) ? "the built-in pattern" : set.device.c_str()),
			("%s", status.message().c_str()));
		return nullptr;
	}
	const FrameFormat got = source->format();
	if (got.fourcc != format.fourcc || got.width != format.width ||
	    got.height != format.height) {
		GST_ELEMENT_ERROR(src, STREAM, FORMAT,
				  ("%s cannot capture %s %ux%u: it offers %s %ux%u instead.",
				   set.device.c_str(), fourcc_name(format.fourcc).c_str(),
				   format.width, format.height, fourcc_name(got.fourcc).c_str(),
				   got.width, got.height),
				  (nullptr));
		return nullptr;
	}
	if (status = source->start(); !status) {
		GST_ELEMENT_ERROR(
			src, RESOURCE, READ,
			("Cannot start capturing from %s.", source->description().c_str()),
			("%s", status.message().c_str()));
		return nullptr;
	}
	GST_INFO_OBJECT(src, "capturing: %s", source->description().c_str());
	return source;
}

gboolean set_caps(GstBaseSrc *base, GstCaps *caps)
{
	GstZcapSrc *src = GST_ZCAP_SRC(base);
	State &s = *src->state;
	FrameRate rate;
	const auto format = caps_to_format(caps, &rate);
	if (!format) {
		GST_ELEMENT_ERROR(
			src, CORE, NEGOTIATION,
			("zcap cannot capture these caps: YUY2, UYVY and NV12 need an even "
			 "width, NV12 an even height, sides at most 16384."),
			("%" GST_PTR_FORMAT, static_cast<void *>(caps)));
		return FALSE;
	}
	const Settings set = settings(src);
	if (is_pattern(set.device) && format->fourcc == pixfmt::MJPEG) {
		GST_ELEMENT_ERROR(src, CORE, NEGOTIATION,
				  ("The built-in pattern cannot make JPEG images."), (nullptr));
		return FALSE;
	}
	close_source(src);
	auto source = open_source(src, set, *format, rate);
	if (!source)
		return FALSE;
	GstVideoInfo info;
	s.video_format = is_raw_caps(caps) && gst_video_info_from_caps(&info, caps)
				 ? GST_VIDEO_INFO_FORMAT(&info)
				 : GST_VIDEO_FORMAT_UNKNOWN;
	s.rate = rate.unlimited() ? source->frame_rate() : rate;
	auto origin = std::make_shared<FrameOrigin>();
	origin->owner = source;
	origin->regions = source->memory_regions();
	// A sink downstream may ask where frames should start (a raw file of
	// frames that are not whole blocks). The source asks on the streaming
	// thread, within next_frame() (also for buffers that downstream let go
	// on other threads), about frames counted from the next.
	origin->placement = std::make_shared<FramePlacement>();
	s.placement_next = 0;
	source->set_placement([placement = origin->placement, &s](uint64_t ahead) {
		return placement->offset(s.placement_next.load(std::memory_order_relaxed) + ahead);
	});
	s.origin = std::move(origin);
	s.source = std::move(source);
	return TRUE;
}

gboolean query(GstBaseSrc *base, GstQuery *query)
{
	GstZcapSrc *src = GST_ZCAP_SRC(base);
	State &s = *src->state;
	if (GST_QUERY_TYPE(query) != GST_QUERY_LATENCY || !s.source)
		return GST_BASE_SRC_CLASS(gst_zcap_src_parent_class)->query(base, query);

	// A frame is pushed once it has been captured whole: one frame
	// period after it started. It can wait in a capture buffer for as
	// long as the other buffers last downstream.
	const Settings set = settings(src);
	const GstClockTime period = s.rate.unlimited() ? 0 : frame_duration(s.rate);
	const GstClockTime max =
		s.rate.unlimited() ? GST_CLOCK_TIME_NONE : period * (set.buffers - 1);
	gst_query_set_latency(query, s.live, period, max);
	GST_DEBUG_OBJECT(src, "latency: live %d, min %" GST_TIME_FORMAT ", max %" GST_TIME_FORMAT,
			 s.live, GST_TIME_ARGS(period), GST_TIME_ARGS(max));
	return TRUE;
}

gboolean unlock(GstBaseSrc *base)
{
	GST_ZCAP_SRC(base)->state->flushing = true;
	return TRUE;
}

gboolean unlock_stop(GstBaseSrc *base)
{
	GST_ZCAP_SRC(base)->state->flushing = false;
	return TRUE;
}

// GstPushSrc

GstFlowReturn create(GstPushSrc *push, GstBuffer **out)
{
	GstZcapSrc *src = GST_ZCAP_SRC(push);
	State &s = *src->state;
	if (!s.source)
		return GST_FLOW_NOT_NEGOTIATED;
	std::optional<Frame> frame = s.source->next_frame(s.flushing);
	if (!frame) {
		if (s.flushing)
			return GST_FLOW_FLUSHING;
		GST_ELEMENT_ERROR(src, RESOURCE, READ,
				  ("Capture from %s failed.", s.source->description().c_str()),
				  ("%s", s.source->last_error().message().c_str()));
		return GST_FLOW_ERROR;
	}
	if (!s.next_sequence) {
		s.first_sequence = frame->sequence();
		s.first_timestamp_ns = frame->timestamp_ns();
	}
	const uint64_t sequence = frame->sequence();
	s.placement_next.store(sequence + 1, std::memory_order_relaxed);
	const GstClockTime pts = frame_pts(src, *frame);
	GstBuffer *buffer = wrap_frame(src, std::move(*frame));
	GST_BUFFER_PTS(buffer) = pts;
	GST_BUFFER_DTS(buffer) = pts;
	GST_BUFFER_DURATION(buffer) = frame_duration(s.rate);
	count_drops(src, sequence, pts);
	++s.frames;
	*out = buffer;
	return GST_FLOW_OK;
}

} // namespace

static void gst_zcap_src_class_init(GstZcapSrcClass *klass)
{
	GST_DEBUG_CATEGORY_INIT(zcapsrc_debug, "zcapsrc", 0, "zcap video source");

	auto *object_class = G_OBJECT_CLASS(klass);
	object_class->set_property = set_property;
	object_class->get_property = get_property;
	object_class->finalize = finalize;

	constexpr auto kFlags =
		GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
	constexpr auto kReadOnly = GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
	g_object_class_install_property(
		object_class, kPropDevice,
		g_param_spec_string("device", "Device",
				    "V4L2 capture node (e.g. /dev/video0); unset or \"pattern\": "
				    "zcap's built-in test pattern",
				    nullptr, kFlags));
	g_object_class_install_property(
		object_class, kPropIoMode,
		g_param_spec_enum("io-mode", "I/O mode",
				  "How the V4L2 device shares capture buffers with zcap",
				  io_mode_get_type(), int(IoMode::automatic), kFlags));
	g_object_class_install_property(
		object_class, kPropBuffers,
		g_param_spec_uint("buffers", "Buffers",
				  "Capture buffers, so frames that may be held downstream at once; "
				  "when all are held, new frames are dropped",
				  kMinBuffers, kMaxBuffers, kDefaultBuffers, kFlags));
	g_object_class_install_property(
		object_class, kPropIsLive,
		g_param_spec_boolean("is-live", "Is live",
				     "The pattern is paced at the negotiated frame rate like a "
				     "camera (else made as fast as downstream frees buffers); a "
				     "V4L2 device is always live",
				     TRUE, kFlags));
	g_object_class_install_property(
		object_class, kPropFrames,
		g_param_spec_uint64("frames", "Frames", "Frames pushed since the source started", 0,
				    G_MAXUINT64, 0, kReadOnly));
	g_object_class_install_property(
		object_class, kPropDropped,
		g_param_spec_uint64("dropped", "Dropped",
				    "Frames lost since the source started because every capture "
				    "buffer was held downstream (or the device lost them)",
				    0, G_MAXUINT64, 0, kReadOnly));

	auto *element_class = GST_ELEMENT_CLASS(klass);
	gst_element_class_set_static_metadata(
		element_class, "zcap video source", "Source/Video",
		"Captures from a V4L2 device or zcap's test pattern into pinned buffers, "
		"pushed downstream without a copy",
		"zcap developers");
	GstCaps *caps = all_formats_caps();
	gst_element_class_add_pad_template(
		element_class, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
	gst_caps_unref(caps);

	auto *base_class = GST_BASE_SRC_CLASS(klass);
	base_class->start = start;
	base_class->stop = stop;
	base_class->get_caps = get_caps;
	base_class->fixate = fixate;
	base_class->set_caps = set_caps;
	base_class->query = query;
	base_class->unlock = unlock;
	base_class->unlock_stop = unlock_stop;
	GST_PUSH_SRC_CLASS(klass)->create = create;

	gst_type_mark_as_plugin_api(io_mode_get_type(), GstPluginAPIFlags(0));
}

static void gst_zcap_src_init(GstZcapSrc *src)
{
	src->state = new State;
	gst_base_src_set_format(GST_BASE_SRC(src), GST_FORMAT_TIME);
	gst_base_src_set_live(GST_BASE_SRC(src), TRUE);
}
