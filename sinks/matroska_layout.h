// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <zcap/format.h>
#include <zcap/status.h>

namespace zcap::matroska {

/// Block timestamps count milliseconds (the Matroska default scale).
constexpr uint64_t kTimestampScaleNs = 1'000'000;
/// Block timestamps are 16-bit, relative to their Cluster's.
constexpr int64_t kMaxBlockOffset = 32767;
/// Bytes of a SimpleBlock's header: ID, 8-byte size, track, timestamp, flags.
constexpr size_t kBlockHeaderSize = 13;
/// Bytes of a Cluster's ID and size field (its data follows).
constexpr size_t kClusterIdAndSize = 12;
/// Bytes of a Duration element (ID, size, 8-byte float).
constexpr size_t kDurationSize = 11;

/// What the track of a stream says about its frames.
struct TrackCodec {
	const char *codec_id = nullptr; ///< "V_UNCOMPRESSED", "V_MJPEG"
	uint32_t colour_space = 0;	///< the fourcc readers expect, for V_UNCOMPRESSED
};

/// The codec for frames of @p fourcc, or an error saying why Matroska cannot
/// carry them.
Status codec_for(uint32_t fourcc, TrackCodec &codec);

/// The start of a file: EBML header, Segment of unknown size, SeekHead, Info
/// and Tracks, with room to fill in what is known only at the end.
struct FileHeader {
	std::vector<std::byte> bytes;
	size_t segment_size_at = 0; ///< the Segment's 8-byte size field
	size_t segment_data = 0;    ///< where Segment positions count from
	size_t seek_head_at = 0;    ///< room for the SeekHead...
	size_t seek_head_room = 0;  ///< ...of this many bytes
	size_t duration_at = 0;	    ///< room (a Void) for the Duration element
	size_t info_at = 0;
	size_t tracks_at = 0;
};

/// One video track of a file: its frames' format and rate.
struct TrackSpec {
	FrameFormat format;
	FrameRate rate; ///< unlimited: no DefaultDuration
};

/// Tracks a file may have: their numbers fit the 1-byte track field of the
/// SimpleBlock header (block_header()).
constexpr size_t kMaxTracks = 126;

/// The header of a file of @p tracks (numbered from 1 in this order),
/// created at @p created (DateUTC).
Status file_header(std::span<const TrackSpec> tracks, std::chrono::system_clock::time_point created,
		   FileHeader &header);
/// The header of a file of one track of @p format frames at @p rate.
Status file_header(const FrameFormat &format, FrameRate rate,
		   std::chrono::system_clock::time_point created, FileHeader &header);

/// A SeekHead naming Info, Tracks and (when non-zero) Cues, padded with a
/// Void to exactly @p room bytes. Positions are relative to the Segment data.
std::vector<std::byte> seek_head(size_t room, uint64_t info, uint64_t tracks, uint64_t cues);

/// The Duration element, in milliseconds.
std::vector<std::byte> duration(double ms);

/// A Cluster of unknown (patchable) size starting at @p timestamp_ms.
std::vector<std::byte> cluster_header(uint64_t timestamp_ms);

/// The header of a SimpleBlock of @p track (1 to kMaxTracks) carrying
/// @p payload bytes.
std::array<std::byte, kBlockHeaderSize> block_header(uint64_t payload, int16_t offset_ms,
						     bool keyframe, uint8_t track = 1);

/// A Void covering @p total bytes whose size field is always 8 bytes long,
/// so that it can cover a frame of any size: the first 9 bytes.
std::array<std::byte, 9> void_header(uint64_t total);

/// The start of a Void element @p total bytes long (at least 2): its ID and
/// size, which is all a reader needs to skip it, whatever its bytes are.
std::vector<std::byte> void_start(size_t total);

/// An 8-byte size field.
std::array<std::byte, 8> size_field(uint64_t value);

struct CuePoint {
	uint64_t time_ms;
	uint64_t cluster_position; ///< relative to the Segment data
	uint64_t track = 1;
};
std::vector<std::byte> cues(std::span<const CuePoint> points);

/// Bytes of a Void that, followed by @p header_bytes, ends on a multiple of
/// @p block from @p position: 0 or at least 2 (the smallest Void).
size_t padding_before(uint64_t position, size_t header_bytes, uint32_t block);

} // namespace zcap::matroska
