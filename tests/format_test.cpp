// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/format.h>

#include <gtest/gtest.h>

using namespace zcap;

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
