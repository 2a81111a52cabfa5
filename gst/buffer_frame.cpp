// SPDX-License-Identifier: LGPL-2.1-or-later
// A GstBuffer as a zcap::Frame: the pages of a frame memory, or the buffer's
// own mapping, kept until the sink lets go of the frame.
#include "buffer_frame.h"

#include <time.h>

#include <fmt/format.h>

#include "frame_buffer_pool.h"
#include "frame_memory.h"

namespace zcap::gst {

namespace {

/// Staging for a repacked frame starts on a page, so that direct I/O writes
/// it at full speed (aligned_uring_writer.h).
constexpr gsize kPageAlignMask = 4095;

/// The slot of one wrapped buffer: it owns what the frame's bytes belong to
/// (a frame memory's frame, or a mapped GstBuffer) and frees itself, with
/// them, when the last reference to its frame is dropped.
class BufferSlot final : public FrameOwner {
public:
	/// The pages of @p frame, memfd alias and room after it included.
	BufferSlot(Frame frame, std::shared_ptr<const FrameOrigin> origin, size_t bytes)
	    : origin_(std::move(origin)), frame_(std::move(frame)),
	      // The slot's memory is the frame's, which is writable; a Frame
	      // only hands out its data read-only.
	      slot_(*this, 0,
		    {const_cast<std::byte *>(frame_.data().data()),
		     bytes == frame_.data().size() ? bytes + frame_.room_after_size() : bytes},
		    frame_.memfd())
	{
		// Sinks of other branches may wrap the same frame.
		frame_.share_room_claim(slot_);
	}

	/// The bytes @p map of @p buffer holds (the reference is taken over).
	BufferSlot(GstBuffer *buffer, const GstMapInfo &map)
	    : buffer_(buffer), map_(map),
	      // Nothing is written to the mapping: the slot has no room after
	      // the frame's bytes (Frame::claim_room_after()).
	      slot_(*this, 0, {reinterpret_cast<std::byte *>(map.data), map.size}, FdAlias{})
	{
	}

	FrameSlot &slot() { return slot_; }

	void recycle(FrameSlot &) noexcept override { delete this; }

private:
	~BufferSlot()
	{
		if (buffer_) {
			gst_buffer_unmap(buffer_, &map_);
			gst_buffer_unref(buffer_);
		}
	}

	// The frame goes before its origin, which owns the frame's slot.
	std::shared_ptr<const FrameOrigin> origin_;
	Frame frame_;
	GstBuffer *buffer_ = nullptr;
	GstMapInfo map_{};
	FrameSlot slot_;
};

/// The frame whose pages are @p buffer's one memory, if any: a source's
/// (frame_memory.h) or a frame pool's (frame_buffer_pool.h).
Frame memory_frame(GstBuffer *buffer, std::shared_ptr<const FrameOrigin> *origin)
{
	if (gst_buffer_n_memory(buffer) != 1)
		return {};
	GstMemory *memory = gst_buffer_peek_memory(buffer, 0);
	if (Frame frame = frame_memory_frame(memory)) {
		*origin = frame_memory_origin(memory);
		return frame;
	}
	return pool_memory_frame(memory, origin);
}

uint64_t monotonic_ns()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

/// Whether @p buffer's GstVideoMeta places planes other than @p info does.
bool other_layout(GstBuffer *buffer, const GstVideoInfo *info)
{
	const GstVideoMeta *meta = info ? gst_buffer_get_video_meta(buffer) : nullptr;
	if (!meta)
		return false;
	if (meta->n_planes != GST_VIDEO_INFO_N_PLANES(info))
		return true;
	for (unsigned i = 0; i < meta->n_planes; ++i)
		if (meta->offset[i] != GST_VIDEO_INFO_PLANE_OFFSET(info, i) ||
		    meta->stride[i] != GST_VIDEO_INFO_PLANE_STRIDE(info, i))
			return true;
	return false;
}

/// A new buffer with @p buffer's frame in @p info's layout (a copy), or
/// null.
GstBuffer *repacked(GstBuffer *buffer, const GstVideoInfo *info)
{
	GstAllocationParams params;
	gst_allocation_params_init(&params);
	params.align = kPageAlignMask;
	GstBuffer *out = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(info), &params);
	GstVideoFrame src, dst;
	bool ok = out && gst_video_frame_map(&src, info, buffer, GST_MAP_READ);
	if (ok) {
		ok = gst_video_frame_map(&dst, info, out, GST_MAP_WRITE);
		if (ok) {
			ok = gst_video_frame_copy(&dst, &src);
			gst_video_frame_unmap(&dst);
		}
		gst_video_frame_unmap(&src);
	}
	if (!ok && out)
		gst_clear_buffer(&out);
	return out;
}

} // namespace

BufferFrame buffer_frame(GstBuffer *buffer, const FrameFormat &format, const GstVideoInfo *info,
			 uint64_t sequence)
{
	BufferFrame result;
	const bool compressed = format.fourcc == pixfmt::MJPEG;

	GstBuffer *held = gst_buffer_ref(buffer);
	if (other_layout(buffer, info)) {
		gst_buffer_unref(held);
		held = repacked(buffer, info);
		if (!held) {
			result.error = "cannot repack a frame with padded lines";
			return result;
		}
		result.copied = GST_VIDEO_INFO_SIZE(info);
	}
	const bool merged = gst_buffer_n_memory(held) > 1;
	GstMapInfo map;
	if (!gst_buffer_map(held, &map, GST_MAP_READ)) {
		gst_buffer_unref(held);
		result.error = "cannot map a buffer for reading";
		return result;
	}
	if (merged)
		result.copied += map.size;

	const size_t bytes = compressed ? map.size : format.size_image;
	if (map.size < bytes) {
		result.error =
			fmt::format("a {}-byte buffer is too small for a {}x{} frame ({} bytes)",
				    map.size, format.width, format.height, bytes);
		gst_buffer_unmap(held, &map);
		gst_buffer_unref(held);
		return result;
	}

	BufferSlot *owner;
	std::shared_ptr<const FrameOrigin> origin;
	Frame pages = memory_frame(held, &origin);
	if (pages && pages.data().data() == reinterpret_cast<const std::byte *>(map.data) &&
	    pages.data().size() == map.size) {
		owner = new BufferSlot(std::move(pages), std::move(origin), bytes);
		gst_buffer_unmap(held, &map);
		gst_buffer_unref(held);
	} else {
		owner = new BufferSlot(held, map);
	}

	FrameMetadata &metadata = owner->slot().metadata();
	metadata.format = format;
	metadata.bytes_used = uint32_t(bytes);
	metadata.sequence =
		GST_BUFFER_OFFSET_IS_VALID(buffer) ? GST_BUFFER_OFFSET(buffer) : sequence;
	metadata.timestamp_ns = GST_BUFFER_PTS_IS_VALID(buffer)	  ? GST_BUFFER_PTS(buffer)
				: GST_BUFFER_DTS_IS_VALID(buffer) ? GST_BUFFER_DTS(buffer)
								  : monotonic_ns();
	result.frame = Frame::adopt(owner->slot());
	return result;
}

std::vector<MemoryRegion> buffer_regions(GstBuffer *buffer)
{
	std::shared_ptr<const FrameOrigin> origin;
	memory_frame(buffer, &origin);
	return origin ? origin->regions : std::vector<MemoryRegion>{};
}

} // namespace zcap::gst
