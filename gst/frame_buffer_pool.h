// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include <gst/gst.h>

#include <zcap/frame.h>

#include "frame_memory.h"

/// A GstBufferPool whose buffers are frames of a zcap::FramePool: one memfd
/// arena, pre-faulted, cut into page-aligned slices with room after each
/// frame for a container's padding, so that zcap's sinks write and send
/// what upstream fills without a copy. Frames start on a page unless a sink
/// asks for them elsewhere (frame_buffer_pool_set_placement()). It supports
/// the GstVideoMeta option (GST_BUFFER_POOL_OPTION_VIDEO_META).
///
/// Each buffer is one writable memory over its frame's mapping (a producer
/// maps it for writing and gets those pages); it holds the frame, and says
/// which it is to pool_memory_frame(). (frame_memory_new() makes read-only
/// memory, for frames a source has filled: a producer mapping it for
/// writing would get a copy.)
///
/// The pool has as many frames as its configuration's minimum or maximum
/// (at least the number it was made with), and never more buffers than
/// frames. A sink may keep a buffer's frame after the buffer itself came
/// back (an io_uring write, a zero-copy send in flight): such a buffer is
/// not lent out again but dropped, and the pool makes a new buffer for the
/// frame's slot only once the last reference to that frame is gone, waiting
/// for it when every slot is in use. So a producer never writes to pages
/// the kernel is still reading.
G_DECLARE_FINAL_TYPE(ZcapFrameBufferPool, zcap_frame_buffer_pool, ZCAP, FRAME_BUFFER_POOL,
		     GstBufferPool)
#define ZCAP_TYPE_FRAME_BUFFER_POOL (zcap_frame_buffer_pool_get_type())

namespace zcap::gst {

/// A new pool, to be configured with raw video caps, that makes at least
/// @p min_frames frames whatever minimum its configuration asks for.
GstBufferPool *frame_buffer_pool_new(guint min_frames);

/// Where the frame of a pool's buffer number n (counting from 0 when the
/// pool starts) should start within a page (zcap/placement.h), or nothing.
using PoolPlacement = std::function<std::optional<uint32_t>(uint64_t n)>;

/// Makes the pool place frames where @p placement says (empty: at the start
/// of their slot): a sink whose file needs frames off the page start asks
/// for that (DiskSink::page_offset()). Each frame's sequence in its slot's
/// metadata is its buffer's number, by which a sink tells which buffer is
/// which. @p placement is called from the threads that acquire buffers.
void frame_buffer_pool_set_placement(GstBufferPool *pool, PoolPlacement placement);

/// The frame @p memory holds (through its parent for a shared memory) when
/// such a pool made it, else an empty Frame; @p origin, when given, gets
/// the origin of the frame. The returned handle is a new reference.
Frame pool_memory_frame(GstMemory *memory, std::shared_ptr<const FrameOrigin> *origin = nullptr);

} // namespace zcap::gst
