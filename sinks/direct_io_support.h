// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <string>

#include <zcap/status.h>

namespace zcap {

/// Whether, and with what alignment, a file can be written with O_DIRECT.
struct DirectIoSupport {
	bool usable = false;
	/// File offsets and lengths: the filesystem block, not the smaller
	/// minimum STATX_DIOALIGN reports (ext4 serializes sub-block direct
	/// writes: 5-10x slower measured here).
	uint32_t block = 0;
	/// Why not, when not usable: one phrase for a warning.
	std::string reason;
};

/// Asks the kernel about the open file @p fd and switches it to O_DIRECT
/// when that works. Files in memory (tmpfs, ramfs) are refused: their
/// "direct" I/O is a copy into the page cache all the same.
DirectIoSupport enable_direct_io(int fd);

/// Switches @p fd back to writes through the page cache (clears O_DIRECT).
Status disable_direct_io(int fd);

} // namespace zcap
