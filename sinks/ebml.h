// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace zcap::ebml {

/// EBML IDs zcap writes or reads (Matroska specification, RFC 9559), with their marker bits.
namespace id {
constexpr uint32_t EBML = 0x1A45DFA3;
constexpr uint32_t EBMLVersion = 0x4286;
constexpr uint32_t EBMLReadVersion = 0x42F7;
constexpr uint32_t EBMLMaxIDLength = 0x42F2;
constexpr uint32_t EBMLMaxSizeLength = 0x42F3;
constexpr uint32_t DocType = 0x4282;
constexpr uint32_t DocTypeVersion = 0x4287;
constexpr uint32_t DocTypeReadVersion = 0x4285;
constexpr uint32_t Void = 0xEC;
constexpr uint32_t Segment = 0x18538067;
constexpr uint32_t SeekHead = 0x114D9B74;
constexpr uint32_t Seek = 0x4DBB;
constexpr uint32_t SeekID = 0x53AB;
constexpr uint32_t SeekPosition = 0x53AC;
constexpr uint32_t Info = 0x1549A966;
constexpr uint32_t TimestampScale = 0x2AD7B1;
constexpr uint32_t Duration = 0x4489;
constexpr uint32_t DateUTC = 0x4461;
constexpr uint32_t MuxingApp = 0x4D80;
constexpr uint32_t WritingApp = 0x5741;
constexpr uint32_t Tracks = 0x1654AE6B;
constexpr uint32_t TrackEntry = 0xAE;
constexpr uint32_t TrackNumber = 0xD7;
constexpr uint32_t TrackUID = 0x73C5;
constexpr uint32_t TrackType = 0x83;
constexpr uint32_t FlagLacing = 0x9C;
constexpr uint32_t CodecID = 0x86;
constexpr uint32_t DefaultDuration = 0x23E383;
constexpr uint32_t Video = 0xE0;
constexpr uint32_t FlagInterlaced = 0x9A;
constexpr uint32_t PixelWidth = 0xB0;
constexpr uint32_t PixelHeight = 0xBA;
constexpr uint32_t ColourSpace = 0x2EB524;
constexpr uint32_t Cluster = 0x1F43B675;
constexpr uint32_t Timestamp = 0xE7;
constexpr uint32_t SimpleBlock = 0xA3;
constexpr uint32_t BlockGroup = 0xA0;
constexpr uint32_t Block = 0xA1;
constexpr uint32_t Cues = 0x1C53BB6B;
constexpr uint32_t CuePoint = 0xBB;
constexpr uint32_t CueTime = 0xB3;
constexpr uint32_t CueTrackPositions = 0xB7;
constexpr uint32_t CueTrack = 0xF7;
constexpr uint32_t CueClusterPosition = 0xF1;
constexpr uint32_t Chapters = 0x1043A770;
constexpr uint32_t Tags = 0x1254C367;
constexpr uint32_t Attachments = 0x1941A469;
} // namespace id

/// A size field that says "unknown": the element runs until something that
/// cannot be its child. Eight bytes long, so the real size can be patched in.
constexpr uint64_t kUnknownSize = 0x00FFFFFFFFFFFFFF;
/// Bytes of a size field that can be patched in place later.
constexpr size_t kPatchableSizeLength = 8;
/// The largest size an 8-byte field holds (all ones means unknown).
constexpr uint64_t kMaxSize = kUnknownSize - 1;

/// Appends EBML elements to a byte vector.
class Writer {
public:
	/// The bytes written so far.
	const std::vector<std::byte> &bytes() const noexcept { return out_; }
	std::vector<std::byte> take() { return std::move(out_); }
	size_t size() const noexcept { return out_.size(); }

	void id(uint32_t value);
	/// A size field of @p length bytes (1-8; 0 picks the shortest).
	void size_field(uint64_t value, size_t length = 0);
	/// An unsigned integer in as few bytes as it needs.
	void uint(uint32_t element, uint64_t value);
	/// A big-endian IEEE double (8 bytes).
	void float64(uint32_t element, double value);
	void string(uint32_t element, std::string_view value);
	void binary(uint32_t element, std::span<const std::byte> value);
	/// A Void element exactly @p total bytes long (at least 2).
	void void_element(size_t total);
	/// Only the ID and size of such a Void; returns the payload bytes that
	/// must follow.
	size_t void_header(size_t total);
	/// Starts a master element whose size is filled in by end_master().
	size_t begin_master(uint32_t element);
	void end_master(size_t start);
	/// Appends raw bytes.
	void raw(std::span<const std::byte> data);
	/// Appends @p value as @p length big-endian bytes.
	void big_endian(uint64_t value, size_t length);

	/// Overwrites @p length bytes at @p at with @p value, big-endian.
	void patch_big_endian(size_t at, uint64_t value, size_t length);
	/// Overwrites the size field at @p at (kPatchableSizeLength bytes).
	void patch_size(size_t at, uint64_t value);

private:
	std::vector<std::byte> out_;
};

/// Bytes of the shortest size field for @p value.
size_t size_length(uint64_t value);
/// Encodes @p value as an 8-byte size field into @p out.
void encode_size8(uint64_t value, std::byte *out);

} // namespace zcap::ebml
