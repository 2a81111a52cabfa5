// SPDX-License-Identifier: LGPL-2.1-or-later
// A GstBufferPool of zcap frames (see frame_buffer_pool.h).
#include "frame_buffer_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include <gst/video/video.h>

#include <zcap/frame_pool.h>
#include <zcap/placement.h>

#include "caps_format.h"

GST_DEBUG_CATEGORY_STATIC(zcap_frame_buffer_pool_debug);
#define GST_CAT_DEFAULT zcap_frame_buffer_pool_debug

namespace {

/// How often a producer waiting for a free frame looks whether the pool is
/// being flushed (FramePool::acquire() cannot be woken otherwise).
constexpr auto kAcquirePoll = std::chrono::milliseconds(20);

/// What the pool knows beyond GstBufferPool's own state.
struct PoolState {
	GstVideoInfo info;
	zcap::FrameFormat format;
	guint size = 0;	      ///< bytes of each buffer
	guint count = 0;      ///< frames, and buffers at most
	guint min_frames = 0; ///< fewer and the sink would hold up the producer
	bool video_meta = false;
	/// The frames while the pool is active; the origin keeps them for as
	/// long as any memory or sink holds one.
	zcap::FramePool *frames = nullptr;
	std::shared_ptr<const zcap::gst::FrameOrigin> origin;
	std::atomic<bool> flushing{false};

	std::mutex placement_lock;
	zcap::gst::PoolPlacement placement;
	/// Buffers lent out so far: the number of the next one.
	std::atomic<uint64_t> lent{0};
};

/// What a memory of the pool keeps until it is freed.
struct PoolHold {
	// Before the frame, so released after it: the origin owns its slot.
	std::shared_ptr<const zcap::gst::FrameOrigin> origin;
	zcap::Frame frame;
	/// The frame's slot, whose metadata the pool updates while it alone
	/// holds the frame.
	zcap::FrameSlot *slot;
};

GQuark hold_quark()
{
	static const GQuark quark = g_quark_from_static_string("zcap-pool-frame");
	return quark;
}

void free_hold(gpointer hold)
{
	delete static_cast<PoolHold *>(hold);
}

/// Writable memory over the bytes of the frame in @p slot (the room after
/// them too, as the memory's maximum size), holding it.
GstMemory *pool_memory_new(zcap::FrameSlot &slot,
			   std::shared_ptr<const zcap::gst::FrameOrigin> origin)
{
	zcap::Frame frame = zcap::Frame::adopt(slot);
	std::span<const std::byte> bytes = frame.data();
	// The slot's pages are writable; Frame hands out its bytes read-only.
	auto *data = const_cast<std::byte *>(bytes.data());
	GstMemory *memory = gst_memory_new_wrapped(GstMemoryFlags(0), data,
						   bytes.size() + frame.room_after_size(), 0,
						   bytes.size(), nullptr, nullptr);
	gst_mini_object_set_qdata(GST_MINI_OBJECT_CAST(memory), hold_quark(),
				  new PoolHold{std::move(origin), std::move(frame), &slot},
				  free_hold);
	return memory;
}

} // namespace

struct _ZcapFrameBufferPool {
	GstBufferPool parent;
	PoolState *state;
};

G_DEFINE_TYPE(ZcapFrameBufferPool, zcap_frame_buffer_pool, GST_TYPE_BUFFER_POOL)

