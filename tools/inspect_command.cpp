// SPDX-License-Identifier: LGPL-2.1-or-later
#include "inspect_command.h"

#include <getopt.h>

#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "../sinks/matroska_reader.h"
#include "cli.h"

namespace zcap::cli {

namespace {

constexpr const char *kInspectUsage =
	R"(Usage: zcap inspect [--json] [--format FOURCC --size WxH] FILE

Tells what a recording holds. For a Matroska file (from zcap, FFmpeg,
GStreamer, ...): its tracks, how many frames, how long, the gaps in its
timestamps, and whether it was finished cleanly or the recording was
interrupted. For a raw recording (frames back to back, no header), given
its format and size: how many whole frames it holds.

Options:
      --json             print one JSON object instead of lines of text
  -f, --format FOURCC    the frames of a raw recording: YUYV, UYVY, NV12,
                         GREY, RGB24 or BGRA
      --size WxH         their size
  -h, --help             show this help

Exit status: 0 the file was read (finished or not), 1 it cannot be read or
is not a recording, 2 bad arguments.
)";

struct InspectOptions {
	std::filesystem::path file;
	bool json = false;
	std::optional<FrameFormat> raw; ///< set: the file is a raw recording
	bool help = false;
};

InspectOptions parse_options(int argc, char **argv)
{
	enum { kJson = 256, kSize };
	static const option longopts[] = {
		{"json", no_argument, nullptr, kJson},
		{"format", required_argument, nullptr, 'f'},
		{"size", required_argument, nullptr, kSize},
		{"help", no_argument, nullptr, 'h'},
		{},
	};

	InspectOptions o;
	std::optional<uint32_t> code;
	std::optional<std::pair<uint32_t, uint32_t>> size;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":f:h", longopts, nullptr)) != -1) {
		std::string_view arg = optarg ? optarg : "";
		switch (c) {
		case kJson:
			o.json = true;
			break;
		case 'f':
			code = parse_fourcc(arg);
			if (!code)
				throw UsageError(fmt::format("unknown format '{}': expected a "
							     "name from zcap formats",
							     arg));
			break;
		case kSize:
			size = parse_size(arg);
			break;
		case 'h':
			o.help = true;
			return o;
		case ':':
			throw UsageError(
				fmt::format("option '{}' needs a value", argv[optind - 1]));
		default:
			throw UsageError(fmt::format(
				"unknown option '{}' (see zcap inspect --help)", argv[optind - 1]));
		}
	}
	if (optind == argc)
		throw UsageError("no file given (see zcap inspect --help)");
	if (argc - optind > 1)
		throw UsageError(fmt::format("unexpected argument '{}'", argv[optind + 1]));
	o.file = argv[optind];
	if (code.has_value() != size.has_value())
		throw UsageError("a raw recording needs both --format FOURCC and --size WxH");
	if (code) {
		auto [w, h] = *size;
		o.raw = packed_format(*code, w, h);
		if (!o.raw)
			throw UsageError(size_refusal(*code, w, h));
	}
	return o;
}

/// A JSON string: control characters and bytes beyond ASCII escaped, so
/// that whatever a file names stays valid JSON.
std::string json_string(std::string_view s)
{
	std::string out = "\"";
	for (char c : s) {
		auto u = static_cast<unsigned char>(c);
		if (c == '"' || c == '\\')
			out += fmt::format("\\{}", c);
		else if (u < 0x20 || u >= 0x7f)
			out += fmt::format("\\u{:04x}", u);
		else
			out += c;
	}
	return out + "\"";
}

/// @p s with anything but printable ASCII shown as '?': one line of text
/// whatever a file names.
std::string printable(std::string_view s)
{
	std::string out;
	for (char c : s)
		out += c >= 0x20 && c < 0x7f ? c : '?';
	return out;
}

/// A number, or null when there is none (JSON has no infinity).
std::string json_number(std::optional<double> value)
{
	return value && std::isfinite(*value) ? fmt::format("{:.3f}", *value) : "null";
}

/// A ColourSpace fourcc as FFmpeg prints one: "YUY2", "RGB[24]".
std::string fourcc_text(uint32_t code)
{
	std::string out;
	for (int i = 0; i < 4; ++i) {
		auto c = static_cast<unsigned char>(code >> (8 * i));
		out += c >= 0x20 && c < 0x7f ? fmt::format("{}", char(c)) : fmt::format("[{}]", c);
	}
	return out;
}

std::string track_type(uint64_t type)
{
	switch (type) {
	case 1:
		return "video";
	case 2:
		return "audio";
	case 17:
		return "subtitle";
	case 0:
		return "unknown";
	default:
		return fmt::format("type {}", type);
	}
}

