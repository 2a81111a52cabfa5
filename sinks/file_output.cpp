// SPDX-License-Identifier: LGPL-2.1-or-later
#include "file_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <zcap/log.h>

#include "direct_io_support.h"

namespace zcap {

Status FileOutput::open(const DiskSinkOptions &options, const StreamInfo &info, SinkStats &stats)
{
	path_ = options.path;
	// Read and write: finishing a container rewrites blocks in place.
	int flags = O_RDWR | O_CREAT | O_CLOEXEC | (options.overwrite ? O_TRUNC : O_EXCL);
	fd_.reset(::open(path_.c_str(), flags, 0644));
	if (!fd_)
		return Status::from_errno(errno, "cannot create " + path_.string());

	std::string why_not;
	DirectIoSupport support;
	if (options.disk_path == DiskPath::buffered) {
		why_not = "buffered writes were asked for";
	} else {
		support = enable_direct_io(fd_.get());
		if (!support.usable)
			why_not = support.reason;
	}
	if (!why_not.empty() && options.disk_path != DiskPath::automatic &&
	    options.disk_path != DiskPath::buffered)
		return located(Status::invalid(fmt::format(
			"--disk-path {}: {}", disk_path_name(options.disk_path), why_not)));
	if (!why_not.empty())
		return use_buffered(why_not, stats);

	Status status;
	AlignedUringWriter::Params params;
	params.fd = fd_.get();
	params.block = support.block;
	params.depth = options.queue_depth;
	params.regions = info.regions;
	params.copied = &stats.copied_bytes;
	params.path = options.disk_path;
	direct_ = AlignedUringWriter::create(params, status);
	if (!direct_ && options.disk_path != DiskPath::automatic)
		return located(status.prefixed(
			fmt::format("--disk-path {}", disk_path_name(options.disk_path))));
	if (!direct_)
		return use_buffered(status.message(), stats);
	block_ = support.block;
	stats.io_path = direct_->io_path();
	return {};
}

Status FileOutput::use_buffered(const std::string &reason, SinkStats &stats)
{
	log(LogLevel::warning,
	    fmt::format("{}: {}; writing through the page cache instead (every byte copied, "
			"counted)",
			path_.string(), reason));
	// Direct I/O may have been switched on before its writer failed: the
	// buffered writer's unaligned writes need the page cache.
	if (Status s = disable_direct_io(fd_.get()); !s)
		return located(s);
	buffered_.emplace(fd_.get(), 0);
	stats.io_path = IoPath::buffered;
	return {};
}

void FileOutput::warn_about_staging(size_t frame_size)
{
	if (!warned_unwritable_ && direct_->pages_unwritable()) {
		warned_unwritable_ = warned_staging_ = true;
		log(LogLevel::warning,
		    fmt::format("{}: the capture buffers cannot be written directly (the kernel "
				"cannot pin their pages: EFAULT, a VM_PFNMAP mapping); every frame "
				"is copied to aligned memory before its direct write (counted)",
				path_.string()));
	} else if (!warned_staging_ && frame_size && direct_->staged_bytes()) {
		warned_staging_ = true;
		log(LogLevel::warning,
		    fmt::format("{}: {}-byte frames are not a whole number of {}-byte blocks, and "
				"some did not start in memory where the file needs them (their "
				"source could not place them): those are copied to aligned memory "
				"before their direct write (counted)",
				path_.string(), frame_size, block_));
	}
}

Status FileOutput::close(uint64_t length, Status status)
{
	if (!fd_)
		return status;
	direct_.reset();
	// Keep what the sink says is whole: cut the preallocated space, a
	// zero-padded last block and, after an error, any partly written frame.
	if (ftruncate(fd_.get(), off_t(length)) < 0 && status.ok())
		status = Status::from_errno(errno, "truncating");
	Status synced = buffered_
				? buffered_->finish()
				: (fdatasync(fd_.get()) < 0 ? Status::from_errno(errno, "flushing")
							    : Status());
	if (status.ok())
		status = synced;
	if (::close(fd_.release()) < 0 && status.ok())
		status = Status::from_errno(errno, "closing");
	return located(status);
}

} // namespace zcap
