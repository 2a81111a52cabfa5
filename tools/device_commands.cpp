// SPDX-License-Identifier: LGPL-2.1-or-later
#include "device_commands.h"

#include <string_view>

#include <fmt/format.h>

#include <zcap/format.h>
#include <zcap/v4l2_query.h>

#include "cli.h"

namespace zcap::cli {

int devices_main(int argc, char **argv)
{
	if (argc > 1) {
		std::string_view arg = argv[1];
		if (arg == "-h" || arg == "--help") {
			fmt::print(
				"Usage: zcap devices\n\nLists V4L2 device nodes with their driver, "
				"card and capabilities.\n");
			return kExitOk;
		}
		fmt::print(stderr, "zcap devices: unexpected argument '{}'\n", arg);
		return kExitUsage;
	}
	auto devices = list_v4l2_devices();
	if (devices.empty()) {
		fmt::print("no V4L2 devices (zcap record uses the built-in pattern)\n");
		return kExitOk;
	}
	for (const V4l2DeviceInfo &d : devices)
		fmt::print("{}\t{}\t{}\t{}\t{}\n", d.path, d.driver, d.card, d.bus, d.caps_text());
	return kExitOk;
}

namespace {

/// Every format of the table: its names, planes, and who reads it in Matroska.
void print_known_formats()
{
	for (const PixelFormatInfo &f : pixel_formats()) {
		std::string names = *f.alias ? fmt::format("{} ({})", f.name, f.alias) : f.name;
		std::string planes = f.num_buffers > 1 ? fmt::format("{} planes in {} buffers",
								     f.num_planes, f.num_buffers)
						       : fmt::format("{} plane{}", f.num_planes,
								     f.num_planes > 1 ? "s" : "");
		std::string readers;
		if (*f.ffmpeg_reads)
			readers = fmt::format("FFmpeg ({})", f.ffmpeg_reads);
		if (f.gstreamer_reads)
			readers += readers.empty() ? "GStreamer" : ", GStreamer";
		fmt::print("{:<16} {:<22} Matroska: {}\n", names, planes,
			   readers.empty() ? "no reader (--container raw)" : readers);
	}
}

} // namespace

int formats_main(int argc, char **argv)
{
	std::string device;
	for (int i = 1; i < argc; ++i) {
		std::string_view arg = argv[i];
		if (arg == "-h" || arg == "--help") {
			fmt::print(
				"Usage: zcap formats [-d DEVICE]\n\nLists the pixel formats, frame "
				"sizes and frame rates a capture node offers; without a device,\n"
				"the formats zcap knows the layout of, with the readers of their\n"
				"Matroska files. Either way, the names are what --format takes.\n");
			return kExitOk;
		}
		if ((arg == "-d" || arg == "--device") && i + 1 < argc) {
			device = argv[++i];
			continue;
		}
		fmt::print(stderr,
			   "zcap formats: unexpected argument '{}' (see zcap formats --help)\n",
			   arg);
		return kExitUsage;
	}
	if (device.empty()) {
		print_known_formats();
		return kExitOk;
	}
	Status status;
	auto formats = list_v4l2_formats(device, status);
	if (!status) {
		fmt::print(stderr, "zcap formats: {}\n", status.message());
		return kExitFailure;
	}
	for (const V4l2FormatInfo &f : formats) {
		fmt::print("{} ({}{})\n", fourcc_name(f.fourcc), f.description,
			   f.compressed ? ", compressed" : "");
		for (const std::string &size : f.sizes)
			fmt::print("  {}\n", size);
	}
	return kExitOk;
}

} // namespace zcap::cli
