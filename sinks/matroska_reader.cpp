// SPDX-License-Identifier: LGPL-2.1-or-later
#include "matroska_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include <zcap/unique_fd.h>

#include "ebml.h"

namespace zcap::matroska {

namespace {

/// Bytes read at a time: many small elements per read, yet little of a raw
/// frame whose header is all that is read of it.
constexpr size_t kWindowBytes = 16 * 1024;
/// Bytes read at a time when checking that the end of a file is zeros.
constexpr size_t kScanBytes = 1024 * 1024;
/// Matroska masters nest a handful deep (Segment, Tracks, TrackEntry,
/// Video, Colour); deeper input is refused rather than followed.
constexpr int kMaxDepth = 16;
/// Longer strings are cut: codec IDs and application names are short.
constexpr size_t kMaxString = 256;
/// An element ID is at most 4 bytes long (EBMLMaxIDLength), a size or a
/// track number at most 8.
constexpr size_t kMaxIdLength = 4;
constexpr size_t kMaxVintLength = 8;
/// A block's track number, 16-bit timestamp, flags and lace count.
constexpr size_t kMaxBlockHeader = kMaxVintLength + 4;
/// The lacing bits of a block's flags: any of them set means the block
/// holds several frames, one fewer than the byte after the flags says.
constexpr uint8_t kLacingBits = 0x06;
/// Cluster timestamps beyond this (2^62 ticks, far past any real file) are
/// clamped, so that adding a block's offset cannot overflow.
constexpr uint64_t kMaxTimestamp = uint64_t(1) << 62;
/// An interval longer than this many frame lengths is a gap.
constexpr double kGapFactor = 1.5;
constexpr double kNsPerMs = 1e6;

std::string element_name(uint32_t id)
{
	namespace i = ebml::id;
	static const std::map<uint32_t, const char *> names = {
		{i::EBML, "EBML header"},
		{i::DocType, "DocType"},
		{i::Void, "Void"},
		{i::Segment, "Segment"},
		{i::SeekHead, "SeekHead"},
		{i::Info, "Info"},
		{i::TimestampScale, "TimestampScale"},
		{i::Duration, "Duration"},
		{i::MuxingApp, "MuxingApp"},
		{i::WritingApp, "WritingApp"},
		{i::Tracks, "Tracks"},
		{i::TrackEntry, "TrackEntry"},
		{i::TrackNumber, "TrackNumber"},
		{i::TrackType, "TrackType"},
		{i::CodecID, "CodecID"},
		{i::DefaultDuration, "DefaultDuration"},
		{i::Video, "Video"},
		{i::PixelWidth, "PixelWidth"},
		{i::PixelHeight, "PixelHeight"},
		{i::ColourSpace, "ColourSpace"},
		{i::Cluster, "Cluster"},
		{i::Timestamp, "Timestamp"},
		{i::SimpleBlock, "SimpleBlock"},
		{i::BlockGroup, "BlockGroup"},
		{i::Block, "Block"},
		{i::Cues, "Cues"},
		{i::Chapters, "Chapters"},
		{i::Tags, "Tags"},
		{i::Attachments, "Attachments"},
	};
	auto it = names.find(id);
	return it != names.end() ? it->second : fmt::format("element {:#x}", id);
}

/// Whether @p id, met inside an element of unknown size @p parent, ends it:
/// an element of the parent's level or above cannot be its child.
bool ends_unknown_size(uint32_t parent, uint32_t id)
{
	namespace i = ebml::id;
	bool top_level = id == i::EBML || id == i::Segment;
	bool segment_level = id == i::SeekHead || id == i::Info || id == i::Tracks ||
			     id == i::Cluster || id == i::Cues || id == i::Chapters ||
			     id == i::Tags || id == i::Attachments;
	if (parent == i::Segment)
		return top_level;
	if (parent == i::Cluster)
		return top_level || segment_level;
	return false; // the file itself
}

Status malformed(uint64_t offset, const std::string &what)
{
	return Status::invalid(fmt::format("invalid Matroska at offset {}: {}", offset, what));
}

/// Walks the elements of a file, reading them through a small window, and
/// fills a Summary. Only the masters that matter are entered; everything
/// else is skipped by its size.
class Parser {
public:
	Parser(int fd, uint64_t file_size, Summary &summary)
	    : fd_(fd), file_size_(file_size), s_(summary), window_(kWindowBytes)
	{
	}

