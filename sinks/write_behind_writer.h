// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include <zcap/status.h>

namespace zcap {

/// The fallback when O_DIRECT cannot serve: buffered pwrite() (the kernel
/// copies every byte into the page cache), with the written data pushed to
/// disk behind the writer and dropped from the cache, so that a long
/// recording neither fills memory nor leaves a burst of writeback at the end.
class WriteBehindWriter {
public:
	/// Appends to @p fd from file offset @p position.
	WriteBehindWriter(int fd, uint64_t position)
	    : fd_(fd), position_(position), flushed_(position), dropped_(position)
	{
	}

	Status append(std::span<const std::byte> data);
	/// Waits for the writeback of everything appended and drops it from the cache.
	Status finish();

	uint64_t position() const noexcept { return position_; }

private:
	/// Starts writeback of whole windows written so far, and waits for and
	/// drops the window before the newest.
	Status write_behind();

	int fd_;
	uint64_t position_;
	uint64_t flushed_; ///< writeback started for bytes below this
	uint64_t dropped_; ///< bytes below this are on disk and out of the cache
};

} // namespace zcap
