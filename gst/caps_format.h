// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <optional>

#include <gst/gst.h>

#include <zcap/format.h>

namespace zcap::gst {

/// Caps for every format zcap records: video/x-raw in YUY2, UYVY, NV12,
/// GRAY8, RGB and BGRA, and image/jpeg; any size zcap accepts, any rate.
GstCaps *all_formats_caps();

/// A caps structure that names @p fourcc (video/x-raw with its format, or
/// image/jpeg) and nothing else, or null for a format zcap cannot record.
GstStructure *format_structure(uint32_t fourcc);

/// The zcap layout fixed @p caps describe (planes, strides and sizes as
/// GstVideoInfo gives them), or nothing for caps zcap cannot record. Sets
/// @p rate when given (0/1 when the caps have none).
std::optional<FrameFormat> caps_to_format(const GstCaps *caps, FrameRate *rate = nullptr);

/// Fixed caps for @p format at @p rate (unlimited: 0/1).
GstCaps *format_to_caps(const FrameFormat &format, FrameRate rate);

} // namespace zcap::gst
