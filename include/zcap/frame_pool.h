// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <zcap/buffer_arena.h>
#include <zcap/frame.h>
#include <zcap/status.h>

namespace zcap {

/// Frame buffers in a BufferArena, lent out from a free list: the owner of
/// frames that a program makes itself (the built-in pattern).
class FramePool final : public FrameOwner {
public:
	/// Creates @p count buffers of at least @p buffer_size bytes each.
	static std::unique_ptr<FramePool> create(size_t buffer_size, unsigned count,
						 Status &status);
	~FramePool();

	/// Waits until a slot is free or @p deadline passes (then returns null).
	/// The caller owns the slot until it publishes it with Frame::adopt() or
	/// hands it back with recycle().
	FrameSlot *acquire(std::chrono::steady_clock::time_point deadline);
	/// The same, taking a free slot for which @p prefer is true if there is
	/// one.
	FrameSlot *acquire(std::chrono::steady_clock::time_point deadline,
			   const std::function<bool(const FrameSlot &)> &prefer);

	void recycle(FrameSlot &slot) noexcept override;

	const BufferArena &arena() const noexcept { return *arena_; }
	MemoryRegion region() const noexcept { return arena_->region(); }
	size_t buffer_size() const noexcept { return arena_->buffer_size(); }
	unsigned count() const noexcept { return unsigned(slots_.size()); }
	unsigned free_count() const;
	int memfd() const noexcept { return arena_->memfd(); }

private:
	FramePool() = default;

	std::unique_ptr<BufferArena> arena_;
	std::vector<std::unique_ptr<FrameSlot>> slots_;

	mutable std::mutex lock_;
	std::condition_variable freed_;
	std::vector<FrameSlot *> free_;
};

} // namespace zcap