namespace {

PoolState &state_of(GstBufferPool *pool)
{
	return *ZCAP_FRAME_BUFFER_POOL(pool)->state;
}

GstBufferPoolClass *parent_class_of()
{
	return GST_BUFFER_POOL_CLASS(zcap_frame_buffer_pool_parent_class);
}

const gchar **get_options(GstBufferPool *)
{
	static const gchar *options[] = {GST_BUFFER_POOL_OPTION_VIDEO_META, nullptr};
	return options;
}

gboolean set_config(GstBufferPool *pool, GstStructure *config)
{
	PoolState &s = state_of(pool);
	GstCaps *caps = nullptr;
	guint size = 0, min = 0, max = 0;
	if (!gst_buffer_pool_config_get_params(config, &caps, &size, &min, &max) || !caps ||
	    !gst_video_info_from_caps(&s.info, caps)) {
		GST_WARNING_OBJECT(pool, "no raw video caps in the configuration");
		return FALSE;
	}
	std::optional<zcap::FrameFormat> format = zcap::gst::caps_to_format(caps);
	if (!format) {
		GST_WARNING_OBJECT(pool, "caps zcap cannot record: %" GST_PTR_FORMAT,
				   static_cast<void *>(caps));
		return FALSE;
	}
	s.format = *format;
	s.size = std::max<guint>(size, guint(GST_VIDEO_INFO_SIZE(&s.info)));
	// Every buffer needs a frame of its own: as many buffers as frames,
	// fixed when the pool starts.
	s.count = std::max({min, max, s.min_frames});
	s.video_meta = gst_buffer_pool_config_has_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
	const bool changed = s.size != size || s.count != min || s.count != max;
	gst_buffer_pool_config_set_params(config, caps, s.size, s.count, s.count);
	return parent_class_of()->set_config(pool, config) && !changed;
}

gboolean start(GstBufferPool *pool)
{
	PoolState &s = state_of(pool);
	zcap::Status status;
	// A page more than a frame, for a frame placed off the page start; the
	// arena rounds each slice up to a page: the room after a frame then
	// completes its last filesystem block (4 KiB or less), which is where a
	// Matroska sink puts its padding (Frame::claim_room_after()).
	std::shared_ptr<zcap::FramePool> frames =
		zcap::FramePool::create(s.size + zcap::kPlacementPage, s.count, status);
	if (!frames) {
		GST_ERROR_OBJECT(pool, "cannot allocate %u frames of %u bytes: %s", s.count, s.size,
				 status.message().c_str());
		return FALSE;
	}
	s.frames = frames.get();
	auto origin = std::make_shared<zcap::gst::FrameOrigin>();
	origin->regions = {frames->region()};
	origin->owner = std::move(frames);
	s.origin = std::move(origin);
	s.lent = 0;
	return parent_class_of()->start(pool);
}

gboolean stop(GstBufferPool *pool)
{
	PoolState &s = state_of(pool);
	gboolean ok = parent_class_of()->stop(pool);
	s.frames = nullptr;
	s.origin.reset();
	return ok;
}

/// Where the frame of buffer number @p n should start within a page, if
/// anywhere in particular.
std::optional<uint32_t> wanted_offset(PoolState &s, uint64_t n)
{
	std::lock_guard lock(s.placement_lock);
	return s.placement ? s.placement(n) : std::nullopt;
}

PoolHold *hold_of(GstBuffer *buffer)
{
	if (gst_buffer_n_memory(buffer) != 1)
		return nullptr;
	GstMemory *memory = gst_buffer_peek_memory(buffer, 0);
	GstMemory *root = memory->parent ? memory->parent : memory;
	return static_cast<PoolHold *>(
		gst_mini_object_get_qdata(GST_MINI_OBJECT_CAST(root), hold_quark()));
}

GstFlowReturn alloc_buffer(GstBufferPool *pool, GstBuffer **buffer, GstBufferPoolAcquireParams *)
{
	PoolState &s = state_of(pool);
	zcap::FrameSlot *slot;
	while (!(slot = s.frames->acquire(std::chrono::steady_clock::now() + kAcquirePoll)))
		if (s.flushing.load())
			return GST_FLOW_FLUSHING;

	zcap::FrameMetadata &metadata = slot->metadata();
	metadata = {};
	metadata.format = s.format;
	metadata.bytes_used = s.size;
	metadata.offset = wanted_offset(s, s.lent).value_or(0);
	GstBuffer *out = gst_buffer_new();
	gst_buffer_append_memory(out, pool_memory_new(*slot, s.origin));
	if (s.video_meta)
		gst_buffer_add_video_meta_full(
			out, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&s.info),
			GST_VIDEO_INFO_WIDTH(&s.info), GST_VIDEO_INFO_HEIGHT(&s.info),
			GST_VIDEO_INFO_N_PLANES(&s.info), s.info.offset, s.info.stride);
	*buffer = out;
	return GST_FLOW_OK;
}

