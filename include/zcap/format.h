// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zcap {

/// Builds a V4L2-style little-endian fourcc code.
constexpr uint32_t fourcc(char a, char b, char c, char d)
{
	return uint32_t(uint8_t(a)) | uint32_t(uint8_t(b)) << 8 | uint32_t(uint8_t(c)) << 16 |
	       uint32_t(uint8_t(d)) << 24;
}

/// The pixel formats zcap understands, with their V4L2 fourcc codes.
namespace pixfmt {
constexpr uint32_t YUYV = fourcc('Y', 'U', 'Y', 'V'); ///< packed 4:2:2, Y0 U Y1 V
constexpr uint32_t UYVY = fourcc('U', 'Y', 'V', 'Y'); ///< packed 4:2:2, U Y0 V Y1
constexpr uint32_t NV12 = fourcc('N', 'V', '1', '2'); ///< Y plane, then interleaved UV at half size
constexpr uint32_t GREY = fourcc('G', 'R', 'E', 'Y'); ///< 8-bit luma only
constexpr uint32_t RGB24 = fourcc('R', 'G', 'B', '3'); ///< R G B bytes
constexpr uint32_t BGRA = fourcc('A', 'R', '2', '4');  ///< B G R A bytes (V4L2_PIX_FMT_BGRA32)
constexpr uint32_t MJPEG =
	fourcc('M', 'J', 'P', 'G'); ///< Motion-JPEG: a JPEG image per frame, of varying size
} // namespace pixfmt

/// One plane of an image inside a single buffer.
struct PlaneLayout {
	uint32_t offset = 0; ///< bytes from the start of the buffer
	uint32_t stride = 0; ///< bytes per line
	uint32_t size = 0;   ///< bytes of the whole plane
};

/// The layout of one video frame: what V4L2 calls v4l2_pix_format.
struct FrameFormat {
	uint32_t fourcc = 0;
	uint32_t width = 0;
	uint32_t height = 0;
	uint32_t num_planes = 0;
	std::array<PlaneLayout, 3> planes{};
	uint32_t size_image = 0; ///< bytes of a whole frame (all planes)

	bool operator==(const FrameFormat &) const = default;
};

/// The tightly packed layout of @p fourcc at @p width x @p height, or nothing
/// when the format is unknown or the size does not suit it (zero, odd sizes
/// for chroma-subsampled formats, more than 16384 on a side).
std::optional<FrameFormat> packed_format(uint32_t fourcc, uint32_t width, uint32_t height);

/// Parses a pixel format name: a fourcc ("YUYV", "AR24") or a common alias
/// ("RGB24", "BGRA", "GRAY"), case-insensitive.
std::optional<uint32_t> parse_fourcc(std::string_view name);

/// The name zcap prints for a format ("YUYV", "RGB24", ...).
std::string fourcc_name(uint32_t fourcc);

/// The name FFmpeg's rawvideo demuxer uses for this format ("yuyv422"), or
/// empty when FFmpeg has none.
std::string_view ffmpeg_pix_fmt(uint32_t fourcc);

/// A frame rate as a fraction; zero means "as fast as the sinks take frames".
struct FrameRate {
	uint32_t num = 0;
	uint32_t den = 1;
	bool unlimited() const noexcept { return num == 0; }
	double value() const noexcept { return den ? double(num) / den : 0.0; }
};

} // namespace zcap
