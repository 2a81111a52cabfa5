// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/run_clock.h>

#include <algorithm>
#include <chrono>

namespace zcap {

namespace {

/// How often a source waiting for the others looks at the halt flag.
constexpr auto kHaltPoll = std::chrono::milliseconds(50);

} // namespace

void RunClock::arrive(std::optional<uint64_t> timestamp_ns)
{
	std::lock_guard guard(lock_);
	if (timestamp_ns)
		latest_ = std::max(latest_.value_or(*timestamp_ns), *timestamp_ns);
	if (waiting_ > 0 && --waiting_ == 0) {
		zero_.store(latest_.value_or(0), std::memory_order_relaxed);
		fixed_.store(true, std::memory_order_release);
		known_.notify_all();
	}
}

std::optional<uint64_t> RunClock::join(uint64_t timestamp_ns, const std::atomic<bool> &halt)
{
	arrive(timestamp_ns);
	std::unique_lock guard(lock_);
	while (waiting_ > 0) {
		if (halt.load(std::memory_order_relaxed))
			return std::nullopt;
		known_.wait_for(guard, kHaltPoll);
	}
	return zero_.load(std::memory_order_relaxed);
}

void RunClock::leave()
{
	arrive(std::nullopt);
}

std::optional<uint64_t> RunClock::zero() const
{
	if (!fixed_.load(std::memory_order_acquire))
		return std::nullopt;
	return zero_.load(std::memory_order_relaxed);
}

uint64_t RunClock::since_zero(uint64_t timestamp_ns) const
{
	std::optional<uint64_t> base = zero();
	return base && timestamp_ns > *base ? timestamp_ns - *base : 0;
}

} // namespace zcap
