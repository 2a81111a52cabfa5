// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/pipeline.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace zcap {

namespace {

/// How long an idle sink with I/O in flight waits for a completion before it
/// looks at its queue again: short, so that a new frame is not held up.
constexpr auto kServiceWait = std::chrono::milliseconds(1);

/// How often a blocked producer looks at the halt flag.
constexpr auto kBlockedPoll = std::chrono::milliseconds(50);

} // namespace

/// One sink, its bounded queue of frame handles and the thread that feeds it.
class Pipeline::SinkWorker {
public:
	SinkWorker(std::unique_ptr<Sink> sink, SinkOptions options)
	    : sink_(std::move(sink)), options_(options)
	{
	}

	Sink &sink() { return *sink_; }

	/// The sink's wish for the frame it will be given @p ahead frames
	/// after the ones already queued.
	std::optional<uint32_t> page_offset(uint64_t ahead) const
	{
		return sink_->page_offset(queued_.load(std::memory_order_relaxed) + ahead);
	}
	bool failed() const
	{
		std::lock_guard lock(lock_);
		return failed_;
	}

	/// Called before the thread runs; a failure here means no frames.
	bool start(const StreamInfo &info)
	{
		Status status = sink_->start(info);
		if (!status) {
			fail(status);
			return false;
		}
		return true;
	}

	void launch(std::function<void()> on_failure)
	{
		on_failure_ = std::move(on_failure);
		thread_ = std::thread([this] { loop(); });
	}

	/// Queues @p frame according to the policy. Returns false when the sink
	/// failed or @p halt was raised while blocking.
	void push(const Frame &frame, const std::atomic<bool> &halt)
	{
		std::unique_lock lock(lock_);
		if (failed_)
			return;
		while (queue_.size() >= options_.queue_frames) {
			if (options_.policy == OverflowPolicy::drop) {
				sink_->count_dropped_frame();
				return;
			}
			not_full_.wait_for(lock, kBlockedPoll);
			if (failed_ || halt.load(std::memory_order_relaxed))
				return;
		}
		queue_.push_back(frame);
		queued_.fetch_add(1, std::memory_order_relaxed);
		not_empty_.notify_one();
	}

	/// No more frames: the thread drains the queue, finishes and exits.
	void close()
	{
		{
			std::lock_guard lock(lock_);
			closed_ = true;
		}
		not_empty_.notify_one();
	}

	SinkResult join()
	{
		if (thread_.joinable())
			thread_.join();
		std::lock_guard lock(lock_);
		return {sink_->description(), status_};
	}

private:
	void loop()
	{
		for (;;) {
			std::optional<Frame> frame;
			{
				std::unique_lock lock(lock_);
				if (!sink_->busy())
					not_empty_.wait(lock, [this] {
						return !queue_.empty() || closed_;
					});
				if (!queue_.empty()) {
					frame = std::move(queue_.front());
					queue_.pop_front();
					not_full_.notify_one();
				} else if (closed_ && !sink_->busy()) {
					break;
				}
			}
			Status status = frame ? sink_->write(*frame) : sink_->service(kServiceWait);
			frame.reset();
			if (!status) {
				fail(status);
				on_failure_();
				break;
			}
		}

		Status status = sink_->finish();
		if (!status)
			fail(status);
	}

	/// Records the first error and lets go of every queued frame.
	void fail(const Status &status)
	{
		std::deque<Frame> released;
		{
			std::lock_guard lock(lock_);
			if (status_.ok())
				status_ = status;
			failed_ = true;
			released.swap(queue_);
		}
		not_full_.notify_all();
	}

	std::unique_ptr<Sink> sink_;
	SinkOptions options_;
	std::function<void()> on_failure_;
	std::thread thread_;

	mutable std::mutex lock_;
	std::condition_variable not_empty_;
	std::condition_variable not_full_;
	std::deque<Frame> queue_;
	bool closed_ = false;
	bool failed_ = false;
	Status status_;
	std::atomic<uint64_t> queued_{0}; ///< frames ever queued for the sink
};

unsigned source_buffers(std::span<const PlannedSink> sinks)
{
	unsigned buffers = kSpareSourceBuffers;
	for (const PlannedSink &planned : sinks)
		buffers += planned.options.queue_frames + planned.sink.max_held_frames();
	return buffers;
}

