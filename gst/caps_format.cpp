// SPDX-License-Identifier: LGPL-2.1-or-later
// Caps <-> zcap frame formats: the pixel formats zcap records, by their
// GStreamer and V4L2 names, and the plane layout GstVideoInfo gives them.
#include "caps_format.h"

#include <gst/video/video.h>

#include <cstring>

#include <zcap/pattern.h>

namespace zcap::gst {

namespace {

/// zcap's largest frame side (format.h: packed_format()).
constexpr int kMaxSide = 16384;

constexpr const char *kRawCaps = "video/x-raw";
constexpr const char *kBayerCaps = "video/x-bayer";
constexpr const char *kJpegCaps = "image/jpeg";

/// GStreamer's names for Bayer orders ("bggr") are video/x-bayer formats,
/// unknown to GstVideoFormat; all others are video/x-raw formats.
bool is_bayer(const PixelFormatInfo &info)
{
	return gst_video_format_from_string(info.gstreamer) == GST_VIDEO_FORMAT_UNKNOWN;
}

/// Formats GStreamer has a name for and zcap takes in one buffer, in the
/// table's order (its first, YUY2, is the default, as for zcap record).
bool in_caps(const PixelFormatInfo &info)
{
	return *info.gstreamer && info.num_buffers == 1;
}

const PixelFormatInfo *by_gstreamer_name(const char *name, bool bayer)
{
	if (!name)
		return nullptr;
	for (const PixelFormatInfo &info : pixel_formats())
		if (in_caps(info) && is_bayer(info) == bayer && !std::strcmp(info.gstreamer, name))
			return &info;
	return nullptr;
}

/// The format names of @p bayer or raw formats (those @p keep accepts) as a
/// caps list; empty when there are none.
GValue format_list(bool bayer, bool pattern_only)
{
	GValue list = G_VALUE_INIT;
	gst_value_list_init(&list, 0);
	for (const PixelFormatInfo &info : pixel_formats()) {
		if (!in_caps(info) || is_bayer(info) != bayer ||
		    (pattern_only && !pattern::renders(info.fourcc)))
			continue;
		GValue name = G_VALUE_INIT;
		g_value_init(&name, G_TYPE_STRING);
		g_value_set_static_string(&name, info.gstreamer);
		gst_value_list_append_and_take_value(&list, &name);
	}
	return list;
}

/// Any size zcap accepts and any rate, on @p structure.
void set_any_size(GstStructure *structure)
{
	gst_structure_set(structure, "width", GST_TYPE_INT_RANGE, 1, kMaxSide, "height",
			  GST_TYPE_INT_RANGE, 1, kMaxSide, "framerate", GST_TYPE_FRACTION_RANGE, 0,
			  1, G_MAXINT, 1, nullptr);
}

/// The size fixed caps give, within zcap's limits.
bool caps_size(const GstStructure *structure, int &width, int &height)
{
	return gst_structure_get_int(structure, "width", &width) &&
	       gst_structure_get_int(structure, "height", &height) && width > 0 && height > 0 &&
	       width <= kMaxSide && height <= kMaxSide;
}

/// The rate fixed caps give: 0/1 when they have none.
FrameRate caps_rate(const GstStructure *structure)
{
	int num = 0, den = 1;
	if (!gst_structure_get_fraction(structure, "framerate", &num, &den) || num < 0 || den <= 0)
		num = 0, den = 1;
	return {uint32_t(num), uint32_t(den)};
}

/// Bayer lines in GStreamer are 4-byte aligned (bayer2rgb's stride is
/// GST_ROUND_UP_4 (width)); zcap's are the width: they agree on widths of
/// a multiple of 4, and only those are taken.
constexpr int kBayerWidthMultiple = 4;

std::optional<FrameFormat> bayer_format(const GstStructure *structure)
{
	int width = 0, height = 0;
	const PixelFormatInfo *info =
		by_gstreamer_name(gst_structure_get_string(structure, "format"), true);
	if (!info || !caps_size(structure, width, height) || width % kBayerWidthMultiple)
		return std::nullopt;
	return packed_format(info->fourcc, uint32_t(width), uint32_t(height));
}

std::optional<FrameFormat> jpeg_format(const GstStructure *structure)
{
	int width = 0, height = 0;
	if (!caps_size(structure, width, height))
		return std::nullopt;
	// A JPEG per frame, of varying size: frames carry their bytes_used.
	FrameFormat format;
	format.fourcc = pixfmt::MJPEG;
	format.width = uint32_t(width);
	format.height = uint32_t(height);
	format.num_planes = 1;
	return format;
}

} // namespace

GstCaps *all_formats_caps(bool pattern_only)
{
	GstCaps *caps = gst_caps_new_empty();
	for (bool bayer : {false, true}) {
		GstStructure *structure = gst_structure_new_empty(bayer ? kBayerCaps : kRawCaps);
		GValue list = format_list(bayer, pattern_only);
		gst_structure_take_value(structure, "format", &list);
		set_any_size(structure);
		gst_caps_append_structure(caps, structure);
	}
	if (!pattern_only) {
		GstStructure *jpeg = gst_structure_new_empty(kJpegCaps);
		set_any_size(jpeg);
		gst_caps_append_structure(caps, jpeg);
	}
	return caps;
}

GstStructure *format_structure(uint32_t fourcc)
{
	if (fourcc == pixfmt::MJPEG)
		return gst_structure_new_empty(kJpegCaps);
	const PixelFormatInfo *info = format_info(fourcc);
	if (!info || !in_caps(*info))
		return nullptr;
	return gst_structure_new(is_bayer(*info) ? kBayerCaps : kRawCaps, "format", G_TYPE_STRING,
				 info->gstreamer, nullptr);
}

std::optional<FrameFormat> caps_to_format(const GstCaps *caps, FrameRate *rate)
{
	if (!caps || !gst_caps_is_fixed(caps))
		return std::nullopt;
	const GstStructure *structure = gst_caps_get_structure(caps, 0);
	const bool jpeg = gst_structure_has_name(structure, kJpegCaps);
	if (jpeg || gst_structure_has_name(structure, kBayerCaps)) {
		auto format = jpeg ? jpeg_format(structure) : bayer_format(structure);
		if (format && rate)
			*rate = caps_rate(structure);
		return format;
	}

	GstVideoInfo info;
	if (!gst_video_info_from_caps(&info, caps))
		return std::nullopt;
	const PixelFormatInfo *known =
		by_gstreamer_name(gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&info)), false);
	const uint32_t fourcc = known ? known->fourcc : 0;
	const uint32_t width = GST_VIDEO_INFO_WIDTH(&info);
	const uint32_t height = GST_VIDEO_INFO_HEIGHT(&info);
	// Sizes the format cannot have (odd widths of 4:2:2, ...) are refused
	// as zcap's own layout refuses them.
	if (!fourcc || !packed_format(fourcc, width, height))
		return std::nullopt;

	FrameFormat format;
	format.fourcc = fourcc;
	format.width = width;
	format.height = height;
	format.num_planes = GST_VIDEO_INFO_N_PLANES(&info);
	format.size_image = uint32_t(GST_VIDEO_INFO_SIZE(&info));
	for (uint32_t i = 0; i < format.num_planes; ++i) {
		// GstVideoInfo's planes follow each other: a plane ends where
		// the next one, or the frame, starts.
		const size_t offset = GST_VIDEO_INFO_PLANE_OFFSET(&info, i);
		const size_t end = i + 1 < format.num_planes
					   ? GST_VIDEO_INFO_PLANE_OFFSET(&info, i + 1)
					   : GST_VIDEO_INFO_SIZE(&info);
		format.planes[i] = {uint32_t(offset),
				    uint32_t(GST_VIDEO_INFO_PLANE_STRIDE(&info, i)),
				    uint32_t(end - offset)};
	}
	if (rate)
		*rate = {uint32_t(GST_VIDEO_INFO_FPS_N(&info)),
			 uint32_t(GST_VIDEO_INFO_FPS_D(&info))};
	return format;
}

bool is_raw_caps(const GstCaps *caps)
{
	return caps && gst_caps_get_size(caps) &&
	       gst_structure_has_name(gst_caps_get_structure(caps, 0), kRawCaps);
}

GstCaps *format_to_caps(const FrameFormat &format, FrameRate rate)
{
	GstStructure *structure = format_structure(format.fourcc);
	if (!structure)
		return nullptr;
	gst_structure_set(structure, "width", G_TYPE_INT, int(format.width), "height", G_TYPE_INT,
			  int(format.height), "framerate", GST_TYPE_FRACTION, int(rate.num),
			  int(rate.den), nullptr);
	if (gst_structure_has_name(structure, kRawCaps))
		gst_structure_set(structure, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1,
				  "interlace-mode", G_TYPE_STRING, "progressive", nullptr);
	return gst_caps_new_full(structure, nullptr);
}

} // namespace zcap::gst
