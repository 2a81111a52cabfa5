// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <zcap/format.h>
#include <zcap/status.h>

namespace zcap {

/// A V4L2 node as VIDIOC_QUERYCAP describes it.
struct V4l2DeviceInfo {
	std::string path;
	std::string driver;
	std::string card;
	std::string bus;
	uint32_t caps = 0; ///< the node's own capabilities (device_caps)
	bool capture() const;
	/// "capture mplane streaming ...": the capabilities zcap cares about.
	std::string caps_text() const;
};

/// Every /dev/video* node that answers QUERYCAP, in name order.
std::vector<V4l2DeviceInfo> list_v4l2_devices();

/// A frame size a format offers, or a range of them, with its frame rates,
/// for programs that choose among them (the GStreamer element's caps).
struct V4l2FrameSizes {
	uint32_t min_width = 0, max_width = 0, step_width = 1; ///< one size: min == max
	uint32_t min_height = 0, max_height = 0, step_height = 1;
	/// The rates the device lists for the (largest) size; empty when it
	/// gives a range instead, or nothing.
	std::vector<FrameRate> rates;
	/// The range of rates, when the device gives one (unlimited: none).
	FrameRate min_rate, max_rate;
};

/// One pixel format a capture node offers, with its sizes and rates.
struct V4l2FormatInfo {
	uint32_t fourcc = 0;
	std::string description;
	bool compressed = false;
	/// One line per size: "640x480 @ 30, 25 fps" or a stepwise range.
	std::vector<std::string> sizes;
	/// The same sizes and rates as numbers.
	std::vector<V4l2FrameSizes> frame_sizes;
};

/// The formats, sizes and frame intervals of a capture node.
std::vector<V4l2FormatInfo> list_v4l2_formats(const std::string &path, Status &status);

} // namespace zcap
