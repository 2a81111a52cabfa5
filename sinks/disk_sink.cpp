// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/disk_sink.h>

#include <fcntl.h>
#include <unistd.h>

#include <deque>
#include <optional>

#include <fmt/format.h>

#include <zcap/log.h>
#include <zcap/unique_fd.h>

#include "aligned_uring_writer.h"
#include "direct_io_support.h"
#include "write_behind_writer.h"

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
	bool busy() const override { return direct_ && direct_->busy(); }
	Status service(std::chrono::milliseconds timeout) override;
	Status finish() override;
	std::optional<uint32_t> page_offset(uint64_t index) const override;

private:
	/// Sets up the page-cache path, saying once why.
	Status use_buffered(const std::string &reason);
	/// Says once why frame bytes are being copied into staging memory.
	void warn_about_staging(size_t frame_size);
	/// Counts the frames whose every byte is now on disk.
	void count_durable();
	Status located(const Status &status) const
	{
		return status.prefixed(options_.path.string());
	}

	DiskSinkOptions options_;
	UniqueFd fd_;
	std::unique_ptr<AlignedUringWriter> direct_;
	std::optional<WriteBehindWriter> buffered_;
	/// Frames handed to the direct writer and not yet durable: end offset, size.
	std::deque<std::pair<uint64_t, uint32_t>> pending_;
	/// End of the last frame that is completely on disk.
	uint64_t complete_end_ = 0;
	uint32_t block_ = 0;
	/// Frame size, when frames land at file offsets off a page boundary
	/// (placement advice is given); else 0. Set by start() only.
	uint64_t placed_frame_size_ = 0;
	bool warned_staging_ = false;
	bool warned_unwritable_ = false;
};

void DiskSink::warn_about_staging(size_t frame_size)
{
	if (!warned_unwritable_ && direct_->pages_unwritable()) {
		warned_unwritable_ = warned_staging_ = true;
		log(LogLevel::warning,
		    fmt::format("{}: the capture buffers cannot be written directly (the kernel "
				"cannot pin their pages: EFAULT, a VM_PFNMAP mapping); every frame "
				"is copied to aligned memory before its direct write (counted)",
				options_.path.string()));
	} else if (!warned_staging_ && frame_size && direct_->staged_bytes()) {
		warned_staging_ = true;
		log(LogLevel::warning,
		    fmt::format("{}: {}-byte frames are not a whole number of {}-byte blocks, and "
				"some did not start in memory where the file needs them (their "
				"source could not place them): those are copied to aligned memory "
				"before their direct write (counted)",
				options_.path.string(), frame_size, block_));
	}
}

Status DiskSink::start(const StreamInfo &info)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (options_.overwrite ? O_TRUNC : O_EXCL);
	fd_.reset(open(options_.path.c_str(), flags, 0644));
	if (!fd_)
		return Status::from_errno(errno, "cannot create " + options_.path.string());

	std::string why_not;
	DirectIoSupport support;
	if (options_.force_buffered) {
		why_not = "buffered writes were asked for";
	} else {
		support = enable_direct_io(fd_.get());
		if (!support.usable)
			why_not = support.reason;
	}

	if (why_not.empty()) {
		Status status;
		AlignedUringWriter::Params params;
		params.fd = fd_.get();
		params.block = support.block;
		block_ = support.block;
		params.depth = options_.queue_depth;
		params.regions = info.regions;
		params.copied = &stats_.copied_bytes;
		direct_ = AlignedUringWriter::create(params, status);
		if (direct_) {
			stats_.io_path = direct_->registered_buffers() ? IoPath::uring_direct_fixed
								       : IoPath::uring_direct;
			if (info.format.size_image % block_)
				placed_frame_size_ = info.format.size_image;
			return {};
		}
		why_not = status.message();
	}
	return use_buffered(why_not);
}

std::optional<uint32_t> DiskSink::page_offset(uint64_t index) const
{
	if (!placed_frame_size_)
		return std::nullopt;
	// Frame @p index starts at this file offset; its bulk at the next block
	// boundary, which must fall on a page boundary in memory too.
	const uint64_t start = index * placed_frame_size_;
	const uint64_t head = (block_ - start % block_) % block_;
	return uint32_t((kPlacementPage - head % kPlacementPage) % kPlacementPage);
}

Status DiskSink::use_buffered(const std::string &reason)
{
	log(LogLevel::warning,
	    fmt::format("{}: {}; writing through the page cache instead (every byte copied, "
			"counted)",
			options_.path.string(), reason));
	buffered_.emplace(fd_.get(), 0);
	stats_.io_path = IoPath::buffered;
	return {};
}

Status DiskSink::write(const Frame &frame)
{
	std::span<const std::byte> data = frame.data();
	if (direct_) {
		Status status = direct_->append_frame(frame, data);
		if (status)
			pending_.emplace_back(direct_->position(), uint32_t(data.size()));
		count_durable();
		warn_about_staging(data.size());
		return located(status);
	}

	Status status = buffered_->append(data);
	stats_.copied_bytes.fetch_add(data.size(), std::memory_order_relaxed);
	if (!status)
		return located(status);
	complete_end_ = buffered_->position();
	stats_.frames.fetch_add(1, std::memory_order_relaxed);
	stats_.bytes.fetch_add(data.size(), std::memory_order_relaxed);
	return {};
}

Status DiskSink::service(std::chrono::milliseconds timeout)
{
	if (!direct_)
		return {};
	Status status = direct_->reap(timeout);
	count_durable();
	warn_about_staging(0);
	return located(status);
}

void DiskSink::count_durable()
{
	while (!pending_.empty() && pending_.front().first <= direct_->durable()) {
		complete_end_ = pending_.front().first;
		stats_.frames.fetch_add(1, std::memory_order_relaxed);
		stats_.bytes.fetch_add(pending_.front().second, std::memory_order_relaxed);
		pending_.pop_front();
	}
}

Status DiskSink::finish()
{
	if (!fd_)
		return {};
	Status status;
	if (direct_) {
		status = direct_->flush_tail();
		Status drained = direct_->drain();
		if (status.ok())
			status = drained;
		count_durable();
		direct_.reset();
	}

	// Keep whole frames only: cut the preallocated space, a zero-padded last
	// block and, after an error, any partly written frame.
	if (ftruncate(fd_.get(), off_t(complete_end_)) < 0 && status.ok())
		status = Status::from_errno(errno, "truncating");
	Status synced = buffered_
				? buffered_->finish()
				: (fdatasync(fd_.get()) < 0 ? Status::from_errno(errno, "flushing")
							    : Status());
	if (status.ok())
		status = synced;
	if (close(fd_.release()) < 0 && status.ok())
		status = Status::from_errno(errno, "closing");
	return located(status);
}

} // namespace

std::unique_ptr<Sink> make_disk_sink(const DiskSinkOptions &options)
{
	return std::make_unique<DiskSink>(options);
}

} // namespace zcap
