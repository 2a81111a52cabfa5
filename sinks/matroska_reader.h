// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <zcap/status.h>

namespace zcap::matroska {

/// A pause between two blocks of a track longer than its frames last.
struct Gap {
	uint64_t track = 0;
	uint64_t after_frame = 0; ///< frames of the track before the gap
	double at_ms = 0;	  ///< timestamp of the block before the gap
	double length_ms = 0;	  ///< from that block to the next
};

/// A track: what its TrackEntry says, and what its blocks hold.
struct TrackSummary {
	uint64_t number = 0;
	bool declared = false; ///< has a TrackEntry (blocks may name others)
	uint64_t type = 0;     ///< TrackType: 1 video, 2 audio, 17 subtitle; 0 unset
	std::string codec_id;
	uint64_t width = 0;  ///< PixelWidth, 0 when not given
	uint64_t height = 0; ///< PixelHeight
	/// ColourSpace as a little-endian fourcc (its bytes in file order), 0
	/// when not given.
	uint32_t colour_space = 0;
	uint64_t default_duration_ns = 0; ///< 0 when not given

	uint64_t blocks = 0;	   ///< SimpleBlocks and Blocks
	uint64_t laced_blocks = 0; ///< blocks holding several frames
	uint64_t frames = 0;	   ///< every frame of every block, laced ones too
	/// From block timestamps: the first, the last, and one frame's length
	/// (DefaultDuration, else the median interval between blocks).
	std::optional<double> first_ms;
	std::optional<double> last_ms;
	double frame_ms = 0;
	uint64_t gaps = 0; ///< intervals longer than 1.5 frame lengths
	std::optional<Gap> largest_gap;
};

/// What a Matroska file holds and whether it was finished.
struct Summary {
	uint64_t file_size = 0;
	std::string doc_type; ///< "matroska" or "webm"
	std::string muxing_app;
	std::string writing_app;
	uint64_t timestamp_scale_ns = 1'000'000;
	std::vector<TrackSummary> tracks; ///< in the order the file names them

	uint64_t frames = 0;
	uint64_t simple_blocks = 0;
	uint64_t group_blocks = 0; ///< Blocks inside BlockGroups
	uint64_t laced_blocks = 0;

	/// From the first block's timestamp to the end of the last frame.
	std::optional<double> duration_ms;
	std::optional<double> info_duration_ms; ///< the Info Duration
	uint64_t gaps = 0;
	std::optional<Gap> largest_gap;

	bool segment_size_known = false;
	bool cues = false;
	/// Where the elements end: what follows belongs to no element, such as
	/// the zeros of space preallocated for a recording that stopped early,
	/// or an element the file ends inside.
	uint64_t elements_end = 0;
	bool trailing_zeros = true; ///< every byte after elements_end is zero
	/// The element the file ends inside (its name and offset), if any.
	std::optional<std::pair<std::string, uint64_t>> cut_short;

	uint64_t trailing_bytes() const noexcept { return file_size - elements_end; }
	/// The muxer closed the file: sizes, Cues and Duration written (zcap
	/// writes no Duration without frames), and nothing after the last
	/// element.
	bool finished() const noexcept
	{
		return segment_size_known && cues && (info_duration_ms || frames == 0) &&
		       !cut_short && trailing_bytes() == 0;
	}
};

/// Reads the Matroska file open at @p fd, which is @p file_size bytes long,
/// in bounded chunks. A file that ends early, in zeros or inside an element,
/// is summarised up to there; input that is not Matroska or breaks its rules
/// is an error naming what and where.
Status summarize(int fd, uint64_t file_size, Summary &summary);

/// The same for the regular file at @p path; errors start with the path.
Status summarize(const std::filesystem::path &path, Summary &summary);

/// Whether the file at @p path starts with the EBML header's ID, as every
/// Matroska file does and a raw recording does not.
bool starts_with_ebml(const std::filesystem::path &path);

} // namespace zcap::matroska
