// SPDX-License-Identifier: LGPL-2.1-or-later
// The GstBaseSink that zcap's sink elements share (see zcapbasesink.h).
#include "zcapbasesink.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <gst/video/video.h>

#include "buffer_frame.h"
#include "caps_format.h"
#include "frame_buffer_pool.h"
#include "frame_memory.h"

GST_DEBUG_CATEGORY_STATIC(zcap_base_sink_debug);
#define GST_CAT_DEFAULT zcap_base_sink_debug

namespace {

using namespace std::chrono_literals;

/// Frames render() hands to the writer thread that it has not taken yet.
/// One: the streaming thread waits for the writer (backpressure) rather
/// than pin more of upstream's buffers.
constexpr size_t kHandedFrames = 1;

/// Buffers of the offered pool beyond those the sink holds: the one
/// upstream fills, the one being rendered, the one handed to the writer
/// thread and one on its way.
constexpr guint kSpareFrames = 3 + kHandedFrames;

/// How often the writer thread looks for completed I/O while no buffer
/// comes: a frame goes back to its producer at most this long after its
/// write.
constexpr auto kReapInterval = 2ms;

enum {
	PROP_0,
	PROP_FRAMES,
	PROP_DROPPED,
	PROP_BYTES_COPIED,
	PROP_IO_PATH,
};

/// What the sink counted, kept when it is gone.
struct Counters {
	uint64_t frames = 0;
	uint64_t dropped = 0;
	uint64_t copied = 0;
	std::string io_path = "none";
};

struct SinkState {
	/// Held while the zcap sink is called: it is not thread-safe.
	std::mutex lock;
	/// The thread that writes, reaps and finishes: the one I/O is submitted
	/// on. Not upstream's streaming thread: io_uring tells the submitting
	/// thread of each completion by task work, which interrupts what that
	/// thread is doing in the kernel; v4l2src's poll() of its device then
	/// fails with POLLERR (vb2_fop_poll's interruptible lock), seen under
	/// load as "poll error 1".
	std::thread writer;
	std::condition_variable wake_writer;
	/// Told when the writer took a frame or finished the sink.
	std::condition_variable writer_progress;
	std::deque<zcap::Frame> handed; ///< frames for the writer, at most kHandedFrames
	bool finish_asked = false;	///< by EOS: finish once handed is empty
	zcap::Status finish_status;	///< what the writer's finish() said
	bool quit = false;

	std::unique_ptr<zcap::Sink> sink;
	bool started = false;  ///< sink->start() done
	bool finished = false; ///< sink->finish() done: no more frames
	bool failed = false;   ///< an error was posted
	std::optional<zcap::FrameFormat> format;
	zcap::FrameRate rate;
	GstVideoInfo info;
	bool raw = false; ///< info describes the frames
	uint64_t sequence = 0;
	/// The frame pool asked to place frames for the sink, if any.
	GstBufferPool *placing_pool = nullptr;
	/// The source (zcapsrc) whose frame placement this sink claimed.
	std::shared_ptr<zcap::gst::FramePlacement> placing_source;

	/// Held to replace the sink; readers of its counters take it alone.
	std::mutex stats_lock;
	std::atomic<uint64_t> buffer_copies{0}; ///< copies made by buffer_frame()
	Counters last;				///< of the last sink, once it is gone
};

} // namespace

struct ZcapBaseSinkPrivate {
	SinkState *state;
};

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE(ZcapBaseSink, zcap_base_sink, GST_TYPE_BASE_SINK)

