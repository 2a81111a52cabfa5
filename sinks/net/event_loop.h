// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>

#include <zcap/status.h>
#include <zcap/unique_fd.h>

namespace zcap::net {

/// The server thread's epoll set, and a wake-up other threads can ring.
/// Every registered descriptor is reported by its number.
class EventLoop {
public:
	/// Creates the epoll set and the wake-up.
	Status open();

	void add(int fd, uint32_t events);
	void modify(int fd, uint32_t events);
	void remove(int fd);

	/// Waits at most @p timeout for events and calls @p ready(fd, events)
	/// for each; a wake-up is consumed, not reported.
	void wait(std::chrono::milliseconds timeout,
		  const std::function<void(int fd, uint32_t events)> &ready);
	/// Ends the current or next wait() early; any thread may call it.
	void wake();

private:
	/// The most events one wait() takes; the rest wait for the next.
	static constexpr int kMaxEvents = 64;

	UniqueFd epoll_;
	UniqueFd wake_;
};

} // namespace zcap::net
