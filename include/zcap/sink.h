// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <zcap/format.h>
#include <zcap/frame.h>
#include <zcap/frame_pool.h>
#include <zcap/placement.h>
#include <zcap/run_clock.h>
#include <zcap/status.h>

namespace zcap {

/// How a sink moves frame bytes. buffered costs a CPU copy of every byte,
/// and the sink counts it.
enum class IoPath : uint8_t {
	none,		    ///< not started
	uring_direct_fixed, ///< io_uring O_DIRECT writes from registered buffers
	uring_direct,	    ///< io_uring O_DIRECT writes from the frame pages
	buffered,	    ///< write() through the page cache, written behind and dropped
	aio_direct,	    ///< Linux AIO O_DIRECT writes from the frame pages
};

/// A short name for reports: "io_uring+O_DIRECT+fixed", "buffered", ...
std::string_view io_path_name(IoPath path);

/// Why a disk sink in this process could not use io_uring and took another
/// path, e.g. "io_uring refused (EPERM: seccomp, a container?)"; empty while
/// none has had to. Said once, as a warning, when first found out.
std::string io_uring_refusal();

/// Counters a sink keeps. Written by the sink's thread, readable any time.
struct SinkStats {
	std::atomic<uint64_t> frames{0};       ///< frames completely written/sent
	std::atomic<uint64_t> bytes{0};	       ///< frame bytes completely written/sent
	std::atomic<uint64_t> dropped{0};      ///< frames skipped because the sink fell behind
	std::atomic<uint64_t> copied_bytes{0}; ///< frame bytes the CPU copied on the way
	std::atomic<IoPath> io_path{IoPath::none};
};

/// What a sink learns before the first frame.
struct StreamInfo {
	FrameFormat format;
	FrameRate frame_rate;
	std::vector<MemoryRegion> regions; ///< where every frame's memory lies
	/// In a run of several sources, the run's time zero that every file
	/// counts timestamps from (known by the first frame); null otherwise.
	const RunClock *clock = nullptr;
};

/// A consumer of frames (disk, network). The pipeline drives each sink from
/// its own thread: start(), then write() per frame, service() while idle, and
/// finish() once. A sink that returns an error is not called again but
/// finish().
class Sink {
public:
	virtual ~Sink() = default;

	/// One line for the user: "raw file /data/a.raw".
	virtual std::string description() const = 0;

	virtual Status start(const StreamInfo &info) = 0;
	/// Takes the frame; the sink may keep the handle (pinning the buffer)
	/// until the kernel is done with the pages.
	virtual Status write(const Frame &frame) = 0;
	/// True while the sink holds frames for I/O still in progress.
	virtual bool busy() const = 0;
	/// Called when no frame is waiting: reap completed I/O, waiting at most
	/// @p timeout for some.
	virtual Status service(std::chrono::milliseconds timeout) = 0;
	/// Completes all I/O and closes the output so that it is valid.
	virtual Status finish() = 0;

	/// Where the @p index-th frame this sink is given (counting from 0)
	/// would best start within a page in memory so that the sink can write
	/// it without a copy (see placement.h); nothing when it does not matter.
	/// Called from any thread after start().
	virtual std::optional<uint32_t> page_offset([[maybe_unused]] uint64_t index) const
	{
		return std::nullopt;
	}

	/// The most frames this sink may still hold after write() returned
	/// (writes in flight, frames queued for clients, pages the kernel has
	/// not handed back): each pins a source buffer. What a source needs
	/// for a sink is this plus the sink's queue (see source_buffers() in
	/// pipeline.h). A sink that keeps no frame says 0.
	virtual unsigned max_held_frames() const { return 0; }

	const SinkStats &stats() const noexcept { return stats_; }
	/// The pipeline skipped a frame for this sink because its queue was full.
	void count_dropped_frame() noexcept
	{
		stats_.dropped.fetch_add(1, std::memory_order_relaxed);
	}

protected:
	SinkStats stats_;
};

} // namespace zcap