/// "30", "29.97": a rate without trailing zeros.
std::string rate_text(double fps)
{
	std::string text = fmt::format("{:.3f}", fps);
	text.erase(text.find_last_not_of('0') + 1);
	if (text.ends_with('.'))
		text.pop_back();
	return text;
}

std::optional<double> fps(const matroska::TrackSummary &t)
{
	if (!t.default_duration_ns)
		return std::nullopt;
	return 1e9 / double(t.default_duration_ns);
}

void print_text(const std::filesystem::path &file, const matroska::Summary &s)
{
	std::string app = s.writing_app.empty() ? "" : ", written by " + printable(s.writing_app);
	fmt::print("{}: Matroska (DocType {}){}\n", file.string(), s.doc_type, app);
	for (const matroska::TrackSummary &t : s.tracks) {
		std::vector<std::string> parts;
		if (t.declared) {
			parts.push_back(track_type(t.type));
			parts.push_back(t.codec_id.empty() ? "no CodecID" : printable(t.codec_id));
		} else {
			parts.push_back("no TrackEntry");
		}
		if (t.width || t.height)
			parts.push_back(fmt::format("{}x{}", t.width, t.height));
		if (t.colour_space)
			parts.push_back("ColourSpace " + fourcc_text(t.colour_space));
		if (auto rate = fps(t))
			parts.push_back(rate_text(*rate) + " fps");
		fmt::print("track {}: {}: {} frames\n", t.number, fmt::join(parts, ", "), t.frames);
	}

	std::string blocks = fmt::format("{} SimpleBlocks", s.simple_blocks);
	if (s.group_blocks)
		blocks += fmt::format(", {} Blocks in BlockGroups", s.group_blocks);
	if (s.laced_blocks)
		blocks += fmt::format(", {} of them laced (each laced frame counted)",
				      s.laced_blocks);
	fmt::print("frames: {} ({})\n", s.frames, blocks);

	std::string info = s.info_duration_ms
				   ? fmt::format("Info Duration {:.1f} ms", *s.info_duration_ms)
				   : "no Info Duration";
	if (s.duration_ms)
		fmt::print("duration: {:.1f} ms from block timestamps; {}\n", *s.duration_ms, info);
	else
		fmt::print("duration: no blocks; {}\n", info);

	if (const auto &g = s.largest_gap)
		fmt::print("gaps: {} longer than 1.5 frames; the largest {:.1f} ms on track {} "
			   "after frame {} (at {:.1f} ms)\n",
			   s.gaps, g->length_ms, g->track, g->after_frame, g->at_ms);
	else
		fmt::print("gaps: none\n");

	if (s.finished()) {
		fmt::print("finished cleanly: Segment size known, Cues present, Duration "
			   "present\n");
		return;
	}
	fmt::print("not finished cleanly (recording was interrupted): {} complete frames\n",
		   s.frames);
	fmt::print("  Segment size {}, {}, {}\n", s.segment_size_known ? "known" : "unknown",
		   s.cues ? "Cues present" : "no Cues",
		   s.info_duration_ms ? "Duration present" : "no Duration");
	if (s.cut_short)
		fmt::print("  the file ends inside {} at offset {}\n", s.cut_short->first,
			   s.cut_short->second);
	if (s.trailing_bytes())
		fmt::print("  {} trailing bytes from offset {} are not part of any complete "
			   "element ({})\n",
			   s.trailing_bytes(), s.elements_end,
			   s.trailing_zeros ? "all zeros" : "not all zeros");
}

