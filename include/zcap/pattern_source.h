// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include <zcap/frame_pool.h>
#include <zcap/source.h>

namespace zcap {

/// The embedded default source, like the kernel's vivid: the test pattern of
/// pattern.h in frames from a FramePool, paced at a frame rate or as fast as
/// the sinks free buffers. Like a real device, when every buffer is still
/// pinned at the moment a paced frame is due, that frame is dropped and
/// counted; its sequence number is skipped.
class PatternSource final : public Source {
public:
	/// @p buffers: how many frames may be pinned by sinks at once.
	static std::unique_ptr<PatternSource> create(const FrameFormat &format, FrameRate rate,
						     unsigned buffers, Status &status);

	std::string description() const override;
	FrameFormat format() const override { return format_; }
	FrameRate frame_rate() const override { return rate_; }
	std::vector<MemoryRegion> memory_regions() const override;
	void set_placement(PlacementAdvice advice) override { placement_ = std::move(advice); }
	Status start() override;
	std::optional<Frame> next_frame(const std::atomic<bool> &stop) override;
	void stop() override {}
	Status last_error() const override { return {}; }
	const SourceStats &stats() const override { return stats_; }

	const FramePool &pool() const { return *pool_; }

private:
	PatternSource(const FrameFormat &format, FrameRate rate, std::unique_ptr<FramePool> pool);
	/// When a paced frame is due.
	std::chrono::steady_clock::time_point due_time(uint64_t sequence) const;

	FrameFormat format_;
	FrameRate rate_;
	std::unique_ptr<FramePool> pool_;
	/// The frame each slot holds now, so restamp() redraws only the difference.
	std::vector<uint64_t> slot_sequence_;
	PlacementAdvice placement_;
	uint64_t next_sequence_ = 0;
	std::chrono::steady_clock::time_point start_;
	SourceStats stats_;
};

} // namespace zcap
