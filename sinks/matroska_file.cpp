// SPDX-License-Identifier: LGPL-2.1-or-later
#include "matroska_file.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "ebml.h"

namespace zcap {

namespace {

/// The block size the layout keeps on the buffered path, where nothing
/// needs it: the same file either way.
constexpr uint32_t kBufferedLayoutBlock = 4096;

} // namespace

Status MatroskaFile::open(std::span<const matroska::TrackSpec> tracks, const StreamInfo &info,
			  SinkStats &stats)
{
	if (Status s = matroska::file_header(tracks, std::chrono::system_clock::now(), header_); !s)
		return s.prefixed(options_.path.string());
	if (Status s = out_.open(options_, info, stats); !s)
		return s;
	block_ = out_.direct() ? out_.block() : kBufferedLayoutBlock;
	clock_ = info.clock;
	tracks_.assign(tracks.size(), {});
	for (size_t i = 0; i < tracks.size(); ++i)
		if (!tracks[i].rate.unlimited())
			tracks_[i].frame_duration_ms =
				1000ull * tracks[i].rate.den / tracks[i].rate.num;
	published_end_ = header_.bytes.size();
	return out_.located(append_owned(header_.bytes));
}

uint64_t MatroskaFile::position()
{
	return out_.direct() ? out_.direct()->position() : out_.buffered()->position();
}

Status MatroskaFile::append_owned(std::span<const std::byte> bytes)
{
	return out_.direct() ? out_.direct()->append_owned(bytes) : out_.buffered()->append(bytes);
}

size_t MatroskaFile::pad_in_buffer(const Frame &frame)
{
	size_t tail = frame.data().size() % block_;
	size_t padding = block_ - tail;
	if (!tail || padding < 2 || frame.room_after_size() < padding)
		return 0;
	// Another sink sharing the frame may have the room: then the tail is
	// copied into the seam (counted).
	std::span<std::byte> room = frame.claim_room_after();
	if (room.empty())
		return 0;
	std::vector<std::byte> start = matroska::void_start(padding);
	std::memcpy(room.data(), start.data(), start.size());
	return padding;
}

uint64_t MatroskaFile::timestamp_ms(Track &track, const Frame &frame)
{
	uint64_t ns = frame.timestamp_ns();
	uint64_t since = 0;
	if (clock_) {
		since = clock_->since_zero(ns);
	} else {
		if (!first_timestamp_ns_)
			first_timestamp_ns_ = ns;
		since = ns > *first_timestamp_ns_ ? ns - *first_timestamp_ns_ : 0;
	}
	track.last_ms = std::max(track.last_ms, (since + matroska::kTimestampScaleNs / 2) /
							matroska::kTimestampScaleNs);
	return track.last_ms;
}

bool MatroskaFile::starts_cluster(uint64_t ms) const
{
	if (clusters_.empty())
		return true;
	// Several tracks' frames arrive out of timestamp order: a block may be
	// a little before its Cluster (a negative offset), never out of range.
	int64_t offset = int64_t(ms) - int64_t(clusters_.back().time_ms);
	return offset >= options_.cluster_interval.count() || offset > matroska::kMaxBlockOffset ||
	       offset < -matroska::kMaxBlockOffset;
}

Status MatroskaFile::write(size_t index, const Frame &frame, SinkStats &stats)
{
	Track &track = tracks_.at(index);
	std::span<const std::byte> data = frame.data();
	// Room for the frame, its header and padding first: a full disk then
	// leaves the file as it was, to be finished with the frames before.
	if (AlignedUringWriter *direct = out_.direct())
		if (Status s = direct->reserve(data.size() + 2 * block_); !s)
			return out_.located(s);
	uint64_t ms = timestamp_ms(track, frame);

	// The header: a Cluster's when one starts here, then the SimpleBlock's.
	bool new_cluster = starts_cluster(ms);
	std::vector<std::byte> head;
	if (new_cluster)
		head = matroska::cluster_header(ms);
	uint64_t cluster_ms = new_cluster ? ms : clusters_.back().time_ms;
	auto block = matroska::block_header(data.size(), int16_t(int64_t(ms) - int64_t(cluster_ms)),
					    true, uint8_t(index + 1));
	head.insert(head.end(), block.begin(), block.end());

	// Padding puts the payload on a block; until the frame is whole, its
	// header reads as a Void over the frame.
	uint64_t at = position();
	size_t pad = matroska::padding_before(at, head.size(), block_);
	uint64_t header_at = at + pad;
	uint64_t end = header_at + head.size() + data.size();
	ebml::Writer provisional;
	if (pad)
		provisional.void_element(pad);
	provisional.raw(matroska::void_header(head.size() + data.size()));
	std::vector<std::byte> seam = provisional.take();
	seam.resize(pad + head.size());

	Status status;
	if (AlignedUringWriter *direct = out_.direct()) {
		status = direct->append_provisional(seam, head, end);
		if (status)
			status = direct->append_frame(frame, data, pad_in_buffer(frame));
		if (status) {
			pending_.push_back({end, uint32_t(data.size()), index, &stats});
			track.pending++;
		}
		count_published();
		out_.warn_about_staging(data.size());
	} else {
		WriteBehindWriter &buffered = *out_.buffered();
		status = buffered.append(seam);
		if (status)
			status = buffered.append(data);
		stats.copied_bytes.fetch_add(data.size(), std::memory_order_relaxed);
		if (status && pwrite(out_.fd(), head.data(), head.size(), off_t(header_at)) !=
				      ssize_t(head.size()))
			status = Status::from_errno(errno ? errno : EIO, "writing");
		if (status) {
			published_end_ = end;
			stats.frames.fetch_add(1, std::memory_order_relaxed);
			stats.bytes.fetch_add(data.size(), std::memory_order_relaxed);
		}
	}
	if (status && new_cluster)
		clusters_.push_back({header_at, ms, {}});
	if (status) {
		auto &firsts = clusters_.back().first_blocks;
		if (std::none_of(firsts.begin(), firsts.end(),
				 [&](const auto &first) { return first.first == index + 1; }))
			firsts.emplace_back(uint8_t(index + 1), ms);
		++track.frames;
	}
	return out_.located(status);
}

size_t MatroskaFile::pending(size_t track) const
{
	return tracks_.at(track).pending;
}

void MatroskaFile::count_published()
{
	uint64_t published = out_.direct()->published();
	while (!pending_.empty() && pending_.front().end <= published) {
		const Pending &frame = pending_.front();
		published_end_ = frame.end;
		frame.stats->frames.fetch_add(1, std::memory_order_relaxed);
		frame.stats->bytes.fetch_add(frame.size, std::memory_order_relaxed);
		tracks_[frame.track].pending--;
		pending_.pop_front();
	}
}

Status MatroskaFile::service(std::chrono::milliseconds timeout)
{
	if (!out_.direct())
		return {};
	Status status = out_.direct()->reap(timeout);
	count_published();
	out_.warn_about_staging(0);
	return out_.located(status);
}

Status MatroskaFile::finish()
{
	if (!out_.is_open())
		return {};

	// Cues index every Cluster for every track in it, so that players can
	// seek in any track (a file without frames has neither).
	std::vector<matroska::CuePoint> points;
	for (const Cluster &c : clusters_)
		for (auto [track, time_ms] : c.first_blocks)
			points.push_back({time_ms, c.position - header_.segment_data, track});
	std::stable_sort(points.begin(), points.end(),
			 [](const auto &a, const auto &b) { return a.time_ms < b.time_ms; });
	uint64_t cues_at = position();
	Status status = points.empty() ? Status() : append_owned(matroska::cues(points));
	uint64_t end = position();

	if (AlignedUringWriter *direct = out_.direct()) {
		if (status)
			status = direct->flush_tail();
		Status drained = direct->drain();
		if (status.ok())
			status = drained;
		count_published();
	}
	// After a failure, keep the frames that are whole: the file stays
	// playable without Cues and sizes.
	if (!status || !pending_.empty())
		return out_.close(published_end_, status);
	return out_.close(end, finish_layout(cues_at, end));
}

Status MatroskaFile::finish_layout(uint64_t cues_at, uint64_t end)
{
	const uint64_t data = header_.segment_data;
	std::vector<Patch> patches;
	auto size_patch = [&](uint64_t at, uint64_t value) {
		auto field = matroska::size_field(value);
		patches.push_back({at, {field.begin(), field.end()}});
	};
	size_patch(header_.segment_size_at, end - data);
	patches.push_back({header_.seek_head_at,
			   matroska::seek_head(header_.seek_head_room, header_.info_at - data,
					       header_.tracks_at - data,
					       clusters_.empty() ? 0 : cues_at - data)});
	// The Duration ends with the last frame of the longest track.
	std::optional<uint64_t> duration;
	for (const Track &track : tracks_)
		if (track.frames)
			duration = std::max(duration.value_or(0),
					    track.last_ms + track.frame_duration_ms);
	if (duration)
		patches.push_back({header_.duration_at, matroska::duration(double(*duration))});
	for (size_t i = 0; i < clusters_.size(); ++i) {
		uint64_t next = i + 1 < clusters_.size() ? clusters_[i + 1].position : cues_at;
		size_patch(clusters_[i].position + 4,
			   next - clusters_[i].position - matroska::kClusterIdAndSize);
	}
	return apply(patches);
}

Status MatroskaFile::apply(const std::vector<Patch> &patches)
{
	if (!out_.direct()) {
		for (const Patch &p : patches)
			if (pwrite(out_.fd(), p.bytes.data(), p.bytes.size(), off_t(p.offset)) !=
			    ssize_t(p.bytes.size()))
				return Status::from_errno(errno ? errno : EIO,
							  "finishing the file");
		return {};
	}

	// Direct I/O: read each touched block, change it, write it back.
	std::map<uint64_t, std::vector<std::pair<uint32_t, std::byte>>> blocks;
	for (const Patch &p : patches)
		for (size_t i = 0; i < p.bytes.size(); ++i) {
			uint64_t at = p.offset + i;
			blocks[at / block_ * block_].emplace_back(uint32_t(at % block_),
								  p.bytes[i]);
		}
	void *memory = mmap(nullptr, block_, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (memory == MAP_FAILED)
		return Status::from_errno(errno, "finishing the file");
	auto *buffer = static_cast<std::byte *>(memory);
	Status status;
	for (const auto &[offset, bytes] : blocks) {
		if (pread(out_.fd(), buffer, block_, off_t(offset)) != ssize_t(block_)) {
			status = Status::from_errno(errno ? errno : EIO, "finishing the file");
			break;
		}
		for (auto [at, value] : bytes)
			buffer[at] = value;
		if (pwrite(out_.fd(), buffer, block_, off_t(offset)) != ssize_t(block_)) {
			status = Status::from_errno(errno ? errno : EIO, "finishing the file");
			break;
		}
	}
	munmap(memory, block_);
	return status;
}

} // namespace zcap
