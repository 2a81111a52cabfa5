// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>

#include <zcap/sink.h>

namespace zcap {

/// How frames are laid out in the file.
enum class Container {
	raw,	  ///< frames back to back, nothing else (like v4l2-ctl --stream-to)
	matroska, ///< a Matroska file every player opens, payloads still written directly
};

/// The container a file name asks for: Matroska for .mkv, raw otherwise.
Container container_for(const std::filesystem::path &path);

/// DiskSinkOptions::queue_depth unless set.
constexpr unsigned kDefaultDiskQueueDepth = 8;

struct DiskSinkOptions {
	std::filesystem::path path;
	Container container = Container::raw;
	/// Matroska: start a new Cluster at least this often. Readers seek to
	/// Clusters, and a crash loses nothing that a Cluster boundary would save.
	std::chrono::milliseconds cluster_interval{1000};
	/// Writes in flight at once.
	unsigned queue_depth = kDefaultDiskQueueDepth;
	/// Replace an existing file instead of refusing to.
	bool overwrite = false;
	/// Use the buffered path even where O_DIRECT works (for comparisons).
	bool force_buffered = false;
};

/// The most frames a disk sink with @p queue_depth writes in flight holds
/// after write() returned (its max_held_frames()): one per write.
constexpr unsigned disk_sink_held_frames(unsigned queue_depth)
{
	return queue_depth;
}

/// Writes frames to a file with O_DIRECT through io_uring straight from the
/// frames' pages: raw frames back to back (sinks/disk_sink.cpp), or Matroska
/// with every payload on a block boundary (sinks/matroska_sink.cpp).
std::unique_ptr<Sink> make_disk_sink(const DiskSinkOptions &options);

} // namespace zcap