	Status run();

private:
	struct Element {
		uint32_t id = 0;
		uint64_t start = 0; ///< where its ID is
		uint64_t data = 0;  ///< where its data starts
		/// Where its data ends; for an unknown size, where its parent's does.
		uint64_t end = 0;
		bool unknown_size = false;
		uint64_t size() const { return end - data; }
	};
	struct BlockTime {
		int64_t ticks; ///< in TimestampScale units
		uint32_t frames;
	};

	/// Copies @p length bytes (at most kWindowBytes) at @p at, which lie
	/// inside the file.
	Status read(uint64_t at, size_t length, std::byte *out);
	/// Reads the header of the element at @p pos inside @p parent. Stops the
	/// walk, with no error, where the elements end (zeros or the file's end).
	Status header(uint64_t pos, const Element &parent, Element &e);
	/// Visits the children of @p parent in order, until its end, the end of
	/// the file, or (for an unknown size) an element that cannot be its
	/// child; @p end gets where they ended. @p visit gets each child and
	/// where the next one starts, which it moves for a child of unknown
	/// size that it enters.
	template <typename Visit>
	Status children(const Element &parent, int depth, Visit &&visit, uint64_t &end);

	Status ebml_header(const Element &e, int depth);
	Status segment(const Element &e, int depth, uint64_t &next);
	Status info(const Element &e, int depth);
	Status track_entry(const Element &e, int depth);
	Status cluster(const Element &e, int depth, uint64_t &next);
	Status block(const Element &e, bool simple);

	Status read_uint(const Element &e, uint64_t &value);
	Status read_float(const Element &e, double &value);
	Status read_string(const Element &e, std::string &value);

	/// Whether all of @p e lies in the file; if not, stops the walk there.
	bool whole(const Element &e);
	/// The file ends inside @p what, which starts at @p at.
	void cut(const std::string &what, uint64_t at);
	/// No element starts at @p at: the rest of the file is not Matroska.
	void end_of_elements(uint64_t at);
	/// The index in s_.tracks of track @p number, added when new.
	size_t track(uint64_t number);
	/// Durations, frame lengths and gaps from the block timestamps.
	void summarize_times();
	/// Whether what follows the last element is all zeros.
	Status scan_trailing_zeros();

