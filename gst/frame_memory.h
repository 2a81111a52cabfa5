// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <gst/gst.h>

#include <zcap/buffer_arena.h>
#include <zcap/frame.h>

namespace zcap::gst {

/// Where a sink downstream wants a source's frames to start within a page
/// in memory (placement.h), so that it can write them without a copy: the
/// link from a sink back to the source of the frames it is given, which
/// GStreamer's elements do not have. The first sink to ask is heeded.
class FramePlacement {
public:
	/// The offset in a page for the frame with sequence number @p sequence,
	/// or nothing when no sink cares.
	using Advice = std::function<std::optional<uint32_t>(uint64_t sequence)>;

	/// Installs @p advice unless another sink's is installed; returns
	/// whether it was.
	bool claim(Advice advice)
	{
		std::lock_guard lock(lock_);
		if (advice_)
			return false;
		advice_ = std::move(advice);
		return true;
	}
	/// Withdraws the advice (the sink that claimed it is going).
	void withdraw()
	{
		std::lock_guard lock(lock_);
		advice_ = nullptr;
	}
	std::optional<uint32_t> offset(uint64_t sequence) const
	{
		std::lock_guard lock(lock_);
		return advice_ ? advice_(sequence) : std::nullopt;
	}

private:
	mutable std::mutex lock_;
	Advice advice_;
};

/// What made a family of frames: kept alive while any GstMemory wraps one of
/// its frames, so that a frame can always go back to its owner, however long
/// downstream elements keep buffers.
struct FrameOrigin {
	/// The source or pool the frames' slots belong to (their FrameOwner).
	std::shared_ptr<void> owner;
	/// Where every frame of the family lives, for sinks that register
	/// buffers with the kernel once (io_uring fixed buffers).
	std::vector<MemoryRegion> regions;
	/// For a source that places its frames where sinks want them; null
	/// for others.
	std::shared_ptr<FramePlacement> placement;
};

/// Wraps the bytes of @p frame (frame.data()) as a GstMemory, without a copy:
/// fd memory over its memfd alias (gst_is_fd_memory(), gst_fd_memory_get_fd()
/// and the memory's offset give the frame's bytes), dmabuf memory over its
/// DMA-BUF alias, else memory over its mapping. Mapping the memory returns
/// the frame's existing mapping: no mmap, no page faults. The frame stays
/// pinned (its capture buffer is not queued again) until this memory and
/// every memory shared from it are freed.
GstMemory *frame_memory_new(Frame frame, std::shared_ptr<const FrameOrigin> origin);

/// The frame @p memory wraps (through its parent for a shared memory), or
/// an empty Frame when frame_memory_new() did not make it. The returned
/// handle is a new reference.
Frame frame_memory_frame(GstMemory *memory);

/// The origin of the frame @p memory wraps, or null.
std::shared_ptr<const FrameOrigin> frame_memory_origin(GstMemory *memory);

} // namespace zcap::gst
