// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <gst/gst.h>
#include <gst/video/video.h>

#include <zcap/buffer_arena.h>
#include <zcap/frame.h>

namespace zcap::gst {

/// A GstBuffer as a zcap frame, for zcap's sinks.
struct BufferFrame {
	Frame frame;	     ///< empty when the buffer cannot be a frame (see error)
	uint64_t copied = 0; ///< frame bytes copied to make it, for the sink to count
	std::string error;   ///< why there is no frame, for the user
};

/// Makes @p buffer a frame of @p format (@p info: its caps' layout, null
/// for compressed formats) without copying its pixels where it can:
///
/// - one memory of a frame whose view is the frame's bytes (zcapsrc's,
///   frame_memory.h, or a zcap buffer pool's, frame_buffer_pool.h): the
///   same pages, with the frame's memfd alias and the room after it (where
///   a Matroska sink puts its padding), pinned by a reference to that frame
///   (not to the buffer: the pool takes the buffer back at once and lends it
///   out again only once no sink holds its frame, frame_buffer_pool.h);
/// - any other buffer: mapped for reading, held (mapped, its memory kept
///   from its producer) until the sink lets go of the frame. A buffer of
///   several memories maps as one merged copy that GStreamer makes, and a
///   GstVideoMeta with other strides or offsets than @p info needs a
///   repacking copy: both are counted in BufferFrame::copied.
///
/// The metadata come from the buffer: bytes_used the format's size (a
/// compressed frame's: the buffer's), the timestamp its PTS (else DTS, else
/// now, CLOCK_MONOTONIC), the sequence its offset, else @p sequence.
BufferFrame buffer_frame(GstBuffer *buffer, const FrameFormat &format, const GstVideoInfo *info,
			 uint64_t sequence);

/// Where the frame in @p buffer lives, when it is one memory of a frame (see
/// above): its origin's regions, which sinks may register with the kernel
/// once. Empty otherwise.
std::vector<MemoryRegion> buffer_regions(GstBuffer *buffer);

} // namespace zcap::gst
