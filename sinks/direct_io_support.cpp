// SPDX-License-Identifier: LGPL-2.1-or-later
#include "direct_io_support.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace zcap {

DirectIoSupport enable_direct_io(int fd)
{
	DirectIoSupport support;

	struct statfs fs;
	if (fstatfs(fd, &fs) == 0 && (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC)) {
		support.reason = "the file system keeps files in memory";
		return support;
	}

	struct statx stx {};
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN | STATX_BLOCKS, &stx) < 0) {
		support.reason = std::string("statx: ") + std::strerror(errno);
		return support;
	}
	uint32_t block = std::max<uint32_t>(stx.stx_blksize, 512);
	if (stx.stx_mask & STATX_DIOALIGN) {
		if (stx.stx_dio_mem_align == 0) {
			support.reason = "the file system does not support direct I/O";
			return support;
		}
		support.block = std::max(block, stx.stx_dio_offset_align);
	} else {
		// Kernels before 6.1 do not say; the block is always safe.
		support.block = block;
	}

	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_DIRECT) < 0) {
		support.reason = std::string("O_DIRECT refused: ") + std::strerror(errno);
		return support;
	}
	support.usable = true;
	return support;
}

Status disable_direct_io(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_DIRECT) < 0)
		return Status::from_errno(errno, "clearing O_DIRECT");
	return {};
}

} // namespace zcap
