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

#include <zcap/frame_alignment.h>
#include <zcap/pipeline.h>
#include <zcap/run_clock.h>

namespace zcap {

/// How one source of a run ended.
struct SourceResult {
	std::string description;
	/// The source's error, else its first sink's: this source failed alone.
	Status status;
	std::vector<SinkResult> sinks;
	uint64_t frames_in = 0;
	/// Frames captured before the run's time zero, let go unwritten.
	uint64_t frames_before_zero = 0;
	/// Its first recorded frame's capture time after the run's time zero.
	std::optional<uint64_t> start_offset_ns;
};

/// Several sources recorded together: each source runs its own Pipeline on
/// its own thread, feeding its own sinks (a multi-track file gives each
/// source a track sink of its own). They share the stop flag, the limits
/// and one time zero (RunClock): when the last camera delivered its first
/// frame. A source that cannot start, fails or disconnects ends alone and is
/// reported with its own status; the others go on.
class MultiSourcePipeline {
public:
	MultiSourcePipeline() = default;
	~MultiSourcePipeline();

	/// Adds a source (it must outlive the pipeline); returns its index.
	size_t add_source(Source &source);
	void add_sink(size_t source, std::unique_ptr<Sink> sink, SinkOptions options);

	/// Runs every source until @p limits, @p stop, or its own end. Calls
	/// @p progress about every @p progress_interval from the calling thread.
	/// Returns success when every source did; else the first failure,
	/// saying how many of them failed (results() has each one's).
	Status run(const RunLimits &limits, const std::atomic<bool> &stop,
		   const std::function<void()> &progress = {},
		   std::chrono::milliseconds progress_interval = std::chrono::milliseconds(250));

	size_t source_count() const { return entries_.size(); }
	const Pipeline &pipeline(size_t source) const { return *entries_.at(source)->pipeline; }
	const Source &source(size_t source) const { return *entries_.at(source)->source; }
	const std::vector<SourceResult> &results() const { return results_; }
	/// Sources that failed in the last run.
	size_t failed() const;
	/// The run's time zero, once known (null before run()).
	const RunClock *clock() const { return clock_.get(); }
	/// How far each source's frames are from the nearest of source 0's.
	AlignmentStats alignment(size_t source) const;

private:
	struct Entry {
		Source *source;
		std::unique_ptr<Pipeline> pipeline;
		std::atomic<uint64_t> first_ns{0};
		std::atomic<bool> started{false};
		std::atomic<bool> done{false};
		Status status;
	};

	std::vector<std::unique_ptr<Entry>> entries_;
	std::vector<SourceResult> results_;
	std::unique_ptr<RunClock> clock_;
	std::unique_ptr<FrameAlignment> alignment_;
};

} // namespace zcap
