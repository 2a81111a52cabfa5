// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <zcap/format.h>
#include <zcap/frame.h>
#include <zcap/frame_pool.h>
#include <zcap/placement.h>
#include <zcap/status.h>

namespace zcap {

/// Counters a source keeps; read while it runs.
struct SourceStats {
	std::atomic<uint64_t> frames{0};  ///< frames delivered
	std::atomic<uint64_t> dropped{0}; ///< frames lost because every buffer was pinned
	std::atomic<uint64_t> errors{0};  ///< frames the device marked as corrupt (skipped)
};

/// Where frames come from: the built-in pattern or a V4L2 device.
class Source {
public:
	virtual ~Source() = default;

	/// One line for the user: "built-in pattern 1920x1080 YUYV at 30 fps".
	virtual std::string description() const = 0;
	virtual FrameFormat format() const = 0;
	virtual FrameRate frame_rate() const = 0;
	/// The memory every frame of this source lives in, for sinks that
	/// register buffers with the kernel once.
	virtual std::vector<MemoryRegion> memory_regions() const = 0;

	/// Sources that choose where a frame starts in its buffer follow
	/// @p advice from then on (see placement.h); others ignore it. An empty
	/// function withdraws it.
	virtual void set_placement([[maybe_unused]] PlacementAdvice advice) {}
	/// The run takes no frame captured at or after @p timestamp_ns (its
	/// --duration): a source that waits for something other than its next
	/// frame (a camera coming back) ends then instead of waiting on.
	virtual void set_end_time([[maybe_unused]] uint64_t timestamp_ns) {}

	virtual Status start() = 0;
	/// Blocks until the next frame is ready. Returns nothing when @p stop
	/// becomes true, or on a fatal error (then last_error() says why).
	virtual std::optional<Frame> next_frame(const std::atomic<bool> &stop) = 0;
	virtual void stop() = 0;
	virtual Status last_error() const = 0;

	virtual const SourceStats &stats() const = 0;
};

} // namespace zcap
