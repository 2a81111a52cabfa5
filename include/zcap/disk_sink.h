// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include <zcap/sink.h>

namespace zcap {

/// How frames are laid out in the file.
enum class Container {
	raw,	  ///< frames back to back, nothing else (like v4l2-ctl --stream-to)
	matroska, ///< a Matroska file every player opens, payloads still written directly
};

/// The container a file name asks for: Matroska for .mkv, raw otherwise.
Container container_for(const std::filesystem::path &path);

/// How frames reach the disk.
enum class DiskPath {
	automatic, ///< uring, else (io_uring refused: containers) aio, else buffered
	uring,	   ///< O_DIRECT writes through io_uring
	aio,	   ///< O_DIRECT writes through Linux AIO (io_submit), no io_uring needed
	buffered,  ///< through the page cache (every byte copied, counted)
};

/// "auto", "uring", "aio", "buffered" (as --disk-path takes them).
std::string_view disk_path_name(DiskPath path);
std::optional<DiskPath> disk_path_from_name(std::string_view name);

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
	/// The way to the disk; anything but automatic is for comparisons and
	/// tests (a path that cannot be had is an error, not a fallback).
	DiskPath disk_path = DiskPath::automatic;
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
