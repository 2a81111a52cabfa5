// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include <zcap/status.h>

namespace zcap {

/// How AlignedUringWriter hands its writes to the kernel. The writer decides
/// what to write (block-aligned offsets and lengths, seams, staging, frames
/// pinned until completion); a queue only starts writes and reports each one
/// done, with its result as a system call gives it (bytes, or -errno).
class BlockWriteQueue {
public:
	struct Completion {
		uint32_t id = 0;
		int result = 0;
	};

	virtual ~BlockWriteQueue() = default;

	/// Queues a write of @p length bytes from @p buffer to file offset
	/// @p offset; @p fixed is the index of a registered buffer holding
	/// them, or -1. It starts at the latest at the next submit().
	virtual void queue(uint32_t id, const std::byte *buffer, uint32_t length, uint64_t offset,
			   int fixed) = 0;
	virtual Status submit() = 0;
	/// The next completion, waiting for it up to @p timeout (without one,
	/// for as long as it takes); nothing when none came in time.
	virtual Status wait(std::optional<std::chrono::milliseconds> timeout,
			    std::optional<Completion> &completion) = 0;
	/// A completion that is ready, without waiting.
	virtual std::optional<Completion> peek() = 0;
	/// Registers @p regions as fixed buffers, numbered in order; false when
	/// the queue does not have them or the kernel refuses.
	virtual bool register_buffers([[maybe_unused]] std::span<const iovec> regions)
	{
		return false;
	}
};

/// A @p Queue on @p fd, started (its start()) with @p entries writes in
/// flight; nothing, and why in @p status, when it cannot start.
template <typename Queue>
std::unique_ptr<BlockWriteQueue> start_write_queue(int fd, unsigned entries, Status &status)
{
	auto queue = std::make_unique<Queue>(fd);
	status = queue->start(entries);
	return status ? std::move(queue) : nullptr;
}

/// io_uring with @p entries writes in flight. On failure, @p status says why
/// (its errno is the kernel's: EPERM or ENOSYS when seccomp refuses io_uring).
std::unique_ptr<BlockWriteQueue> make_uring_write_queue(int fd, unsigned entries, Status &status);

/// No io_uring: Linux AIO (io_submit, which the container profiles that
/// refuse io_uring allow) with @p entries direct writes in flight, straight
/// from the frame pages, from the writer's own thread; no CPU copy. Measured
/// against vmsplice+splice through 1 MiB pipes on 4 worker threads (the
/// pages pinned again per 4 KiB, 4+ synchronous writes a 1080p frame):
/// 0.6x the process CPU, 1.3x io_uring's (bench/results).
std::unique_ptr<BlockWriteQueue> make_aio_write_queue(int fd, unsigned entries, Status &status);

/// Says, once per process, that io_uring failed with @p why and Linux AIO
/// is used instead; io_uring_refusal() then tells why (sinks/io_path.cpp).
void note_io_uring_refusal(const Status &why);

} // namespace zcap
