// SPDX-License-Identifier: LGPL-2.1-or-later
// Caps <-> zcap frame formats: the pixel formats zcap records, by their
// GStreamer and V4L2 names, and the plane layout GstVideoInfo gives them.
#include "caps_format.h"

#include <gst/video/video.h>

namespace zcap::gst {

namespace {

/// zcap's largest frame side (format.h: packed_format()).
constexpr int kMaxSide = 16384;

/// Raw formats by their V4L2 fourcc and GStreamer name; the first is the
/// default, as for zcap record.
struct RawFormat {
	uint32_t fourcc;
	GstVideoFormat video;
};

constexpr RawFormat kRawFormats[] = {
	{pixfmt::YUYV, GST_VIDEO_FORMAT_YUY2}, {pixfmt::UYVY, GST_VIDEO_FORMAT_UYVY},
	{pixfmt::NV12, GST_VIDEO_FORMAT_NV12}, {pixfmt::GREY, GST_VIDEO_FORMAT_GRAY8},
	{pixfmt::RGB24, GST_VIDEO_FORMAT_RGB}, {pixfmt::BGRA, GST_VIDEO_FORMAT_BGRA},
};

constexpr const char *kJpegCaps = "image/jpeg";

GstVideoFormat video_format(uint32_t fourcc)
{
	for (const RawFormat &f : kRawFormats)
		if (f.fourcc == fourcc)
			return f.video;
	return GST_VIDEO_FORMAT_UNKNOWN;
}

uint32_t raw_fourcc(GstVideoFormat video)
{
	for (const RawFormat &f : kRawFormats)
		if (f.video == video)
			return f.fourcc;
	return 0;
}

/// Any size zcap accepts and any rate, on @p structure.
void set_any_size(GstStructure *structure)
{
	gst_structure_set(structure, "width", GST_TYPE_INT_RANGE, 1, kMaxSide, "height",
			  GST_TYPE_INT_RANGE, 1, kMaxSide, "framerate", GST_TYPE_FRACTION_RANGE, 0,
			  1, G_MAXINT, 1, nullptr);
}

std::optional<FrameFormat> jpeg_format(const GstStructure *structure)
{
	int width = 0, height = 0;
	if (!gst_structure_get_int(structure, "width", &width) ||
	    !gst_structure_get_int(structure, "height", &height) || width <= 0 || height <= 0 ||
	    width > kMaxSide || height > kMaxSide)
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

GstCaps *all_formats_caps()
{
	GstCaps *caps = gst_caps_new_empty();
	GstStructure *raw = gst_structure_new_empty("video/x-raw");
	GValue list = G_VALUE_INIT;
	gst_value_list_init(&list, G_N_ELEMENTS(kRawFormats));
	for (const RawFormat &f : kRawFormats) {
		GValue name = G_VALUE_INIT;
		g_value_init(&name, G_TYPE_STRING);
		g_value_set_static_string(&name, gst_video_format_to_string(f.video));
		gst_value_list_append_and_take_value(&list, &name);
	}
	gst_structure_take_value(raw, "format", &list);
	set_any_size(raw);
	gst_caps_append_structure(caps, raw);

	GstStructure *jpeg = gst_structure_new_empty(kJpegCaps);
	set_any_size(jpeg);
	gst_caps_append_structure(caps, jpeg);
	return caps;
}

GstStructure *format_structure(uint32_t fourcc)
{
	if (fourcc == pixfmt::MJPEG)
		return gst_structure_new_empty(kJpegCaps);
	GstVideoFormat video = video_format(fourcc);
	if (video == GST_VIDEO_FORMAT_UNKNOWN)
		return nullptr;
	return gst_structure_new("video/x-raw", "format", G_TYPE_STRING,
				 gst_video_format_to_string(video), nullptr);
}

std::optional<FrameFormat> caps_to_format(const GstCaps *caps, FrameRate *rate)
{
	if (!caps || !gst_caps_is_fixed(caps))
		return std::nullopt;
	const GstStructure *structure = gst_caps_get_structure(caps, 0);
	if (gst_structure_has_name(structure, kJpegCaps)) {
		auto format = jpeg_format(structure);
		if (format && rate) {
			int num = 0, den = 1;
			if (!gst_structure_get_fraction(structure, "framerate", &num, &den) ||
			    num < 0 || den <= 0)
				num = 0, den = 1;
			*rate = {uint32_t(num), uint32_t(den)};
		}
		return format;
	}

	GstVideoInfo info;
	if (!gst_video_info_from_caps(&info, caps))
		return std::nullopt;
	const uint32_t fourcc = raw_fourcc(GST_VIDEO_INFO_FORMAT(&info));
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

GstCaps *format_to_caps(const FrameFormat &format, FrameRate rate)
{
	GstStructure *structure = format_structure(format.fourcc);
	if (!structure)
		return nullptr;
	gst_structure_set(structure, "width", G_TYPE_INT, int(format.width), "height", G_TYPE_INT,
			  int(format.height), "framerate", GST_TYPE_FRACTION, int(rate.num),
			  int(rate.den), nullptr);
	if (format.fourcc != pixfmt::MJPEG)
		gst_structure_set(structure, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1,
				  "interlace-mode", G_TYPE_STRING, "progressive", nullptr);
	return gst_caps_new_full(structure, nullptr);
}

} // namespace zcap::gst