namespace {

SinkState &state_of(gpointer self)
{
	return *static_cast<ZcapBaseSinkPrivate *>(
			zcap_base_sink_get_instance_private(ZCAP_BASE_SINK(self)))
			->state;
}

/// Whether frames of @p a and @p b are laid out alike (FrameFormat's own
/// comparison needs one of PlaneLayout, which has none).
bool same_format(const zcap::FrameFormat &a, const zcap::FrameFormat &b)
{
	if (a.fourcc != b.fourcc || a.width != b.width || a.height != b.height ||
	    a.num_planes != b.num_planes || a.size_image != b.size_image)
		return false;
	for (uint32_t i = 0; i < a.num_planes; ++i)
		if (a.planes[i].offset != b.planes[i].offset ||
		    a.planes[i].stride != b.planes[i].stride ||
		    a.planes[i].size != b.planes[i].size)
			return false;
	return true;
}

std::string format_name(const zcap::FrameFormat &f)
{
	return fmt::format("{}x{} {}", f.width, f.height, zcap::fourcc_name(f.fourcc));
}

/// Posts @p status as the element's error: what failed and why.
void post_error(ZcapBaseSink *self, const zcap::Status &status, bool opening)
{
	const std::string message = status.message();
	if (status.code() == std::errc::no_space_on_device)
		GST_ELEMENT_ERROR(self, RESOURCE, NO_SPACE_LEFT, ("%s", message.c_str()),
				  (nullptr));
	else if (opening)
		GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("%s", message.c_str()), (nullptr));
	else
		GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("%s", message.c_str()), (nullptr));
}

/// Finishes the sink so that its output is valid (with s.lock held);
/// returns what went wrong.
zcap::Status finish(SinkState &s)
{
	if (!s.started || s.finished)
		return {};
	s.finished = true;
	return s.sink->finish();
}

/// The sink failed (with s.lock held): says so and leaves the output valid.
void fail(ZcapBaseSink *self, SinkState &s, const zcap::Status &status)
{
	post_error(self, status, false);
	s.failed = true;
	if (zcap::Status finished = finish(s); !finished)
		GST_WARNING_OBJECT(self, "finishing after the error: %s",
				   finished.message().c_str());
}

/// Starts the sink with the caps' format (with s.lock held).
bool start_sink(ZcapBaseSink *self, SinkState &s, std::vector<zcap::MemoryRegion> regions)
{
	zcap::StreamInfo info{*s.format, s.rate, std::move(regions)};
	if (zcap::Status status = s.sink->start(info); !status) {
		post_error(self, status, true);
		s.finished = s.failed = true;
		return false;
	}
	s.started = true;
	GST_INFO_OBJECT(self, "started %s with %s", s.sink->description().c_str(),
			format_name(*s.format).c_str());
	return true;
}

/// Placement advice for frames numbered from @p first on (a source's
/// sequence numbers, or the numbers a pool lends its buffers out with): the
/// one numbered n is @p sink's frame n - first + @p given, as long as none is
/// skipped or reordered on the way (else a frame lands off its place and is
/// staged: counted).
std::function<std::optional<uint32_t>(uint64_t)> sink_placement(const zcap::Sink *sink,
								uint64_t first, uint64_t given)
{
	return [sink, first, given](uint64_t n) -> std::optional<uint32_t> {
		return n >= first ? sink->page_offset(n - first + given) : std::nullopt;
	};
}

/// Asks the source (zcapsrc) or frame pool that @p buffer comes from, if
/// any, to place the frames of its next buffers where the sink wants them
/// (with s.lock held).
void place_frames(SinkState &s, GstBuffer *buffer)
{
	if (gst_buffer_n_memory(buffer) != 1)
		return;
	GstMemory *memory = gst_buffer_peek_memory(buffer, 0);
	std::shared_ptr<const zcap::gst::FrameOrigin> origin =
		zcap::gst::frame_memory_origin(memory);
	if (origin && origin->placement) {
		const uint64_t first = zcap::gst::frame_memory_frame(memory).sequence();
		if (origin->placement->claim(sink_placement(s.sink.get(), first, s.sequence)))
			s.placing_source = origin->placement;
		return;
	}
	GstBufferPool *pool = buffer->pool;
	if (!pool || !ZCAP_IS_FRAME_BUFFER_POOL(pool))
		return;
	zcap::Frame frame = zcap::gst::pool_memory_frame(memory);
	if (!frame)
		return;
	zcap::gst::frame_buffer_pool_set_placement(
		pool, sink_placement(s.sink.get(), frame.sequence(), s.sequence));
	s.placing_pool = GST_BUFFER_POOL(gst_object_ref(pool));
}

