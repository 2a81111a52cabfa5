// SPDX-License-Identifier: LGPL-2.1-or-later
#include "matroska_layout.h"

#include <array>

#include <fmt/format.h>

#include "ebml.h"

namespace zcap::matroska {

namespace {

/// Room for a SeekHead of three entries (28 bytes each, with 8-byte sizes
/// and positions) and its 12-byte header, and a Void for the rest.
constexpr size_t kSeekHeadRoom = 128;

/// Matroska's epoch for DateUTC: 2001-01-01T00:00:00 UTC, in Unix seconds.
constexpr int64_t kMatroskaEpoch = 978307200;

/// The TrackEntry of video track @p number.
void track_entry(ebml::Writer &w, uint64_t number, const TrackSpec &spec, const TrackCodec &codec)
{
	size_t entry = w.begin_master(ebml::id::TrackEntry);
	w.uint(ebml::id::TrackNumber, number);
	w.uint(ebml::id::TrackUID, number);
	w.uint(ebml::id::TrackType, 1); // video
	w.uint(ebml::id::FlagLacing, 0);
	w.string(ebml::id::CodecID, codec.codec_id);
	if (!spec.rate.unlimited())
		w.uint(ebml::id::DefaultDuration, 1'000'000'000ull * spec.rate.den / spec.rate.num);
	size_t video = w.begin_master(ebml::id::Video);
	w.uint(ebml::id::FlagInterlaced, 2); // progressive
	w.uint(ebml::id::PixelWidth, spec.format.width);
	w.uint(ebml::id::PixelHeight, spec.format.height);
	if (codec.colour_space) {
		w.id(ebml::id::ColourSpace);
		w.size_field(4);
		w.big_endian(uint64_t(codec.colour_space & 0xff) << 24 |
				     uint64_t((codec.colour_space >> 8) & 0xff) << 16 |
				     uint64_t((codec.colour_space >> 16) & 0xff) << 8 |
				     uint64_t(codec.colour_space >> 24),
			     4);
	}
	w.end_master(video);
	w.end_master(entry);
}

} // namespace

Status codec_for(uint32_t code, TrackCodec &codec)
{
	if (code == pixfmt::MJPEG) {
		codec = {"V_MJPEG", 0};
		return {};
	}
	if (const PixelFormatInfo *info = format_info(code); info && info->matroska) {
		codec = {"V_UNCOMPRESSED", info->matroska};
		return {};
	}
	return Status::invalid(fmt::format("no Matroska reader decodes {} frames (neither FFmpeg "
					   "nor GStreamer's matroskademux); record them with "
					   "--container raw",
					   fourcc_name(code)));
}

Status file_header(const FrameFormat &format, FrameRate rate,
		   std::chrono::system_clock::time_point created, FileHeader &header)
{
	TrackSpec track{format, rate};
	return file_header(std::span(&track, 1), created, header);
}

Status file_header(std::span<const TrackSpec> specs, std::chrono::system_clock::time_point created,
		   FileHeader &header)
{
	if (specs.empty() || specs.size() > kMaxTracks)
		return Status::invalid(fmt::format("a Matroska file holds 1 to {} tracks, not {}",
						   kMaxTracks, specs.size()));
	std::vector<TrackCodec> codecs(specs.size());
	for (size_t i = 0; i < specs.size(); ++i)
		if (Status s = codec_for(specs[i].format.fourcc, codecs[i]); !s)
			return s;

	ebml::Writer w;
	size_t ebml = w.begin_master(ebml::id::EBML);
	w.uint(ebml::id::EBMLVersion, 1);
	w.uint(ebml::id::EBMLReadVersion, 1);
	w.uint(ebml::id::EBMLMaxIDLength, 4);
	w.uint(ebml::id::EBMLMaxSizeLength, 8);
	w.string(ebml::id::DocType, "matroska");
	w.uint(ebml::id::DocTypeVersion, 4);
	w.uint(ebml::id::DocTypeReadVersion, 2);
	w.end_master(ebml);

	w.id(ebml::id::Segment);
	header.segment_size_at = w.size();
	w.size_field(ebml::kUnknownSize, ebml::kPatchableSizeLength);
	header.segment_data = w.size();

	header.seek_head_at = w.size();
	header.seek_head_room = kSeekHeadRoom;
	size_t seek_head_at = header.seek_head_at;
	w.void_element(kSeekHeadRoom); // filled in below, once positions are known

	header.info_at = w.size();
	size_t info = w.begin_master(ebml::id::Info);
	w.uint(ebml::id::TimestampScale, kTimestampScaleNs);
	auto since_epoch =
		std::chrono::duration_cast<std::chrono::nanoseconds>(created.time_since_epoch());
	w.id(ebml::id::DateUTC);
	w.size_field(8);
	w.big_endian(uint64_t(since_epoch.count() - kMatroskaEpoch * 1'000'000'000), 8);
	w.string(ebml::id::MuxingApp, "zcap");
	w.string(ebml::id::WritingApp, "zcap " ZCAP_VERSION);
	header.duration_at = w.size();
	w.void_element(kDurationSize); // the Duration, on a clean stop
	w.end_master(info);

	header.tracks_at = w.size();
	size_t tracks = w.begin_master(ebml::id::Tracks);
	for (size_t i = 0; i < specs.size(); ++i)
		track_entry(w, i + 1, specs[i], codecs[i]);
	w.end_master(tracks);

	header.bytes = w.take();
	std::vector<std::byte> seek = seek_head(kSeekHeadRoom, header.info_at - header.segment_data,
						header.tracks_at - header.segment_data, 0);
	std::copy(seek.begin(), seek.end(), header.bytes.begin() + ptrdiff_t(seek_head_at));
	return {};
}

std::vector<std::byte> seek_head(size_t room, uint64_t info, uint64_t tracks, uint64_t cues)
{
	ebml::Writer w;
	size_t head = w.begin_master(ebml::id::SeekHead);
	auto entry = [&](uint32_t element, uint64_t position) {
		size_t seek = w.begin_master(ebml::id::Seek);
		w.id(ebml::id::SeekID);
		w.size_field(4);
		w.big_endian(element, 4);
		w.id(ebml::id::SeekPosition);
		w.size_field(8);
		w.big_endian(position, 8);
		w.end_master(seek);
	};
	entry(ebml::id::Info, info);
	entry(ebml::id::Tracks, tracks);
	if (cues)
		entry(ebml::id::Cues, cues);
	w.end_master(head);
	w.void_element(room - w.size());
	return w.take();
}

std::vector<std::byte> duration(double ms)
{
	ebml::Writer w;
	w.float64(ebml::id::Duration, ms);
	return w.take();
}

std::vector<std::byte> cluster_header(uint64_t timestamp_ms)
{
	ebml::Writer w;
	w.id(ebml::id::Cluster);
	w.size_field(ebml::kUnknownSize, ebml::kPatchableSizeLength);
	w.uint(ebml::id::Timestamp, timestamp_ms);
	return w.take();
}

std::array<std::byte, kBlockHeaderSize> block_header(uint64_t payload, int16_t offset_ms,
						     bool keyframe, uint8_t track)
{
	std::array<std::byte, kBlockHeaderSize> h{};
	h[0] = std::byte(ebml::id::SimpleBlock);
	ebml::encode_size8(payload + 4, &h[1]); // track, timestamp, flags, payload
	h[9] = std::byte(0x80 | track);		// the track number, 1-byte EBML
	h[10] = std::byte(uint16_t(offset_ms) >> 8);
	h[11] = std::byte(uint16_t(offset_ms) & 0xff);
	h[12] = keyframe ? std::byte{0x80} : std::byte{0};
	return h;
}

std::array<std::byte, 9> void_header(uint64_t total)
{
	std::array<std::byte, 9> h{};
	h[0] = std::byte(ebml::id::Void);
	ebml::encode_size8(total - 9, &h[1]);
	return h;
}

std::vector<std::byte> void_start(size_t total)
{
	ebml::Writer w;
	w.void_header(total);
	return w.take();
}

std::array<std::byte, 8> size_field(uint64_t value)
{
	std::array<std::byte, 8> f{};
	ebml::encode_size8(value, f.data());
	return f;
}

std::vector<std::byte> cues(std::span<const CuePoint> points)
{
	ebml::Writer w;
	size_t cues = w.begin_master(ebml::id::Cues);
	for (const CuePoint &p : points) {
		size_t point = w.begin_master(ebml::id::CuePoint);
		w.uint(ebml::id::CueTime, p.time_ms);
		size_t positions = w.begin_master(ebml::id::CueTrackPositions);
		w.uint(ebml::id::CueTrack, p.track);
		w.uint(ebml::id::CueClusterPosition, p.cluster_position);
		w.end_master(positions);
		w.end_master(point);
	}
	w.end_master(cues);
	return w.take();
}

size_t padding_before(uint64_t position, size_t header_bytes, uint32_t block)
{
	size_t pad = size_t((block - (position + header_bytes) % block) % block);
	return pad == 1 ? pad + block : pad;
}

} // namespace zcap::matroska
