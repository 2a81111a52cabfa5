// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <linux/videodev2.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zcap/buffer_arena.h>
#include <zcap/source.h>
#include <zcap/unique_fd.h>

namespace zcap {

class VideoDevice;
class DrmDumbBuffers;

/// How capture buffers are shared with the device.
enum class IoMode {
	automatic, ///< userptr, else mmap, else dmabuf
	userptr,   ///< the device fills memfd frame buffers: file alias and mapping
	mmap,	   ///< driver buffers, exported with VIDIOC_EXPBUF as DMA-BUFs
	dmabuf,	   ///< DRM dumb buffers (libdrm), imported as DMA-BUFs
};

std::string_view io_mode_name(IoMode mode);
std::optional<IoMode> parse_io_mode(std::string_view name);

struct V4l2SourceOptions {
	std::string device;  ///< the node, e.g. /dev/video0
	uint32_t fourcc = 0; ///< 0: the device's current format
	uint32_t width = 0;  ///< 0: the device's current size
	uint32_t height = 0;
	FrameRate rate; ///< unlimited: the device's current rate
	IoMode io = IoMode::automatic;
	unsigned buffers = 8;	///< frames that may be pinned at once
	std::string drm_device; ///< for dmabuf; empty: the first that works
	/// No frame for this many frame periods (at least kMinTimeout) ends
	/// the capture with an error.
	unsigned timeout_periods = 30;
};

/// Captures from a V4L2 device. Buffers are pinned: a dequeued buffer is
/// queued back (VIDIOC_QBUF) only once the last reference to its frame is
/// dropped, by sinks and by I/O in flight. Whichever thread drops it only
/// hands the buffer back (a list and an eventfd); the thread that calls
/// next_frame() queues it again before it waits for the next frame, as
/// libcamera and PipeWire do, so that every ioctl, the placement advice and
/// its state stay on that one thread. When every buffer is pinned the driver
/// itself drops frames; the gaps in the device's sequence numbers are
/// counted in stats().dropped.
class V4l2Source final : public Source, public FrameOwner {
public:
	static std::unique_ptr<V4l2Source> open(const V4l2SourceOptions &options, Status &status);
	/// Over an already open device (tests use a fake one).
	static std::unique_ptr<V4l2Source> open(std::unique_ptr<VideoDevice> device,
						const V4l2SourceOptions &options, Status &status);
	~V4l2Source() override;

	std::string description() const override;
	FrameFormat format() const override { return format_; }
	FrameRate frame_rate() const override { return rate_; }
	std::vector<MemoryRegion> memory_regions() const override;
	/// USERPTR only: each buffer is queued with its frame placed where the
	/// sinks want it (placement.h), the driver's queue counted as ahead.
	/// The advice is asked on the thread that calls start() and
	/// next_frame(), never while they run on another.
	void set_placement(PlacementAdvice advice) override { placement_ = std::move(advice); }
	Status start() override;
	std::optional<Frame> next_frame(const std::atomic<bool> &stop) override;
	void stop() override;
	Status last_error() const override { return error_; }
	const SourceStats &stats() const override { return stats_; }

	/// From any thread: hands the buffer back to the capture thread.
	void recycle(FrameSlot &slot) noexcept override;

	/// Frames lent out and not yet handed back: the source may be
	/// destroyed only at 0. From any thread.
	unsigned frames_in_use() const;

	/// After a failure, with no frame in use: closes the node (so that its
	/// driver's module may be removed) but keeps the frames' memory mapped
	/// where it is until the source is destroyed. A sink may have
	/// registered that memory with the kernel (io_uring fixed buffers) by
	/// its addresses, which no other memory may take while it writes. With
	/// driver buffers (mmap) nothing is let go: they are that memory. No
	/// other call is made afterwards.
	void release_device();

	IoMode io_mode() const { return io_; }
	/// Why this memory mode: "userptr" or "mmap (USERPTR refused: ...)".
	const std::string &io_note() const { return io_note_; }
	const std::string &driver() const { return driver_; }
	const std::string &card() const { return card_; }

	/// Shortest time without a frame that counts as a timeout.
	static constexpr std::chrono::seconds kMinTimeout{2};

private:
	V4l2Source(std::unique_ptr<VideoDevice> device, const V4l2SourceOptions &options);

	Status query();
	Status configure();
	Status setup_buffers();
	Status try_io(IoMode mode);
	void release_buffers();
	int queue(unsigned index);
	/// Queues every buffer, as at set-up.
	Status queue_all();
	void stream_off();
	/// The planes of one buffer: as many as a format zcap knows has.
	using PlaneArray = std::array<v4l2_plane, 3>;
	void fill_buffer(v4l2_buffer &buffer, PlaneArray &planes, unsigned index) const;
	/// Whether the driver filled each of a frame's buffers whole and where
	/// configure() expects (formats of several buffers; always so for one).
	Status planes_in_place(const PlaneArray &planes) const;
	void record_sequence(uint32_t sequence);
	/// On the capture thread: queues again every buffer whose frame was
	/// let go since the last call.
	void requeue_released();

	std::unique_ptr<VideoDevice> device_;
	V4l2SourceOptions options_;
	std::string driver_, card_;
	uint32_t type_ = 0;   ///< V4L2_BUF_TYPE_VIDEO_CAPTURE or _MPLANE
	uint32_t memory_ = 0; ///< V4L2_MEMORY_*
	FrameFormat format_;
	/// The driver's buffers per frame (1, or the planes of an "M" format,
	/// which zcap puts back to back in one buffer of user memory).
	unsigned buffer_planes_ = 1;
	/// Where each of those buffers starts in zcap's one, from its start.
	std::array<uint32_t, 3> buffer_at_{};
	/// Bytes the driver puts before the first plane (data_offset).
	uint32_t header_ = 0;
	FrameRate rate_;
	IoMode io_ = IoMode::automatic;
	std::string io_note_;

	// The buffers, by memory mode: memfd slices, driver mappings, DRM buffers.
	std::unique_ptr<BufferArena> arena_;
	struct Mapping {
		void *address;
		size_t length;
	};
	std::vector<Mapping> mappings_;
	std::vector<UniqueFd> exported_;
	std::unique_ptr<DrmDumbBuffers> drm_;
	std::vector<std::unique_ptr<FrameSlot>> slots_;
	std::vector<size_t> lengths_;	  ///< the buffer length given to QBUF
	std::vector<uint32_t> queued_at_; ///< where in its slot a buffer was queued

	// The capture thread's (start(), next_frame(), stop()).
	PlacementAdvice placement_;
	bool placement_refused_ = false; ///< the driver wants buffers on a page
	unsigned in_driver_ = 0;	 ///< buffers queued and not yet dequeued
	bool streaming_ = false;
	std::vector<unsigned> requeue_; ///< released_, taken over to be queued

	// Handed from the threads that drop frames to the capture thread.
	UniqueFd released_wake_; ///< eventfd, written for each released buffer
	mutable std::mutex released_lock_;
	std::vector<unsigned> released_;	///< buffers to queue again
	unsigned pinned_ = 0;			///< buffers lent out as frames
	std::optional<uint64_t> last_sequence_; ///< of the last frame, extended to 64 bits
	uint32_t last_device_sequence_ = 0;	///< what the driver said for it
	std::chrono::steady_clock::time_point last_frame_;
	Status error_;
	SourceStats stats_;
};

} // namespace zcap