/// Withdraws the placement, which refers to the sink (with s.lock held).
void stop_placing(SinkState &s)
{
	if (s.placing_source) {
		s.placing_source->withdraw();
		s.placing_source.reset();
	}
	if (!s.placing_pool)
		return;
	zcap::gst::frame_buffer_pool_set_placement(s.placing_pool, {});
	gst_clear_object(&s.placing_pool);
}

/// The writer thread (s.writer): writes the frames render() hands over,
/// reaps completed I/O while the sink is busy and none comes, and finishes
/// the sink when EOS asks.
void write_frames(ZcapBaseSink *self, SinkState &s)
{
	std::unique_lock lock(s.lock);
	for (;;) {
		// Frames render() accepted are written, even when stopping.
		if (!s.handed.empty()) {
			zcap::Frame frame = std::move(s.handed.front());
			s.handed.pop_front();
			s.writer_progress.notify_all();
			if (s.failed || s.finished)
				continue;
			zcap::Status status = s.sink->write(frame);
			frame.reset();
			if (status)
				status = s.sink->service(0ms);
			if (!status)
				fail(self, s, status);
			continue;
		}
		if (s.quit)
			break;
		if (s.finish_asked) {
			s.finish_asked = false;
			s.finish_status = finish(s);
			s.writer_progress.notify_all();
			continue;
		}
		if (!s.started || s.finished || !s.sink->busy()) {
			s.wake_writer.wait(lock);
			continue;
		}
		if (zcap::Status status = s.sink->service(0ms); !status)
			fail(self, s, status);
		s.wake_writer.wait_for(lock, kReapInterval);
	}
	// Going to READY without EOS: the output is still left valid, by the
	// thread that wrote it.
	stop_placing(s);
	s.finish_status = finish(s);
}

Counters counters(ZcapBaseSink *self, SinkState &s)
{
	std::lock_guard lock(s.stats_lock);
	if (!s.sink)
		return s.last;
	const zcap::SinkStats &stats = s.sink->stats();
	return {stats.frames.load(), stats.dropped.load(),
		stats.copied_bytes.load() + s.buffer_copies.load(),
		ZCAP_BASE_SINK_GET_CLASS(self)->io_path(self, *s.sink)};
}

std::string default_io_path(ZcapBaseSink *, const zcap::Sink &sink)
{
	return std::string(zcap::io_path_name(sink.stats().io_path.load()));
}

gboolean start(GstBaseSink *bsink)
{
	auto *self = ZCAP_BASE_SINK(bsink);
	SinkState &s = state_of(self);
	std::unique_ptr<zcap::Sink> sink = ZCAP_BASE_SINK_GET_CLASS(self)->make_sink(self);
	if (!sink)
		return FALSE;
	{
		std::scoped_lock lock(s.lock, s.stats_lock);
		s.sink = std::move(sink);
		s.started = s.finished = s.failed = s.quit = false;
		s.sequence = 0;
		s.buffer_copies = 0;
		s.handed.clear();
		s.finish_asked = false;
		s.finish_status = {};
	}
	s.writer = std::thread([self, &s] { write_frames(self, s); });
	return TRUE;
}

gboolean stop(GstBaseSink *bsink)
{
	auto *self = ZCAP_BASE_SINK(bsink);
	SinkState &s = state_of(self);
	{
		std::lock_guard lock(s.lock);
		s.quit = true;
	}
	s.wake_writer.notify_one();
	s.writer_progress.notify_all();
	if (s.writer.joinable())
		s.writer.join();

	std::lock_guard lock(s.lock);
	// Said, but the element still stops: there is nothing left to do.
	if (!s.finish_status)
		post_error(self, s.finish_status, false);
	Counters last = counters(self, s);
	GST_INFO_OBJECT(self,
			"stopped: %" G_GUINT64_FORMAT " frames, %" G_GUINT64_FORMAT
			" dropped, %" G_GUINT64_FORMAT " bytes copied, via %s",
			last.frames, last.dropped, last.copied, last.io_path.c_str());
	std::unique_ptr<zcap::Sink> gone;
	{
		std::lock_guard stats(s.stats_lock);
		s.last = last;
		gone = std::move(s.sink);
		s.format.reset();
	}
	return TRUE;
}

