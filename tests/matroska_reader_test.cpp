// SPDX-License-Identifier: LGPL-2.1-or-later
// The Matroska reader behind `zcap inspect`: counts what zcap and others
// write, says whether a file was finished, and survives any input.
#include "../sinks/matroska_reader.h"

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <zcap/unique_fd.h>

#include "../sinks/ebml.h"
#include "../sinks/matroska_layout.h"

namespace zcap::matroska {
namespace {

using Bytes = std::vector<std::byte>;

/// 30 fps, as zcap's DefaultDuration says it.
constexpr uint64_t kFrameMs = 33;
constexpr uint32_t kPayload = 40; ///< bytes of each test frame

/// Bytes in memory, read through a file descriptor like a file on disk.
class MemFile {
public:
	MemFile() : fd_(memfd_create("matroska-reader-test", MFD_CLOEXEC)) {}

	Status summarize(const Bytes &bytes, Summary &summary, size_t length = SIZE_MAX)
	{
		length = std::min(length, bytes.size());
		EXPECT_EQ(ftruncate(fd_.get(), 0), 0);
		EXPECT_EQ(pwrite(fd_.get(), bytes.data(), length, 0), ssize_t(length));
		return matroska::summarize(fd_.get(), length, summary);
	}

private:
	UniqueFd fd_;
};

void append(Bytes &out, std::span<const std::byte> bytes)
{
	out.insert(out.end(), bytes.begin(), bytes.end());
}

void patch(Bytes &out, uint64_t at, std::span<const std::byte> bytes)
{
	std::copy(bytes.begin(), bytes.end(), out.begin() + ptrdiff_t(at));
}

Bytes text(std::string_view s)
{
	auto b = std::as_bytes(std::span(s.data(), s.size()));
	return {b.begin(), b.end()};
}

/// A file laid out the way zcap's Matroska sink lays it out, built from
/// the same pieces: header, Clusters of unknown size, SimpleBlocks.
struct ZcapFile {
	Bytes bytes;
	FileHeader header;
	std::vector<uint64_t> clusters; ///< positions
	std::vector<uint64_t> cluster_ms;
	uint64_t last_ms = 0;

	/// A live file: frames at @p times (ms), a Cluster a second.
	explicit ZcapFile(const std::vector<uint64_t> &times)
	{
		FrameFormat format = *packed_format(pixfmt::YUYV, 64, 48);
		EXPECT_TRUE(file_header(format, {30, 1}, std::chrono::system_clock::now(), header));
		bytes = header.bytes;
		for (uint64_t ms : times) {
			if (clusters.empty() || ms - cluster_ms.back() >= 1000) {
				clusters.push_back(bytes.size());
				cluster_ms.push_back(ms);
				append(bytes, cluster_header(ms));
			}
			append(bytes,
			       block_header(kPayload, int16_t(ms - cluster_ms.back()), true));
			bytes.resize(bytes.size() + kPayload, std::byte{0x5a});
			last_ms = ms;
		}
	}

