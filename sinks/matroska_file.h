// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include <zcap/disk_sink.h>

#include "file_output.h"
#include "matroska_layout.h"

namespace zcap {

/// A Matroska file of one or more video tracks written with every frame's
/// payload on a filesystem block boundary, so that it goes to disk by direct
/// I/O from the frame's own pages. Where a payload ends inside a block, a
/// Void is put after it in the frame's buffer (the unused room to the end of
/// the page) and that block is written from the buffer too. Before each
/// payload an owned "seam" block holds a Void as padding, a Cluster header
/// when one starts, and the SimpleBlock header. A buffer without that room
/// has its payload tail copied into the seam instead (counted): the only
/// frame bytes copied.
///
/// Live layout: the Segment and its Clusters have unknown sizes, and a frame
/// appears to readers only once it is whole. Its header is first written as
/// a Void covering the frame and rewritten as the real header once the
/// payload is on disk, so a file read during recording, or left by a crash,
/// holds only complete frames. A clean finish appends Cues (for every track
/// of every Cluster) and fills in the sizes, SeekHead and Duration by
/// rewriting the blocks that hold them.
///
/// Block timestamps count from the run's time zero (StreamInfo::clock) when
/// there is one, else from the first frame. Not thread-safe: a file shared by
/// several sources' sinks is used under their lock (matroska_track_sinks.cpp).
class MatroskaFile {
public:
	explicit MatroskaFile(const DiskSinkOptions &options) : options_(options) {}

	/// Creates the file for @p tracks. @p info gives the memory of every
	/// track's frames and the clock; @p stats gets the write path and the
	/// copied bytes.
	Status open(std::span<const matroska::TrackSpec> tracks, const StreamInfo &info,
		    SinkStats &stats);
	/// Appends @p frame to track @p track (0-based); @p stats counts it once
	/// it is published.
	Status write(size_t track, const Frame &frame, SinkStats &stats);
	/// Frames of @p track given to the direct writer and not yet published.
	size_t pending(size_t track) const;
	bool busy() const { return out_.direct() && out_.direct()->busy(); }
	Status service(std::chrono::milliseconds timeout);
	/// Completes the file (or keeps its whole frames after a failure).
	Status finish();
	bool is_open() const { return out_.is_open(); }
	/// Where frames should start within a page, as open() left the file:
	/// payloads start on a block, so on the direct path their memory must
	/// start on a page. Sinks keep the answer (finish() closes the file).
	std::optional<uint32_t> page_offset() const
	{
		return out_.direct() ? std::optional<uint32_t>(0) : std::nullopt;
	}

private:
	struct Cluster {
		uint64_t position; ///< of its ID in the file
		uint64_t time_ms;
		/// Each track's first block in it: (track, time), for the Cues.
		std::vector<std::pair<uint8_t, uint64_t>> first_blocks;
	};
	struct Patch {
		uint64_t offset;
		std::vector<std::byte> bytes;
	};
	struct Track {
		uint64_t frame_duration_ms = 0;
		uint64_t last_ms = 0;
		uint64_t frames = 0;
		size_t pending = 0;
	};
	struct Pending {
		uint64_t end;
		uint32_t size;
		size_t track;
		SinkStats *stats;
	};

	uint64_t position();
	Status append_owned(std::span<const std::byte> bytes);
	/// Puts a Void after the frame's bytes in its buffer, up to the end of
	/// the block its tail is in, so that the last block can be written from
	/// the frame's pages too: returns its size, or 0 without room for it
	/// (none, or claimed by another sink).
	size_t pad_in_buffer(const Frame &frame);
	/// The frame's time since the zero, never going backwards in its track.
	uint64_t timestamp_ms(Track &track, const Frame &frame);
	/// Whether a block at @p ms starts a new Cluster.
	bool starts_cluster(uint64_t ms) const;
	/// Counts the frames the direct writer has published.
	void count_published();
	/// Cues, sizes, SeekHead and Duration, once every frame is on disk.
	Status finish_layout(uint64_t cues_at, uint64_t end);
	/// Overwrites bytes already written, a block at a time on the direct path.
	Status apply(const std::vector<Patch> &patches);

	DiskSinkOptions options_;
	FileOutput out_;
	matroska::FileHeader header_;
	const RunClock *clock_ = nullptr;
	uint32_t block_ = 0;
	std::optional<uint64_t> first_timestamp_ns_;
	std::vector<Track> tracks_;
	std::vector<Cluster> clusters_;
	/// Frames given to the direct writer and not yet published.
	std::deque<Pending> pending_;
	uint64_t published_end_ = 0;
};

} // namespace zcap
