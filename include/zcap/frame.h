// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include <zcap/format.h>

namespace zcap {

class FrameSlot;

/// Something that lends buffers out as frames and takes them back: the frame
/// pool's free list, or a V4L2 device that queues the buffer again.
class FrameOwner {
public:
	/// Called once, from whichever thread drops the last reference to a frame
	/// that lives in @p slot. After this call the owner may refill the slot.
	virtual void recycle(FrameSlot &slot) noexcept = 0;

protected:
	~FrameOwner() = default;
};

/// A second way to reach a buffer's pages: a file descriptor and the offset of
/// the buffer inside it (a memfd slice, or a DMA-BUF). It lets a sink use
/// kernel paths that take a file (sendfile, splice) on the same pages.
struct FdAlias {
	int fd = -1;
	uint64_t offset = 0;
	bool valid() const noexcept { return fd >= 0; }
};

/// What a source says about the frame it put into a slot.
struct FrameMetadata {
	FrameFormat format;
	uint32_t bytes_used = 0;
	uint64_t sequence = 0;	   ///< counts every frame the source produced, dropped ones too
	uint64_t timestamp_ns = 0; ///< capture time, CLOCK_MONOTONIC
	/// Where the frame's bytes start in the slot's memory: a source that
	/// follows placement advice (placement.h) puts them off the page start.
	uint32_t offset = 0;
};

/// One buffer that an owner lends out: its pages, their aliases and the
/// metadata of the frame in it. The slot and its memory belong to the owner,
/// which must outlive every Frame that references the slot.
class FrameSlot {
public:
	/// @p memfd and @p dmabuf are the aliases the buffer has, if any.
	FrameSlot(FrameOwner &owner, uint32_t index, std::span<std::byte> memory, FdAlias memfd,
		  FdAlias dmabuf = {})
	    : owner_(&owner), index_(index), memory_(memory), memfd_(memfd), dmabuf_(dmabuf)
	{
	}
	FrameSlot(const FrameSlot &) = delete;
	FrameSlot &operator=(const FrameSlot &) = delete;

	uint32_t index() const noexcept { return index_; }
	/// The whole buffer, for the producer to fill.
	std::span<std::byte> memory() const noexcept { return memory_; }
	FdAlias memfd() const noexcept { return memfd_; }
	FdAlias dmabuf() const noexcept { return dmabuf_; }
	FrameMetadata &metadata() noexcept { return metadata_; }
	const FrameMetadata &metadata() const noexcept { return metadata_; }
	/// For an owner that lends the same frame out again without adopt()
	/// (a GStreamer buffer pool), once it alone holds it: the room after
	/// the frame's bytes is free for a sink to claim again.
	void free_room() noexcept { own_room_claimed_.store(false, std::memory_order_relaxed); }

private:
	friend class Frame;

	FrameOwner *owner_;
	uint32_t index_;
	std::span<std::byte> memory_;
	FdAlias memfd_;
	FdAlias dmabuf_;
	FrameMetadata metadata_;
	std::atomic<uint32_t> refs_{0};
	/// Whether a sink has taken the room after the frame (claim_room_after()):
	/// this slot's own flag, or that of the frame whose pages it wraps.
	std::atomic<bool> own_room_claimed_{false};
	std::atomic<bool> *room_claimed_ = &own_room_claimed_;
};

/// A reference-counted handle to a captured frame. Copying a Frame copies a
/// pointer and bumps a count, never pixels. The slot goes back to its owner
/// when the last handle is gone, including handles that sinks keep while the
/// kernel still reads the pages (an io_uring write, a zero-copy send).
class Frame {
public:
	Frame() = default;

	/// Publishes a slot the producer has filled: the returned handle is the
	/// first reference. The producer must not touch the slot afterwards.
	static Frame adopt(FrameSlot &slot) noexcept
	{
		slot.refs_.store(1, std::memory_order_relaxed);
		slot.free_room();
		return Frame(&slot);
	}

	Frame(const Frame &other) noexcept : slot_(other.slot_)
	{
		if (slot_)
			slot_->refs_.fetch_add(1, std::memory_order_relaxed);
	}
	Frame(Frame &&other) noexcept : slot_(std::exchange(other.slot_, nullptr)) {}
	Frame &operator=(Frame other) noexcept
	{
		std::swap(slot_, other.slot_);
		return *this;
	}
	~Frame() { reset(); }

	/// Drops this reference; the last one returns the slot to its owner.
	void reset() noexcept
	{
		FrameSlot *slot = std::exchange(slot_, nullptr);
		if (slot && slot->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
			slot->owner_->recycle(*slot);
	}

	explicit operator bool() const noexcept { return slot_ != nullptr; }

	/// The frame's bytes (bytes_used of them).
	std::span<const std::byte> data() const noexcept
	{
		return slot_->memory_.subspan(slot_->metadata_.offset, slot_->metadata_.bytes_used);
	}
	/// How many bytes of the frame's buffer follow its bytes (see
	/// claim_room_after()).
	size_t room_after_size() const noexcept { return room_after().size(); }
	/// The rest of the frame's buffer after its bytes, writable, to the
	/// first caller of all that share the frame; empty for the others. A
	/// container sink may write padding there so that the frame's last,
	/// partial block goes to disk straight from these pages; a sink that
	/// gets no room copies that block instead. Only one sink writes there,
	/// however many share the frame.
	std::span<std::byte> claim_room_after() const noexcept
	{
		if (slot_->room_claimed_->exchange(true, std::memory_order_relaxed))
			return {};
		return room_after();
	}
	/// Makes @p wrapper, a slot over this frame's pages, share the claim
	/// on the room after them: a sink that claims it through either frame
	/// has it alone.
	void share_room_claim(FrameSlot &wrapper) const noexcept
	{
		wrapper.room_claimed_ = slot_->room_claimed_;
	}
	/// Where the memfd holds the frame's bytes (frame pool, USERPTR capture).
	FdAlias memfd() const noexcept { return at_frame(slot_->memfd_); }
	/// Where the DMA-BUF holds the frame's bytes (MMAP capture via EXPBUF,
	/// DMABUF capture).
	FdAlias dmabuf() const noexcept { return at_frame(slot_->dmabuf_); }
	const FrameMetadata &metadata() const noexcept { return slot_->metadata_; }
	const FrameFormat &format() const noexcept { return slot_->metadata_.format; }
	uint64_t sequence() const noexcept { return slot_->metadata_.sequence; }
	uint64_t timestamp_ns() const noexcept { return slot_->metadata_.timestamp_ns; }
	uint32_t slot_index() const noexcept { return slot_->index_; }

	/// How many handles share this frame (for tests and diagnostics).
	uint32_t use_count() const noexcept
	{
		return slot_ ? slot_->refs_.load(std::memory_order_relaxed) : 0;
	}

private:
	explicit Frame(FrameSlot *slot) noexcept : slot_(slot) {}
	std::span<std::byte> room_after() const noexcept
	{
		return slot_->memory_.subspan(slot_->metadata_.offset +
					      slot_->metadata_.bytes_used);
	}
	FdAlias at_frame(FdAlias buffer) const noexcept
	{
		if (buffer.valid())
			buffer.offset += slot_->metadata_.offset;
		return buffer;
	}

	FrameSlot *slot_ = nullptr;
};

} // namespace zcap
