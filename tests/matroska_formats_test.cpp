// SPDX-License-Identifier: LGPL-2.1-or-later
// The format table's Matroska column, checked for every format against the
// readers themselves: zcap writes a short file of known bytes, FFmpeg 5.1
// must decode it to the pix_fmt the table names and to the same pixels, and
// GStreamer 1.22's matroskademux must read it where the table says it does
// (and fail to where it says it does not). Formats without a mapping must be
// refused before any file is made. With ZCAP_FORMATS_MARKDOWN=FILE set, the
// outcomes are written there as the README's table of formats.
#include <zcap/disk_sink.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/frame_pool.h>

#include "test_files.h"

using namespace zcap;
namespace fs = std::filesystem;

namespace {

/// Even in both directions, and not a multiple of 64 across, so that lines
/// of every format are not page-sized.
constexpr uint32_t kWidth = 96;
constexpr uint32_t kHeight = 48;
constexpr uint64_t kFrames = 2;

std::string read_file(const fs::path &path)
{
	std::ifstream in(path, std::ios::binary);
	return {std::istreambuf_iterator<char>(in), {}};
}

/// The frames FFmpeg should decode @p written to: the same bytes, with the
/// chroma planes back in U, V order for formats that keep V first.
std::string decoded_bytes(const PixelFormatInfo &info, const FrameFormat &format,
			  const std::string &written)
{
	if (!info.chroma_swapped)
		return written;
	std::string out = written;
	const PlaneLayout &u = format.planes[1], &v = format.planes[2];
	for (size_t frame = 0; frame < written.size(); frame += format.size_image) {
		out.replace(frame + u.offset, u.size, written, frame + v.offset, v.size);
		out.replace(frame + v.offset, v.size, written, frame + u.offset, u.size);
	}
	return out;
}

/// Writes kFrames frames of random bytes in @p format to @p file; returns
/// them, or the refusal.
Status write_random_frames(const fs::path &file, const FrameFormat &format, std::string &bytes)
{
	Status status;
	auto pool = FramePool::create(format.size_image, kFrames, status);
	if (!pool)
		return status;
	auto sink = make_disk_sink({.path = file, .container = Container::matroska});
	if (Status s = sink->start({format, {25, 1}, {pool->region()}}); !s)
		return s;
	std::mt19937 random(format.fourcc);
	for (uint64_t i = 0; i < kFrames; ++i) {
		FrameSlot *slot = pool->acquire(std::chrono::steady_clock::now());
		if (!slot)
			return Status::invalid("no free buffer");
		for (std::byte &b : slot->memory().first(format.size_image))
			b = std::byte(random());
		bytes.append(reinterpret_cast<const char *>(slot->memory().data()),
			     format.size_image);
		slot->metadata() = {
			.format = format, .bytes_used = format.size_image, .sequence = i};
		if (Status s = sink->write(Frame::adopt(*slot)); !s)
			return s;
	}
	return sink->finish();
}

/// What the readers made of one format's file, for the README.
struct Outcome {
	std::string ffmpeg = "-";
	std::string gstreamer = "-";
};

Outcome check_format(const PixelFormatInfo &info)
{
	SCOPED_TRACE(info.name);
	Outcome outcome;
	test::TempDir dir;
	const fs::path file = dir / "frames.mkv";
	const FrameFormat format = *packed_format(info.fourcc, kWidth, kHeight);
	std::string written;
	Status status = write_random_frames(file, format, written);
	if (!info.matroska) {
		EXPECT_FALSE(status);
		EXPECT_NE(status.message().find(fmt::format(" {} frames", info.name)),
			  std::string::npos)
			<< status.message();
		EXPECT_NE(status.message().find("--container raw"), std::string::npos);
		EXPECT_EQ(status.message().find(": :"), std::string::npos) << status.message();
		EXPECT_FALSE(fs::exists(file));
		outcome.ffmpeg = outcome.gstreamer = "refused: `--container raw`";
		return outcome;
	}
	EXPECT_TRUE(status) << status.message();

	// Stream copy hands out the payloads whatever FFmpeg thinks of them.
	test::run_command(
		fmt::format("ffmpeg -v error -i '{}' -c copy -f rawvideo '{}' 2>/dev/null",
			    file.string(), (dir / "copy.raw").string()));
	EXPECT_EQ(read_file(dir / "copy.raw"), written) << "stream copy";

	const std::string probed = test::run_command(fmt::format(
		"ffprobe -v error -select_streams v:0 -show_entries stream=pix_fmt -of csv=p=0 "
		"'{}' 2>/dev/null",
		file.string()));
	if (*info.ffmpeg_reads) {
		EXPECT_EQ(probed, std::string(info.ffmpeg_reads) + "\n");
		test::run_command(fmt::format(
			"ffmpeg -v error -i '{}' -f rawvideo -pix_fmt {} '{}'", file.string(),
			info.ffmpeg_reads, (dir / "decoded.raw").string()));
		EXPECT_EQ(read_file(dir / "decoded.raw"), decoded_bytes(info, format, written))
			<< "decoded to " << info.ffmpeg_reads;
		outcome.ffmpeg = fmt::format("`{}`", info.ffmpeg_reads);
	} else {
		EXPECT_TRUE(probed.empty() || probed == "unknown\n") << probed;
	}

	const std::string caps = test::run_command(
		fmt::format("gst-launch-1.0 -v filesrc location='{}' ! matroskademux ! filesink "
			    "location='{}' 2>&1",
			    file.string(), (dir / "gst.raw").string()));
	const size_t raw = caps.find("video/x-raw, format=(string)");
	if (info.gstreamer_reads) {
		EXPECT_NE(raw, std::string::npos) << caps;
		if (raw == std::string::npos)
			return outcome;
		EXPECT_EQ(read_file(dir / "gst.raw"), written);
		const size_t name = raw + std::string_view("video/x-raw, format=(string)").size();
		outcome.gstreamer =
			fmt::format("`{}`", caps.substr(name, caps.find(',', name) - name));
	} else {
		EXPECT_EQ(raw, std::string::npos) << caps;
	}
	return outcome;
}

std::string matroska_tag(uint32_t tag)
{
	std::string s;
	for (int i = 0; i < 4; ++i) {
		const auto c = static_cast<unsigned char>(tag >> (8 * i));
		s += std::isalnum(c) ? std::string(1, char(c)) : fmt::format("\\x{:02x}", c);
	}
	return s;
}

TEST(FormatTable, EveryMatroskaMappingIsReadBackAsTheSamePixelsOrRefused)
{
	std::string markdown = "| format | planes | raw file: FFmpeg pix_fmt | Matroska "
			       "ColourSpace | FFmpeg 5.1 reads | GStreamer 1.22 reads | zcap's "
			       "GStreamer caps |\n"
			       "|---|---|---|---|---|---|---|\n";
	for (const PixelFormatInfo &info : pixel_formats()) {
		Outcome o = check_format(info);
		std::string name = info.name;
		if (*info.alias)
			name += fmt::format(" ({})", info.alias);
		const bool caps = *info.gstreamer && info.num_buffers == 1;
		markdown += fmt::format(
			"| {} | {}{} | {} | {} | {} | {} | {} |\n", name, info.num_planes,
			info.num_buffers > 1 ? fmt::format(" in {} buffers", info.num_buffers) : "",
			*info.ffmpeg ? fmt::format("`{}`", info.ffmpeg) : "-",
			info.matroska ? fmt::format("`{}`", matroska_tag(info.matroska)) : "-",
			o.ffmpeg, o.gstreamer, caps ? fmt::format("`{}`", info.gstreamer) : "-");
	}
	if (const char *out = std::getenv("ZCAP_FORMATS_MARKDOWN"))
		std::ofstream(out) << markdown;
}

} // namespace
