// SPDX-License-Identifier: LGPL-2.1-or-later
#include "matroska_sink.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>

#include "ebml.h"
#include "file_output.h"
#include "matroska_layout.h"

namespace zcap {

namespace {

/// The block size the layout keeps on the buffered path, where nothing
/// needs it: the same file either way.
constexpr uint32_t kBufferedLayoutBlock = 4096;

/// A Matroska file written with every frame's payload on a filesystem block
/// boundary, so that it goes to disk by direct I/O from the frame's own
/// pages. Where a payload ends inside a block, a Void is put after it in the
/// frame's buffer (the unused room to the end of the page) and that block is
/// written from the buffer too. Before each payload an owned "seam" block
/// holds a Void as padding, a Cluster header when one starts, and the
/// SimpleBlock header. A buffer without that room has its payload tail
/// copied into the seam instead (counted): the only frame bytes copied.
///
/// Live layout: the Segment and its Clusters have unknown sizes, and a frame
/// appears to readers only once it is whole. Its header is first written as
/// a Void covering the frame and rewritten as the real header once the
/// payload is on disk, so a file read during recording, or left by a crash,
/// holds only complete frames. A clean finish appends Cues and fills in the
/// sizes, SeekHead and Duration by rewriting the blocks that hold them.
class MatroskaSink final : public Sink {
public:
	explicit MatroskaSink(const DiskSinkOptions &options) : options_(options) {}

	std::string description() const override
	{
		return "Matroska file " + options_.path.string();
	}

	Status start(const StreamInfo &info) override;
	Status write(const Frame &frame) override;
	bool busy() const override { return out_.direct() && out_.direct()->busy(); }
	unsigned max_held_frames() const override
	{
		return disk_sink_held_frames(options_.queue_depth);
	}
	Status service(std::chrono::milliseconds timeout) override;
	Status finish() override;
	std::optional<uint32_t> page_offset([[maybe_unused]] uint64_t index) const override
	{
		return page_offset_;
	}

private:
	struct Cluster {
		uint64_t position; ///< of its ID in the file
		uint64_t time_ms;
	};
	struct Patch {
		uint64_t offset;
		std::vector<std::byte> bytes;
	};

	uint64_t position();
	Status append_owned(std::span<const std::byte> bytes);
	/// Puts a Void after the frame's bytes in its buffer, up to the end of
	/// the block its tail is in, so that the last block can be written from
	/// the frame's pages too: returns its size, or 0 without room for it
	/// (none, or claimed by another sink).
	size_t pad_in_buffer(const Frame &frame);
	/// The frame's time since the first frame, never going backwards.
	uint64_t timestamp_ms(const Frame &frame);
	/// Counts the frames the direct writer has published.
	void count_published();
	/// Cues, sizes, SeekHead and Duration, once every frame is on disk.
	Status finish_layout(uint64_t cues_at, uint64_t end);
	/// Overwrites bytes already written, a block at a time on the direct path.
	Status apply(const std::vector<Patch> &patches);

