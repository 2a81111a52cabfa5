// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
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
constexpr uint32_t YU12 = fourcc('Y', 'U', '1', '2');	///< I420: Y, U, V planes, 4:2:0
constexpr uint32_t YV12 = fourcc('Y', 'V', '1', '2');	///< Y, V, U planes, 4:2:0
constexpr uint32_t NV21 = fourcc('N', 'V', '2', '1');	///< Y plane, then interleaved VU
constexpr uint32_t BGR24 = fourcc('B', 'G', 'R', '3');	///< B G R bytes
constexpr uint32_t XBGR = fourcc('X', 'R', '2', '4');	///< B G R X bytes (V4L2_PIX_FMT_XBGR32)
constexpr uint32_t AYUV = fourcc('A', 'Y', 'U', 'V');	///< A Y U V bytes
constexpr uint32_t Y16 = fourcc('Y', '1', '6', ' ');	///< 16-bit little-endian luma
constexpr uint32_t SBGGR8 = fourcc('B', 'A', '8', '1'); ///< 8-bit Bayer, B G / G R
constexpr uint32_t SGBRG8 = fourcc('G', 'B', 'R', 'G'); ///< 8-bit Bayer, G B / R G
constexpr uint32_t SGRBG8 = fourcc('G', 'R', 'B', 'G'); ///< 8-bit Bayer, G R / B G
constexpr uint32_t SRGGB8 = fourcc('R', 'G', 'G', 'B'); ///< 8-bit Bayer, R G / G B
} // namespace pixfmt

/// V4L2's flag on fourccs of big-endian variants (V4L2_PIX_FMT_Y16_BE, ...).
constexpr uint32_t kBigEndianFourcc = 1u << 31;

/// How one plane of a format lies in memory, relative to the frame's size.
struct PlaneShape {
	uint8_t bits_per_pixel = 0;	  ///< bits a line holds per pixel of the frame's width
	uint8_t vertical_subsampling = 1; ///< the plane has height / this lines
};

/// What zcap knows about a pixel format: its layout, and how readers of
/// Matroska's V_UNCOMPRESSED and GStreamer name it. One row of a table
/// (pipeline/format.cpp); the host tests check every Matroska mapping by
/// decoding a file zcap wrote with FFmpeg and GStreamer.
struct PixelFormatInfo {
	uint32_t fourcc;
	const char *name;	 ///< what zcap prints and a user types: "YU12", "Y16", "Y16-BE"
	const char *alias;	 ///< another name it is known by ("I420", "BGR24"), or ""
	uint8_t width_multiple;	 ///< chroma (or a Bayer tile) spans this many pixels across
	uint8_t height_multiple; ///< ... and this many lines down
	uint8_t num_planes;
	uint8_t num_buffers; ///< > 1: V4L2 keeps the planes in separate buffers ("M" formats)
	bool chroma_swapped; ///< planar with V (Cr) before U (Cb): YV12, YV16, YV24
	std::array<PlaneShape, 3> planes;
	const char *ffmpeg;	  ///< FFmpeg's pix_fmt for these bytes (raw files), or ""
	uint32_t matroska;	  ///< V_UNCOMPRESSED ColourSpace (bytes in file order), 0: none
	const char *ffmpeg_reads; ///< the pix_fmt FFmpeg 5.1 decodes that Matroska track to, or ""
	bool gstreamer_reads;	  ///< GStreamer 1.22's matroskademux reads that track
	const char *gstreamer;	  ///< GStreamer's video/x-raw format or video/x-bayer name, or ""
};

/// Every format zcap knows, in the order `zcap formats` shows them.
std::span<const PixelFormatInfo> pixel_formats();

/// The row for @p fourcc, or nullptr when zcap does not know its layout.
const PixelFormatInfo *format_info(uint32_t fourcc);

/// One plane of an image inside a single buffer.
struct PlaneLayout {
	uint32_t offset = 0; ///< bytes from the start of the buffer
	uint32_t stride = 0; ///< bytes per line
	uint32_t size = 0;   ///< bytes of the whole plane

	bool operator==(const PlaneLayout &) const = default;
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
/// for chroma-subsampled formats, more than 16384 on a side). Planes follow
/// each other, also for formats whose planes V4L2 keeps in separate buffers:
/// that is how a file holds them.
std::optional<FrameFormat> packed_format(uint32_t fourcc, uint32_t width, uint32_t height);

/// One line saying why @p fourcc cannot be @p width x @p height ("YUYV cannot
/// be 641x480: it needs an even width"), for a size packed_format() refuses.
std::string size_refusal(uint32_t fourcc, uint32_t width, uint32_t height);

/// The layout a driver reports: @p stride bytes per line of the first plane
/// (the other planes' follow from it, as V4L2 defines) and @p size_image
/// bytes in all. Formats zcap does not know (MJPEG, ...) get one plane.
FrameFormat driver_format(uint32_t fourcc, uint32_t width, uint32_t height, uint32_t stride,
			  uint32_t size_image);

/// Parses a pixel format name, case-insensitive: a fourcc with or without
/// its trailing spaces ("YUYV", "AR24", "Y16") or a common alias ("RGB24",
/// "BGRA", "GRAY", "I420").
std::optional<uint32_t> parse_fourcc(std::string_view name);

/// The name zcap prints for a format, one a user can type back ("YUYV",
/// "RGB24", "Y16", "Y16-BE"; unknown fourccs without trailing spaces).
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
