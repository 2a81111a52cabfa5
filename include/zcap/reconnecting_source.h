// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zcap/source.h>
#include <zcap/v4l2_source.h>

namespace zcap {

/// What a camera's comebacks cost; readable while it runs.
struct ReconnectStats {
	std::atomic<uint64_t> reconnects{0}; ///< times the camera came back
	std::atomic<uint64_t> offline_ns{
		0}; ///< capture time between the last frame before and the first after
	std::atomic<uint64_t> frames_missed{
		0};			  ///< frames the offline time would have held, by the rate
	std::atomic<bool> waiting{false}; ///< the camera is gone and waited for now
};

/// A V4L2 camera that comes back: when its capture fails mid-run (the node
/// disconnected or removed: ENODEV; a device error; no frame for the
/// source's timeout), the device is let go and its node is opened again
/// every kReconnectPoll, with the same options and the format of the first
/// capture, until it opens, streams and captures that format; then frames
/// continue as from the same source, on their own capture timestamps
/// (CLOCK_MONOTONIC), so the time it was away is a gap in the recording,
/// counted in reconnect_stats(). A node that comes back with another format
/// (it cannot capture the first one, or at another stride or frame size) is
/// said once and waited for on. The capture that failed closes its node once
/// the sinks let go of its frames (only then can a driver module be
/// removed), but keeps its buffers' memory until this source is destroyed:
/// sinks may have registered it with the kernel by address, and a new
/// capture's buffers must not take those addresses (a reconnect costs its
/// buffers' memory for the rest of the run). With --io mmap the driver's
/// buffers are that memory, so the node stays open too.
///
/// A capture that fails before its first frame is not waited for (in a run
/// of several cameras the others wait for every first frame): it ends as a
/// plain V4l2Source's would. Waits until the stop flag or the end time
/// (set_end_time(), --duration); a camera not back by then ends with the
/// failure that made it go (last_error()).
class ReconnectingSource final : public Source {
public:
	/// Opens the node again, with a buffer for every frame the sinks may
	/// pin, as the first capture was; nothing (and why) while it cannot.
	using Opener = std::function<std::unique_ptr<V4l2Source>(Status &status)>;

	/// How often a gone node is tried again: a camera is found within half
	/// a second of coming back, and a failed open(2) of a missing node
	/// twice a second costs nothing measurable.
	static constexpr std::chrono::milliseconds kReconnectPoll{500};

	ReconnectingSource(std::unique_ptr<V4l2Source> first, std::string node, Opener reopen);
	~ReconnectingSource() override;

	std::string description() const override { return description_; }
	FrameFormat format() const override { return format_; }
	FrameRate frame_rate() const override { return rate_; }
	std::vector<MemoryRegion> memory_regions() const override;
	void set_placement(PlacementAdvice advice) override;
	void set_end_time(uint64_t timestamp_ns) override { end_ns_ = timestamp_ns; }
	Status start() override;
	std::optional<Frame> next_frame(const std::atomic<bool> &stop) override;
	void stop() override;
	Status last_error() const override { return error_; }
	const SourceStats &stats() const override { return stats_; }

	const ReconnectStats &reconnect_stats() const { return reconnect_; }

private:
	/// Lets the failed capture go (kept until its frames are released).
	void retire();
	/// Closes the node of every let-go capture whose frames are all
	/// released (V4l2Source::release_device()).
	void release_retired();
	/// Waits for the node and starts capturing from it again; false on
	/// stop or at the end time.
	bool reconnect(const std::atomic<bool> &stop);
	/// One attempt to open and start the node; says why not once per reason.
	bool try_reopen();
	/// The counters of every capture so far.
	void update_stats();

	std::unique_ptr<V4l2Source> current_;
	std::vector<std::unique_ptr<V4l2Source>> retired_;
	std::string node_;
	Opener reopen_;
	std::string description_;
	FrameFormat format_;
	FrameRate rate_;
	PlacementAdvice placement_;
	std::optional<uint64_t> end_ns_;
	std::optional<uint64_t> last_timestamp_ns_; ///< of the last frame handed out
	bool gap_open_ = false;			    ///< the next frame ends an offline time
	std::string last_refusal_;		    ///< said once per reason
	uint64_t past_frames_ = 0, past_dropped_ = 0, past_errors_ = 0;
	Status gone_; ///< why the camera went, the last time
	Status error_;
	SourceStats stats_;
	ReconnectStats reconnect_;
};

} // namespace zcap
