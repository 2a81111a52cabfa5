// SPDX-License-Identifier: LGPL-2.1-or-later
#include <linux/aio_abi.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <deque>
#include <vector>

#include "block_write_queue.h"

namespace zcap {

namespace {

/// Linux AIO (io_submit), which the container profiles that refuse io_uring
/// allow: direct writes from the frames' own pages, several in flight, from
/// the writer's own thread (no worker threads, no pipe). The kernel pins the
/// pages for each write and lets them go before its completion is reaped.
class AioWriteQueue final : public BlockWriteQueue {
public:
	explicit AioWriteQueue(int fd) : fd_(fd) {}

	~AioWriteQueue() override
	{
		if (ctx_)
			syscall(SYS_io_destroy, ctx_);
	}

	Status start(unsigned entries)
	{
		if (syscall(SYS_io_setup, entries, &ctx_) < 0)
			return Status::from_errno(errno, "setting up Linux AIO");
		return {};
	}

	void queue(uint32_t id, const std::byte *buffer, uint32_t length, uint64_t offset,
		   int) override
	{
		iocb cb{};
		cb.aio_data = id;
		cb.aio_lio_opcode = IOCB_CMD_PWRITE;
		cb.aio_fildes = uint32_t(fd_);
		cb.aio_buf = uint64_t(uintptr_t(buffer));
		cb.aio_nbytes = length;
		cb.aio_offset = int64_t(offset);
		pending_.push_back(cb);
	}

	/// A write the kernel refuses at submission completes with that error,
	/// as io_uring reports it, so that the writer lets its frame go.
	Status submit() override
	{
		std::vector<iocb *> list;
		list.reserve(pending_.size());
		for (iocb &cb : pending_)
			list.push_back(&cb);
		for (size_t done = 0; done < list.size();) {
			long n = syscall(SYS_io_submit, ctx_, long(list.size() - done),
					 list.data() + done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				refused_.push_back({uint32_t(list[done]->aio_data), -errno});
				n = 1;
			}
			done += size_t(n);
		}
		pending_.clear();
		return {};
	}

	Status wait(std::optional<std::chrono::milliseconds> timeout,
		    std::optional<Completion> &completion) override
	{
		completion.reset();
		timespec ts{};
		if (timeout) {
			ts.tv_sec = timeout->count() / 1000;
			ts.tv_nsec = (timeout->count() % 1000) * 1000000;
		}
		return get(1, timeout ? &ts : nullptr, completion);
	}

	std::optional<Completion> peek() override
	{
		std::optional<Completion> completion;
		timespec zero{};
		get(0, &zero, completion);
		return completion;
	}

private:
	Status get(long min, timespec *timeout, std::optional<Completion> &completion)
	{
		if (!refused_.empty()) {
			completion = refused_.front();
			refused_.pop_front();
			return {};
		}
		io_event event{};
		long n;
		do
			n = syscall(SYS_io_getevents, ctx_, min, 1L, &event, timeout);
		while (n < 0 && errno == EINTR && !timeout);
		if (n < 0 && errno == EINTR)
			return {};
		if (n < 0)
			return Status::from_errno(errno, "waiting for direct writes (AIO)");
		if (n == 1)
			completion = Completion{uint32_t(event.data), int(event.res)};
		return {};
	}

	int fd_;
	aio_context_t ctx_ = 0;
	std::vector<iocb> pending_;
	std::deque<Completion> refused_;
};

} // namespace

std::unique_ptr<BlockWriteQueue> make_aio_write_queue(int fd, unsigned entries, Status &status)
{
	return start_write_queue<AioWriteQueue>(fd, entries, status);
}

} // namespace zcap
