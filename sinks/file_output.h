// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <zcap/disk_sink.h>
#include <zcap/unique_fd.h>

#include "aligned_uring_writer.h"
#include "write_behind_writer.h"

namespace zcap {

/// The file a disk sink writes: O_DIRECT through io_uring where the file
/// system allows it, else through the page cache (every byte copied; the
/// sink counts that). Says once, as a warning, whenever bytes get copied.
class FileOutput {
public:
	/// Creates the file and picks the path; @p stats gets the path and the
	/// direct writer's copy count.
	Status open(const DiskSinkOptions &options, const StreamInfo &info, SinkStats &stats);

	/// The direct writer, or null on the buffered path.
	AlignedUringWriter *direct() const noexcept { return direct_.get(); }
	/// The buffered writer, or null on the direct path.
	WriteBehindWriter *buffered() noexcept { return buffered_ ? &*buffered_ : nullptr; }
	int fd() const noexcept { return fd_.get(); }
	/// The file offset and length alignment of direct writes.
	uint32_t block() const noexcept { return block_; }
	bool is_open() const noexcept { return bool(fd_); }

	/// Says once why frame bytes are being copied into staging memory.
	void warn_about_staging(size_t frame_size);
	/// Completes every write, cuts the file to @p length bytes, flushes and
	/// closes it. Returns @p status, or the first failure after it.
	Status close(uint64_t length, Status status);

	/// @p status with the file's name in front.
	Status located(const Status &status) const { return status.prefixed(path_.string()); }

private:
	Status use_buffered(const std::string &reason, SinkStats &stats);

	std::filesystem::path path_;
	UniqueFd fd_;
	std::unique_ptr<AlignedUringWriter> direct_;
	std::optional<WriteBehindWriter> buffered_;
	uint32_t block_ = 0;
	bool warned_staging_ = false;
	bool warned_unwritable_ = false;
};

} // namespace zcap
