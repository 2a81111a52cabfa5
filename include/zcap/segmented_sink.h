// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include <zcap/disk_sink.h>

namespace zcap {

struct SegmentedSinkOptions {
	/// Every segment file's options; their path comes from @p pattern.
	DiskSinkOptions disk;
	/// The segment files' names: strftime conversions (local time when the
	/// segment starts) and %N, the segment's number from 1 (%04N: padded
	/// with zeros to 4 digits). Without either, "-%04N" goes before the
	/// extension: rec.mkv names rec-0001.mkv, rec-0002.mkv, ...
	std::filesystem::path pattern;
	/// Start a new segment with the first frame captured this long after
	/// the segment's first frame (by their timestamps). Zero: no limit.
	std::chrono::nanoseconds max_duration{0};
	/// Start a new segment with the first frame whose bytes would take the
	/// segment's frame bytes past this. Zero: no limit. A Matroska file adds
	/// its headers and the padding that keeps payloads on blocks.
	uint64_t max_bytes = 0;
	/// Keep at most this many segment files, deleting the oldest this sink
	/// wrote. Zero: keep them all. With a limit the files are a ring that
	/// also goes on when the disk is full (ENOSPC): the segment that filled
	/// it ends there with its whole frames, this sink's oldest file is
	/// deleted, and the frame goes to the next segment. Only when the
	/// newest file is the only one left does the full disk stop the sink.
	unsigned max_files = 0;
	/// Called with each file deleted for max_files, on the thread that
	/// finishes segments or, when the disk is full, the sink's (never the
	/// pipeline's producer).
	std::function<void(const std::filesystem::path &)> on_delete;
};

/// A sink that records to a series of disk sinks, one file per segment. On
/// the frame that would cross a limit it starts the next file and writes the
/// frame there, while a thread of its own finishes the previous file (all
/// I/O complete, the file valid): every frame lands in exactly one file. Its
/// stats() are the totals over all segments.
class SegmentedSink : public Sink {
public:
	/// Segments started so far, including any deleted for max_files.
	virtual uint64_t segments() const = 0;
	/// The segment files still on disk, oldest first.
	virtual std::vector<std::filesystem::path> files() const = 0;
};

std::unique_ptr<SegmentedSink> make_segmented_sink(const SegmentedSinkOptions &options);

/// The name of segment @p sequence (from 1) started at @p when, following
/// SegmentedSinkOptions::pattern. An error for a pattern strftime cannot
/// expand (a lone '%' at its end, a name longer than PATH_MAX).
Status segment_path(const std::filesystem::path &pattern, uint64_t sequence, std::time_t when,
		    std::filesystem::path &path);

} // namespace zcap
