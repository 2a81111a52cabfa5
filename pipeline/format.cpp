// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/format.h>

#include <algorithm>
#include <cctype>

namespace zcap {

namespace {

/// Larger frames than this are refused: V4L2 itself caps sizes far lower, and
/// 16384^2 BGRA (1 GiB) still fits a 32-bit size_image.
constexpr uint32_t kMaxDimension = 16384;

struct FormatInfo {
	uint32_t fourcc;
	const char *name;
	const char *alias;
	const char *ffmpeg;
	uint32_t bytes_per_pixel; ///< of the first plane
	bool even_width;	  ///< chroma is shared by pixel pairs
	bool two_planes;	  ///< NV12: a half-height interleaved chroma plane
};

constexpr FormatInfo kFormats[] = {
	{pixfmt::YUYV, "YUYV", "YUY2", "yuyv422", 2, true, false},
	{pixfmt::UYVY, "UYVY", "UYVY", "uyvy422", 2, true, false},
	{pixfmt::NV12, "NV12", "NV12", "nv12", 1, true, true},
	{pixfmt::GREY, "GREY", "GRAY", "gray", 1, false, false},
	{pixfmt::RGB24, "RGB24", "RGB3", "rgb24", 3, false, false},
	{pixfmt::BGRA, "BGRA", "AR24", "bgra", 4, false, false},
};

const FormatInfo *find(uint32_t fourcc)
{
	for (const auto &f : kFormats)
		if (f.fourcc == fourcc)
			return &f;
	return nullptr;
}

bool iequals(std::string_view a, std::string_view b)
{
	return std::ranges::equal(a, b, [](char x, char y) {
		return std::toupper(static_cast<unsigned char>(x)) ==
		       std::toupper(static_cast<unsigned char>(y));
	});
}

} // namespace

std::optional<FrameFormat> packed_format(uint32_t fourcc, uint32_t width, uint32_t height)
{
	const FormatInfo *info = find(fourcc);
	if (!info || width == 0 || height == 0 || width > kMaxDimension || height > kMaxDimension)
		return std::nullopt;
	if (info->even_width && width % 2)
		return std::nullopt;
	if (info->two_planes && height % 2)
		return std::nullopt;

	FrameFormat f;
	f.fourcc = fourcc;
	f.width = width;
	f.height = height;
	f.num_planes = 1;
	f.planes[0] = {0, width * info->bytes_per_pixel, width * info->bytes_per_pixel * height};
	if (info->two_planes) {
		f.num_planes = 2;
		f.planes[1] = {f.planes[0].size, width, width * height / 2};
	}
	f.size_image = 0;
	for (uint32_t i = 0; i < f.num_planes; ++i)
		f.size_image += f.planes[i].size;
	return f;
}

std::optional<uint32_t> parse_fourcc(std::string_view name)
{
	for (const auto &f : kFormats)
		if (iequals(name, f.name) || iequals(name, f.alias))
			return f.fourcc;
	return std::nullopt;
}

std::string fourcc_name(uint32_t code)
{
	if (const FormatInfo *info = find(code))
		return info->name;
	std::string s(4, ' ');
	for (int i = 0; i < 4; ++i) {
		char c = char((code >> (8 * i)) & 0xff);
		s[i] = std::isprint(static_cast<unsigned char>(c)) ? c : '?';
	}
	return s;
}

std::string_view ffmpeg_pix_fmt(uint32_t code)
{
	const FormatInfo *info = find(code);
	return info ? info->ffmpeg : "";
}

} // namespace zcap
