// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/pattern.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace zcap {
namespace {

using Bytes = std::vector<std::byte>;

/// Filler for bytes the pattern must not write, or must overwrite.
constexpr std::byte kPoison{0xa5};

/// Extra bytes after a frame, to catch writes past size_image.
constexpr size_t kGuardBytes = 64;

/// The stamp holds the low 32 bits of the sequence number.
constexpr unsigned kStampBits = 32;

struct Case {
	uint32_t fourcc;
	uint32_t width;
	uint32_t height;
};

std::string case_name(const testing::TestParamInfo<Case> &info)
{
	return fourcc_name(info.param.fourcc) + "_" + std::to_string(info.param.width) + "x" +
	       std::to_string(info.param.height);
}

/// Every format at common sizes, plus the tiny and odd sizes each one allows.
std::vector<Case> all_cases()
{
	constexpr uint32_t kFormats[] = {
		pixfmt::YUYV,	pixfmt::UYVY,	pixfmt::NV12, pixfmt::NV21,   pixfmt::YU12,
		pixfmt::YV12,	pixfmt::GREY,	pixfmt::Y16,  pixfmt::RGB24,  pixfmt::BGR24,
		pixfmt::BGRA,	pixfmt::XBGR,	pixfmt::AYUV, pixfmt::SBGGR8, pixfmt::SGBRG8,
		pixfmt::SGRBG8, pixfmt::SRGGB8,
	};
	constexpr std::array<uint32_t, 2> kSizes[] = {
		{2, 2}, {4, 6}, {64, 48}, {128, 16}, {640, 480}, {1920, 1080},
	};
	std::vector<Case> cases;
	for (uint32_t fourcc : kFormats) {
		for (auto [w, h] : kSizes)
			cases.push_back({fourcc, w, h});
		if (fourcc == pixfmt::YUYV || fourcc == pixfmt::UYVY)
			cases.push_back({fourcc, 66, 47});
		if (format_info(fourcc)->width_multiple == 1) {
			cases.push_back({fourcc, 1, 1});
			cases.push_back({fourcc, 3, 5});
			cases.push_back({fourcc, 71, 33});
			cases.push_back({fourcc, 641, 479});
		}
	}
	return cases;
}

FrameFormat make_format(uint32_t fourcc, uint32_t width, uint32_t height)
{
	auto format = packed_format(fourcc, width, height);
	EXPECT_TRUE(format) << fourcc_name(fourcc) << " " << width << "x" << height;
	return format.value_or(FrameFormat{});
}

/// Frame @p sequence, rendered into a poisoned buffer with @p guard extra
/// bytes at the end.
Bytes rendered(const FrameFormat &format, uint64_t sequence, size_t guard = 0)
{
	Bytes frame(format.size_image + guard, kPoison);
	pattern::render(format, sequence, frame);
	return frame;
}

/// Number of bytes at which @p a and @p b differ.
size_t count_differences(const Bytes &a, const Bytes &b)
{
	size_t n = 0;
	for (size_t i = 0; i < a.size(); ++i)
		n += a[i] != b[i];
	return n;
}

/// Pixel (x, y) of a packed frame with @p bpp bytes per pixel.
std::vector<uint8_t> pixel(const FrameFormat &format, const Bytes &frame, uint32_t bpp, uint32_t x,
			   uint32_t y)
{
	const size_t at = size_t(format.planes[0].stride) * y + size_t(x) * bpp;
	std::vector<uint8_t> bytes;
	for (uint32_t i = 0; i < bpp; ++i)
		bytes.push_back(uint8_t(frame[at + i]));
	return bytes;
}

class PatternTest : public testing::TestWithParam<Case> {
protected:
	void SetUp() override
	{
		format_ = make_format(GetParam().fourcc, GetParam().width, GetParam().height);
		ASSERT_NE(format_.size_image, 0u);
	}

