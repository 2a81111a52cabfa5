// SPDX-License-Identifier: LGPL-2.1-or-later
#include "signal_stop.h"

#include <pthread.h>

#include <ctime>

namespace zcap::cli {

SignalStop::SignalStop()
{
	sigemptyset(&set_);
	sigaddset(&set_, SIGINT);
	sigaddset(&set_, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set_, nullptr);
	thread_ = std::thread([this] {
		// Wake now and then to notice that the program is done.
		const timespec poll{0, 100 * 1000 * 1000};
		while (!quit_.load()) {
			int sig = sigtimedwait(&set_, nullptr, &poll);
			if (sig > 0) {
				signal_ = sig;
				stop_ = true;
			}
		}
	});
}

SignalStop::~SignalStop()
{
	quit_ = true;
	thread_.join();
	// The signals stay blocked: one arriving now, after a clean finish,
	// must not kill the program on its way out.
}

} // namespace zcap::cli
