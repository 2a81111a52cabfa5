// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <atomic>
#include <csignal>
#include <thread>

namespace zcap::cli {

/// Turns SIGINT and SIGTERM into a stop request. The signals are blocked in
/// every thread (create this before any other thread) and taken by one
/// thread of its own, so no I/O wait anywhere is interrupted half-way.
class SignalStop {
public:
	SignalStop();
	~SignalStop();
	SignalStop(const SignalStop &) = delete;
	SignalStop &operator=(const SignalStop &) = delete;

	const std::atomic<bool> &requested() const { return stop_; }
	/// The signal that asked to stop, or 0.
	int signal() const { return signal_.load(); }

private:
	sigset_t set_;
	std::atomic<bool> stop_{false};
	std::atomic<int> signal_{0};
	std::atomic<bool> quit_{false};
	std::thread thread_;
};

} // namespace zcap::cli
