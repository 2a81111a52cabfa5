// SPDX-License-Identifier: LGPL-2.1-or-later
// A scripted stand-in for a V4L2 capture node, for unit tests of V4l2Source's
// logic (memory-mode fallback, pinning, drops, errors, teardown). It never
// replaces the vivid run in tests/vm: it only knows what it is told.
#pragma once

#include <linux/videodev2.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <zcap/format.h>

#include "../capture/video_device.h"

namespace zcap::test {

/// What the fake driver does and what it saw; shared between the test and
/// the FakeVideoDevice that the source owns.
struct FakeDriver {
	/// A frame the driver captures when a buffer is queued, or a failure.
	struct Capture {
		uint32_t sequence;
		uint32_t flags = 0; ///< e.g. V4L2_BUF_FLAG_ERROR
		int error = 0;	    ///< DQBUF fails with -error instead (ENODEV, ...)
	};

	// Behaviour.
	bool mplane = false;
	uint32_t planes = 1; ///< memory planes of the format (2: NV12M-like)
	std::vector<uint32_t> fourccs{V4L2_PIX_FMT_YUYV};
	uint32_t width = 64, height = 48;
	bool refuse_userptr = false;	    ///< REQBUFS(USERPTR) fails with EINVAL
	bool refuse_userptr_queue = false;  ///< QBUF(USERPTR) fails with EFAULT
	bool can_export = true;		    ///< VIDIOC_EXPBUF works
	bool userptr_on_pages_only = false; ///< QBUF(USERPTR) off a page fails with EINVAL
	std::deque<Capture> script;	    ///< what DQBUF hands out, in order

	// Observations.
	std::vector<unsigned long> requests;	    ///< every ioctl, in order
	std::deque<uint32_t> queued;		    ///< buffer indexes the driver holds
	std::vector<std::thread::id> queue_threads; ///< the thread of every QBUF
	std::map<uint32_t, unsigned long> userptrs; ///< last address queued per index
	/// Last address and length queued per index, per plane (multi-planar).
	std::map<uint32_t, std::vector<std::pair<unsigned long, uint32_t>>> plane_userptrs;
	uint32_t short_plane_bytes = 0; ///< > 0: the last plane is filled this much less
	uint32_t plane0_header = 0;	///< data_offset of the first plane (vivid: 128)
	uint32_t memory = 0;		///< V4L2_MEMORY_* of the buffers
	uint32_t buffers = 0;		///< allocated by REQBUFS
	uint32_t timeperframe_den = 0;	///< set by S_PARM
	bool streaming = false;
	unsigned mapped = 0; ///< driver buffers mapped and not yet unmapped

	uint32_t fourcc = V4L2_PIX_FMT_YUYV;		 ///< the current format
	std::vector<std::vector<std::byte>> mmap_memory; ///< MMAP buffers

	uint32_t bytes_per_line() const;
	uint32_t size_image() const { return bytes_per_line() * height; }
	/// Bytes of memory plane @p i: size_image() split evenly, or the
	/// format table's plane for a format of several buffers (NM12, YM12).
	uint32_t plane_size(uint32_t i) const;
	/// The format table's plane @p i, for a format of several buffers.
	std::optional<PlaneLayout> table_plane(uint32_t i) const;
};

/// The VideoDevice the source talks to, acting as FakeDriver says.
class FakeVideoDevice final : public VideoDevice {
public:
	explicit FakeVideoDevice(std::shared_ptr<FakeDriver> driver);

	int ioctl(unsigned long request, void *arg) override;
	void *mmap(size_t length, off_t offset) override;
	void munmap(void *address, size_t length) override;
	int poll(int timeout_ms, int wake_fd) override;
	const std::string &path() const override { return path_; }

private:
	int format(v4l2_format &f, bool set);
	int request_buffers(v4l2_requestbuffers &r);
	int queue(v4l2_buffer &b);
	int dequeue(v4l2_buffer &b);

	std::shared_ptr<FakeDriver> driver_;
	std::string path_ = "/dev/video-fake";
};

} // namespace zcap::test
