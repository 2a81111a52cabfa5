// SPDX-License-Identifier: LGPL-2.1-or-later
#include "source_spec.h"

#include <fmt/format.h>

#include <zcap/pattern.h>

namespace zcap::cli {

uint32_t parse_format_option(std::string_view text)
{
	auto code = parse_fourcc(text);
	// Cameras may offer formats zcap has no name for (MJPG, ...); V4L2 pads
	// short fourccs with spaces.
	if (!code && !text.empty() && text.size() <= 4) {
		std::string padded(text);
		padded.resize(4, ' ');
		code = fourcc(padded[0], padded[1], padded[2], padded[3]);
	}
	if (!code)
		throw UsageError(
			fmt::format("unknown format '{}': expected a fourcc or a name from "
				    "zcap formats (YUYV, I420, NV12, Y16, BGR24, ...)",
				    text));
	return *code;
}

IoMode parse_io_option(std::string_view text)
{
	if (auto mode = parse_io_mode(text))
		return *mode;
	throw UsageError(
		fmt::format("invalid I/O mode '{}': expected auto, userptr, mmap or dmabuf", text));
}

SourceSpec parse_source_spec(std::string_view text)
{
	SourceSpec spec;
	size_t comma = text.find(',');
	spec.source = std::string(text.substr(0, comma));
	if (spec.source.empty())
		throw UsageError(fmt::format("invalid source '{}': expected pattern, auto or a "
					     "path such as /dev/video0",
					     text));
	while (comma != std::string_view::npos) {
		text.remove_prefix(comma + 1);
		comma = text.find(',');
		std::string_view item = text.substr(0, comma);
		size_t equals = item.find('=');
		std::string_view key = item.substr(0, equals);
		std::string_view value =
			equals == std::string_view::npos ? "" : item.substr(equals + 1);
		if (key == "size")
			spec.size = parse_size(value);
		else if (key == "format" || key == "f")
			spec.fourcc = parse_format_option(value);
		else if (key == "fps")
			spec.rate = parse_rate(value);
		else if (key == "io")
			spec.io = parse_io_option(value);
		else
			throw UsageError(fmt::format("unknown source option '{}' in '{}': expected "
						     "size=WxH, format=F, fps=N or io=MODE",
						     item, spec.source));
	}
	return spec;
}

void check_pattern_format(uint32_t code, std::pair<uint32_t, uint32_t> size)
{
	if (!pattern::renders(code))
		throw UsageError(
			fmt::format("the built-in pattern cannot make {}", fourcc_name(code)));
	if (!packed_format(code, size.first, size.second))
		throw UsageError(size_refusal(code, size.first, size.second));
}

RecordOptions camera_options(const RecordOptions &o, size_t index)
{
	const SourceSpec &spec = o.sources.at(index);
	RecordOptions camera = o;
	camera.sources.clear();
	camera.source = spec.source;
	if (spec.size)
		camera.size = spec.size;
	if (spec.fourcc)
		camera.fourcc = spec.fourcc;
	if (spec.rate)
		camera.rate = spec.rate;
	if (spec.io)
		camera.io = *spec.io;
	return camera;
}

std::filesystem::path camera_path(const std::filesystem::path &pattern, size_t index)
{
	std::string name = pattern.string();
	std::string number = std::to_string(index + 1);
	for (size_t at = name.find(kCameraToken); at != std::string::npos;
	     at = name.find(kCameraToken, at + number.size()))
		name.replace(at, kCameraToken.size(), number);
	return name;
}

} // namespace zcap::cli
