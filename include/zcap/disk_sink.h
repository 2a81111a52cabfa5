// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <filesystem>
#include <memory>

#include <zcap/sink.h>

namespace zcap {

struct DiskSinkOptions {
	std::filesystem::path path;
	/// Writes in flight at once.
	unsigned queue_depth = 8;
	/// Replace an existing file instead of refusing to.
	bool overwrite = false;
	/// Use the buffered path even where O_DIRECT works (for comparisons).
	bool force_buffered = false;
};

/// Writes raw frames back to back, byte for byte like `v4l2-ctl --stream-to`,
/// with O_DIRECT through io_uring straight from the frames' pages. See
/// sinks/disk_sink.cpp for how block alignment is kept.
std::unique_ptr<Sink> make_disk_sink(const DiskSinkOptions &options);

} // namespace zcap
