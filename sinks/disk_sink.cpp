// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/disk_sink.h>

#include <deque>

#include "file_output.h"
#include "matroska_sink.h"

namespace zcap {

namespace {

/// Raw frames, back to back, to one file: direct through io_uring where the
/// file system and the frame layout allow it, buffered (counted) otherwise.
class DiskSink final : public Sink {
public:
	explicit DiskSink(const DiskSinkOptions &options) : options_(options) {}

	std::string description() const override { return "raw file " + options_.path.string(); }

	Status start(const StreamInfo &info) override;
	Status write(const Frame &frame) override;
	bool busy() const override { return out_.direct() && out_.direct()->busy(); }
	Status service(std::chrono::milliseconds timeout) override;
	Status finish() override;
	std::optional<uint32_t> page_offset(uint64_t index) const override;
	unsigned max_held_frames() const override
	{
		return disk_sink_held_frames(options_.queue_depth);
	}

private:
	/// Counts the frames whose every byte is now on disk.
	void count_durable();

	DiskSinkOptions options_;
	FileOutput out_;
	/// Frames handed to the direct writer and not yet durable: end offset, size.
	std::deque<std::pair<uint64_t, uint32_t>> pending_;
	/// End of the last frame that is completely on disk.
	uint64_t complete_end_ = 0;
	/// Frame size, when frames land at file offsets off a page boundary
	/// (placement advice is given); else 0. Set by start() only.
	uint64_t placed_frame_size_ = 0;
};

Status DiskSink::start(const StreamInfo &info)
{
	if (Status s = out_.open(options_, info, stats_); !s)
		return s;
	if (out_.direct() && info.format.size_image % out_.block())
		placed_frame_size_ = info.format.size_image;
	return {};
}

std::optional<uint32_t> DiskSink::page_offset(uint64_t index) const
{
	if (!placed_frame_size_)
		return std::nullopt;
	// Frame @p index starts at this file offset; its bulk at the next block
	// boundary, which must fall on a page boundary in memory too.
	const uint32_t block = out_.block();
	const uint64_t start = index * placed_frame_size_;
	const uint64_t head = (block - start % block) % block;
	return uint32_t((kPlacementPage - head % kPlacementPage) % kPlacementPage);
}

Status DiskSink::write(const Frame &frame)
{
	std::span<const std::byte> data = frame.data();
	if (AlignedUringWriter *direct = out_.direct()) {
		Status status = direct->append_frame(frame, data);
		if (status)
			pending_.emplace_back(direct->position(), uint32_t(data.size()));
		count_durable();
		out_.warn_about_staging(data.size());
		return out_.located(status);
	}

	Status status = out_.buffered()->append(data);
	stats_.copied_bytes.fetch_add(data.size(), std::memory_order_relaxed);
	if (!status)
		return out_.located(status);
	complete_end_ = out_.buffered()->position();
	stats_.frames.fetch_add(1, std::memory_order_relaxed);
	stats_.bytes.fetch_add(data.size(), std::memory_order_relaxed);
	return {};
}

Status DiskSink::service(std::chrono::milliseconds timeout)
{
	if (!out_.direct())
		return {};
	Status status = out_.direct()->reap(timeout);
	count_durable();
	out_.warn_about_staging(0);
	return out_.located(status);
}

void DiskSink::count_durable()
{
	while (!pending_.empty() && pending_.front().first <= out_.direct()->durable()) {
		complete_end_ = pending_.front().first;
		stats_.frames.fetch_add(1, std::memory_order_relaxed);
		stats_.bytes.fetch_add(pending_.front().second, std::memory_order_relaxed);
		pending_.pop_front();
	}
}

Status DiskSink::finish()
{
	if (!out_.is_open())
		return {};
	Status status;
	if (AlignedUringWriter *direct = out_.direct()) {
		status = direct->flush_tail();
		Status drained = direct->drain();
		if (status.ok())
			status = drained;
		count_durable();
	}
	return out_.close(complete_end_, status);
}

} // namespace

Container container_for(const std::filesystem::path &path)
{
	std::string ext = path.extension().string();
	for (char &c : ext)
		c = char(std::tolower(static_cast<unsigned char>(c)));
	return ext == ".mkv" ? Container::matroska : Container::raw;
}

std::unique_ptr<Sink> make_disk_sink(const DiskSinkOptions &options)
{
	if (options.container == Container::matroska)
		return make_matroska_sink(options);
	return std::make_unique<DiskSink>(options);
}

} // namespace zcap
