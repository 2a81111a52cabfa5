// SPDX-License-Identifier: LGPL-2.1-or-later
#include "fake_video_device.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <zcap/format.h>

namespace zcap::test {

std::optional<PlaneLayout> FakeDriver::table_plane(uint32_t i) const
{
	const PixelFormatInfo *info = format_info(fourcc);
	if (planes > 1 && info && info->num_buffers == planes)
		return packed_format(fourcc, width, height)->planes[i];
	return std::nullopt;
}

uint32_t FakeDriver::plane_size(uint32_t i) const
{
	auto plane = table_plane(i);
	return plane ? plane->size + (i == 0 ? plane0_header : 0) : size_image() / planes;
}

uint32_t FakeDriver::bytes_per_line() const
{
	switch (fourcc) {
	case V4L2_PIX_FMT_GREY:
	case V4L2_PIX_FMT_NV12M:
	case V4L2_PIX_FMT_YUV420M:
		return width;
	case V4L2_PIX_FMT_RGB24:
		return width * 3;
	default:
		return width * 2;
	}
}

FakeVideoDevice::FakeVideoDevice(std::shared_ptr<FakeDriver> driver) : driver_(std::move(driver))
{
}

int FakeVideoDevice::ioctl(unsigned long request, void *arg)
{
	FakeDriver &d = *driver_;
	d.requests.push_back(request);
	switch (request) {
	case VIDIOC_QUERYCAP: {
		auto &cap = *static_cast<v4l2_capability *>(arg);
		std::strcpy(reinterpret_cast<char *>(cap.driver), "fake");
		std::strcpy(reinterpret_cast<char *>(cap.card), "Fake camera");
		cap.device_caps = V4L2_CAP_STREAMING | (d.mplane ? V4L2_CAP_VIDEO_CAPTURE_MPLANE
								 : V4L2_CAP_VIDEO_CAPTURE);
		cap.capabilities = cap.device_caps | V4L2_CAP_DEVICE_CAPS;
		return 0;
	}
	case VIDIOC_G_FMT:
		return format(*static_cast<v4l2_format *>(arg), false);
	case VIDIOC_S_FMT:
		return format(*static_cast<v4l2_format *>(arg), true);
	case VIDIOC_S_PARM: {
		auto &parm = *static_cast<v4l2_streamparm *>(arg);
		d.timeperframe_den = parm.parm.capture.timeperframe.denominator;
		return 0;
	}
	case VIDIOC_G_PARM: {
		auto &parm = *static_cast<v4l2_streamparm *>(arg);
		parm.parm.capture.timeperframe = {1, d.timeperframe_den ? d.timeperframe_den : 30};
		return 0;
	}
	case VIDIOC_REQBUFS:
		return request_buffers(*static_cast<v4l2_requestbuffers *>(arg));
	case VIDIOC_QUERYBUF: {
		auto &b = *static_cast<v4l2_buffer *>(arg);
		if (b.index >= d.buffers)
			return -EINVAL;
		(d.mplane ? b.m.planes[0].length : b.length) = d.size_image();
		(d.mplane ? b.m.planes[0].m.mem_offset : b.m.offset) = b.index << 16;
		return 0;
	}
	case VIDIOC_EXPBUF: {
		if (!d.can_export)
			return -ENOTTY;
		// Any fd stands for the DMA-BUF: the source only passes it on.
		int fd = memfd_create("fake-dmabuf", MFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		static_cast<v4l2_exportbuffer *>(arg)->fd = fd;
		return 0;
	}
	case VIDIOC_QBUF:
		return queue(*static_cast<v4l2_buffer *>(arg));
	case VIDIOC_DQBUF:
		return dequeue(*static_cast<v4l2_buffer *>(arg));
	case VIDIOC_STREAMON:
		d.streaming = true;
		return 0;
	case VIDIOC_STREAMOFF:
		// Like vb2: every queued buffer comes back to the application.
		d.streaming = false;
		d.queued.clear();
		return 0;
	default:
		return -ENOTTY;
	}
}

int FakeVideoDevice::format(v4l2_format &f, bool set)
{
	FakeDriver &d = *driver_;
	if (f.type != (d.mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE))
		return -EINVAL;
	if (set) {
		if (d.buffers)
			return -EBUSY;
		uint32_t asked = d.mplane ? f.fmt.pix_mp.pixelformat : f.fmt.pix.pixelformat;
		// Like drivers: an unsupported format becomes the first one.
		bool known =
			std::find(d.fourccs.begin(), d.fourccs.end(), asked) != d.fourccs.end();
		d.fourcc = known ? asked : d.fourccs.front();
	}
	if (d.mplane) {
		auto &pix = f.fmt.pix_mp;
		pix.pixelformat = d.fourcc;
		pix.width = d.width;
		pix.height = d.height;
		pix.num_planes = uint8_t(d.planes);
		for (uint32_t i = 0; i < d.planes; ++i)
			pix.plane_fmt[i] = {d.plane_size(i),
					    d.table_plane(i) ? d.table_plane(i)->stride
							     : d.bytes_per_line(),
					    {}};
	} else {
		auto &pix = f.fmt.pix;
		pix.pixelformat = d.fourcc;
		pix.width = d.width;
		pix.height = d.height;
		pix.bytesperline = d.bytes_per_line();
		pix.sizeimage = d.size_image();
	}
	return 0;
}

int FakeVideoDevice::request_buffers(v4l2_requestbuffers &r)
{
	FakeDriver &d = *driver_;
	if (d.streaming)
		return -EBUSY;
	if (r.count && r.memory == V4L2_MEMORY_USERPTR && d.refuse_userptr)
		return -EINVAL;
	if (d.mapped && r.count == 0)
		return -EBUSY; // vb2 keeps buffers that are still mapped
	d.memory = r.memory;
	d.buffers = r.count;
	d.queued.clear();
	// Like vb2: whole pages, of which QUERYBUF reports size_image bytes.
	d.mmap_memory.assign(r.memory == V4L2_MEMORY_MMAP ? r.count : 0,
			     std::vector<std::byte>((d.size_image() + 4095) / 4096 * 4096));
	return 0;
}

int FakeVideoDevice::queue(v4l2_buffer &b)
{
	FakeDriver &d = *driver_;
	if (b.index >= d.buffers || b.memory != d.memory)
		return -EINVAL;
	if (std::find(d.queued.begin(), d.queued.end(), b.index) != d.queued.end())
		return -EINVAL; // queued twice: the bug pinning must prevent
	if (b.memory == V4L2_MEMORY_USERPTR) {
		if (d.refuse_userptr_queue)
			return -EFAULT;
		unsigned long address = d.mplane ? b.m.planes[0].m.userptr : b.m.userptr;
		if (d.userptr_on_pages_only && address % 4096)
			return -EINVAL;
		d.userptrs[b.index] = address;
		auto &planes = d.plane_userptrs[b.index];
		planes.clear();
		for (uint32_t i = 0; d.mplane && i < b.length; ++i) {
			// Like vb2: each plane's memory must hold the plane.
			if (b.length != d.planes || b.m.planes[i].length < d.plane_size(i))
				return -EINVAL;
			planes.emplace_back(b.m.planes[i].m.userptr, b.m.planes[i].length);
		}
	}
	d.queued.push_back(b.index);
	d.queue_threads.push_back(std::this_thread::get_id());
	return 0;
}

int FakeVideoDevice::dequeue(v4l2_buffer &b)
{
	FakeDriver &d = *driver_;
	if (!d.streaming)
		return -EINVAL;
	if (d.queued.empty() || d.script.empty())
		return -EAGAIN;
	FakeDriver::Capture capture = d.script.front();
	d.script.pop_front();
	if (capture.error)
		return -capture.error;

	uint32_t index = d.queued.front();
	d.queued.pop_front();
	std::byte *pixels =
		d.memory == V4L2_MEMORY_USERPTR
			? reinterpret_cast<std::byte *>(d.userptrs[index]) + d.plane0_header
			: d.mmap_memory[index].data();
	// The sequence number as the first bytes: tests see which capture
	// they got.
	const bool userptr_planes = d.memory == V4L2_MEMORY_USERPTR && d.mplane && d.planes > 1;
	for (uint32_t i = 0; userptr_planes && i < d.planes; ++i) {
		// Every byte of plane i is 0x10 + i: tests see where it landed.
		auto *plane = reinterpret_cast<std::byte *>(d.plane_userptrs[index][i].first);
		const uint32_t header = i == 0 ? d.plane0_header : 0;
		std::memset(plane, 0xee, header);
		std::memset(plane + header, 0x10 + int(i), d.plane_size(i) - header);
		b.m.planes[i].bytesused = d.plane_size(i);
		b.m.planes[i].data_offset = header;
	}
	if (userptr_planes)
		b.m.planes[d.planes - 1].bytesused -= d.short_plane_bytes;
	std::memcpy(pixels, &capture.sequence, sizeof(capture.sequence));

	b.index = index;
	b.sequence = capture.sequence;
	b.flags = capture.flags;
	b.timestamp = {capture.sequence, 0};
	if (!userptr_planes)
		(d.mplane ? b.m.planes[0].bytesused : b.bytesused) = d.size_image();
	return 0;
}

void *FakeVideoDevice::mmap(size_t length, off_t offset)
{
	FakeDriver &d = *driver_;
	uint32_t index = uint32_t(offset >> 16);
	// vb2 maps at most the buffer's whole pages.
	if (index >= d.mmap_memory.size() || length > d.mmap_memory[index].size()) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	++d.mapped;
	return d.mmap_memory[index].data();
}

void FakeVideoDevice::munmap(void *, size_t)
{
	--driver_->mapped;
}

int FakeVideoDevice::poll(int timeout_ms, int wake_fd)
{
	FakeDriver &d = *driver_;
	if (!d.script.empty() && !d.queued.empty())
		return POLLIN;
	// Nothing to hand out: time passes, as it would in poll(2), unless the
	// source is woken.
	pollfd wake{wake_fd, POLLIN, 0};
	::poll(&wake, 1, timeout_ms);
	return 0;
}

} // namespace zcap::test