	int fd_;
	uint64_t file_size_;
	Summary &s_;
	std::vector<std::byte> window_;
	uint64_t window_at_ = 0;
	size_t window_length_ = 0;
	bool stopped_ = false;
	bool segment_seen_ = false;
	uint64_t cluster_timestamp_ = 0;
	std::optional<double> info_duration_; ///< in TimestampScale units
	std::map<uint64_t, size_t> track_index_;
	std::vector<std::vector<BlockTime>> times_; ///< per track, as s_.tracks
};

Status Parser::read(uint64_t at, size_t length, std::byte *out)
{
	if (at < window_at_ || at + length > window_at_ + window_length_) {
		size_t want = size_t(std::min<uint64_t>(kWindowBytes, file_size_ - at));
		size_t got = 0;
		while (got < want) {
			ssize_t r = pread(fd_, window_.data() + got, want - got, off_t(at + got));
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return Status::from_errno(
					errno, fmt::format("reading at offset {}", at + got));
			if (r == 0)
				return Status::invalid(fmt::format(
					"the file shrank while being read (at offset {})",
					at + got));
			got += size_t(r);
		}
		window_at_ = at;
		window_length_ = want;
	}
	std::memcpy(out, window_.data() + (at - window_at_), length);
	return {};
}

Status Parser::header(uint64_t pos, const Element &parent, Element &e)
{
	std::array<std::byte, kMaxIdLength + kMaxVintLength> b;
	const uint64_t limit = std::min(parent.end, file_size_);
	size_t available = size_t(std::min<uint64_t>(limit - pos, b.size()));
	if (Status s = read(pos, available, b.data()); !s)
		return s;
	auto header_cut = [&]() -> Status {
		if (parent.end <= file_size_)
			return malformed(pos, fmt::format("an element header runs past the end of "
							  "its parent {} (at offset {})",
							  element_name(parent.id), parent.end));
		cut("an element header", pos);
		return {};
	};

	uint8_t first = uint8_t(b[0]);
	if (first == 0) {
		// Unwritten space (zeros) after the last element of a file still
		// being written, or left by a crash.
		if (!parent.unknown_size)
			return malformed(pos, "no element starts here (byte 0x00)");
		end_of_elements(pos);
		return {};
	}
	size_t id_length = size_t(std::countl_zero(first)) + 1;
	if (id_length > kMaxIdLength)
		return malformed(pos,
				 fmt::format("invalid element ID (first byte {:#04x})", first));
	if (available < id_length + 1)
		return header_cut();
	uint32_t id = 0;
	for (size_t i = 0; i < id_length; ++i)
		id = id << 8 | uint32_t(b[i]);
	const uint32_t id_bits = (uint32_t(1) << (7 * id_length)) - 1;
	if ((id & id_bits) == id_bits || (id & id_bits) == 0)
		return malformed(pos, fmt::format("reserved element ID {:#x}", id));

	uint8_t size_first = uint8_t(b[id_length]);
	if (size_first == 0)
		return malformed(pos, fmt::format("{} has a size field longer than 8 bytes",
						  element_name(id)));
	size_t size_length = size_t(std::countl_zero(size_first)) + 1;
	if (available < id_length + size_length)
		return header_cut();
	uint64_t size = size_first & (0xFF >> size_length);
	for (size_t i = 1; i < size_length; ++i)
		size = size << 8 | uint64_t(b[id_length + i]);

	e.id = id;
	e.start = pos;
	e.data = pos + id_length + size_length;
	e.unknown_size = size == (uint64_t(1) << (7 * size_length)) - 1;
	if (e.unknown_size) {
		e.end = parent.end;
	} else {
		e.end = e.data + size;
		if (e.end > parent.end)
			return malformed(pos, fmt::format("{} of {} bytes runs past the end of its "
							  "parent {} (at offset {})",
							  element_name(id), size,
							  element_name(parent.id), parent.end));
	}
	return {};
}

template <typename Visit>
Status Parser::children(const Element &parent, int depth, Visit &&visit, uint64_t &end)
{
	if (depth > kMaxDepth)
		return malformed(parent.start,
				 fmt::format("elements nest more than {} deep", kMaxDepth));
	uint64_t pos = parent.data;
	while (!stopped_ && pos < parent.end) {
		if (pos >= file_size_) {
			if (!parent.unknown_size)
				cut(element_name(parent.id), parent.start);
			break;
		}
		Element e;
		if (Status s = header(pos, parent, e); !s)
			return s;
		if (stopped_ || (parent.unknown_size && ends_unknown_size(parent.id, e.id)))
			break;
		// Only these two may be written before their size is known.
		if (e.unknown_size && !(e.id == ebml::id::Segment && parent.id == 0) &&
		    !(e.id == ebml::id::Cluster && parent.id == ebml::id::Segment))
			return malformed(pos, fmt::format("{} has an unknown size, which only a "
							  "Segment or a Cluster may have",
							  element_name(e.id)));
		uint64_t next = e.end;
		if (Status s = visit(e, depth + 1, next); !s)
			return s;
		if (!stopped_ && next > file_size_)
			cut(element_name(e.id), e.start);
		pos = next;
	}
	end = pos;
	return {};
}

bool Parser::whole(const Element &e)
{
	if (e.end <= file_size_)
		return true;
	cut(element_name(e.id), e.start);
	return false;
}

void Parser::cut(const std::string &what, uint64_t at)
{
	s_.cut_short = {what, at};
	end_of_elements(at);
}

void Parser::end_of_elements(uint64_t at)
{
	s_.elements_end = at;
	stopped_ = true;
}

Status Parser::read_uint(const Element &e, uint64_t &value)
{
	if (e.size() > 8)
		return malformed(e.start, fmt::format("{} is an integer of {} bytes",
						      element_name(e.id), e.size()));
	std::array<std::byte, 8> b;
	if (Status s = read(e.data, size_t(e.size()), b.data()); !s)
		return s;
	value = 0;
	for (size_t i = 0; i < e.size(); ++i)
		value = value << 8 | uint64_t(b[i]);
	return {};
}

Status Parser::read_float(const Element &e, double &value)
{
	std::array<std::byte, 8> b;
	if (e.size() == 4) {
		if (Status s = read(e.data, 4, b.data()); !s)
			return s;
		uint32_t bits = 0;
		for (size_t i = 0; i < 4; ++i)
			bits = bits << 8 | uint32_t(b[i]);
		value = std::bit_cast<float>(bits);
	} else if (e.size() == 8) {
		if (Status s = read(e.data, 8, b.data()); !s)
			return s;
		uint64_t bits = 0;
		for (size_t i = 0; i < 8; ++i)
			bits = bits << 8 | uint64_t(b[i]);
		value = std::bit_cast<double>(bits);
	} else if (e.size() == 0) {
		value = 0;
	} else {
		return malformed(e.start, fmt::format("{} is a float of {} bytes",
						      element_name(e.id), e.size()));
	}
	if (!std::isfinite(value) || value < 0)
		return malformed(e.start, fmt::format("{} is {}", element_name(e.id), value));
	return {};
}

Status Parser::read_string(const Element &e, std::string &value)
{
	size_t length = size_t(std::min<uint64_t>(e.size(), kMaxString));
	value.resize(length);
	if (Status s = read(e.data, length, reinterpret_cast<std::byte *>(value.data())); !s)
		return s;
	// Strings may be padded with zeros.
	value.resize(std::min(value.size(), value.find('\0')));
	return {};
}

Status Parser::run()
{
	s_ = Summary{};
	s_.file_size = file_size_;
	if (file_size_ == 0)
		return Status::invalid("not a Matroska file (it is empty)");
	std::array<std::byte, 4> magic{};
	if (Status s = read(0, size_t(std::min<uint64_t>(4, file_size_)), magic.data()); !s)
		return s;
	uint32_t id = 0;
	for (std::byte b : magic)
		id = id << 8 | uint32_t(b);
	if (file_size_ < 4 || id != ebml::id::EBML)
		return Status::invalid("not a Matroska file (no EBML header)");

	const Element top{0, 0, 0, UINT64_MAX, true};
	uint64_t end = 0;
	Status status = children(
		top, 0,
		[&](const Element &e, int depth, uint64_t &next) -> Status {
			if (e.id == ebml::id::EBML)
				return ebml_header(e, depth);
			if (e.id == ebml::id::Segment)
				return segment(e, depth, next);
			return {};
		},
		end);
	if (!status)
		return status;
	if (s_.doc_type.empty())
		return Status::invalid(fmt::format(
			"not a Matroska file (it ends inside its EBML header, at offset {})",
			file_size_));
	if (!segment_seen_ && !s_.cut_short)
		return malformed(end, "the file holds no Segment");
	if (!stopped_)
		s_.elements_end = file_size_;
	summarize_times();
	return scan_trailing_zeros();
}

Status Parser::ebml_header(const Element &e, int depth)
{
	std::string doc_type = "matroska"; // the default when not given
	uint64_t end = 0;
	Status status = children(
		e, depth,
		[&](const Element &child, int, uint64_t &) -> Status {
			if (child.id == ebml::id::DocType && whole(child))
				return read_string(child, doc_type);
			return {};
		},
		end);
	if (!status || stopped_)
		return status;
	if (doc_type != "matroska" && doc_type != "webm") {
		std::string shown;
		for (char c : doc_type)
			shown += c >= 0x20 && c < 0x7f ? c : '?';
		return Status::invalid(fmt::format("not a Matroska file (DocType '{}')", shown));
	}
	s_.doc_type = doc_type;
	return {};
}

Status Parser::segment(const Element &e, int depth, uint64_t &next)
{
	if (!segment_seen_)
		s_.segment_size_known = !e.unknown_size;
	segment_seen_ = true;
	return children(
		e, depth,
		[&](const Element &child, int child_depth, uint64_t &child_next) -> Status {
			switch (child.id) {
			case ebml::id::Info:
				return info(child, child_depth);
			case ebml::id::Tracks: {
				uint64_t end = 0;
				return children(
					child, child_depth,
					[&](const Element &entry, int entry_depth,
					    uint64_t &) -> Status {
						if (entry.id == ebml::id::TrackEntry)
							return track_entry(entry, entry_depth);
						return {};
					},
					end);
			}
			case ebml::id::Cluster:
				return cluster(child, child_depth, child_next);
			case ebml::id::Cues:
				s_.cues = true;
				return {};
			default:
				return {};
			}
		},
		next);
}

Status Parser::info(const Element &e, int depth)
{
	uint64_t end = 0;
	return children(
		e, depth,
		[&](const Element &child, int, uint64_t &) -> Status {
			if (!whole(child))
				return {};
			switch (child.id) {
			case ebml::id::TimestampScale: {
				Status s = read_uint(child, s_.timestamp_scale_ns);
				if (s && s_.timestamp_scale_ns == 0)
					return malformed(child.start, "TimestampScale is 0");
				return s;
			}
			case ebml::id::Duration: {
				double duration = 0;
				Status s = read_float(child, duration);
				if (s)
					info_duration_ = duration;
				return s;
			}
			case ebml::id::MuxingApp:
				return read_string(child, s_.muxing_app);
			case ebml::id::WritingApp:
				return read_string(child, s_.writing_app);
			default:
				return {};
			}
		},
		end);
}

Status Parser::track_entry(const Element &e, int depth)
{
	TrackSummary t;
	auto video = [&](const Element &child, int, uint64_t &) -> Status {
		if (!whole(child))
			return {};
		switch (child.id) {
		case ebml::id::PixelWidth:
			return read_uint(child, t.width);
		case ebml::id::PixelHeight:
			return read_uint(child, t.height);
		case ebml::id::ColourSpace: {
			if (child.size() != 4)
				return {}; // not a fourcc: nothing to show
			std::array<std::byte, 4> b;
			if (Status s = read(child.data, 4, b.data()); !s)
				return s;
			t.colour_space = uint32_t(b[0]) | uint32_t(b[1]) << 8 |
					 uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
			return {};
		}
		default:
			return {};
		}
	};
	uint64_t end = 0;
	Status status = children(
		e, depth,
		[&](const Element &child, int child_depth, uint64_t &) -> Status {
			if (child.id == ebml::id::Video) {
				uint64_t video_end = 0;
				return children(child, child_depth, video, video_end);
			}
			if (!whole(child))
				return {};
			switch (child.id) {
			case ebml::id::TrackNumber:
				return read_uint(child, t.number);
			case ebml::id::TrackType:
				return read_uint(child, t.type);
			case ebml::id::CodecID:
				return read_string(child, t.codec_id);
			case ebml::id::DefaultDuration:
				return read_uint(child, t.default_duration_ns);
			default:
				return {};
			}
		},
		end);
	if (!status)
		return status;
	// Blocks may come before their TrackEntry: keep what they counted.
	TrackSummary &slot = s_.tracks[track(t.number)];
	t.blocks = slot.blocks;
	t.laced_blocks = slot.laced_blocks;
	t.frames = slot.frames;
	t.declared = true;
	slot = t;
	return {};
}

Status Parser::cluster(const Element &e, int depth, uint64_t &next)
{
	cluster_timestamp_ = 0;
	return children(
		e, depth,
		[&](const Element &child, int child_depth, uint64_t &) -> Status {
			switch (child.id) {
			case ebml::id::Timestamp:
				if (!whole(child))
					return {};
				return read_uint(child, cluster_timestamp_);
			case ebml::id::SimpleBlock:
				return block(child, true);
			case ebml::id::BlockGroup: {
				uint64_t end = 0;
				return children(
					child, child_depth,
					[&](const Element &member, int, uint64_t &) -> Status {
						if (member.id == ebml::id::Block)
							return block(member, false);
						return {};
					},
					end);
			}
			default:
				return {};
			}
		},
		next);
}

Status Parser::block(const Element &e, bool simple)
{
	if (!whole(e))
		return {};
	std::array<std::byte, kMaxBlockHeader> b;
	size_t available = size_t(std::min<uint64_t>(e.size(), b.size()));
	if (Status s = read(e.data, available, b.data()); !s)
		return s;
	auto too_short = [&] {
		return malformed(e.start, fmt::format("{} of {} bytes is too short for its header",
						      element_name(e.id), e.size()));
	};
	if (available == 0)
		return too_short();
	uint8_t first = uint8_t(b[0]);
	if (first == 0)
		return malformed(e.start, fmt::format("{} has a track number longer than 8 bytes",
						      element_name(e.id)));
	size_t track_length = size_t(std::countl_zero(first)) + 1;
	// The track number, the 16-bit timestamp and the flags.
	if (available < track_length + 3)
		return too_short();
	uint64_t number = first & (0xFF >> track_length);
	for (size_t i = 1; i < track_length; ++i)
		number = number << 8 | uint64_t(b[i]);
	int16_t offset =
		int16_t(uint16_t(uint16_t(b[track_length]) << 8 | uint16_t(b[track_length + 1])));
	uint8_t flags = uint8_t(b[track_length + 2]);
	uint32_t frames = 1;
	if (flags & kLacingBits) {
		if (available < track_length + 4)
			return too_short();
		frames = uint32_t(b[track_length + 3]) + 1;
	}

	size_t index = track(number);
	TrackSummary &t = s_.tracks[index];
	++t.blocks;
	t.frames += frames;
	s_.frames += frames;
	++(simple ? s_.simple_blocks : s_.group_blocks);
	if (frames > 1) {
		++t.laced_blocks;
		++s_.laced_blocks;
	}
	int64_t ticks = int64_t(std::min(cluster_timestamp_, kMaxTimestamp)) + offset;
	times_[index].push_back({ticks, frames});
	return {};
}

size_t Parser::track(uint64_t number)
{
	auto [it, added] = track_index_.try_emplace(number, s_.tracks.size());
	if (added) {
		s_.tracks.emplace_back().number = number;
		times_.emplace_back();
	}
	return it->second;
}

void Parser::summarize_times()
{
	const double ms_per_tick = double(s_.timestamp_scale_ns) / kNsPerMs;
	if (info_duration_)
		s_.info_duration_ms = *info_duration_ * ms_per_tick;
	std::optional<double> first, end;
	for (size_t i = 0; i < s_.tracks.size(); ++i) {
		TrackSummary &t = s_.tracks[i];
		std::vector<BlockTime> &times = times_[i];
		if (times.empty())
			continue;
		std::ranges::stable_sort(times, {}, &BlockTime::ticks);

		// Without a DefaultDuration, a block lasts as long as blocks are
		// apart most of the time.
		double median_ms = 0;
		if (times.size() > 1) {
			std::vector<int64_t> intervals;
			intervals.reserve(times.size() - 1);
			for (size_t k = 1; k < times.size(); ++k)
				intervals.push_back(times[k].ticks - times[k - 1].ticks);
			auto middle = intervals.begin() + ptrdiff_t(intervals.size() / 2);
			std::nth_element(intervals.begin(), middle, intervals.end());
			median_ms = double(*middle) * ms_per_tick;
		}
		const double default_ms = double(t.default_duration_ns) / kNsPerMs;
		auto block_ms = [&](const BlockTime &b) {
			return t.default_duration_ns ? default_ms * b.frames : median_ms;
		};
		t.frame_ms = t.default_duration_ns ? default_ms : median_ms;

		uint64_t frames_before = 0;
		for (size_t k = 1; k < times.size(); ++k) {
			frames_before += times[k - 1].frames;
			double length = double(times[k].ticks - times[k - 1].ticks) * ms_per_tick;
			double expected = block_ms(times[k - 1]);
			if (expected <= 0 || length <= kGapFactor * expected)
				continue;
			++t.gaps;
			if (!t.largest_gap || length > t.largest_gap->length_ms)
				t.largest_gap =
					Gap{t.number, frames_before,
					    double(times[k - 1].ticks) * ms_per_tick, length};
		}
		s_.gaps += t.gaps;
		if (t.largest_gap &&
		    (!s_.largest_gap || t.largest_gap->length_ms > s_.largest_gap->length_ms))
			s_.largest_gap = t.largest_gap;

		t.first_ms = double(times.front().ticks) * ms_per_tick;
		t.last_ms = double(times.back().ticks) * ms_per_tick;
		double track_end = *t.last_ms + block_ms(times.back());
		first = std::min(first.value_or(*t.first_ms), *t.first_ms);
		end = std::max(end.value_or(track_end), track_end);
	}
	if (first)
		s_.duration_ms = *end - *first;
}

Status Parser::scan_trailing_zeros()
{
	std::vector<std::byte> buffer(size_t(std::min<uint64_t>(kScanBytes, s_.trailing_bytes())));
	for (uint64_t at = s_.elements_end; at < file_size_;) {
		size_t want = size_t(std::min<uint64_t>(buffer.size(), file_size_ - at));
		ssize_t r = pread(fd_, buffer.data(), want, off_t(at));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return Status::from_errno(errno, fmt::format("reading at offset {}", at));
		if (r == 0)
			return Status::invalid(
				fmt::format("the file shrank while being read (at offset {})", at));
		if (std::any_of(buffer.begin(), buffer.begin() + r,
				[](std::byte b) { return b != std::byte{0}; })) {
			s_.trailing_zeros = false;
			break;
		}
		at += uint64_t(r);
	}
	return {};
}

} // namespace

Status summarize(int fd, uint64_t file_size, Summary &summary)
{
	return Parser(fd, file_size, summary).run();
}

Status summarize(const std::filesystem::path &path, Summary &summary)
{
	// Non-blocking, so that opening a FIFO cannot hang; reads of a regular
	// file ignore the flag.
	UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
	if (!fd)
		return Status::from_errno(errno, path.string());
	struct stat st;
	if (fstat(fd.get(), &st) < 0)
		return Status::from_errno(errno, path.string());
	if (!S_ISREG(st.st_mode))
		return Status::invalid(path.string() + ": not a regular file");
	return summarize(fd.get(), uint64_t(st.st_size), summary).prefixed(path.string());
}

bool starts_with_ebml(const std::filesystem::path &path)
{
	UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
	std::array<uint8_t, 4> magic{};
	if (!fd || pread(fd.get(), magic.data(), magic.size(), 0) != ssize_t(magic.size()))
		return false;
	return (uint32_t(magic[0]) << 24 | uint32_t(magic[1]) << 16 | uint32_t(magic[2]) << 8 |
		uint32_t(magic[3])) == ebml::id::EBML;
}

} // namespace zcap::matroska
