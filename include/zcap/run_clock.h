// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>

namespace zcap {

/// The one time zero of a run with several sources: the moment every camera
/// is running, the capture timestamp (CLOCK_MONOTONIC) of the latest of their
/// first frames. Every file of the run counts its timestamps from it, so that
/// players show the cameras in step, and each camera's recording starts with
/// its first frame at or after it: the tracks' first frames lie within a
/// frame period of each other however far apart the cameras started (171 ms
/// measured for 4 vivid nodes under TCG). Frames captured before the zero are
/// let go at once and counted, never written.
///
/// Each source joins with its first frame and waits there until every other
/// source has joined or ended; only then is the zero known and a frame
/// handed to sinks. A source that fails before its first frame leaves, so
/// that nobody waits for it.
class RunClock {
public:
	explicit RunClock(size_t sources) : waiting_(sources) {}
	RunClock(const RunClock &) = delete;
	RunClock &operator=(const RunClock &) = delete;

	/// A source's first frame, captured at @p timestamp_ns. Blocks until
	/// the zero is known or @p halt is raised; returns the zero, or nothing
	/// on halt.
	std::optional<uint64_t> join(uint64_t timestamp_ns, const std::atomic<bool> &halt);
	/// A source that ends without ever calling join().
	void leave();

	/// The zero, once every source has joined or left.
	std::optional<uint64_t> zero() const;
	/// @p timestamp_ns counted from the zero (0 before it, or before the
	/// zero is known).
	uint64_t since_zero(uint64_t timestamp_ns) const;

private:
	void arrive(std::optional<uint64_t> timestamp_ns);

	mutable std::mutex lock_;
	std::condition_variable known_;
	size_t waiting_;
	std::optional<uint64_t> latest_;
	std::atomic<bool> fixed_{false};
	std::atomic<uint64_t> zero_{0};
};

} // namespace zcap
