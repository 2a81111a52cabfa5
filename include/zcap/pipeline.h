// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include <zcap/run_clock.h>
#include <zcap/sink.h>
#include <zcap/source.h>
#include <zcap/status.h>

namespace zcap {

/// What a sink's queue does when the sink falls behind.
enum class OverflowPolicy {
	drop,  ///< this sink skips the frame (counted); the source and other sinks go on
	block, ///< the source waits for this sink (benchmarks: nothing is lost)
};

struct SinkOptions {
	/// Frames that may wait for the sink. Each one pins a source buffer.
	unsigned queue_frames = 4;
	OverflowPolicy policy = OverflowPolicy::drop;
};

/// A sink as a pipeline will run it, before it is added.
struct PlannedSink {
	const Sink &sink;
	SinkOptions options;
};

/// Source buffers beyond those the sinks pin: the frame being made, and the
/// one a sink's thread holds while write() takes it.
constexpr unsigned kSpareSourceBuffers = 2;

/// The buffers a source needs so that no frame waits for one while these
/// sinks run: for each, the frames that may wait in its queue and those it
/// may hold (Sink::max_held_frames()), and kSpareSourceBuffers.
unsigned source_buffers(std::span<const PlannedSink> sinks);

/// When a run ends by itself. Zero means no limit.
struct RunLimits {
	uint64_t frames = 0;
	std::chrono::nanoseconds duration{0};
};

/// How one sink ended.
struct SinkResult {
	std::string description;
	Status status;
};

/// Fans the frames of one source out to N sinks. Each sink runs on its own
/// thread behind a bounded queue of frame handles; fan-out is a reference
/// count, never a copy.
class Pipeline {
public:
	explicit Pipeline(Source &source);
	~Pipeline();

	void add_sink(std::unique_ptr<Sink> sink, SinkOptions options);

	/// Makes this pipeline one of a run of several sources: its first frame
	/// waits in @p clock for the run's time zero (sinks see the clock in
	/// StreamInfo), frames captured before the zero are let go (counted in
	/// frames_before_zero()), and @p on_frame sees the capture timestamp of
	/// every frame the sinks get. Both must outlive run().
	void join_run(RunClock &clock, std::function<void(uint64_t timestamp_ns)> on_frame);

	/// Runs until @p limits are reached, @p stop becomes true, the source
	/// fails, or every sink has failed. Calls @p progress about every
	/// @p progress_interval from the calling thread. Returns the first error.
	Status run(const RunLimits &limits, const std::atomic<bool> &stop,
		   const std::function<void()> &progress = {},
		   std::chrono::milliseconds progress_interval = std::chrono::milliseconds(250));

	size_t sink_count() const { return sinks_.size(); }
	const Sink &sink(size_t i) const;
	const std::vector<SinkResult> &results() const { return results_; }
	/// Frames handed to each sink's queue or dropped there: total seen.
	uint64_t frames_in() const { return frames_in_; }
	/// Frames let go because they were captured before the run's time zero.
	uint64_t frames_before_zero() const { return frames_before_zero_; }

private:
	class SinkWorker;

	/// Lets every sink drain its queue and finish; withdraws the placement
	/// advice that refers to them.
	void finish_sinks();

	Source &source_;
	std::vector<std::unique_ptr<SinkWorker>> sinks_;
	std::vector<SinkResult> results_;
	std::atomic<uint64_t> frames_in_{0};
	std::atomic<uint64_t> frames_before_zero_{0};
	RunClock *clock_ = nullptr;
	std::function<void(uint64_t)> on_frame_;
};

} // namespace zcap
