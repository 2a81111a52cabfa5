// SPDX-License-Identifier: LGPL-2.1-or-later
#include <fcntl.h>
#include <libv4l2.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>

#include <zcap/unique_fd.h>

#include "video_device.h"

namespace zcap {

namespace {

/// A device node opened through libv4l2, so that devices which need its
/// help (vendor-specific controls, emulated formats) still work, with
/// conversion disabled so that it never copies a frame; or, where libv4l2
/// would hide what is needed, with the kernel's own calls.
class Libv4l2Device final : public VideoDevice {
public:
	Libv4l2Device(UniqueFd fd, std::string path, bool libv4l2)
	    : fd_(std::move(fd)), path_(std::move(path)), libv4l2_(libv4l2)
	{
	}
	~Libv4l2Device() override
	{
		if (libv4l2_)
			v4l2_close(fd_.release());
	}

	int ioctl(unsigned long request, void *arg) override
	{
		int ret;
		do {
			ret = libv4l2_ ? v4l2_ioctl(fd_.get(), request, arg)
				       : ::ioctl(fd_.get(), request, arg);
		} while (ret < 0 && errno == EINTR);
		return ret < 0 ? -errno : 0;
	}

	void *mmap(size_t length, off_t offset) override
	{
		const int prot = PROT_READ | PROT_WRITE;
		return libv4l2_ ? v4l2_mmap(nullptr, length, prot, MAP_SHARED, fd_.get(), offset)
				: ::mmap(nullptr, length, prot, MAP_SHARED, fd_.get(), offset);
	}

	void munmap(void *address, size_t length) override
	{
		if (libv4l2_)
			v4l2_munmap(address, length);
		else
			::munmap(address, length);
	}

	int poll(int timeout_ms, int wake_fd) override
	{
		pollfd p[] = {{fd_.get(), POLLIN | POLLPRI, 0}, {wake_fd, POLLIN, 0}};
		int ret = ::poll(p, 2, timeout_ms);
		if (ret < 0)
			return errno == EINTR ? 0 : -errno;
		return p[0].revents;
	}

	const std::string &path() const override { return path_; }

private:
	UniqueFd fd_;
	std::string path_;
	bool libv4l2_;
};

UniqueFd open_node(const std::string &path, Status &status)
{
	UniqueFd fd(open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
	if (!fd)
		status = Status::from_errno(errno, "cannot open " + path);
	return fd;
}

} // namespace

std::unique_ptr<VideoDevice> open_video_device(const std::string &path, Status &status)
{
	UniqueFd fd = open_node(path, status);
	if (!fd)
		return nullptr;
	if (v4l2_fd_open(fd.get(), V4L2_DISABLE_CONVERSION) < 0) {
		// libv4l2's multi-planar plugin refuses a node left in a format
		// of several buffers (NV12M): the kernel's calls still work.
		return open_video_device_direct(path, status);
	}
	return std::make_unique<Libv4l2Device>(std::move(fd), path, true);
}

std::unique_ptr<VideoDevice> open_video_device_direct(const std::string &path, Status &status)
{
	UniqueFd fd = open_node(path, status);
	if (!fd)
		return nullptr;
	return std::make_unique<Libv4l2Device>(std::move(fd), path, false);
}

} // namespace zcap
