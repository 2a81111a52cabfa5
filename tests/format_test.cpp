// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/format.h>

#include <gtest/gtest.h>

#include <tuple>

using namespace zcap;

namespace {
std::tuple<uint32_t, uint32_t, uint32_t> layout(const PlaneLayout &p)
{
	return {p.offset, p.stride, p.size};
}
} // namespace

TEST(Format, PackedSizes)
{
	EXPECT_EQ(packed_format(pixfmt::YUYV, 1920, 1080)->size_image, 4147200u);
	EXPECT_EQ(packed_format(pixfmt::UYVY, 640, 480)->planes[0].stride, 1280u);
	EXPECT_EQ(packed_format(pixfmt::GREY, 641, 481)->size_image, 641u * 481u);
	EXPECT_EQ(packed_format(pixfmt::RGB24, 3, 1)->size_image, 9u);
	EXPECT_EQ(packed_format(pixfmt::BGRA, 640, 480)->size_image, 1228800u);

	auto nv12 = packed_format(pixfmt::NV12, 640, 480);
	ASSERT_TRUE(nv12);
	EXPECT_EQ(nv12->num_planes, 2u);
	EXPECT_EQ(nv12->planes[1].offset, 640u * 480u);
	EXPECT_EQ(nv12->planes[1].size, 640u * 240u);
	EXPECT_EQ(nv12->size_image, 460800u);
}

TEST(Format, RejectsSizesTheFormatCannotHave)
{
	EXPECT_FALSE(packed_format(pixfmt::YUYV, 641, 480));
	EXPECT_FALSE(packed_format(pixfmt::NV12, 640, 481));
	EXPECT_FALSE(packed_format(pixfmt::GREY, 0, 480));
	EXPECT_FALSE(packed_format(pixfmt::GREY, 16385, 16));
	EXPECT_FALSE(packed_format(fourcc('M', 'J', 'P', 'G'), 640, 480));
}

TEST(Format, ParsesNamesAndAliases)
{
	EXPECT_EQ(parse_fourcc("yuyv"), pixfmt::YUYV);
	EXPECT_EQ(parse_fourcc("YUY2"), pixfmt::YUYV);
	EXPECT_EQ(parse_fourcc("RGB3"), pixfmt::RGB24);
	EXPECT_EQ(parse_fourcc("rgb24"), pixfmt::RGB24);
	EXPECT_EQ(parse_fourcc("AR24"), pixfmt::BGRA);
	EXPECT_EQ(parse_fourcc("gray"), pixfmt::GREY);
	EXPECT_FALSE(parse_fourcc("H264"));
	EXPECT_FALSE(parse_fourcc(""));
	EXPECT_EQ(fourcc_name(pixfmt::BGRA), "BGRA");
	EXPECT_EQ(fourcc_name(fourcc('M', 'J', 'P', 'G')), "MJPG");
	EXPECT_EQ(ffmpeg_pix_fmt(pixfmt::NV12), "nv12");
}

TEST(Format, PlanarLayoutsFollowTheTable)
{
	auto i420 = packed_format(pixfmt::YU12, 640, 480);
	ASSERT_TRUE(i420);
	EXPECT_EQ(i420->num_planes, 3u);
	EXPECT_EQ(layout(i420->planes[1]), layout({640 * 480, 320, 320 * 240}));
	EXPECT_EQ(layout(i420->planes[2]), layout({640 * 480 * 5 / 4, 320, 320 * 240}));
	EXPECT_EQ(i420->size_image, 640u * 480u * 3 / 2);
	EXPECT_EQ(packed_format(fourcc('4', '2', '2', 'P'), 640, 481)->size_image, 640u * 481u * 2);
	EXPECT_EQ(packed_format(fourcc('N', 'V', '2', '4'), 641, 3)->planes[1].stride, 641u * 2);
	EXPECT_EQ(packed_format(pixfmt::BGR24, 641, 3)->size_image, 641u * 3 * 3);
	EXPECT_EQ(packed_format(pixfmt::Y16, 641, 3)->size_image, 641u * 3 * 2);
	EXPECT_EQ(packed_format(fourcc('Y', 'M', '2', '4'), 64, 8)->size_image, 64u * 8 * 3);
	EXPECT_FALSE(packed_format(pixfmt::SBGGR8, 641, 480));
	EXPECT_FALSE(packed_format(pixfmt::YV12, 640, 479));
}

TEST(Format, DriverStridesScaleToEveryPlane)
{
	// A driver padding I420's lines to 704 bytes pads the chroma's to 352.
	FrameFormat f = driver_format(pixfmt::YU12, 640, 480, 704, 704 * 480 * 3 / 2);
	EXPECT_EQ(f.num_planes, 3u);
	EXPECT_EQ(layout(f.planes[1]), layout({704 * 480, 352, 352 * 240}));
	EXPECT_EQ(f.planes[2].offset, 704u * 480 + 352 * 240);
	EXPECT_EQ(f.size_image, 704u * 480 * 3 / 2);
	// Formats zcap does not know are one plane of the driver's size.
	FrameFormat jpeg = driver_format(pixfmt::MJPEG, 640, 480, 0, 123456);
	EXPECT_EQ(jpeg.num_planes, 1u);
	EXPECT_EQ(jpeg.planes[0].size, 123456u);
}

TEST(Format, NamesCanBeTypedBack)
{
	EXPECT_EQ(parse_fourcc("Y16"), pixfmt::Y16);
	EXPECT_EQ(parse_fourcc("Y16 "), pixfmt::Y16);
	EXPECT_EQ(parse_fourcc("y10"), fourcc('Y', '1', '0', ' '));
	EXPECT_EQ(parse_fourcc("i420"), pixfmt::YU12);
	EXPECT_EQ(parse_fourcc("BGR24"), pixfmt::BGR24);
	EXPECT_EQ(parse_fourcc("Y16-BE"), pixfmt::Y16 | kBigEndianFourcc);
	EXPECT_EQ(fourcc_name(pixfmt::Y16), "Y16");
	EXPECT_EQ(fourcc_name(fourcc('H', '2', '6', ' ')), "H26");
	EXPECT_EQ(fourcc_name(fourcc('Z', 'Z', '1', '6') | kBigEndianFourcc), "ZZ16-BE");
	// Every name zcap prints parses back to its format, and no two clash.
	for (const PixelFormatInfo &info : pixel_formats()) {
		EXPECT_EQ(parse_fourcc(fourcc_name(info.fourcc)), info.fourcc) << info.name;
		if (*info.alias) {
			EXPECT_EQ(parse_fourcc(info.alias), info.fourcc) << info.alias;
		}
		EXPECT_EQ(format_info(info.fourcc), &info) << info.name << " is listed twice";
	}
}
