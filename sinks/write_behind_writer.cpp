// SPDX-License-Identifier: LGPL-2.1-or-later
#include "write_behind_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace zcap {

namespace {

/// Writeback is started per window: large enough for big sequential disk
/// writes, small enough that the page cache holds at most two windows.
constexpr uint64_t kWindow = 8ull << 20;

} // namespace

Status WriteBehindWriter::append(std::span<const std::byte> data)
{
	while (!data.empty()) {
		ssize_t n = pwrite(fd_, data.data(), data.size(), off_t(position_));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return Status::from_errno(errno, "writing");
		}
		position_ += uint64_t(n);
		data = data.subspan(size_t(n));
	}
	return write_behind();
}

Status WriteBehindWriter::write_behind()
{
	while (position_ - flushed_ >= kWindow) {
		sync_file_range(fd_, off_t(flushed_), off_t(kWindow), SYNC_FILE_RANGE_WRITE);
		flushed_ += kWindow;
		// The window before the one just started is likely on its way to
		// disk by now: wait for it and drop its pages.
		if (flushed_ - dropped_ >= 2 * kWindow) {
			if (sync_file_range(fd_, off_t(dropped_), off_t(kWindow),
					    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
						    SYNC_FILE_RANGE_WAIT_AFTER) < 0)
				return Status::from_errno(errno, "writing back");
			posix_fadvise(fd_, off_t(dropped_), off_t(kWindow), POSIX_FADV_DONTNEED);
			dropped_ += kWindow;
		}
	}
	return {};
}

Status WriteBehindWriter::finish()
{
	if (fdatasync(fd_) < 0)
		return Status::from_errno(errno, "flushing");
	posix_fadvise(fd_, off_t(dropped_), 0, POSIX_FADV_DONTNEED);
	return {};
}

} // namespace zcap
