// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/pattern.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <iterator>
#include <string_view>

namespace zcap::pattern {

namespace {

/// A colour as the pattern defines it, before conversion to the frame's format.
struct Rgb {
	uint8_t r, g, b;
};

/// A colour in BT.601 limited range (Y 16-235, U and V 16-240).
struct Yuv {
	uint8_t y, u, v;
};

/// A rectangle of pixels; parts outside the frame are ignored when drawing.
struct Rect {
	uint32_t x, y, w, h;
};

/// The background bars from left to right: 75% white, yellow, cyan, green,
/// magenta, red, blue and black, as in SMPTE bars and vivid. 75% of 255 is 191.
constexpr Rgb kBars[] = {
	{191, 191, 191}, {191, 191, 0}, {0, 191, 191}, {0, 191, 0},
	{191, 0, 191},	 {191, 0, 0},	{0, 0, 191},   {0, 0, 0},
};
constexpr uint32_t kBarCount = std::size(kBars);

/// Orange appears in no bar, so the box stands out wherever it is.
constexpr Rgb kBoxColour = {255, 160, 0};

/// A set bit is full white, brighter than any 75% bar; a clear bit is black.
constexpr Rgb kStampOne = {255, 255, 255};
constexpr Rgb kStampZero = {0, 0, 0};

/// The stamp shows the low 32 bits of the sequence number, bit 0 leftmost.
constexpr unsigned kStampBits = 32;

/// Stamp squares are at least 2 pixels, so that they cover whole chroma
/// samples, and at most 16, so that the stamp stays a strip at the top.
constexpr uint32_t kMinSquare = 2;
constexpr uint32_t kMaxSquare = 16;

/// The box is a sixth of the frame height: large enough to see, small enough
/// to leave room to move. It is at least 2 pixels for the chroma's sake.
constexpr uint32_t kBoxHeightFraction = 6;
constexpr uint32_t kMinBoxSide = 2;

/// The box moves width / 128 pixels a frame across and height / 80 down (even,
/// at least 2), so at 30 fps it crosses a frame in about 4 s across and 2.5 s
/// down, whatever the size. Unequal periods make it wander over the whole
/// frame rather than along a diagonal.
constexpr uint32_t kFramesAcross = 128;
constexpr uint32_t kFramesDown = 80;
constexpr uint32_t kMinSpeed = 2;

/// Frames with alpha are opaque; X (padding) bytes get the same value.
constexpr uint8_t kOpaque = 255;

constexpr uint32_t round_down_even(uint32_t v)
{
	return v & ~1u;
}

constexpr uint32_t round_up_even(uint32_t v)
{
	return round_down_even(v + 1);
}

/// Converts to BT.601 limited range with the usual 8-bit integer coefficients
/// (ITU-R BT.601 scaled by 256). >> of a negative value floors in C++20.
constexpr Yuv to_yuv(Rgb c)
{
	const int r = c.r, g = c.g, b = c.b;
	return {
		uint8_t(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16),
		uint8_t(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128),
		uint8_t(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128),
	};
}

/// How the pattern paints one plane: @p unit repeated across, one unit per
/// @p unit_pixels pixels; on odd lines of the plane @p odd_unit instead,
/// when given (Bayer). Letters name a colour's components: Y, U, V, R, G,
/// B, A (opaque); "YY" is 16-bit luma (Y * 257, little-endian).
struct PlaneRecipe {
	std::string_view unit;
	uint32_t unit_pixels = 1;
	std::string_view odd_unit = {};
};

/// The formats the pattern draws, as what each plane repeats. Planes and
/// their subsampling come from the format table.
struct Recipe {
	uint32_t fourcc;
	std::array<PlaneRecipe, 3> planes;
};

constexpr Recipe kRecipes[] = {
	{pixfmt::YUYV, {{{"YUYV", 2}}}},
	{pixfmt::UYVY, {{{"UYVY", 2}}}},
	{pixfmt::NV12, {{{"Y"}, {"UV", 2}}}},
	{pixfmt::NV21, {{{"Y"}, {"VU", 2}}}},
	{pixfmt::YU12, {{{"Y"}, {"U", 2}, {"V", 2}}}},
	{pixfmt::YV12, {{{"Y"}, {"V", 2}, {"U", 2}}}},
	{pixfmt::GREY, {{{"Y"}}}},
	{pixfmt::Y16, {{{"YY"}}}},
	{pixfmt::RGB24, {{{"RGB"}}}},
	{pixfmt::BGR24, {{{"BGR"}}}},
	{pixfmt::BGRA, {{{"BGRA"}}}},
	{pixfmt::XBGR, {{{"BGRA"}}}},
	{pixfmt::AYUV, {{{"AYUV"}}}},
	{pixfmt::SBGGR8, {{{"BG", 2, "GR"}}}},
	{pixfmt::SGBRG8, {{{"GB", 2, "RG"}}}},
	{pixfmt::SGRBG8, {{{"GR", 2, "BG"}}}},
	{pixfmt::SRGGB8, {{{"RG", 2, "GB"}}}},
};

const Recipe *find_recipe(uint32_t fourcc)
{
	for (const Recipe &r : kRecipes)
		if (r.fourcc == fourcc)
			return &r;
	return nullptr;
}

/// The bytes of @p unit in @p colour; at most 4.
struct UnitBytes {
	std::array<uint8_t, 4> bytes{};
	size_t size = 0;
	std::span<const uint8_t> span() const { return {bytes.data(), size}; }
};

UnitBytes unit_bytes(std::string_view unit, Rgb rgb, Yuv yuv)
{
	assert(unit.size() <= 4);
	UnitBytes out;
	for (char c : unit) {
		uint8_t &b = out.bytes[out.size++];
		switch (c) {
		case 'Y':
			b = yuv.y;
			break;
		case 'U':
			b = yuv.u;
			break;
		case 'V':
			b = yuv.v;
			break;
		case 'R':
			b = rgb.r;
			break;
		case 'G':
			b = rgb.g;
			break;
		case 'B':
			b = rgb.b;
			break;
		default:
			b = kOpaque;
			break;
		}
	}
	return out;
}

/// Whether @p rows lines of @p row_bytes each, @p plane.stride apart, fit in
/// @p size bytes. 64-bit, as a caller's format may hold any sizes.
bool plane_fits(const PlaneLayout &plane, uint64_t row_bytes, uint32_t rows, size_t size)
{
	return plane.stride >= row_bytes &&
	       plane.offset + uint64_t(plane.stride) * (rows - 1) + row_bytes <= size;
}

/// Whether every pixel of @p format lies inside @p buffer, and the sizes suit
/// the chroma subsampling. Every write is clipped to the frame, so this one
/// check keeps all of them inside the buffer.
bool layout_fits(const FrameFormat &format, std::span<const std::byte> buffer)
{
	const PixelFormatInfo *info = format_info(format.fourcc);
	if (!find_recipe(format.fourcc) || !info || !format.width || !format.height ||
	    format.width % info->width_multiple || format.height % info->height_multiple ||
	    format.num_planes < info->num_planes)
		return false;
	for (uint32_t i = 0; i < info->num_planes; ++i) {
		const PlaneShape &shape = info->planes[i];
		if (!plane_fits(format.planes[i], uint64_t(format.width) * shape.bits_per_pixel / 8,
				format.height / shape.vertical_subsampling, buffer.size()))
			return false;
	}
	return true;
}

/// Writes @p unit repeatedly over @p length bytes from byte @p left of
/// @p rows lines of @p plane, from line @p top. The first line is built, the
/// others copied from it.
void fill_plane(std::span<std::byte> buffer, const PlaneLayout &plane, uint32_t left, uint32_t top,
		uint32_t length, uint32_t rows, std::span<const uint8_t> unit)
{
	assert(length % unit.size() == 0);
	assert(plane.offset + size_t(plane.stride) * (top + rows - 1) + left + length <=
	       buffer.size());

	std::byte *first = buffer.data() + plane.offset + size_t(plane.stride) * top + left;
	for (uint32_t i = 0; i < length; i += unit.size())
		std::memcpy(first + i, unit.data(), unit.size());
	for (uint32_t row = 1; row < rows; ++row)
		std::memcpy(first + size_t(plane.stride) * row, first, length);
}

/// Paints the part of @p rect inside the frame with @p colour: the one drawing
/// primitive. Subsampled chroma needs even edges, which every caller keeps.
void fill_rect(const FrameFormat &format, std::span<std::byte> buffer, Rect rect, Rgb colour)
{
	if (rect.x >= format.width || rect.y >= format.height)
		return;
	rect.w = std::min(rect.w, format.width - rect.x);
	rect.h = std::min(rect.h, format.height - rect.y);
	if (!rect.w || !rect.h)
		return;

	const Yuv yuv = to_yuv(colour);
	const Recipe &recipe = *find_recipe(format.fourcc);
	const PixelFormatInfo &info = *format_info(format.fourcc);
	for (uint32_t i = 0; i < info.num_planes; ++i) {
		const PlaneRecipe &r = recipe.planes[i];
		const uint32_t lines = info.planes[i].vertical_subsampling;
		assert(rect.x % r.unit_pixels == 0 && rect.w % r.unit_pixels == 0);
		assert(rect.y % lines == 0 && rect.h % lines == 0);
		const uint32_t left = rect.x / r.unit_pixels * uint32_t(r.unit.size());
		const uint32_t length = rect.w / r.unit_pixels * uint32_t(r.unit.size());
		const PlaneLayout &plane = format.planes[i];
		if (r.odd_unit.empty()) {
			fill_plane(buffer, plane, left, rect.y / lines, length, rect.h / lines,
				   unit_bytes(r.unit, colour, yuv).span());
			continue;
		}
		// Even and odd lines as two planes of every other line.
		assert(rect.y % 2 == 0 && rect.h % 2 == 0);
		const PlaneLayout even = {plane.offset, 2 * plane.stride, plane.size};
		const PlaneLayout odd = {plane.offset + plane.stride, 2 * plane.stride, plane.size};
		fill_plane(buffer, even, left, rect.y / 2, length, rect.h / 2,
			   unit_bytes(r.unit, colour, yuv).span());
		fill_plane(buffer, odd, left, rect.y / 2, length, rect.h / 2,
			   unit_bytes(r.odd_unit, colour, yuv).span());
	}
}

/// The first column of bar @p bar (kBarCount for the end of the last): the
/// first even column at or right of bar * width / 8, so that each pixel pair
/// lies in one bar and subsampled chroma stays clean.
uint32_t bar_start(uint32_t width, uint32_t bar)
{
	return round_up_even((bar * width + kBarCount - 1) / kBarCount);
}

/// Paints the bars background over @p rect.
void draw_background(const FrameFormat &format, std::span<std::byte> buffer, Rect rect)
{
	const uint32_t right = rect.x + rect.w;
	for (uint32_t bar = 0; bar < kBarCount; ++bar) {
		const uint32_t begin = std::max(rect.x, bar_start(format.width, bar));
		const uint32_t end = std::min(right, bar_start(format.width, bar + 1));
		if (begin < end)
			fill_rect(format, buffer, {begin, rect.y, end - begin, rect.h}, kBars[bar]);
	}
}

/// Position at frame @p sequence of a point moving @p speed pixels a frame
/// back and forth over [0, range]: a triangle wave. Even when @p speed is.
uint32_t bounce(uint64_t sequence, uint32_t speed, uint32_t range)
{
	if (!range)
		return 0;
	const uint64_t period = 2 * uint64_t(range);
	const uint64_t phase = sequence % period * speed % period;
	return uint32_t(phase <= range ? phase : period - phase);
}

/// Where the box is in frame @p sequence. Its side and position are even, so
/// it covers whole chroma samples; it is clipped to tiny frames.
Rect box_rect(const FrameFormat &format, uint64_t sequence)
{
	const uint32_t side =
		std::max(kMinBoxSide, round_down_even(format.height / kBoxHeightFraction));
	const uint32_t w = std::min(side, format.width);
	const uint32_t h = std::min(side, format.height);
	const uint32_t speed_x = std::max(kMinSpeed, round_down_even(format.width / kFramesAcross));
	const uint32_t speed_y = std::max(kMinSpeed, round_down_even(format.height / kFramesDown));
	return {bounce(sequence, speed_x, format.width - w),
		bounce(sequence, speed_y, format.height - h), w, h};
}

/// Paints the stamp: square i is white when bit i of @p sequence is set. The
/// squares run in rows from the top-left corner, wrapping when the frame is
/// too narrow for one row; what falls outside the frame is not drawn.
void draw_stamp(const FrameFormat &format, std::span<std::byte> buffer, uint64_t sequence)
{
	const uint32_t square =
		round_down_even(std::clamp(format.width / kStampBits, kMinSquare, kMaxSquare));
	const uint32_t per_row = std::max(1u, format.width / square);
	for (unsigned bit = 0; bit < kStampBits; ++bit) {
		const Rect rect = {bit % per_row * square, bit / per_row * square, square, square};
		fill_rect(format, buffer, rect, (sequence >> bit) & 1 ? kStampOne : kStampZero);
	}
}

/// Checks @p buffer before drawing into it; a mismatch is a caller's bug.
bool check_layout(const FrameFormat &format, std::span<const std::byte> buffer)
{
	const bool fits = layout_fits(format, buffer);
	assert(fits && "pattern: buffer or format unsuitable");
	return fits;
}

} // namespace

bool renders(uint32_t fourcc)
{
	return find_recipe(fourcc) != nullptr;
}

void render(const FrameFormat &format, uint64_t sequence, std::span<std::byte> out)
{
	if (!check_layout(format, out))
		return;

	draw_background(format, out, {0, 0, format.width, format.height});
	fill_rect(format, out, box_rect(format, sequence), kBoxColour);
	draw_stamp(format, out, sequence);
}

void restamp(const FrameFormat &format, uint64_t previous, uint64_t next,
	     std::span<std::byte> buffer)
{
	if (previous == next || !check_layout(format, buffer))
		return;

	// The layers in render()'s order, so that wherever they overlap the
	// result is the same: outside the old box, the stamp and the new box,
	// the buffer already holds the background.
	draw_background(format, buffer, box_rect(format, previous));
	fill_rect(format, buffer, box_rect(format, next), kBoxColour);
	draw_stamp(format, buffer, next);
}

} // namespace zcap::pattern
