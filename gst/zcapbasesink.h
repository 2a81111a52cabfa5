// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <memory>
#include <string>

#include <gst/base/gstbasesink.h>
#include <gst/gst.h>

#include <zcap/sink.h>

/// The part zcapfilesink and zcaphttpsink share: a GstBaseSink that feeds a
/// zcap::Sink the frames of its buffers (buffer_frame.h) from the streaming
/// thread, and offers upstream a pool of frames (frame_buffer_pool.h) that
/// the sink writes or sends without a copy.
///
/// The zcap sink is made when the element goes to PAUSED (make_sink) and
/// started with the first buffer, which says where frames live (regions to
/// register); when that buffer is the offered pool's, the pool is asked to
/// place frames where the sink wants them in memory (Sink::page_offset()).
/// Each buffer's frame is handed to the element's writer thread, which
/// writes it and reaps completed I/O: I/O is submitted there, never on
/// upstream's streaming thread (io_uring's completion task work would
/// interrupt what upstream does in the kernel, such as v4l2src's poll()).
/// render() waits while the writer has not taken the last frame, and
/// write() blocks while the sink has as many writes in flight as it takes,
/// which holds the streaming thread back (backpressure) instead of queueing
/// more. The writer reaps completions while no buffer comes, so that frames
/// go back to their producer as soon as the kernel is done with them. On
/// EOS, on going to READY and after an error the sink is finished by the
/// writer, leaving a valid output.
///
/// Properties (read-only): frames, dropped, bytes-copied (every frame byte
/// the CPU copied: the sink's count plus copies made to turn buffers into
/// frames) and io-path. The last sample is not kept (enable-last-sample is
/// off): it would pin a frame.
G_DECLARE_DERIVABLE_TYPE(ZcapBaseSink, zcap_base_sink, ZCAP, BASE_SINK, GstBaseSink)
#define ZCAP_TYPE_BASE_SINK (zcap_base_sink_get_type())

struct _ZcapBaseSinkClass {
	GstBaseSinkClass parent_class;

	/// Makes the zcap sink from the element's properties (called going to
	/// PAUSED); on failure posts an error and returns null.
	std::unique_ptr<zcap::Sink> (*make_sink)(ZcapBaseSink *self);
	/// How @p sink moves bytes, for the io-path property; the default is
	/// its SinkStats::io_path.
	std::string (*io_path)(ZcapBaseSink *self, const zcap::Sink &sink);
};