void print_json(const std::filesystem::path &file, const matroska::Summary &s)
{
	std::vector<std::string> tracks;
	for (const matroska::TrackSummary &t : s.tracks)
		tracks.push_back(fmt::format(
			"{{\"number\": {}, \"declared\": {}, \"type\": {}, \"codec_id\": {}, "
			"\"width\": {}, \"height\": {}, \"colour_space\": {}, "
			"\"default_duration_ns\": {}, \"fps\": {}, \"frames\": {}, \"blocks\": {}, "
			"\"laced_blocks\": {}, \"gaps\": {}}}",
			t.number, t.declared, json_string(track_type(t.type)),
			json_string(t.codec_id), t.width, t.height,
			t.colour_space ? json_string(fourcc_text(t.colour_space)) : "null",
			t.default_duration_ns, json_number(fps(t)), t.frames, t.blocks,
			t.laced_blocks, t.gaps));
	std::string largest = "null";
	if (const auto &g = s.largest_gap)
		largest = fmt::format("{{\"track\": {}, \"after_frame\": {}, \"at_ms\": {}, "
				      "\"length_ms\": {}}}",
				      g->track, g->after_frame, json_number(g->at_ms),
				      json_number(g->length_ms));
	std::string cut = "null";
	if (s.cut_short)
		cut = fmt::format("{{\"element\": {}, \"offset\": {}}}",
				  json_string(s.cut_short->first), s.cut_short->second);
	fmt::print("{{\"file\": {}, \"container\": \"matroska\", \"doc_type\": {}, "
		   "\"muxing_app\": {}, \"writing_app\": {}, \"tracks\": [{}], \"frames\": {}, "
		   "\"simple_blocks\": {}, \"group_blocks\": {}, \"laced_blocks\": {}, "
		   "\"duration_ms\": {}, \"info_duration_ms\": {}, "
		   "\"gaps\": {{\"count\": {}, \"largest\": {}}}, \"finished\": {}, "
		   "\"segment_size_known\": {}, \"cues\": {}, \"trailing_bytes\": {}, "
		   "\"trailing_zeros\": {}, \"elements_end\": {}, \"cut_short\": {}}}\n",
		   json_string(file.string()), json_string(s.doc_type), json_string(s.muxing_app),
		   json_string(s.writing_app), fmt::join(tracks, ", "), s.frames, s.simple_blocks,
		   s.group_blocks, s.laced_blocks, json_number(s.duration_ms),
		   json_number(s.info_duration_ms), s.gaps, largest, s.finished(),
		   s.segment_size_known, s.cues, s.trailing_bytes(), s.trailing_zeros,
		   s.elements_end, cut);
}

int inspect_matroska(const InspectOptions &o)
{
	matroska::Summary summary;
	if (Status s = matroska::summarize(o.file, summary); !s) {
		std::error_code ec;
		bool headerless = std::filesystem::is_regular_file(o.file, ec) &&
				  std::filesystem::file_size(o.file, ec) > 0 && !ec &&
				  !matroska::starts_with_ebml(o.file);
		fmt::print(stderr, "zcap inspect: {}{}\n", s.message(),
			   headerless ? "; a raw recording has no header: give --format FOURCC "
					"--size WxH"
				      : "");
		return kExitFailure;
	}
	if (o.json)
		print_json(o.file, summary);
	else
		print_text(o.file, summary);
	return kExitOk;
}

int inspect_raw(const InspectOptions &o)
{
	const FrameFormat &f = *o.raw;
	std::error_code ec;
	auto status = std::filesystem::status(o.file, ec);
	if (ec) {
		fmt::print(stderr, "zcap inspect: {}: {}\n", o.file.string(), ec.message());
		return kExitFailure;
	}
	if (!std::filesystem::is_regular_file(status)) {
		fmt::print(stderr, "zcap inspect: {}: not a regular file\n", o.file.string());
		return kExitFailure;
	}
	if (matroska::starts_with_ebml(o.file))
		throw UsageError(fmt::format("{} is a Matroska file: --format and --size are for "
					     "raw recordings",
					     o.file.string()));
	uint64_t size = std::filesystem::file_size(o.file, ec);
	if (ec) {
		fmt::print(stderr, "zcap inspect: {}: {}\n", o.file.string(), ec.message());
		return kExitFailure;
	}
	uint64_t frames = size / f.size_image;
	uint64_t trailing = size % f.size_image;
	if (o.json) {
		fmt::print("{{\"file\": {}, \"container\": \"raw\", \"format\": {}, \"width\": {}, "
			   "\"height\": {}, \"frame_bytes\": {}, \"frames\": {}, "
			   "\"trailing_bytes\": {}}}\n",
			   json_string(o.file.string()), json_string(fourcc_name(f.fourcc)),
			   f.width, f.height, f.size_image, frames, trailing);
		return kExitOk;
	}
	fmt::print("{}: raw frames of {}x{} {}, {} bytes each\n", o.file.string(), f.width,
		   f.height, fourcc_name(f.fourcc), f.size_image);
	fmt::print("frames: {}\n", frames);
	if (trailing)
		fmt::print("trailing partial frame: {} bytes (the recording was interrupted)\n",
			   trailing);
	else
		fmt::print("no trailing partial frame\n");
	return kExitOk;
}

} // namespace

int inspect_main(int argc, char **argv)
{
	try {
		InspectOptions options = parse_options(argc, argv);
		if (options.help) {
			fmt::print("{}", kInspectUsage);
			return kExitOk;
		}
		return options.raw ? inspect_raw(options) : inspect_matroska(options);
	} catch (const UsageError &e) {
		fmt::print(stderr, "zcap inspect: {}\n", e.what());
		return kExitUsage;
	} catch (const std::exception &e) {
		fmt::print(stderr, "zcap inspect: {}\n", e.what());
		return kExitFailure;
	}
}

} // namespace zcap::cli
