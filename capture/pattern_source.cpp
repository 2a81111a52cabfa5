// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/pattern_source.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include <zcap/pattern.h>

namespace zcap {

namespace {

using Clock = std::chrono::steady_clock;

/// How long a wait lasts before the stop flag is looked at again.
constexpr auto kStopPollInterval = std::chrono::milliseconds(50);

/// No slot holds a rendered frame yet.
constexpr uint64_t kUnrendered = ~uint64_t(0);

uint64_t to_ns(Clock::time_point t)
{
	// steady_clock is CLOCK_MONOTONIC on Linux, as V4L2 timestamps are.
	return uint64_t(
		std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

} // namespace

std::unique_ptr<PatternSource> PatternSource::create(const FrameFormat &format, FrameRate rate,
						     unsigned buffers, Status &status)
{
	if (format.size_image == 0) {
		status = Status::invalid("pattern source: empty frame format");
		return nullptr;
	}
	// A page of room in every buffer, so that a frame can start anywhere in
	// its first page when a sink asks for it (placement.h).
	auto pool = FramePool::create(format.size_image + kPlacementPage, buffers, status);
	if (!pool)
		return nullptr;
	return std::unique_ptr<PatternSource>(new PatternSource(format, rate, std::move(pool)));
}

PatternSource::PatternSource(const FrameFormat &format, FrameRate rate,
			     std::unique_ptr<FramePool> pool)
    : format_(format), rate_(rate), pool_(std::move(pool)),
      slot_sequence_(pool_->count(), kUnrendered)
{
}

std::string PatternSource::description() const
{
	std::string rate = rate_.unlimited() ? std::string("as fast as the sinks take frames")
					     : fmt::format("at {:g} fps", rate_.value());
	return fmt::format("built-in pattern {}x{} {} {}", format_.width, format_.height,
			   fourcc_name(format_.fourcc), rate);
}

std::vector<MemoryRegion> PatternSource::memory_regions() const
{
	return {pool_->region()};
}

Status PatternSource::start()
{
	next_sequence_ = 0;
	start_ = Clock::now();
	return {};
}

std::chrono::steady_clock::time_point PatternSource::due_time(uint64_t sequence) const
{
	// Frame n is due at start + n / rate; long double (64-bit mantissa)
	// keeps this exact to the nanosecond for runs of years.
	long double ns = static_cast<long double>(sequence) * 1e9L * rate_.den / rate_.num;
	return start_ + std::chrono::nanoseconds(int64_t(ns));
}

std::optional<Frame> PatternSource::next_frame(const std::atomic<bool> &stop)
{
	// Where the sinks want this frame to start; a slot already drawn there
	// is reused, another is drawn anew (placement.h).
	const std::optional<uint32_t> offset = placement_ ? placement_(0) : std::nullopt;
	std::function<bool(const FrameSlot &)> prefer;
	if (offset)
		prefer = [&](const FrameSlot &slot) { return slot.metadata().offset == *offset; };
	FrameSlot *slot = nullptr;
	while (!slot) {
		if (stop.load(std::memory_order_relaxed))
			return std::nullopt;

		if (rate_.unlimited()) {
			slot = pool_->acquire(Clock::now() + kStopPollInterval, prefer);
			continue;
		}

		auto due = due_time(next_sequence_);
		auto now = Clock::now();
		if (due > now) {
			std::this_thread::sleep_for(
				std::min<Clock::duration>(due - now, kStopPollInterval));
			continue;
		}
		slot = pool_->acquire(now, prefer);
		if (!slot) {
			// Every buffer is pinned by sinks: like a device, lose
			// this frame and say so through the counter.
			stats_.dropped.fetch_add(1, std::memory_order_relaxed);
			++next_sequence_;
		}
	}

	uint64_t sequence = next_sequence_++;
	uint64_t &held = slot_sequence_[slot->index()];
	FrameMetadata &meta = slot->metadata();
	if (held != kUnrendered && offset && *offset != meta.offset)
		held = kUnrendered; // a frame elsewhere in the buffer: draw it anew
	if (held == kUnrendered && offset)
		meta.offset = *offset;
	auto memory = slot->memory().subspan(meta.offset, format_.size_image);
	if (held == kUnrendered)
		pattern::render(format_, sequence, memory);
	else
		pattern::restamp(format_, held, sequence, memory);
	held = sequence;

	meta.format = format_;
	meta.bytes_used = format_.size_image;
	meta.sequence = sequence;
	// Paced frames carry the time they were due, as a device's carry the
	// time they were captured; unpaced ones the time they were made.
	meta.timestamp_ns = to_ns(rate_.unlimited() ? Clock::now() : due_time(sequence));
	stats_.frames.fetch_add(1, std::memory_order_relaxed);
	return Frame::adopt(*slot);
}

} // namespace zcap