gboolean set_caps(GstBaseSink *bsink, GstCaps *caps)
{
	auto *self = ZCAP_BASE_SINK(bsink);
	SinkState &s = state_of(self);
	zcap::FrameRate rate;
	std::optional<zcap::FrameFormat> format = zcap::gst::caps_to_format(caps, &rate);
	if (!format) {
		gchar *text = gst_caps_to_string(caps);
		GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("zcap cannot record %s", text), (nullptr));
		g_free(text);
		return FALSE;
	}
	std::lock_guard lock(s.lock);
	if (s.started && !same_format(*format, *s.format)) {
		GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
				  ("The video format changed mid-stream from %s to %s; a zcap "
				   "recording keeps one format (start a new one)",
				   format_name(*s.format).c_str(), format_name(*format).c_str()),
				  (nullptr));
		return FALSE;
	}
	s.format = format;
	s.rate = rate;
	s.raw = zcap::gst::is_raw_caps(caps) && gst_video_info_from_caps(&s.info, caps);
	return TRUE;
}

GstFlowReturn render(GstBaseSink *bsink, GstBuffer *buffer)
{
	auto *self = ZCAP_BASE_SINK(bsink);
	SinkState &s = state_of(self);
	std::unique_lock lock(s.lock);
	if (!s.format) {
		GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("No caps before the first buffer"),
				  (nullptr));
		return GST_FLOW_NOT_NEGOTIATED;
	}
	if (s.failed)
		return GST_FLOW_ERROR;
	if (s.finished)
		return GST_FLOW_EOS;
	if (!s.started) {
		if (!start_sink(self, s, zcap::gst::buffer_regions(buffer)))
			return GST_FLOW_ERROR;
		place_frames(s, buffer);
	}

	zcap::gst::BufferFrame frame =
		zcap::gst::buffer_frame(buffer, *s.format, s.raw ? &s.info : nullptr, s.sequence++);
	if (!frame.frame) {
		GST_ELEMENT_ERROR(self, STREAM, FAILED,
				  ("Cannot record a buffer: %s", frame.error.c_str()), (nullptr));
		return GST_FLOW_ERROR;
	}
	if (frame.copied) {
		if (!s.buffer_copies)
			GST_ELEMENT_WARNING(self, STREAM, FAILED,
					    ("Buffers arrive in several pieces or with padded "
					     "lines: each is copied into one frame (counted in "
					     "bytes-copied)"),
					    (nullptr));
		s.buffer_copies += frame.copied;
	}

	s.writer_progress.wait(
		lock, [&] { return s.handed.size() < kHandedFrames || s.failed || s.quit; });
	if (s.failed)
		return GST_FLOW_ERROR;
	if (s.quit)
		return GST_FLOW_FLUSHING;
	s.handed.push_back(std::move(frame.frame));
	s.wake_writer.notify_one();
	return GST_FLOW_OK;
}

gboolean event(GstBaseSink *bsink, GstEvent *event)
{
	auto *self = ZCAP_BASE_SINK(bsink);
	SinkState &s = state_of(self);
	if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) {
		// Everything on disk (or sent) before EOS reaches the application.
		std::unique_lock lock(s.lock);
		// No frame came: the output is still made, empty (as zcap record).
		if (!s.started && !s.finished && s.format)
			start_sink(self, s, {});
		if (s.started && !s.finished) {
			s.finish_asked = true;
			s.wake_writer.notify_one();
			s.writer_progress.wait(lock, [&] { return s.finished || s.quit; });
			if (!s.finish_status)
				post_error(self, s.finish_status, false);
		}
	}
	return GST_BASE_SINK_CLASS(zcap_base_sink_parent_class)->event(bsink, event);
}

