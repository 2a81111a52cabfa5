// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/v4l2_query.h>

#include <linux/videodev2.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include <zcap/format.h>

#include "video_device.h"

namespace zcap {

namespace {

std::string text(const uint8_t *bytes)
{
	return reinterpret_cast<const char *>(bytes);
}

uint32_t node_caps(const v4l2_capability &cap)
{
	return cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
}

/// The frame rates of one size into @p sizes; returns them as text: " @ 30,
/// 25 fps", a range, or nothing.
std::string intervals(VideoDevice &dev, uint32_t fourcc, V4l2FrameSizes &sizes)
{
	std::vector<std::string> rates;
	v4l2_frmivalenum iv{};
	iv.pixel_format = fourcc;
	iv.width = sizes.max_width;
	iv.height = sizes.max_height;
	for (iv.index = 0; dev.ioctl(VIDIOC_ENUM_FRAMEINTERVALS, &iv) == 0; ++iv.index) {
		if (iv.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
			// A rate is the inverse of a frame interval.
			sizes.rates.push_back({iv.discrete.denominator, iv.discrete.numerator});
			rates.push_back(fmt::format("{:g}", double(iv.discrete.denominator) /
								    iv.discrete.numerator));
		} else {
			sizes.rates.clear();
			sizes.min_rate = {iv.stepwise.max.denominator, iv.stepwise.max.numerator};
			sizes.max_rate = {iv.stepwise.min.denominator, iv.stepwise.min.numerator};
			return fmt::format(" @ {:g}-{:g} fps", sizes.min_rate.value(),
					   sizes.max_rate.value());
		}
	}
	return rates.empty() ? "" : fmt::format(" @ {} fps", fmt::join(rates, ", "));
}

} // namespace

bool V4l2DeviceInfo::capture() const
{
	return caps & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE);
}

std::string V4l2DeviceInfo::caps_text() const
{
	std::vector<std::string> words;
	if (caps & V4L2_CAP_VIDEO_CAPTURE)
		words.emplace_back("capture");
	if (caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE)
		words.emplace_back("capture-mplane");
	if (caps & (V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_VIDEO_OUTPUT_MPLANE))
		words.emplace_back("output");
	if (caps & V4L2_CAP_META_CAPTURE)
		words.emplace_back("metadata");
	if (caps & V4L2_CAP_STREAMING)
		words.emplace_back("streaming");
	if (caps & V4L2_CAP_READWRITE)
		words.emplace_back("read/write");
	return fmt::format("{}", fmt::join(words, " "));
}

std::vector<V4l2DeviceInfo> list_v4l2_devices()
{
	std::vector<std::string> paths;
	std::error_code ec;
	for (const auto &entry : std::filesystem::directory_iterator("/dev", ec))
		if (entry.path().filename().string().starts_with("video"))
			paths.push_back(entry.path().string());
	std::sort(paths.begin(), paths.end(), [](const std::string &a, const std::string &b) {
		return a.size() != b.size() ? a.size() < b.size() : a < b;
	});

	std::vector<V4l2DeviceInfo> devices;
	for (const std::string &path : paths) {
		Status status;
		auto dev = open_video_device(path, status);
		v4l2_capability cap{};
		if (!dev || dev->ioctl(VIDIOC_QUERYCAP, &cap) < 0)
			continue;
		devices.push_back({path, text(cap.driver), text(cap.card), text(cap.bus_info),
				   node_caps(cap)});
	}
	return devices;
}

std::vector<V4l2FormatInfo> list_v4l2_formats(const std::string &path, Status &status)
{
	std::vector<V4l2FormatInfo> formats;
	auto dev = open_video_device(path, status);
	if (!dev)
		return formats;
	v4l2_capability cap{};
	if (int ret = dev->ioctl(VIDIOC_QUERYCAP, &cap); ret < 0) {
		status = Status::from_errno(-ret, path + ": not a V4L2 device");
		return formats;
	}
	uint32_t caps = node_caps(cap);
	if (!(caps & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE))) {
		status = Status::invalid(path + " (" + text(cap.card) +
					 ") is not a video capture device");
		return formats;
	}

	v4l2_fmtdesc desc{};
	desc.type = caps & V4L2_CAP_VIDEO_CAPTURE ? V4L2_BUF_TYPE_VIDEO_CAPTURE
						  : V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	for (desc.index = 0; dev->ioctl(VIDIOC_ENUM_FMT, &desc) == 0; ++desc.index) {
		V4l2FormatInfo info{desc.pixelformat,
				    text(desc.description),
				    bool(desc.flags & V4L2_FMT_FLAG_COMPRESSED),
				    {},
				    {}};
		v4l2_frmsizeenum size{};
		size.pixel_format = desc.pixelformat;
		for (size.index = 0; dev->ioctl(VIDIOC_ENUM_FRAMESIZES, &size) == 0; ++size.index) {
			V4l2FrameSizes sizes;
			if (size.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
				auto [w, h] = std::pair(size.discrete.width, size.discrete.height);
				sizes.min_width = sizes.max_width = w;
				sizes.min_height = sizes.max_height = h;
				std::string rates = intervals(*dev, desc.pixelformat, sizes);
				info.sizes.push_back(fmt::format("{}x{}{}", w, h, rates));
				info.frame_sizes.push_back(std::move(sizes));
			} else {
				const auto &s = size.stepwise;
				sizes.min_width = s.min_width;
				sizes.max_width = s.max_width;
				sizes.step_width = std::max(s.step_width, 1u);
				sizes.min_height = s.min_height;
				sizes.max_height = s.max_height;
				sizes.step_height = std::max(s.step_height, 1u);
				std::string rates = intervals(*dev, desc.pixelformat, sizes);
				info.sizes.push_back(fmt::format(
					"{}x{} to {}x{} in steps of {}x{}{}", s.min_width,
					s.min_height, s.max_width, s.max_height, s.step_width,
					s.step_height, rates));
				info.frame_sizes.push_back(std::move(sizes));
				break;
			}
		}
		formats.push_back(std::move(info));
	}
	return formats;
}

} // namespace zcap
