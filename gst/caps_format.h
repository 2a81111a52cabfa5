// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <optional>

#include <gst/gst.h>

#include <zcap/format.h>

namespace zcap::gst {

/// Caps for every format zcap records: video/x-raw in every format of the
/// table GStreamer names (YUY2, I420, YV12, NV12, NV21, AYUV, GRAY8,
/// GRAY16_LE, RGB, BGR, BGRx, BGRA, ...), video/x-bayer (bggr, gbrg, grbg,
/// rggb) and image/jpeg; any size zcap accepts, any rate. @p pattern_only:
/// only the raw and Bayer formats the built-in pattern draws.
GstCaps *all_formats_caps(bool pattern_only = false);

/// A caps structure that names @p fourcc (video/x-raw or video/x-bayer with
/// its format, or image/jpeg) and nothing else, or null for a format zcap cannot record.
GstStructure *format_structure(uint32_t fourcc);

/// The zcap layout fixed @p caps describe (planes, strides and sizes as
/// GstVideoInfo gives them), or nothing for caps zcap cannot record. Sets
/// @p rate when given (0/1 when the caps have none).
std::optional<FrameFormat> caps_to_format(const GstCaps *caps, FrameRate *rate = nullptr);

/// Whether @p caps are video/x-raw, the caps GstVideoInfo and GstVideoMeta
/// describe (it parses video/x-bayer too, as an encoded format of no planes).
bool is_raw_caps(const GstCaps *caps);

/// Fixed caps for @p format at @p rate (unlimited: 0/1).
GstCaps *format_to_caps(const FrameFormat &format, FrameRate rate);

} // namespace zcap::gst