	/// Whether all 32 stamp squares show: the frame is at least 64 pixels
	/// wide (one row of 2-pixel squares) and as high as a square. Smaller
	/// frames clip the stamp; the first square always shows.
	bool whole_stamp_shows() const
	{
		return format_.width >= 2 * kStampBits && format_.height >= stamp_square();
	}

	/// The stamp's square side: width / 32, even, within [2, 16].
	uint32_t stamp_square() const
	{
		return std::clamp(format_.width / kStampBits, 2u, 16u) & ~1u;
	}

	/// The most bytes one restamp may write: the old box, the new box and
	/// the 32 stamp squares, at the format's bits per pixel.
	size_t restamp_budget() const
	{
		const size_t side = std::max(2u, format_.height / 6 & ~1u);
		const size_t square = stamp_square();
		const size_t pixels = 2 * side * side + kStampBits * square * square;
		const size_t bits_per_pixel =
			size_t(format_.size_image) * 8 / format_.width / format_.height;
		return pixels * bits_per_pixel / 8;
	}

	FrameFormat format_;
};

TEST_P(PatternTest, RenderIsDeterministicAndWritesEveryFrameByteOnly)
{
	for (uint64_t sequence : {uint64_t(0), uint64_t(1), uint64_t(12345), ~uint64_t(0)}) {
		Bytes zeros(format_.size_image + kGuardBytes, std::byte{0});
		Bytes ones(format_.size_image + kGuardBytes, std::byte{0xff});
		pattern::render(format_, sequence, zeros);
		pattern::render(format_, sequence, ones);

		// Equal frames from different starting bytes: every byte is written.
		EXPECT_TRUE(
			std::equal(zeros.begin(), zeros.begin() + format_.size_image, ones.begin()))
			<< "sequence " << sequence;
		EXPECT_TRUE(std::all_of(zeros.begin() + format_.size_image, zeros.end(),
					[](std::byte b) { return b == std::byte{0}; }));
		EXPECT_TRUE(std::all_of(ones.begin() + format_.size_image, ones.end(),
					[](std::byte b) { return b == std::byte{0xff}; }));
		EXPECT_EQ(rendered(format_, sequence), rendered(format_, sequence));
	}
}

TEST_P(PatternTest, RestampEqualsRender)
{
	constexpr uint64_t k32 = uint64_t(1) << 32;
	constexpr uint64_t kMax = ~uint64_t(0);
	const std::pair<uint64_t, uint64_t> pairs[] = {
		{0, 1},
		{1, 2},
		{7, 7},
		{1, 0},
		{0, 1000},
		{999, 3},
		{12345, 12346},
		{k32 - 1, k32},
		{k32 + 3, k32 + 4},
		{5, k32 + 5},
		{uint64_t(1) << 63, (uint64_t(1) << 63) + 1},
		{kMax - 1, kMax},
		{0, kMax},
	};
	for (auto [previous, next] : pairs) {
		Bytes buffer = rendered(format_, previous, kGuardBytes);
		pattern::restamp(format_, previous, next, buffer);
		EXPECT_EQ(buffer, rendered(format_, next, kGuardBytes))
			<< previous << " -> " << next;
	}
}

TEST_P(PatternTest, RestampChainFollowsRender)
{
	// Long enough for the box to bounce off every edge of the small frames.
	// Frames larger than VGA take a tenth: each step renders the whole
	// frame to compare (300 steps at 1080p: 4 s a format, 80 s in all), and
	// their box moves as the small frames' does.
	constexpr uint64_t kSteps = 300;
	constexpr uint64_t kLargeFrameSteps = 30;
	const uint64_t steps =
		format_.width * format_.height > 640 * 480 ? kLargeFrameSteps : kSteps;
	Bytes buffer = rendered(format_, 0);
	Bytes expected(format_.size_image);
	for (uint64_t sequence = 1; sequence <= steps; ++sequence) {
		pattern::restamp(format_, sequence - 1, sequence, buffer);
		pattern::render(format_, sequence, expected);
		ASSERT_EQ(buffer, expected) << "at " << sequence;
	}

	// Irregular jumps, from a fixed linear congruential generator.
	uint64_t sequence = steps;
	for (int i = 0; i < 50; ++i) {
		const uint64_t next = sequence * 6364136223846793005u + 1442695040888963407u;
		pattern::restamp(format_, sequence, next, buffer);
		pattern::render(format_, next, expected);
		ASSERT_EQ(buffer, expected) << sequence << " -> " << next;
		sequence = next;
	}
}

TEST_P(PatternTest, RestampToSameSequenceIsNoOp)
{
	Bytes buffer(format_.size_image, kPoison);
	pattern::restamp(format_, 42, 42, buffer);
	EXPECT_EQ(buffer, Bytes(format_.size_image, kPoison));
}

TEST_P(PatternTest, EveryShownStampBitChangesTheFrame)
{
	constexpr uint64_t kBase = 0x12345678'9abcdef0;
	const Bytes base = rendered(format_, kBase);
	const unsigned shown = whole_stamp_shows() ? kStampBits : 1;
	for (unsigned bit = 0; bit < shown; ++bit)
		EXPECT_NE(rendered(format_, kBase ^ (uint64_t(1) << bit)), base) << "bit " << bit;
	EXPECT_NE(rendered(format_, kBase + 1), base);
}

TEST_P(PatternTest, RestampWritesOnlyBoxesAndStamp)
{
	// Restamp only writes. Flip every byte that frames previous and next
	// share: restamp leaves the bytes it skips different from render(next)
	// and makes those it writes equal to it, so the equal ones are counted.
	const std::pair<uint64_t, uint64_t> pairs[] = {{100, 101}, {0, 5000}, {31, 30}};
	for (auto [previous, next] : pairs) {
		const Bytes before = rendered(format_, previous);
		const Bytes expected = rendered(format_, next);
		Bytes buffer = before;
		for (size_t i = 0; i < buffer.size(); ++i)
			if (before[i] == expected[i])
				buffer[i] = ~buffer[i];

		pattern::restamp(format_, previous, next, buffer);
		const size_t written = buffer.size() - count_differences(buffer, expected);
		EXPECT_LE(written, restamp_budget()) << previous << " -> " << next;
		EXPECT_GT(written, 0u);
	}

	if (format_.width >= 640 && format_.height >= 480) {
		EXPECT_LT(restamp_budget(), format_.size_image / 8);
	}
}

INSTANTIATE_TEST_SUITE_P(AllFormats, PatternTest, testing::ValuesIn(all_cases()), case_name);

/// The pixel in the middle of each 80-pixel bar, on the bottom line of a
/// 640x480 frame 0, where neither the box (top-left) nor the stamp reaches.
constexpr uint32_t kBarWidth = 80;
constexpr uint32_t kBottom = 479;

/// 75% SMPTE bars, as RGB.
constexpr std::array<std::array<uint8_t, 3>, 8> kBarsRgb = {{
	{191, 191, 191},
	{191, 191, 0},
	{0, 191, 191},
	{0, 191, 0},
	{191, 0, 191},
	{191, 0, 0},
	{0, 0, 191},
	{0, 0, 0},
}};

/// The same bars in BT.601 limited range, worked out by hand with
/// Y = ((66 R + 129 G + 25 B + 128) >> 8) + 16,
/// U = ((-38 R - 74 G + 112 B + 128) >> 8) + 128,
/// V = ((112 R - 94 G - 18 B + 128) >> 8) + 128.
/// For white: Y = (220 * 191 + 128) >> 8 = 42148 >> 8 = 164, + 16 = 180.
constexpr std::array<std::array<uint8_t, 3>, 8> kBarsYuv = {{
	{180, 128, 128},
	{161, 44, 141},
	{131, 156, 44},
	{112, 73, 58},
	{84, 183, 198},
	{65, 100, 212},
	{35, 212, 115},
	{16, 128, 128},
}};

TEST(PatternPixels, Rgb24Bars)
{
	const FrameFormat format = make_format(pixfmt::RGB24, 640, 480);
	const Bytes frame = rendered(format, 0);
	EXPECT_EQ(pixel(format, frame, 3, 0, kBottom), (std::vector<uint8_t>{191, 191, 191}));
	for (uint32_t bar = 0; bar < 8; ++bar) {
		const auto &c = kBarsRgb[bar];
		EXPECT_EQ(pixel(format, frame, 3, bar * kBarWidth + kBarWidth / 2, kBottom),
			  (std::vector<uint8_t>{c[0], c[1], c[2]}))
			<< "bar " << bar;
	}
}

TEST(PatternPixels, BgraBars)
{
	const FrameFormat format = make_format(pixfmt::BGRA, 640, 480);
	const Bytes frame = rendered(format, 0);
	for (uint32_t bar = 0; bar < 8; ++bar) {
		const auto &c = kBarsRgb[bar];
		EXPECT_EQ(pixel(format, frame, 4, bar * kBarWidth + kBarWidth / 2, kBottom),
			  (std::vector<uint8_t>{c[2], c[1], c[0], 255}))
			<< "bar " << bar;
	}
}

TEST(PatternPixels, YuyvAndUyvyBars)
{
	const FrameFormat yuyv = make_format(pixfmt::YUYV, 640, 480);
	const FrameFormat uyvy = make_format(pixfmt::UYVY, 640, 480);
	const Bytes yuyv_frame = rendered(yuyv, 0);
	const Bytes uyvy_frame = rendered(uyvy, 0);
	for (uint32_t bar = 0; bar < 8; ++bar) {
		const auto &c = kBarsYuv[bar];
		const uint32_t x = bar * kBarWidth + kBarWidth / 2;
		// A pixel pair, 4 bytes: Y0 U Y1 V and U Y0 V Y1.
		EXPECT_EQ(pixel(yuyv, yuyv_frame, 4, x / 2, kBottom),
			  (std::vector<uint8_t>{c[0], c[1], c[0], c[2]}))
			<< "bar " << bar;
		EXPECT_EQ(pixel(uyvy, uyvy_frame, 4, x / 2, kBottom),
			  (std::vector<uint8_t>{c[1], c[0], c[2], c[0]}))
			<< "bar " << bar;
	}
}

TEST(PatternPixels, Nv12AndGreyBars)
{
	const FrameFormat nv12 = make_format(pixfmt::NV12, 640, 480);
	const FrameFormat grey = make_format(pixfmt::GREY, 640, 480);
	const Bytes nv12_frame = rendered(nv12, 0);
	const Bytes grey_frame = rendered(grey, 0);
	for (uint32_t bar = 0; bar < 8; ++bar) {
		const auto &c = kBarsYuv[bar];
		const uint32_t x = bar * kBarWidth + kBarWidth / 2;
		EXPECT_EQ(uint8_t(nv12_frame[640 * kBottom + x]), c[0]) << "bar " << bar;
		EXPECT_EQ(uint8_t(grey_frame[640 * kBottom + x]), c[0]) << "bar " << bar;
		const size_t uv = nv12.planes[1].offset + 640 * (kBottom / 2) + x;
		EXPECT_EQ(uint8_t(nv12_frame[uv]), c[1]) << "bar " << bar;
		EXPECT_EQ(uint8_t(nv12_frame[uv + 1]), c[2]) << "bar " << bar;
	}
}

TEST(PatternPixels, StampShowsLowSequenceBits)
{
	// 640 wide: 16-pixel squares from the top-left corner, bit 0 first.
	constexpr uint32_t kSquare = 16;
	constexpr uint64_t kSequence = 0x7'deadbeef;
	const FrameFormat format = make_format(pixfmt::RGB24, 640, 480);
	const Bytes frame = rendered(format, kSequence);
	for (unsigned bit = 0; bit < kStampBits; ++bit) {
		const uint8_t v = (kSequence >> bit) & 1 ? 255 : 0;
		for (uint32_t y : {0u, kSquare - 1}) {
			for (uint32_t x : {bit * kSquare, bit * kSquare + kSquare - 1})
				EXPECT_EQ(pixel(format, frame, 3, x, y),
					  (std::vector<uint8_t>{v, v, v}))
					<< "bit " << bit << " at " << x << "," << y;
		}
	}
	// Below the stamp, frame 0's box: orange.
	EXPECT_EQ(pixel(format, rendered(format, 0), 3, 40, 40),
		  (std::vector<uint8_t>{255, 160, 0}));
}

/// The bounding box of the orange pixels of an RGB24 frame: x0, y0, x1, y1.
std::array<uint32_t, 4> find_box(const FrameFormat &format, const Bytes &frame)
{
	std::array<uint32_t, 4> box = {format.width, format.height, 0, 0};
	for (uint32_t y = 0; y < format.height; ++y) {
		for (uint32_t x = 0; x < format.width; ++x) {
			const std::byte *p = &frame[size_t(format.planes[0].stride) * y + 3 * x];
			if (p[0] != std::byte{255} || p[1] != std::byte{160} ||
			    p[2] != std::byte{0})
				continue;
			box = {std::min(box[0], x), std::min(box[1], y), std::max(box[2], x + 1),
			       std::max(box[3], y + 1)};
		}
	}
	return box;
}

TEST(PatternMotion, BoxMovesAFewPixelsPerFrame)
{
	for (auto [w, h] : {std::pair{640u, 480u}, std::pair{1920u, 1080u}}) {
		const FrameFormat format = make_format(pixfmt::RGB24, w, h);
		const uint32_t side = h / 6 & ~1u;
		for (uint64_t sequence : {100u, 101u, 250u}) {
			const auto a = find_box(format, rendered(format, sequence));
			const auto b = find_box(format, rendered(format, sequence + 1));
			ASSERT_EQ(a[2] - a[0], side);
			ASSERT_EQ(a[3] - a[1], side);
			ASSERT_EQ(b[2] - b[0], side);
			const int dx = std::abs(int(b[0]) - int(a[0]));
			const int dy = std::abs(int(b[1]) - int(a[1]));
			EXPECT_GE(dx + dy, 2) << w << "x" << h << " at " << sequence;
			EXPECT_LE(dx, 16);
			EXPECT_LE(dy, 16);
			EXPECT_EQ(a[0] % 2, 0u);
			EXPECT_EQ(a[1] % 2, 0u);
		}
	}
}

/// Counts, for every size and frame the cross-format tests use, the pixels
/// at which @p mismatches finds formats disagree: none may.
void expect_same_picture(const std::function<size_t(uint32_t, uint32_t, uint64_t)> &mismatches)
{
	for (auto [w, h] : {std::pair{2u, 2u}, std::pair{64u, 48u}, std::pair{640u, 480u}})
		for (uint64_t sequence : {uint64_t(0), uint64_t(77), uint64_t(1) << 40})
			EXPECT_EQ(mismatches(w, h, sequence), 0u)
				<< w << "x" << h << " frame " << sequence;
}

TEST(PatternFormats, AllFormatsShowTheSamePicture)
{
	expect_same_picture([](uint32_t w, uint32_t h, uint64_t sequence) {
		auto frame = [&](uint32_t fourcc) {
			return rendered(make_format(fourcc, w, h), sequence);
		};
		const Bytes rgb = frame(pixfmt::RGB24), bgra = frame(pixfmt::BGRA),
			    grey = frame(pixfmt::GREY), yuyv = frame(pixfmt::YUYV),
			    uyvy = frame(pixfmt::UYVY), nv12 = frame(pixfmt::NV12),
			    bgr = frame(pixfmt::BGR24), xbgr = frame(pixfmt::XBGR),
			    y16 = frame(pixfmt::Y16), nv21 = frame(pixfmt::NV21),
			    i420 = frame(pixfmt::YU12), yv12 = frame(pixfmt::YV12),
			    ayuv = frame(pixfmt::AYUV);
		const size_t pixels = size_t(w) * h, quarter = pixels / 4;
		size_t mismatches = 0;
		for (size_t i = 0; i < pixels; ++i) {
			mismatches += bgra[4 * i] != rgb[3 * i + 2] ||
				      bgra[4 * i + 1] != rgb[3 * i + 1] ||
				      bgra[4 * i + 2] != rgb[3 * i] ||
				      bgra[4 * i + 3] != std::byte{255};
			mismatches += yuyv[2 * i] != grey[i] || uyvy[2 * i + 1] != grey[i] ||
				      nv12[i] != grey[i];
			// U and V swap places between the packed orders.
			mismatches += yuyv[2 * i + 1] != uyvy[2 * i];
		}
		for (size_t i = 0; i < pixels; ++i) {
			mismatches += bgr[3 * i] != rgb[3 * i + 2] ||
				      bgr[3 * i + 1] != rgb[3 * i + 1] ||
				      bgr[3 * i + 2] != rgb[3 * i];
			mismatches += xbgr[4 * i] != bgr[3 * i] ||
				      xbgr[4 * i + 1] != bgr[3 * i + 1] ||
				      xbgr[4 * i + 2] != bgr[3 * i + 2];
			mismatches += y16[2 * i] != grey[i] || y16[2 * i + 1] != grey[i];
			mismatches += nv21[i] != grey[i] || i420[i] != grey[i] ||
				      yv12[i] != grey[i] || ayuv[4 * i + 1] != grey[i] ||
				      ayuv[4 * i] != std::byte{255};
		}
		// NV12's U V pairs are I420's U and V planes, which YV12
		// holds in the other order and NV21 interleaves as V U.
		for (size_t i = 0; i < quarter; ++i) {
			const std::byte u = nv12[pixels + 2 * i], v = nv12[pixels + 2 * i + 1];
			mismatches += i420[pixels + i] != u || i420[pixels + quarter + i] != v;
			mismatches += yv12[pixels + i] != v || yv12[pixels + quarter + i] != u;
			mismatches += nv21[pixels + 2 * i] != v || nv21[pixels + 2 * i + 1] != u;
		}
		// Each Bayer site holds its colour's component of the RGB frame.
		const std::pair<uint32_t, const char *> kBayer[] = {
			{pixfmt::SBGGR8, "BGGR"},
			{pixfmt::SGBRG8, "GBRG"},
			{pixfmt::SGRBG8, "GRBG"},
			{pixfmt::SRGGB8, "RGGB"},
		};
		for (auto [fourcc, sites] : kBayer) {
			const Bytes bayer = frame(fourcc);
			for (size_t y = 0; y < h; ++y) {
				for (size_t x = 0; x < w; ++x) {
					const char site = sites[y % 2 * 2 + x % 2];
					const size_t component = site == 'R'   ? 0
								 : site == 'G' ? 1
									       : 2;
					mismatches += bayer[y * w + x] !=
						      rgb[3 * (y * w + x) + component];
				}
			}
		}
		return mismatches;
	});
}

TEST(PatternBounds, SmallBufferIsRefused)
{
	const FrameFormat format = make_format(pixfmt::YUYV, 64, 48);
	Bytes buffer(format.size_image - 1, kPoison);
	EXPECT_DEBUG_DEATH(pattern::render(format, 0, buffer), "unsuitable");
	EXPECT_DEBUG_DEATH(pattern::restamp(format, 0, 1, buffer), "unsuitable");
	EXPECT_EQ(buffer, Bytes(format.size_image - 1, kPoison));
}

} // namespace
} // namespace zcap
