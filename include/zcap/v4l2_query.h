// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

/// One pixel format a capture node offers, with its sizes and rates.
struct V4l2FormatInfo {
	uint32_t fourcc = 0;
	std::string description;
	bool compressed = false;
	/// One line per size: "640x480 @ 30, 25 fps" or a stepwise range.
	std::vector<std::string> sizes;
};

/// The formats, sizes and frame intervals of a capture node.
std::vector<V4l2FormatInfo> list_v4l2_formats(const std::string &path, Status &status);

} // namespace zcap