/// Lends out a buffer whose frame starts where the placement asks: one
/// kept from before that does not is dropped for a new one (its slot is
/// free, as no one else held its frame). The frame's sequence is the
/// buffer's number, for the sink to match with its placement.
GstFlowReturn acquire_buffer(GstBufferPool *pool, GstBuffer **buffer,
			     GstBufferPoolAcquireParams *params)
{
	PoolState &s = state_of(pool);
	for (;;) {
		GstFlowReturn ret = parent_class_of()->acquire_buffer(pool, buffer, params);
		if (ret != GST_FLOW_OK)
			return ret;
		const uint64_t n = s.lent;
		std::optional<uint32_t> offset = wanted_offset(s, n);
		PoolHold *hold = hold_of(*buffer);
		if (hold && offset && hold->slot->metadata().offset != *offset) {
			GST_BUFFER_FLAG_SET(*buffer, GST_BUFFER_FLAG_TAG_MEMORY);
			parent_class_of()->release_buffer(pool, *buffer);
			continue;
		}
		if (hold) {
			hold->slot->metadata().sequence = n;
			// No sink holds the frame any more (release_buffer()).
			hold->slot->free_room();
		}
		++s.lent;
		return GST_FLOW_OK;
	}
}

/// Whether nothing but @p buffer holds its frame: no sink, no share of its
/// memory.
bool frame_free(GstBuffer *buffer)
{
	if (gst_buffer_n_memory(buffer) != 1)
		return false;
	GstMemory *memory = gst_buffer_peek_memory(buffer, 0);
	if (GST_MINI_OBJECT_REFCOUNT_VALUE(memory) != 1)
		return false;
	zcap::Frame frame = zcap::gst::pool_memory_frame(memory);
	// The memory's reference and ours.
	return frame && frame.use_count() == 2;
}

void release_buffer(GstBufferPool *pool, GstBuffer *buffer)
{
	// A tagged buffer is freed instead of kept (GstBufferPool's default).
	if (!frame_free(buffer)) {
		GST_LOG_OBJECT(pool, "frame still held: dropping %" GST_PTR_FORMAT,
			       static_cast<void *>(buffer));
		GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_TAG_MEMORY);
	}
	parent_class_of()->release_buffer(pool, buffer);
}

void flush_start(GstBufferPool *pool)
{
	state_of(pool).flushing = true;
}

void flush_stop(GstBufferPool *pool)
{
	state_of(pool).flushing = false;
}

void finalize(GObject *object)
{
	delete ZCAP_FRAME_BUFFER_POOL(object)->state;
	G_OBJECT_CLASS(zcap_frame_buffer_pool_parent_class)->finalize(object);
}

} // namespace

static void zcap_frame_buffer_pool_class_init(ZcapFrameBufferPoolClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = finalize;
	GstBufferPoolClass *pool_class = GST_BUFFER_POOL_CLASS(klass);
	pool_class->get_options = get_options;
	pool_class->set_config = set_config;
	pool_class->start = start;
	pool_class->stop = stop;
	pool_class->alloc_buffer = alloc_buffer;
	pool_class->acquire_buffer = acquire_buffer;
	pool_class->release_buffer = release_buffer;
	pool_class->flush_start = flush_start;
	pool_class->flush_stop = flush_stop;
	GST_DEBUG_CATEGORY_INIT(zcap_frame_buffer_pool_debug, "zcapframepool", 0,
				"zcap frame buffer pool");
}

static void zcap_frame_buffer_pool_init(ZcapFrameBufferPool *self)
{
	self->state = new PoolState;
}

namespace zcap::gst {

GstBufferPool *frame_buffer_pool_new(guint min_frames)
{
	auto *pool = ZCAP_FRAME_BUFFER_POOL(g_object_new(ZCAP_TYPE_FRAME_BUFFER_POOL, nullptr));
	pool->state->min_frames = min_frames;
	return GST_BUFFER_POOL(pool);
}

void frame_buffer_pool_set_placement(GstBufferPool *pool, PoolPlacement placement)
{
	PoolState &s = state_of(pool);
	std::lock_guard lock(s.placement_lock);
	s.placement = std::move(placement);
}

Frame pool_memory_frame(GstMemory *memory, std::shared_ptr<const FrameOrigin> *origin)
{
	GstMemory *root = memory->parent ? memory->parent : memory;
	auto *hold = static_cast<PoolHold *>(
		gst_mini_object_get_qdata(GST_MINI_OBJECT_CAST(root), hold_quark()));
	if (!hold)
		return {};
	if (origin)
		*origin = hold->origin;
	return hold->frame;
}

} // namespace zcap::gst
