// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/reconnecting_source.h>

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <thread>

#include <fmt/format.h>

#include <zcap/log.h>

namespace zcap {

namespace {

/// How often a camera waited for looks at the stop flag and the end time.
constexpr auto kHaltPoll = std::chrono::milliseconds(50);

uint64_t monotonic_ns()
{
	timespec now{};
	clock_gettime(CLOCK_MONOTONIC, &now);
	return uint64_t(now.tv_sec) * 1000000000u + uint64_t(now.tv_nsec);
}

/// The node is not there (yet): nothing to say while waiting for it.
bool missing(const Status &status)
{
	const int err = status.code().value();
	return status.code().category() == std::system_category() &&
	       (err == ENOENT || err == ENODEV || err == ENXIO);
}

std::string format_text(const FrameFormat &f)
{
	return fmt::format("{}x{} {} ({} bytes a frame)", f.width, f.height, fourcc_name(f.fourcc),
			   f.size_image);
}

} // namespace

ReconnectingSource::ReconnectingSource(std::unique_ptr<V4l2Source> first, std::string node,
				       Opener reopen)
    : current_(std::move(first)), node_(std::move(node)), reopen_(std::move(reopen)),
      description_(current_->description()), format_(current_->format()),
      rate_(current_->frame_rate())
{
}

ReconnectingSource::~ReconnectingSource() = default;

std::vector<MemoryRegion> ReconnectingSource::memory_regions() const
{
	return current_ ? current_->memory_regions() : std::vector<MemoryRegion>{};
}

void ReconnectingSource::set_placement(PlacementAdvice advice)
{
	placement_ = std::move(advice);
	if (current_)
		current_->set_placement(placement_);
}

Status ReconnectingSource::start()
{
	return current_->start();
}

void ReconnectingSource::stop()
{
	if (current_)
		current_->stop();
}

void ReconnectingSource::update_stats()
{
	const SourceStats &s = current_->stats();
	stats_.frames.store(past_frames_ + s.frames.load(), std::memory_order_relaxed);
	stats_.dropped.store(past_dropped_ + s.dropped.load(), std::memory_order_relaxed);
	stats_.errors.store(past_errors_ + s.errors.load(), std::memory_order_relaxed);
}

std::optional<Frame> ReconnectingSource::next_frame(const std::atomic<bool> &stop)
{
	for (;;) {
		if (!retired_.empty())
			release_retired();
		if (current_) {
			std::optional<Frame> frame = current_->next_frame(stop);
			update_stats();
			if (frame) {
				const uint64_t timestamp = frame->timestamp_ns();
				if (gap_open_) {
					gap_open_ = false;
					const uint64_t gap =
						timestamp > *last_timestamp_ns_
							? timestamp - *last_timestamp_ns_
							: 0;
					// The frame periods in the gap, less the one
					// this frame ends.
					const double periods =
						rate_.unlimited() ? 0 : gap * 1e-9 * rate_.value();
					const uint64_t missed =
						uint64_t(std::max(0.0, std::round(periods) - 1));
					reconnect_.offline_ns.fetch_add(gap);
					reconnect_.frames_missed.fetch_add(missed);
					log(LogLevel::info,
					    fmt::format(
						    "{} is back: recording it again after {:.1f} s "
						    "(about {} frames missed)",
						    node_, gap * 1e-9, missed));
				}
				last_timestamp_ns_ = timestamp;
				return frame;
			}
			if (stop.load(std::memory_order_relaxed))
				return std::nullopt;
			Status failure = current_->last_error();
			// Before a first frame there is nothing to continue, and
			// the others of a run wait for that frame: end as it would.
			if (!last_timestamp_ns_ || failure.ok()) {
				error_ = failure;
				return std::nullopt;
			}
			log(LogLevel::warning, fmt::format("{}; waiting for {} to come back",
							   failure.message(), node_));
			retire();
			gone_ = failure;
		}
		if (!reconnect(stop)) {
			// Not back by the end: the camera ended with that failure.
			error_ = gone_;
			return std::nullopt;
		}
	}
}

void ReconnectingSource::retire()
{
	current_->stop();
	current_->set_placement({});
	past_frames_ += current_->stats().frames.load();
	past_dropped_ += current_->stats().dropped.load();
	past_errors_ += current_->stats().errors.load();
	retired_.push_back(std::move(current_));
	gap_open_ = true;
}

void ReconnectingSource::release_retired()
{
	for (auto &source : retired_)
		if (source->frames_in_use() == 0)
			source->release_device();
}

bool ReconnectingSource::reconnect(const std::atomic<bool> &stop)
{
	reconnect_.waiting.store(true);
	auto next_try = std::chrono::steady_clock::now();
	bool back = false;
	while (!back && !stop.load(std::memory_order_relaxed) &&
	       !(end_ns_ && monotonic_ns() >= *end_ns_)) {
		release_retired();
		if (std::chrono::steady_clock::now() >= next_try) {
			back = try_reopen();
			next_try = std::chrono::steady_clock::now() + kReconnectPoll;
		}
		if (!back)
			std::this_thread::sleep_for(kHaltPoll);
	}
	reconnect_.waiting.store(false);
	if (back)
		reconnect_.reconnects.fetch_add(1);
	return back;
}

bool ReconnectingSource::try_reopen()
{
	Status status;
	std::unique_ptr<V4l2Source> source = reopen_(status);
	std::string refusal;
	if (!source) {
		if (!missing(status))
			refusal = status.message();
	} else if (source->format() != format_) {
		refusal = fmt::format("{} is back with {}, not the {} it recorded; waiting for it "
				      "as it was",
				      node_, format_text(source->format()), format_text(format_));
	} else {
		source->set_placement(placement_);
		if (status = source->start(); status) {
			current_ = std::move(source);
			last_refusal_.clear();
			return true;
		}
		refusal = status.message();
	}
	if (!refusal.empty() && refusal != last_refusal_)
		log(LogLevel::warning, refusal);
	last_refusal_ = refusal;
	return false;
}

} // namespace zcap
