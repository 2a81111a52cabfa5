// SPDX-License-Identifier: LGPL-2.1-or-later
#include "event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace zcap::net {

Status EventLoop::open()
{
	epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
	wake_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (!epoll_ || !wake_)
		return Status::from_errno(errno, "setting up the server");
	add(wake_.get(), EPOLLIN);
	return {};
}

void EventLoop::add(int fd, uint32_t events)
{
	epoll_event ev{};
	ev.events = events;
	ev.data.fd = fd;
	epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
}

void EventLoop::modify(int fd, uint32_t events)
{
	epoll_event ev{};
	ev.events = events;
	ev.data.fd = fd;
	epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::remove(int fd)
{
	epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::wait(std::chrono::milliseconds timeout,
		     const std::function<void(int fd, uint32_t events)> &ready)
{
	std::array<epoll_event, kMaxEvents> events;
	const int n = epoll_wait(epoll_.get(), events.data(), kMaxEvents, int(timeout.count()));
	for (int i = 0; i < n; ++i) {
		const int fd = events[i].data.fd;
		if (fd == wake_.get()) {
			uint64_t count;
			[[maybe_unused]] ssize_t r = read(fd, &count, sizeof(count));
		} else {
			ready(fd, events[i].events);
		}
	}
}

void EventLoop::wake()
{
	uint64_t one = 1;
	[[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof(one));
}

} // namespace zcap::net
