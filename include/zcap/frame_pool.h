// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include <zcap/frame.h>
#include <zcap/status.h>
#include <zcap/unique_fd.h>

namespace zcap {

/// A span of memory that sinks may register with the kernel once (io_uring
/// fixed buffers) because every frame of a stream lives inside it.
struct MemoryRegion {
	std::byte *base = nullptr;
	size_t length = 0;
};

/// Buffers for frames, all slices of one memfd that is mapped once, pre-faulted
/// and sealed against shrinking, so every frame has both a user mapping (for
/// O_DIRECT) and a file alias (for sendfile and splice). Slots start on page
/// boundaries. Huge pages are used when the system has them.
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

	void recycle(FrameSlot &slot) noexcept override;

	MemoryRegion region() const noexcept { return {base_, length_}; }
	size_t buffer_size() const noexcept { return buffer_size_; }
	unsigned count() const noexcept { return unsigned(slots_.size()); }
	unsigned free_count() const;
	bool huge_pages() const noexcept { return huge_pages_; }
	int memfd() const noexcept { return memfd_.get(); }

private:
	FramePool() = default;

	UniqueFd memfd_;
	std::byte *base_ = nullptr;
	size_t length_ = 0;
	size_t buffer_size_ = 0;
	bool huge_pages_ = false;
	std::vector<std::unique_ptr<FrameSlot>> slots_;

	mutable std::mutex lock_;
	std::condition_variable freed_;
	std::vector<FrameSlot *> free_;
};

} // namespace zcap