Pipeline::Pipeline(Source &source) : source_(source)
{
}

Pipeline::~Pipeline() = default;

void Pipeline::add_sink(std::unique_ptr<Sink> sink, SinkOptions options)
{
	if (options.queue_frames == 0)
		options.queue_frames = 1;
	sinks_.push_back(std::make_unique<SinkWorker>(std::move(sink), options));
}

void Pipeline::join_run(RunClock &clock, std::function<void(uint64_t)> on_frame)
{
	clock_ = &clock;
	on_frame_ = std::move(on_frame);
}

const Sink &Pipeline::sink(size_t i) const
{
	return sinks_.at(i)->sink();
}

void Pipeline::finish_sinks()
{
	for (auto &worker : sinks_)
		worker->close();
	for (auto &worker : sinks_)
		results_.push_back(worker->join());
	source_.set_placement({});
}

Status Pipeline::run(const RunLimits &limits, const std::atomic<bool> &stop,
		     const std::function<void()> &progress, std::chrono::milliseconds interval)
{
	results_.clear();
	frames_in_ = 0;
	frames_before_zero_ = 0;

	// Sinks first: their placement advice (below) must be there when the
	// source queues its buffers for streaming.
	StreamInfo info{source_.format(), source_.frame_rate(), source_.memory_regions(), clock_};
	size_t started = 0;
	for (auto &worker : sinks_)
		started += worker->start(info);

	std::atomic<bool> halt{started == 0};
	std::atomic<size_t> failures{0};
	auto on_failure = [&] {
		if (failures.fetch_add(1) + 1 >= started)
			halt = true;
	};
	for (auto &worker : sinks_)
		if (!worker->failed())
			worker->launch(on_failure);
	// The first sink that minds where frames start in memory decides.
	source_.set_placement([this](uint64_t ahead) -> std::optional<uint32_t> {
		for (const auto &worker : sinks_)
			if (auto offset = worker->page_offset(ahead))
				return offset;
		return std::nullopt;
	});
	if (Status status = source_.start(); !status) {
		if (clock_)
			clock_->leave();
		finish_sinks();
		return status;
	}

	std::mutex done_lock;
	std::condition_variable done_cv;
	bool done = false;

	std::thread producer([&] {
		std::optional<uint64_t> first_timestamp;
		while (!halt.load(std::memory_order_relaxed)) {
			if (limits.frames && frames_in_ >= limits.frames)
				break;
			std::optional<Frame> frame = source_.next_frame(halt);
			if (!frame)
				break;
			// A duration counts capture time: 10 s at 30 fps is 300 frames
			// (from the run's time zero when there are several sources).
			if (!first_timestamp) {
				first_timestamp = frame->timestamp_ns();
				if (clock_ && !clock_->join(*first_timestamp, halt))
					break;
				if (limits.duration.count())
					source_.set_end_time(
						(clock_ ? *clock_->zero() : *first_timestamp) +
						uint64_t(limits.duration.count()));
			}
			if (clock_ && frame->timestamp_ns() < *clock_->zero()) {
				frames_before_zero_.fetch_add(1, std::memory_order_relaxed);
				continue;
			}
			uint64_t elapsed = clock_ ? clock_->since_zero(frame->timestamp_ns())
						  : frame->timestamp_ns() - *first_timestamp;
			if (limits.duration.count() && elapsed >= uint64_t(limits.duration.count()))
				break;
			if (on_frame_)
				on_frame_(frame->timestamp_ns());
			for (auto &worker : sinks_)
				worker->push(*frame, halt);
			frames_in_.fetch_add(1, std::memory_order_relaxed);
		}
		if (clock_ && !first_timestamp)
			clock_->leave();
		source_.stop();
		std::lock_guard lock(done_lock);
		done = true;
		done_cv.notify_all();
	});

	{
		std::unique_lock lock(done_lock);
		while (!done_cv.wait_for(lock, interval, [&] { return done; })) {
			if (stop.load(std::memory_order_relaxed))
				halt = true;
			lock.unlock();
			if (progress)
				progress();
			lock.lock();
		}
	}
	producer.join();

	finish_sinks();

	if (Status source_status = source_.last_error(); !source_status)
		return source_status;
	for (const auto &result : results_)
		if (!result.status)
			return result.status;
	return {};
}

} // namespace zcap