gboolean propose_allocation(GstBaseSink *bsink, GstQuery *query)
{
	GstCaps *caps = nullptr;
	gboolean need_pool = FALSE;
	gst_query_parse_allocation(query, &caps, &need_pool);
	// Buffers of another pool with padded lines are repacked (counted):
	// upstream need not copy them first.
	gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);

	GstVideoInfo info;
	if (!need_pool || !zcap::gst::is_raw_caps(caps) || !gst_video_info_from_caps(&info, caps) ||
	    !zcap::gst::caps_to_format(caps))
		return TRUE;
	// The frames the zcap sink may hold after write() returned (made going
	// to PAUSED, before any allocation query), with a few spare.
	guint held = 0;
	{
		SinkState &s = state_of(bsink);
		std::lock_guard lock(s.lock);
		if (s.sink)
			held = s.sink->max_held_frames();
	}
	const guint count = held + kSpareFrames;
	GstBufferPool *pool = zcap::gst::frame_buffer_pool_new(count);
	GstStructure *config = gst_buffer_pool_get_config(pool);
	gst_buffer_pool_config_set_params(config, caps, guint(info.size), count, count);
	if (gst_buffer_pool_set_config(pool, config))
		gst_query_add_allocation_pool(query, pool, guint(info.size), count, count);
	else
		GST_WARNING_OBJECT(bsink, "cannot configure a frame pool for %" GST_PTR_FORMAT,
				   static_cast<void *>(caps));
	gst_object_unref(pool);
	return TRUE;
}

void get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
	auto *self = ZCAP_BASE_SINK(object);
	Counters c = counters(self, state_of(self));
	switch (id) {
	case PROP_FRAMES:
		g_value_set_uint64(value, c.frames);
		break;
	case PROP_DROPPED:
		g_value_set_uint64(value, c.dropped);
		break;
	case PROP_BYTES_COPIED:
		g_value_set_uint64(value, c.copied);
		break;
	case PROP_IO_PATH:
		g_value_set_string(value, c.io_path.c_str());
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
	}
}

void finalize(GObject *object)
{
	stop_placing(state_of(object));
	delete &state_of(object);
	G_OBJECT_CLASS(zcap_base_sink_parent_class)->finalize(object);
}

} // namespace

static void zcap_base_sink_class_init(ZcapBaseSinkClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->get_property = get_property;
	object_class->finalize = finalize;

	constexpr auto flags = GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
	g_object_class_install_property(
		object_class, PROP_FRAMES,
		g_param_spec_uint64("frames", "Frames", "Frames completely written or sent so far",
				    0, G_MAXUINT64, 0, flags));
	g_object_class_install_property(
		object_class, PROP_DROPPED,
		g_param_spec_uint64("dropped", "Dropped",
				    "Frames skipped because the output fell behind", 0, G_MAXUINT64,
				    0, flags));
	g_object_class_install_property(
		object_class, PROP_BYTES_COPIED,
		g_param_spec_uint64("bytes-copied", "Bytes copied",
				    "Frame bytes the CPU copied on their way out (0 when every "
				    "frame went from its own pages)",
				    0, G_MAXUINT64, 0, flags));
	g_object_class_install_property(
		object_class, PROP_IO_PATH,
		g_param_spec_string("io-path", "I/O path",
				    "How frame bytes leave: the write or send path in use", "none",
				    flags));

	GstBaseSinkClass *base_class = GST_BASE_SINK_CLASS(klass);
	base_class->start = start;
	base_class->stop = stop;
	base_class->set_caps = set_caps;
	base_class->render = render;
	base_class->event = event;
	base_class->propose_allocation = propose_allocation;
	klass->io_path = default_io_path;

	GstCaps *caps = zcap::gst::all_formats_caps();
	gst_element_class_add_pad_template(
		GST_ELEMENT_CLASS(klass),
		gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
	gst_caps_unref(caps);
	gst_type_mark_as_plugin_api(ZCAP_TYPE_BASE_SINK, GstPluginAPIFlags(0));
	GST_DEBUG_CATEGORY_INIT(zcap_base_sink_debug, "zcapbasesink", 0, "zcap sinks");
}

static void zcap_base_sink_init(ZcapBaseSink *self)
{
	static_cast<ZcapBaseSinkPrivate *>(zcap_base_sink_get_instance_private(self))->state =
		new SinkState;
	gst_base_sink_set_last_sample_enabled(GST_BASE_SINK(self), FALSE);
}
