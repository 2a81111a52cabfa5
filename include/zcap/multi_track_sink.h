// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <memory>
#include <vector>

#include <zcap/disk_sink.h>

namespace zcap {

/// One Matroska file with a video track for each of several sources: returns
/// one sink per entry of @p tracks (track 1, 2, ... in this order), each to be
/// added to its source's pipeline (MultiSourcePipeline). @p tracks give each
/// source's format, rate and frame memory. The sinks share the file and its
/// io_uring writer under a lock; every payload is still written by direct
/// I/O from its capture pages, and the file is as crash-safe as a one-track
/// one. The file is opened by the first track's start() and completed
/// (Cues for every track) by the last track's finish(). A write error fails
/// every track: they share the disk.
std::vector<std::unique_ptr<Sink>> make_matroska_track_sinks(const DiskSinkOptions &options,
							     const std::vector<StreamInfo> &tracks);

} // namespace zcap
