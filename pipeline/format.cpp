// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/format.h>

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace zcap {

namespace {

/// Larger frames than this are refused: V4L2 itself caps sizes far lower, and
/// 16384^2 BGRA (1 GiB) still fits a 32-bit size_image.
constexpr uint32_t kMaxDimension = 16384;

/// Shorthands for the table: one plane of @p bits per pixel, every line.
constexpr std::array<PlaneShape, 3> one(uint8_t bits)
{
	return {PlaneShape{bits, 1}, {}, {}};
}
constexpr std::array<PlaneShape, 3> two(uint8_t chroma_bits, uint8_t chroma_lines)
{
	return {PlaneShape{8, 1}, PlaneShape{chroma_bits, chroma_lines}, {}};
}
constexpr std::array<PlaneShape, 3> three(uint8_t chroma_bits, uint8_t chroma_lines)
{
	return {PlaneShape{8, 1}, PlaneShape{chroma_bits, chroma_lines},
		PlaneShape{chroma_bits, chroma_lines}};
}
constexpr uint32_t be(uint32_t code)
{
	return code | kBigEndianFourcc;
}
constexpr uint32_t bayer_tag(char a, char b, uint8_t bits)
{
	return fourcc(char(0xba), a, b, char(bits)); // FFmpeg's raw tags for Bayer
}

// Every capture format of the kernel's vivid driver (which offers what
// cameras, capture cards and SoC ISPs do). Matroska tags are those FFmpeg
// 5.1's rawvideo decoder (libavcodec/raw.c) and GStreamer 1.22's
// matroskademux look up; formats neither reads have none and are refused.
// FFmpeg reads YV12/YV16/YV24 as yuv420p/422p/444p with the chroma planes
// swapped back; it reads X (padding) bytes as padding, and no A (alpha)
// format without an alpha pix_fmt, so those have no tag.
// clang-format off
constexpr PixelFormatInfo kFormats[] = {
	// fourcc           name      alias     w  h  planes buffers swapped layout   ffmpeg raw   Matroska ColourSpace        FFmpeg reads   GStreamer reads, name
	// Packed YUV
	{pixfmt::YUYV,      "YUYV",   "YUY2",   2, 1, 1, 1, false, one(16),      "yuyv422",   fourcc('Y','U','Y','2'), "yuyv422",   true,  "YUY2"},
	{pixfmt::UYVY,      "UYVY",   "",       2, 1, 1, 1, false, one(16),      "uyvy422",   fourcc('U','Y','V','Y'), "uyvy422",   true,  "UYVY"},
	{fourcc('Y','V','Y','U'), "YVYU", "",   2, 1, 1, 1, false, one(16),      "yvyu422",   fourcc('Y','V','Y','U'), "yvyu422",   false, "YVYU"},
	{fourcc('V','Y','U','Y'), "VYUY", "",   2, 1, 1, 1, false, one(16),      "",          0,                       "",          false, "VYUY"},
	{fourcc('Y','U','V','O'), "YUVO", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('Y','U','V','P'), "YUVP", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('Y','4','4','4'), "Y444", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('Y','U','V','4'), "YUV4", "",   1, 1, 1, 1, false, one(32),      "",          pixfmt::AYUV,            "",          true,  ""},
	{pixfmt::AYUV,      "AYUV",   "",       1, 1, 1, 1, false, one(32),      "",          pixfmt::AYUV,            "",          true,  "AYUV"},
	{fourcc('X','Y','U','V'), "XYUV", "",   1, 1, 1, 1, false, one(32),      "",          0,                       "",          false, ""},
	{fourcc('V','U','Y','A'), "VUYA", "",   1, 1, 1, 1, false, one(32),      "",          0,                       "",          false, "VUYA"},
	{fourcc('V','U','Y','X'), "VUYX", "",   1, 1, 1, 1, false, one(32),      "",          0,                       "",          false, ""},
	// Planar YUV in one buffer
	{fourcc('4','2','2','P'), "422P", "Y42B", 2, 1, 3, 1, false, three(4, 1), "yuv422p",  fourcc('Y','4','2','B'), "yuv422p",   false, "Y42B"},
	{pixfmt::YU12,      "YU12",   "I420",   2, 2, 3, 1, false, three(4, 2),  "yuv420p",   fourcc('I','4','2','0'), "yuv420p",   true,  "I420"},
	{pixfmt::YV12,      "YV12",   "",       2, 2, 3, 1, true,  three(4, 2),  "",          fourcc('Y','V','1','2'), "yuv420p",   true,  "YV12"},
	{pixfmt::NV12,      "NV12",   "",       2, 2, 2, 1, false, two(8, 2),    "nv12",      fourcc('N','V','1','2'), "nv12",      false, "NV12"},
	{pixfmt::NV21,      "NV21",   "",       2, 2, 2, 1, false, two(8, 2),    "nv21",      fourcc('N','V','2','1'), "nv21",      false, "NV21"},
	{fourcc('N','V','1','6'), "NV16", "",   2, 1, 2, 1, false, two(8, 1),    "nv16",      0,                       "",          false, "NV16"},
	{fourcc('N','V','6','1'), "NV61", "",   2, 1, 2, 1, false, two(8, 1),    "",          0,                       "",          false, "NV61"},
	{fourcc('N','V','2','4'), "NV24", "",   1, 1, 2, 1, false, two(16, 1),   "nv24",      0,                       "",          false, "NV24"},
	{fourcc('N','V','4','2'), "NV42", "",   1, 1, 2, 1, false, two(16, 1),   "nv42",      0,                       "",          false, ""},
	// Planes in separate buffers (multi-planar nodes); files hold them back to back
	{fourcc('N','M','1','2'), "NM12", "",   2, 2, 2, 2, false, two(8, 2),    "nv12",      fourcc('N','V','1','2'), "nv12",      false, ""},
	{fourcc('N','M','2','1'), "NM21", "",   2, 2, 2, 2, false, two(8, 2),    "nv21",      fourcc('N','V','2','1'), "nv21",      false, ""},
	{fourcc('N','M','1','6'), "NM16", "",   2, 1, 2, 2, false, two(8, 1),    "nv16",      0,                       "",          false, ""},
	{fourcc('N','M','6','1'), "NM61", "",   2, 1, 2, 2, false, two(8, 1),    "",          0,                       "",          false, ""},
	{fourcc('Y','M','1','2'), "YM12", "",   2, 2, 3, 3, false, three(4, 2),  "yuv420p",   fourcc('I','4','2','0'), "yuv420p",   true,  ""},
	{fourcc('Y','M','2','1'), "YM21", "",   2, 2, 3, 3, true,  three(4, 2),  "",          fourcc('Y','V','1','2'), "yuv420p",   true,  ""},
	{fourcc('Y','M','1','6'), "YM16", "",   2, 1, 3, 3, false, three(4, 1),  "yuv422p",   fourcc('Y','4','2','B'), "yuv422p",   false, ""},
	{fourcc('Y','M','6','1'), "YM61", "",   2, 1, 3, 3, true,  three(4, 1),  "",          fourcc('Y','V','1','6'), "yuv422p",   false, ""},
	{fourcc('Y','M','2','4'), "YM24", "",   1, 1, 3, 3, false, three(8, 1),  "yuv444p",   fourcc('4','4','4','P'), "yuv444p",   false, ""},
	{fourcc('Y','M','4','2'), "YM42", "",   1, 1, 3, 3, true,  three(8, 1),  "",          fourcc('Y','V','2','4'), "yuv444p",   false, ""},
	// Luma only
	{pixfmt::GREY,      "GREY",   "GRAY",   1, 1, 1, 1, false, one(8),       "gray",      fourcc('Y','8','0','0'), "gray",      true,  "GRAY8"},
	{fourcc('Y','1','0',' '), "Y10", "",    1, 1, 1, 1, false, one(16),      "gray10le",  fourcc('Y','1',0,10),    "gray10le",  false, ""},
	{fourcc('Y','1','2',' '), "Y12", "",    1, 1, 1, 1, false, one(16),      "gray12le",  fourcc('Y','1',0,12),    "gray12le",  false, ""},
	{pixfmt::Y16,       "Y16",    "GRAY16", 1, 1, 1, 1, false, one(16),      "gray16le",  fourcc('Y','1',0,16),    "gray16le",  false, "GRAY16_LE"},
	{be(pixfmt::Y16),   "Y16-BE", "",       1, 1, 1, 1, false, one(16),      "gray16be",  fourcc(16,0,'1','Y'),    "gray16be",  false, "GRAY16_BE"},
	// RGB, 8 and 16 bits
	{fourcc('R','G','B','1'), "RGB1", "RGB332", 1, 1, 1, 1, false, one(8),   "rgb8",      fourcc('R','G','B',8),   "rgb8",      false, ""},
	{fourcc('R','G','B','P'), "RGBP", "RGB565", 1, 1, 1, 1, false, one(16),  "rgb565le",  fourcc('R','G','B',16),  "rgb565le",  false, "RGB16"},
	{fourcc('R','G','B','R'), "RGBR", "",   1, 1, 1, 1, false, one(16),      "rgb565be",  fourcc(16,'B','G','R'),  "rgb565be",  false, ""},
	{fourcc('R','4','4','4'), "R444", "",   1, 1, 1, 1, false, one(16),      "rgb444le",  fourcc('R','G','B',12),  "rgb444le",  false, ""},
	{fourcc('X','R','1','2'), "XR12", "",   1, 1, 1, 1, false, one(16),      "rgb444le",  fourcc('R','G','B',12),  "rgb444le",  false, ""},
	{fourcc('A','R','1','2'), "AR12", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('R','X','1','2'), "RX12", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('R','A','1','2'), "RA12", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('X','B','1','2'), "XB12", "",   1, 1, 1, 1, false, one(16),      "bgr444le",  fourcc('B','G','R',12),  "bgr444le",  false, ""},
	{fourcc('A','B','1','2'), "AB12", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('B','X','1','2'), "BX12", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('G','A','1','2'), "GA12", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('R','G','B','O'), "RGBO", "RGB555", 1, 1, 1, 1, false, one(16),  "rgb555le",  fourcc('R','G','B',15),  "rgb555le",  false, "RGB15"},
	{fourcc('X','R','1','5'), "XR15", "",   1, 1, 1, 1, false, one(16),      "rgb555le",  fourcc('R','G','B',15),  "rgb555le",  false, ""},
	{fourcc('A','R','1','5'), "AR15", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('R','X','1','5'), "RX15", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('R','A','1','5'), "RA15", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('X','B','1','5'), "XB15", "",   1, 1, 1, 1, false, one(16),      "bgr555le",  fourcc('B','G','R',15),  "bgr555le",  false, "BGR15"},
	{fourcc('A','B','1','5'), "AB15", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('B','X','1','5'), "BX15", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('B','A','1','5'), "BA15", "",   1, 1, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('R','G','B','Q'), "RGBQ", "",   1, 1, 1, 1, false, one(16),      "rgb555be",  fourcc(15,'B','G','R'),  "rgb555be",  false, ""},
	{be(fourcc('X','R','1','5')), "XR15-BE", "", 1, 1, 1, 1, false, one(16), "rgb555be",  fourcc(15,'B','G','R'),  "rgb555be",  false, ""},
	{be(fourcc('A','R','1','5')), "AR15-BE", "", 1, 1, 1, 1, false, one(16), "",          0,                       "",          false, ""},
	// RGB, 24 and 32 bits
	{pixfmt::RGB24,     "RGB24",  "RGB3",   1, 1, 1, 1, false, one(24),      "rgb24",     fourcc('R','G','B',24),  "rgb24",     true,  "RGB"},
	{pixfmt::BGR24,     "BGR3",   "BGR24",  1, 1, 1, 1, false, one(24),      "bgr24",     fourcc('B','G','R',24),  "bgr24",     true,  "BGR"},
	{fourcc('B','G','R','H'), "BGRH", "BGR666", 1, 1, 1, 1, false, one(32),  "",          0,                       "",          false, ""},
	{fourcc('R','G','B','4'), "RGB4", "",   1, 1, 1, 1, false, one(32),      "0rgb",      fourcc(0,'R','G','B'),   "0rgb",      false, ""},
	{fourcc('B','G','R','4'), "BGR4", "",   1, 1, 1, 1, false, one(32),      "bgr0",      fourcc('B','G','R',0),   "bgr0",      false, ""},
	{fourcc('B','X','2','4'), "BX24", "",   1, 1, 1, 1, false, one(32),      "0rgb",      fourcc(0,'R','G','B'),   "0rgb",      false, "xRGB"},
	{pixfmt::XBGR,      "XR24",   "",       1, 1, 1, 1, false, one(32),      "bgr0",      fourcc('B','G','R',0),   "bgr0",      false, "BGRx"},
	{fourcc('B','A','2','4'), "BA24", "",   1, 1, 1, 1, false, one(32),      "argb",      fourcc('A','R','G','B'), "argb",      false, "ARGB"},
	{pixfmt::BGRA,      "BGRA",   "AR24",   1, 1, 1, 1, false, one(32),      "bgra",      fourcc('B','G','R','A'), "bgra",      false, "BGRA"},
	{fourcc('X','B','2','4'), "XB24", "",   1, 1, 1, 1, false, one(32),      "rgb0",      fourcc('R','G','B',0),   "rgb0",      false, "RGBx"},
	{fourcc('R','X','2','4'), "RX24", "",   1, 1, 1, 1, false, one(32),      "0bgr",      fourcc(0,'B','G','R'),   "0bgr",      false, "xBGR"},
	{fourcc('A','B','2','4'), "AB24", "",   1, 1, 1, 1, false, one(32),      "rgba",      fourcc('R','G','B','A'), "rgba",      false, "RGBA"},
	{fourcc('R','A','2','4'), "RA24", "",   1, 1, 1, 1, false, one(32),      "abgr",      fourcc('A','B','G','R'), "abgr",      false, "ABGR"},
	// HSV: no reader knows it
	{fourcc('H','S','V','3'), "HSV3", "",   1, 1, 1, 1, false, one(24),      "",          0,                       "",          false, ""},
	{fourcc('H','S','V','4'), "HSV4", "",   1, 1, 1, 1, false, one(32),      "",          0,                       "",          false, ""},
	// Bayer: 8 bits, 10 and 12 in the low bits of 16, 16 bits
	{pixfmt::SBGGR8,    "BA81",   "BGGR",   2, 2, 1, 1, false, one(8),       "bayer_bggr8", bayer_tag('B','G',8),  "bayer_bggr8", false, "bggr"},
	{pixfmt::SGBRG8,    "GBRG",   "",       2, 2, 1, 1, false, one(8),       "bayer_gbrg8", bayer_tag('G','B',8),  "bayer_gbrg8", false, "gbrg"},
	{pixfmt::SGRBG8,    "GRBG",   "",       2, 2, 1, 1, false, one(8),       "bayer_grbg8", bayer_tag('G','R',8),  "bayer_grbg8", false, "grbg"},
	{pixfmt::SRGGB8,    "RGGB",   "",       2, 2, 1, 1, false, one(8),       "bayer_rggb8", bayer_tag('R','G',8),  "bayer_rggb8", false, "rggb"},
	{fourcc('B','G','1','0'), "BG10", "",   2, 2, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('G','B','1','0'), "GB10", "",   2, 2, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('B','A','1','0'), "BA10", "",   2, 2, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('R','G','1','0'), "RG10", "",   2, 2, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('B','G','1','2'), "BG12", "",   2, 2, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('G','B','1','2'), "GB12", "",   2, 2, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('B','A','1','2'), "BA12", "",   2, 2, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('R','G','1','2'), "RG12", "",   2, 2, 1, 1, false, one(16),      "",          0,                       "",          false, ""},
	{fourcc('B','Y','R','2'), "BYR2", "",   2, 2, 1, 1, false, one(16),      "bayer_bggr16le", bayer_tag('B','G',16), "bayer_bggr16le", false, ""},
	{fourcc('G','B','1','6'), "GB16", "",   2, 2, 1, 1, false, one(16),      "bayer_gbrg16le", bayer_tag('G','B',16), "bayer_gbrg16le", false, ""},
	{fourcc('G','R','1','6'), "GR16", "",   2, 2, 1, 1, false, one(16),      "bayer_grbg16le", bayer_tag('G','R',16), "bayer_grbg16le", false, ""},
	{fourcc('R','G','1','6'), "RG16", "",   2, 2, 1, 1, false, one(16),      "bayer_rggb16le", bayer_tag('R','G',16), "bayer_rggb16le", false, ""},
};
// clang-format on

bool iequals(std::string_view a, std::string_view b)
{
	return std::ranges::equal(a, b, [](char x, char y) {
		return std::toupper(static_cast<unsigned char>(x)) ==
		       std::toupper(static_cast<unsigned char>(y));
	});
}

/// The four characters of @p code without V4L2's trailing spaces, and "-BE"
/// for big-endian variants; '?' stands for characters that cannot be printed.
std::string fourcc_chars(uint32_t code)
{
	std::string s;
	for (int i = 0; i < 4; ++i) {
		char c = char((code & ~kBigEndianFourcc) >> (8 * i) & 0xff);
		s += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
	}
	s.erase(s.find_last_not_of(' ') + 1);
	return code & kBigEndianFourcc ? s + "-BE" : s;
}

/// Bytes per line of a plane of @p bits per pixel; 0 when a line does not
/// end on a byte.
uint64_t line_bytes(uint64_t pixels, uint8_t bits)
{
	return pixels * bits % 8 ? 0 : pixels * bits / 8;
}

} // namespace

std::span<const PixelFormatInfo> pixel_formats()
{
	return kFormats;
}

const PixelFormatInfo *format_info(uint32_t code)
{
	for (const auto &f : kFormats)
		if (f.fourcc == code)
			return &f;
	return nullptr;
}

std::optional<FrameFormat> packed_format(uint32_t code, uint32_t width, uint32_t height)
{
	const PixelFormatInfo *info = format_info(code);
	if (!info || width == 0 || height == 0 || width > kMaxDimension || height > kMaxDimension ||
	    width % info->width_multiple || height % info->height_multiple)
		return std::nullopt;
	const uint64_t stride = line_bytes(width, info->planes[0].bits_per_pixel);
	if (!stride)
		return std::nullopt;
	return driver_format(code, width, height, uint32_t(stride), 0);
}

std::string size_refusal(uint32_t code, uint32_t width, uint32_t height)
{
	std::string name = fourcc_name(code);
	const PixelFormatInfo *info = format_info(code);
	if (!info)
		return name + " is not a format zcap knows the layout of";
	if (width == 0 || height == 0 || width > kMaxDimension || height > kMaxDimension)
		return fmt::format("{} cannot be {}x{}: sizes go from 1 to {}", name, width, height,
				   kMaxDimension);
	auto multiple = [](uint8_t m) {
		return m == 2 ? std::string("even") : fmt::format("a multiple of {}", m);
	};
	std::string need;
	if (info->width_multiple > 1 && info->height_multiple > 1)
		need = fmt::format("an {} width and height", multiple(info->width_multiple));
	else if (info->width_multiple > 1)
		need = fmt::format("an {} width", multiple(info->width_multiple));
	else
		need = fmt::format("an {} height", multiple(info->height_multiple));
	return fmt::format("{} cannot be {}x{}: it needs {}", name, width, height, need);
}

FrameFormat driver_format(uint32_t code, uint32_t width, uint32_t height, uint32_t stride,
			  uint32_t size_image)
{
	FrameFormat f;
	f.fourcc = code;
	f.width = width;
	f.height = height;
	f.num_planes = 1;
	f.planes[0] = {0, stride, stride ? stride * height : size_image};
	const PixelFormatInfo *info = format_info(code);
	if (info && stride) {
		// V4L2: the other planes' lines are the first's scaled by their
		// bits per pixel, and the planes follow each other.
		f.num_planes = info->num_planes;
		uint32_t offset = 0;
		for (uint32_t i = 0; i < f.num_planes; ++i) {
			const PlaneShape &shape = info->planes[i];
			const uint32_t plane_stride =
				stride * shape.bits_per_pixel / info->planes[0].bits_per_pixel;
			const uint32_t lines = height / shape.vertical_subsampling;
			f.planes[i] = {offset, plane_stride, plane_stride * lines};
			offset += f.planes[i].size;
		}
		f.size_image = size_image ? size_image : offset;
		return f;
	}
	f.size_image = size_image ? size_image : f.planes[0].size;
	return f;
}

std::optional<uint32_t> parse_fourcc(std::string_view name)
{
	while (!name.empty() && name.back() == ' ')
		name.remove_suffix(1);
	if (name.empty())
		return std::nullopt;
	for (const auto &f : kFormats)
		if (iequals(name, f.name) || (*f.alias && iequals(name, f.alias)) ||
		    iequals(name, fourcc_chars(f.fourcc)))
			return f.fourcc;
	return std::nullopt;
}

std::string fourcc_name(uint32_t code)
{
	if (const PixelFormatInfo *info = format_info(code))
		return info->name;
	return fourcc_chars(code);
}

std::string_view ffmpeg_pix_fmt(uint32_t code)
{
	const PixelFormatInfo *info = format_info(code);
	return info ? info->ffmpeg : "";
}

} // namespace zcap