	DiskSinkOptions options_;
	FileOutput out_;
	matroska::FileHeader header_;
	uint32_t block_ = kBufferedLayoutBlock;
	uint64_t frame_duration_ms_ = 0;
	std::optional<uint64_t> first_timestamp_ns_;
	uint64_t last_ms_ = 0;
	std::vector<Cluster> clusters_;
	/// Frames given to the direct writer and not yet published: where each
	/// one ends, and its size.
	std::deque<std::pair<uint64_t, uint32_t>> pending_;
	uint64_t published_end_ = 0;
	uint64_t frames_written_ = 0;
	/// What page_offset() answers, on the source's thread: set by start()
	/// only, as finish() on the sink's thread closes out_.
	std::optional<uint32_t> page_offset_;
};

Status MatroskaSink::start(const StreamInfo &info)
{
	if (Status s = matroska::file_header(info.format, info.frame_rate,
					     std::chrono::system_clock::now(), header_);
	    !s)
		return s.prefixed(options_.path.string());
	if (Status s = out_.open(options_, info, stats_); !s)
		return s;
	if (out_.direct()) {
		block_ = out_.block();
		// Payloads start on a block: their memory must start on a page.
		page_offset_ = 0;
	}
	if (!info.frame_rate.unlimited())
		frame_duration_ms_ = 1000ull * info.frame_rate.den / info.frame_rate.num;
	published_end_ = header_.bytes.size();
	return out_.located(append_owned(header_.bytes));
}

uint64_t MatroskaSink::position()
{
	return out_.direct() ? out_.direct()->position() : out_.buffered()->position();
}

Status MatroskaSink::append_owned(std::span<const std::byte> bytes)
{
	return out_.direct() ? out_.direct()->append_owned(bytes) : out_.buffered()->append(bytes);
}

size_t MatroskaSink::pad_in_buffer(const Frame &frame)
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

uint64_t MatroskaSink::timestamp_ms(const Frame &frame)
{
	uint64_t ns = frame.timestamp_ns();
	if (!first_timestamp_ns_)
		first_timestamp_ns_ = ns;
	uint64_t since = ns > *first_timestamp_ns_ ? ns - *first_timestamp_ns_ : 0;
	last_ms_ = std::max(last_ms_, (since + matroska::kTimestampScaleNs / 2) /
					      matroska::kTimestampScaleNs);
	return last_ms_;
}

Status MatroskaSink::write(const Frame &frame)
{
	std::span<const std::byte> data = frame.data();
	// Room for the frame, its header and padding first: a full disk then
	// leaves the file as it was, to be finished with the frames before.
	if (AlignedUringWriter *direct = out_.direct())
		if (Status s = direct->reserve(data.size() + 2 * block_); !s)
			return out_.located(s);
	uint64_t ms = timestamp_ms(frame);

	// The header: a Cluster's when one starts here, then the SimpleBlock's.
	const uint64_t interval = uint64_t(options_.cluster_interval.count());
	bool new_cluster = clusters_.empty() || ms - clusters_.back().time_ms >= interval ||
			   ms - clusters_.back().time_ms > uint64_t(matroska::kMaxBlockOffset);
	std::vector<std::byte> head;
	if (new_cluster)
		head = matroska::cluster_header(ms);
	uint64_t cluster_ms = new_cluster ? ms : clusters_.back().time_ms;
	auto block = matroska::block_header(data.size(), int16_t(ms - cluster_ms), true);
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
		if (status)
			pending_.emplace_back(end, uint32_t(data.size()));
		count_published();
		out_.warn_about_staging(data.size());
	} else {
		WriteBehindWriter &buffered = *out_.buffered();
		status = buffered.append(seam);
		if (status)
			status = buffered.append(data);
		stats_.copied_bytes.fetch_add(data.size(), std::memory_order_relaxed);
		if (status && pwrite(out_.fd(), head.data(), head.size(), off_t(header_at)) !=
				      ssize_t(head.size()))
			status = Status::from_errno(errno ? errno : EIO, "writing");
		if (status) {
			published_end_ = end;
			stats_.frames.fetch_add(1, std::memory_order_relaxed);
			stats_.bytes.fetch_add(data.size(), std::memory_order_relaxed);
		}
	}
	if (status && new_cluster)
		clusters_.push_back({header_at, ms});
	if (status)
		++frames_written_;
	return out_.located(status);
}

void MatroskaSink::count_published()
{
	uint64_t published = out_.direct()->published();
	while (!pending_.empty() && pending_.front().first <= published) {
		published_end_ = pending_.front().first;
		stats_.frames.fetch_add(1, std::memory_order_relaxed);
		stats_.bytes.fetch_add(pending_.front().second, std::memory_order_relaxed);
		pending_.pop_front();
	}
}

Status MatroskaSink::service(std::chrono::milliseconds timeout)
{
	if (!out_.direct())
		return {};
	Status status = out_.direct()->reap(timeout);
	count_published();
	out_.warn_about_staging(0);
	return out_.located(status);
}

Status MatroskaSink::finish()
{
	if (!out_.is_open())
		return {};

	// Cues index every Cluster, so that players can seek (a file without
	// frames has neither).
	std::vector<matroska::CuePoint> points;
	for (const Cluster &c : clusters_)
		points.push_back({c.time_ms, c.position - header_.segment_data});
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

Status MatroskaSink::finish_layout(uint64_t cues_at, uint64_t end)
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
	double duration = double(last_ms_ + frame_duration_ms_);
	if (frames_written_)
		patches.push_back({header_.duration_at, matroska::duration(duration)});
	for (size_t i = 0; i < clusters_.size(); ++i) {
		uint64_t next = i + 1 < clusters_.size() ? clusters_[i + 1].position : cues_at;
		size_patch(clusters_[i].position + 4,
			   next - clusters_[i].position - matroska::kClusterIdAndSize);
	}
	return apply(patches);
}

Status MatroskaSink::apply(const std::vector<Patch> &patches)
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

} // namespace

std::unique_ptr<Sink> make_matroska_sink(const DiskSinkOptions &options)
{
	return std::make_unique<MatroskaSink>(options);
}

} // namespace zcap
