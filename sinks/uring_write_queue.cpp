// SPDX-License-Identifier: LGPL-2.1-or-later
#include <liburing.h>

#include "block_write_queue.h"

namespace zcap {

namespace {

class UringWriteQueue final : public BlockWriteQueue {
public:
	explicit UringWriteQueue(int fd) : fd_(fd) {}
	~UringWriteQueue() override
	{
		if (ready_)
			io_uring_queue_exit(&ring_);
	}

	Status start(unsigned entries)
	{
		int ret = io_uring_queue_init(entries, &ring_, 0);
		if (ret < 0)
			return Status::from_errno(-ret, "setting up io_uring");
		ready_ = true;
		return {};
	}

	void queue(uint32_t id, const std::byte *buffer, uint32_t length, uint64_t offset,
		   int fixed) override
	{
		io_uring_sqe *sqe = io_uring_get_sqe(&ring_);
		if (!sqe) {
			io_uring_submit(&ring_);
			sqe = io_uring_get_sqe(&ring_);
		}
		if (fixed >= 0)
			io_uring_prep_write_fixed(sqe, fd_, buffer, length, offset, fixed);
		else
			io_uring_prep_write(sqe, fd_, buffer, length, offset);
		io_uring_sqe_set_data64(sqe, id);
	}

	Status submit() override
	{
		int ret;
		do {
			ret = io_uring_submit(&ring_);
		} while (ret == -EINTR);
		return ret < 0 ? Status::from_errno(-ret, "submitting a write") : Status();
	}

	Status wait(std::optional<std::chrono::milliseconds> timeout,
		    std::optional<Completion> &completion) override
	{
		completion.reset();
		io_uring_cqe *cqe = nullptr;
		int ret;
		if (timeout) {
			__kernel_timespec ts{};
			ts.tv_nsec = std::chrono::nanoseconds(*timeout).count();
			ret = io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
			if (ret == -ETIME || ret == -EINTR)
				return {};
		} else {
			do {
				ret = io_uring_wait_cqe(&ring_, &cqe);
			} while (ret == -EINTR);
		}
		if (ret < 0)
			return Status::from_errno(-ret, "waiting for a write");
		completion = take(cqe);
		return {};
	}

	std::optional<Completion> peek() override
	{
		io_uring_cqe *cqe = nullptr;
		if (io_uring_peek_cqe(&ring_, &cqe) != 0)
			return std::nullopt;
		return take(cqe);
	}

	bool register_buffers(std::span<const iovec> regions) override
	{
		return io_uring_register_buffers(&ring_, regions.data(),
						 unsigned(regions.size())) == 0;
	}

private:
	Completion take(io_uring_cqe *cqe)
	{
		Completion c{uint32_t(io_uring_cqe_get_data64(cqe)), cqe->res};
		io_uring_cqe_seen(&ring_, cqe);
		return c;
	}

	int fd_;
	io_uring ring_{};
	bool ready_ = false;
};

} // namespace

std::unique_ptr<BlockWriteQueue> make_uring_write_queue(int fd, unsigned entries, Status &status)
{
	return start_write_queue<UringWriteQueue>(fd, entries, status);
}

} // namespace zcap
