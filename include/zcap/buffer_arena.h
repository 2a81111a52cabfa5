// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstddef>
#include <memory>
#include <span>

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

/// Memory for frame buffers: one memfd, mapped once, pre-faulted and sealed
/// against shrinking, cut into page-aligned slices. Every slice has a user
/// mapping (for O_DIRECT, or for a device to fill as USERPTR) and a file
/// alias (memfd + offset, for sendfile and splice). Huge pages are used when
/// the system has a pool of them.
class BufferArena {
public:
	/// Room for @p count buffers of at least @p buffer_size bytes each.
	static std::unique_ptr<BufferArena> create(size_t buffer_size, unsigned count,
						   Status &status);
	~BufferArena();
	BufferArena(const BufferArena &) = delete;
	BufferArena &operator=(const BufferArena &) = delete;

	std::span<std::byte> slice(unsigned index) const
	{
		return {base_ + index * buffer_size_, buffer_size_};
	}
	FdAlias alias(unsigned index) const { return {memfd_.get(), index * buffer_size_}; }

	MemoryRegion region() const noexcept { return {base_, length_}; }
	size_t buffer_size() const noexcept { return buffer_size_; }
	unsigned count() const noexcept { return count_; }
	bool huge_pages() const noexcept { return huge_pages_; }
	int memfd() const noexcept { return memfd_.get(); }

private:
	BufferArena() = default;

	UniqueFd memfd_;
	std::byte *base_ = nullptr;
	size_t length_ = 0;
	size_t buffer_size_ = 0;
	unsigned count_ = 0;
	bool huge_pages_ = false;
};

} // namespace zcap
