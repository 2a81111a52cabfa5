// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>

#include <zcap/status.h>

namespace zcap {

/// The system calls a V4L2 capture source makes on its device node, behind a
/// small interface so that the source's logic can be tested against a fake.
/// The real one (open_video_device) goes through libv4l2 with format
/// conversion disabled: conversion would copy every frame.
class VideoDevice {
public:
	virtual ~VideoDevice() = default;

	/// 0, or a negative errno.
	virtual int ioctl(unsigned long request, void *arg) = 0;
	/// Maps a driver buffer (MMAP memory); MAP_FAILED with errno on error.
	virtual void *mmap(size_t length, off_t offset) = 0;
	virtual void munmap(void *address, size_t length) = 0;
	/// Waits up to @p timeout_ms for a buffer, or until @p wake_fd (an
	/// eventfd) is readable: the device's poll(2) revents, 0 on timeout or
	/// wake-up, or a negative errno.
	virtual int poll(int timeout_ms, int wake_fd) = 0;
	/// The node's path, for messages.
	virtual const std::string &path() const = 0;
};

/// Opens @p path (O_RDWR | O_NONBLOCK) through libv4l2, conversion disabled;
/// as open_video_device_direct() when libv4l2 refuses the node.
std::unique_ptr<VideoDevice> open_video_device(const std::string &path, Status &status);

/// Opens @p path with the kernel's calls only: for formats whose planes are
/// in separate buffers, which libv4l2's multi-planar plugin hides.
std::unique_ptr<VideoDevice> open_video_device_direct(const std::string &path, Status &status);

} // namespace zcap