	/// Sizes, SeekHead, Duration and Cues, as a clean stop writes them.
	void finish()
	{
		std::vector<CuePoint> points;
		for (size_t i = 0; i < clusters.size(); ++i)
			points.push_back({cluster_ms[i], clusters[i] - header.segment_data});
		uint64_t cues_at = bytes.size();
		append(bytes, cues(points));
		const uint64_t data = header.segment_data;
		patch(bytes, header.segment_size_at, size_field(bytes.size() - data));
		patch(bytes, header.seek_head_at,
		      seek_head(header.seek_head_room, header.info_at - data,
				header.tracks_at - data, cues_at - data));
		patch(bytes, header.duration_at, duration(double(last_ms + kFrameMs)));
		for (size_t i = 0; i < clusters.size(); ++i) {
			uint64_t next = i + 1 < clusters.size() ? clusters[i + 1] : cues_at;
			patch(bytes, clusters[i] + 4,
			      size_field(next - clusters[i] - kClusterIdAndSize));
		}
	}
};

std::vector<uint64_t> steady_times(unsigned frames)
{
	std::vector<uint64_t> times;
	for (unsigned i = 0; i < frames; ++i)
		times.push_back(i * 1000 / 30);
	return times;
}

/// The EBML header FFmpeg writes, with @p doc_type.
Bytes ebml_header(std::string_view doc_type = "matroska")
{
	ebml::Writer w;
	size_t at = w.begin_master(ebml::id::EBML);
	w.uint(ebml::id::EBMLVersion, 1);
	w.string(ebml::id::DocType, doc_type);
	w.end_master(at);
	return w.take();
}

/// An EBML header and a Segment holding @p body, of known size.
Bytes segment_of(const Bytes &body)
{
	ebml::Writer w;
	w.raw(ebml_header());
	w.id(ebml::id::Segment);
	w.size_field(body.size());
	w.raw(body);
	return w.take();
}

TEST(MatroskaReader, FinishedZcapFile)
{
	ZcapFile file(steady_times(30));
	file.finish();
	MemFile mem;
	Summary s;
	ASSERT_TRUE(mem.summarize(file.bytes, s)) << mem.summarize(file.bytes, s).message();
	EXPECT_EQ(s.doc_type, "matroska");
	ASSERT_EQ(s.tracks.size(), 1u);
	const TrackSummary &t = s.tracks[0];
	EXPECT_TRUE(t.declared);
	EXPECT_EQ(t.number, 1u);
	EXPECT_EQ(t.type, 1u);
	EXPECT_EQ(t.codec_id, "V_UNCOMPRESSED");
	EXPECT_EQ(t.width, 64u);
	EXPECT_EQ(t.height, 48u);
	EXPECT_EQ(t.colour_space, fourcc('Y', 'U', 'Y', '2'));
	EXPECT_EQ(t.default_duration_ns, 33333333u);
	EXPECT_EQ(s.frames, 30u);
	EXPECT_EQ(s.simple_blocks, 30u);
	EXPECT_EQ(t.frames, 30u);
	ASSERT_TRUE(s.duration_ms);
	// The last frame lasts one DefaultDuration.
	EXPECT_NEAR(*s.duration_ms, 966 + 33.333, 0.001);
	ASSERT_TRUE(s.info_duration_ms);
	EXPECT_DOUBLE_EQ(*s.info_duration_ms, 966.0 + kFrameMs);
	EXPECT_EQ(s.gaps, 0u);
	EXPECT_TRUE(s.segment_size_known);
	EXPECT_TRUE(s.cues);
	EXPECT_EQ(s.trailing_bytes(), 0u);
	EXPECT_TRUE(s.finished());
}

TEST(MatroskaReader, CrashedZcapFileEndsInZeros)
{
	// A Cluster a second: 70 frames span three of unknown size.
	ZcapFile file(steady_times(70));
	const size_t elements = file.bytes.size();
	file.bytes.resize(elements + 100000); // preallocated, never written
	MemFile mem;
	Summary s;
	Status status = mem.summarize(file.bytes, s);
	ASSERT_TRUE(status) << status.message();
	EXPECT_EQ(s.frames, 70u);
	EXPECT_FALSE(s.segment_size_known);
	EXPECT_FALSE(s.cues);
	EXPECT_FALSE(s.info_duration_ms);
	EXPECT_EQ(s.elements_end, elements);
	EXPECT_EQ(s.trailing_bytes(), 100000u);
	EXPECT_TRUE(s.trailing_zeros);
	EXPECT_FALSE(s.cut_short);
	EXPECT_FALSE(s.finished());
}

TEST(MatroskaReader, CrashedZcapFileWithAnUnfinishedFrame)
{
	// The next frame's header is still the Void that covers it, and its
	// payload was half written when the process died.
	ZcapFile file(steady_times(10));
	const uint64_t frame_total = kBlockHeaderSize + kPayload;
	append(file.bytes, void_header(frame_total));
	file.bytes.resize(file.bytes.size() + kBlockHeaderSize - 9, std::byte{0});
	file.bytes.resize(file.bytes.size() + kPayload / 2, std::byte{0x77});
	const size_t void_end = file.bytes.size() + kPayload / 2;
	MemFile mem;
	Summary s;

	// Without preallocation, the file ends inside the Void.
	ASSERT_TRUE(mem.summarize(file.bytes, s));
	EXPECT_EQ(s.frames, 10u);
	ASSERT_TRUE(s.cut_short);
	EXPECT_EQ(s.cut_short->first, "Void");
	EXPECT_FALSE(s.finished());

	// With it, the Void is whole and zeros follow.
	file.bytes.resize(void_end + 5000);
	ASSERT_TRUE(mem.summarize(file.bytes, s));
	EXPECT_EQ(s.frames, 10u);
	EXPECT_FALSE(s.cut_short);
	EXPECT_EQ(s.elements_end, void_end);
	EXPECT_EQ(s.trailing_bytes(), 5000u);
	EXPECT_TRUE(s.trailing_zeros);
}

TEST(MatroskaReader, FindsGaps)
{
	std::vector<uint64_t> times = steady_times(10);
	for (uint64_t ms : steady_times(10))
		times.push_back(800 + ms);   // half a second lost after 300 ms
	times.push_back(times.back() + 100); // and two frames
	ZcapFile file(times);
	file.finish();
	MemFile mem;
	Summary s;
	ASSERT_TRUE(mem.summarize(file.bytes, s));
	EXPECT_EQ(s.frames, 21u);
	EXPECT_EQ(s.gaps, 2u);
	ASSERT_TRUE(s.largest_gap);
	EXPECT_EQ(s.largest_gap->track, 1u);
	EXPECT_EQ(s.largest_gap->after_frame, 10u);
	EXPECT_DOUBLE_EQ(s.largest_gap->at_ms, 300.0);
	EXPECT_DOUBLE_EQ(s.largest_gap->length_ms, 500.0);
	EXPECT_TRUE(s.finished());
}

TEST(MatroskaReader, CountsBlockGroupsAndLacedFrames)
{
	ebml::Writer w;
	size_t tracks = w.begin_master(ebml::id::Tracks);
	for (uint64_t number : {1, 2}) {
		size_t entry = w.begin_master(ebml::id::TrackEntry);
		w.uint(ebml::id::TrackNumber, number);
		w.uint(ebml::id::TrackType, number); // 1 video, 2 audio
		w.string(ebml::id::CodecID, number == 1 ? "V_MJPEG" : "A_PCM/INT/LIT");
		w.end_master(entry);
	}
	w.end_master(tracks);
	size_t cluster = w.begin_master(ebml::id::Cluster);
	w.uint(ebml::id::Timestamp, 1000);
	for (int i = 0; i < 6; ++i) {
		// Video in SimpleBlocks, 40 ms apart, then one late.
		int16_t ms = int16_t(i < 5 ? i * 40 : 400);
		const uint8_t video[] = {0x81, uint8_t(ms >> 8), uint8_t(ms), 0x80, 0xff, 0xd8};
		w.binary(ebml::id::SimpleBlock, std::as_bytes(std::span(video)));
		// Audio in BlockGroups, 4 frames laced (Xiph) in each Block.
		size_t group = w.begin_master(ebml::id::BlockGroup);
		const uint8_t audio[] = {
			0x82, uint8_t(ms >> 8), uint8_t(ms), 0x02, 3, 1, 1, 1, 0, 0, 0, 0};
		w.binary(ebml::id::Block, std::as_bytes(std::span(audio)));
		w.end_master(group);
	}
	w.end_master(cluster);
	w.raw(Bytes{std::byte(0xEC), std::byte(0x80)}); // an empty Void

	MemFile mem;
	Summary s;
	Status status = mem.summarize(segment_of(w.take()), s);
	ASSERT_TRUE(status) << status.message();
	ASSERT_EQ(s.tracks.size(), 2u);
	EXPECT_EQ(s.tracks[0].codec_id, "V_MJPEG");
	EXPECT_EQ(s.tracks[0].frames, 6u);
	EXPECT_EQ(s.tracks[1].frames, 24u);
	EXPECT_EQ(s.tracks[1].blocks, 6u);
	EXPECT_EQ(s.tracks[1].laced_blocks, 6u);
	EXPECT_EQ(s.frames, 30u);
	EXPECT_EQ(s.simple_blocks, 6u);
	EXPECT_EQ(s.group_blocks, 6u);
	EXPECT_EQ(s.laced_blocks, 6u);
	// Without DefaultDuration a frame lasts the median interval, 40 ms; the
	// late block is a gap on both tracks.
	EXPECT_DOUBLE_EQ(s.tracks[0].frame_ms, 40.0);
	EXPECT_EQ(s.gaps, 2u);
	ASSERT_TRUE(s.duration_ms);
	EXPECT_DOUBLE_EQ(*s.duration_ms, 440.0);
	EXPECT_TRUE(s.segment_size_known);
	EXPECT_FALSE(s.cues);
	EXPECT_FALSE(s.finished());
}

TEST(MatroskaReader, RefusesWhatIsNotMatroska)
{
	MemFile mem;
	Summary s;
	Status status = mem.summarize({}, s);
	EXPECT_EQ(status.message(), "not a Matroska file (it is empty)");
	status = mem.summarize(text("hello, world\n"), s);
	EXPECT_EQ(status.message(), "not a Matroska file (no EBML header)");
	EXPECT_TRUE(mem.summarize(segment_of({}), s));

	Bytes other = ebml_header("mkv-ish");
	status = mem.summarize(other, s);
	EXPECT_EQ(status.message(), "not a Matroska file (DocType 'mkv-ish')");

	status = mem.summarize(ebml_header(), s);
	EXPECT_FALSE(status);
	EXPECT_NE(status.message().find("no Segment"), std::string::npos) << status.message();

	std::mt19937 random(7);
	Bytes noise(4096);
	for (std::byte &b : noise)
		b = std::byte(random());
	status = mem.summarize(noise, s);
	EXPECT_EQ(status.message(), "not a Matroska file (no EBML header)");
}

TEST(MatroskaReader, RejectsMalformedElementsNamingTheOffset)
{
	MemFile mem;
	Summary s;

	// A reserved ID (all ones) inside a Cluster.
	ebml::Writer w;
	size_t cluster = w.begin_master(ebml::id::Cluster);
	w.raw(Bytes{std::byte(0xFF), std::byte(0x80)});
	w.end_master(cluster);
	Bytes file = segment_of(w.take());
	Status status = mem.summarize(file, s);
	EXPECT_FALSE(status);
	EXPECT_NE(status.message().find("reserved element ID 0xff"), std::string::npos);
	EXPECT_NE(status.message().find("offset " + std::to_string(file.size() - 2)),
		  std::string::npos)
		<< status.message();

	// A child larger than its parent.
	ebml::Writer big;
	big.id(ebml::id::Cluster);
	big.size_field(ebml::kMaxSize, 8);
	status = mem.summarize(segment_of(big.take()), s);
	EXPECT_NE(status.message().find("runs past the end of its parent Segment"),
		  std::string::npos)
		<< status.message();

	// A SimpleBlock too short for its header.
	ebml::Writer tiny;
	size_t c = tiny.begin_master(ebml::id::Cluster);
	tiny.binary(ebml::id::SimpleBlock, Bytes{std::byte(0x81), std::byte(0)});
	tiny.end_master(c);
	status = mem.summarize(segment_of(tiny.take()), s);
	EXPECT_NE(status.message().find("SimpleBlock of 2 bytes is too short"), std::string::npos)
		<< status.message();

	// An unknown size where Matroska allows none.
	ebml::Writer unknown;
	unknown.id(ebml::id::Tracks);
	unknown.size_field(ebml::kUnknownSize, 8);
	status = mem.summarize(segment_of(unknown.take()), s);
	EXPECT_NE(status.message().find("Tracks has an unknown size"), std::string::npos)
		<< status.message();
}

TEST(MatroskaReader, HugeSizesInAFileOfUnknownLength)
{
	// A live file whose last Cluster claims the largest size there is: the
	// frames in it count, and the file is cut short.
	ZcapFile file(steady_times(5));
	patch(file.bytes, file.clusters.back() + 4, size_field(ebml::kMaxSize));
	MemFile mem;
	Summary s;
	ASSERT_TRUE(mem.summarize(file.bytes, s));
	EXPECT_EQ(s.frames, 5u);
	ASSERT_TRUE(s.cut_short);
	EXPECT_EQ(s.cut_short->first, "Cluster");
	EXPECT_EQ(s.cut_short->second, file.clusters.back());

	// A SimpleBlock that does, in a Cluster of unknown size: not counted.
	ZcapFile live(steady_times(5));
	ebml::Writer w;
	w.id(ebml::id::SimpleBlock);
	w.size_field(ebml::kMaxSize, 8);
	w.raw(Bytes{std::byte(0x81), std::byte(0), std::byte(0), std::byte(0x80)});
	append(live.bytes, w.bytes());
	ASSERT_TRUE(mem.summarize(live.bytes, s));
	EXPECT_EQ(s.frames, 5u);
	ASSERT_TRUE(s.cut_short);
	EXPECT_EQ(s.cut_short->first, "SimpleBlock");
}

TEST(MatroskaReader, DeepNestingIsNotFollowed)
{
	// 100000 BlockGroups inside each other, in a Cluster: the first is
	// entered, the others are skipped in one step, not walked into.
	constexpr int kLevels = 100000;
	Bytes nested;
	for (int i = 0; i < kLevels; ++i) {
		ebml::Writer w;
		w.id(ebml::id::BlockGroup);
		w.size_field(uint64_t(kLevels - i - 1) * 9, 8);
		append(nested, w.bytes());
	}
	ebml::Writer cluster;
	cluster.id(ebml::id::Cluster);
	cluster.size_field(ebml::kUnknownSize, 8);
	cluster.raw(nested);
	ebml::Writer file;
	file.raw(ebml_header());
	file.id(ebml::id::Segment);
	file.size_field(ebml::kUnknownSize, 8);
	file.raw(cluster.bytes());
	MemFile mem;
	Summary s;
	Status status = mem.summarize(file.bytes(), s);
	ASSERT_TRUE(status) << status.message();
	EXPECT_EQ(s.frames, 0u);
	EXPECT_FALSE(s.cut_short);
	EXPECT_EQ(s.trailing_bytes(), 0u);
}

TEST(MatroskaReader, SurvivesTruncationAtEveryByte)
{
	ZcapFile file(steady_times(40));
	file.finish();
	const size_t ebml_end = file.header.segment_data - 12; // the Segment's ID and size
	MemFile mem;
	uint64_t previous = 0;
	for (size_t length = 0; length <= file.bytes.size(); ++length) {
		Summary s;
		Status status = mem.summarize(file.bytes, s, length);
		// Past the EBML header, a cut file is summarised up to the cut.
		if (length <= ebml_end) {
			EXPECT_FALSE(status) << length;
			continue;
		}
		ASSERT_TRUE(status) << length << ": " << status.message();
		EXPECT_GE(s.frames, previous) << length;
		EXPECT_LE(s.frames, 40u) << length;
		EXPECT_EQ(s.finished(), length == file.bytes.size()) << length;
		EXPECT_LE(s.elements_end, length);
		previous = s.frames;
	}
	EXPECT_EQ(previous, 40u);
}

TEST(MatroskaReader, SurvivesRandomByteFlips)
{
	ZcapFile finished(steady_times(40));
	finished.finish();
	ZcapFile live(steady_times(40));
	live.bytes.resize(live.bytes.size() + 300);
	std::mt19937 random(20261130);
	MemFile mem;
	unsigned results = 0, errors = 0;
	for (int i = 0; i < 4000; ++i) {
		Bytes bytes = i % 2 ? finished.bytes : live.bytes;
		int flips = 1 + int(random() % 4);
		for (int f = 0; f < flips; ++f) {
			size_t at = random() % bytes.size();
			bytes[at] = random() % 3 ? std::byte(random())
						 : bytes[at] ^ std::byte(1 << (random() % 8));
		}
		Summary s;
		Status status = mem.summarize(bytes, s);
		if (status) {
			++results;
			EXPECT_LE(s.elements_end, bytes.size());
			EXPECT_LE(s.frames, 40u * 256);
		} else {
			++errors;
			EXPECT_TRUE(status.message().find("offset") != std::string::npos ||
				    status.message().starts_with("not a Matroska file"))
				<< status.message();
		}
	}
	// Both outcomes happen: the flips hit payloads and structure alike.
	EXPECT_GT(results, 100u);
	EXPECT_GT(errors, 100u);
}

} // namespace
} // namespace zcap::matroska
