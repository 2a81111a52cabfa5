// SPDX-License-Identifier: LGPL-2.1-or-later
#include "drm_dumb_buffers.h"

#include <fcntl.h>
#include <linux/dma-buf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <xf86drm.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

namespace zcap {

namespace {

/// Dumb buffers are images; ask for rows of 4096 bytes (1024 pixels of 32
/// bits), so any byte size is a whole number of rows and of pages.
constexpr uint32_t kRowPixels = 1024;
constexpr uint32_t kBitsPerPixel = 32;
constexpr size_t kRowBytes = kRowPixels * kBitsPerPixel / 8;

/// DRM nodes to try: render nodes first (no master needed), then cards.
std::vector<std::string> candidate_nodes()
{
	std::vector<std::string> render, card;
	std::error_code ec;
	for (const auto &entry : std::filesystem::directory_iterator("/dev/dri", ec)) {
		std::string name = entry.path().filename().string();
		if (name.starts_with("renderD"))
			render.push_back(entry.path().string());
		else if (name.starts_with("card"))
			card.push_back(entry.path().string());
	}
	std::sort(render.begin(), render.end());
	std::sort(card.begin(), card.end());
	render.insert(render.end(), card.begin(), card.end());
	return render;
}

void sync(int dmabuf, uint64_t flags)
{
	dma_buf_sync s{flags};
	while (ioctl(dmabuf, DMA_BUF_IOCTL_SYNC, &s) < 0 && errno == EINTR) {
	}
}

} // namespace

std::unique_ptr<DrmDumbBuffers> DrmDumbBuffers::create(const std::string &node, size_t size,
						       unsigned count, Status &status)
{
	std::vector<std::string> nodes =
		node.empty() ? candidate_nodes() : std::vector<std::string>{node};
	if (nodes.empty()) {
		status =
			Status::from_errno(ENODEV, "no DRM device in /dev/dri for DMA-BUF buffers");
		return nullptr;
	}
	for (const std::string &path : nodes) {
		std::unique_ptr<DrmDumbBuffers> b(new DrmDumbBuffers);
		b->drm_.reset(open(path.c_str(), O_RDWR | O_CLOEXEC));
		if (!b->drm_) {
			status = Status::from_errno(errno, "cannot open " + path);
			continue;
		}
		b->node_ = path;
		if (drmVersionPtr v = drmGetVersion(b->drm_.get())) {
			b->driver_.assign(v->name, size_t(v->name_len));
			drmFreeVersion(v);
		}
		status = b->allocate(size, count);
		if (status)
			return b;
	}
	return nullptr;
}

Status DrmDumbBuffers::allocate(size_t size, unsigned count)
{
	for (unsigned i = 0; i < count; ++i) {
		drm_mode_create_dumb create{};
		create.width = kRowPixels;
		create.height = uint32_t((size + kRowBytes - 1) / kRowBytes);
		create.bpp = kBitsPerPixel;
		if (drmIoctl(drm_.get(), DRM_IOCTL_MODE_CREATE_DUMB, &create) < 0)
			return Status::from_errno(errno, node_ + ": cannot create a dumb buffer");

		int prime = -1;
		int ret = drmPrimeHandleToFD(drm_.get(), create.handle, DRM_CLOEXEC | DRM_RDWR,
					     &prime);
		// The DMA-BUF keeps the memory alive; the GEM handle is not needed.
		drm_gem_close close_handle{create.handle, 0};
		drmIoctl(drm_.get(), DRM_IOCTL_GEM_CLOSE, &close_handle);
		if (ret < 0)
			return Status::from_errno(errno, node_ + ": cannot export a DMA-BUF");

		Buffer buffer;
		buffer.dmabuf.reset(prime);
		buffer.size = size_t(create.size);
		void *map =
			mmap(nullptr, buffer.size, PROT_READ | PROT_WRITE, MAP_SHARED, prime, 0);
		if (map == MAP_FAILED)
			return Status::from_errno(errno, node_ + ": cannot map a DMA-BUF");
		buffer.map = static_cast<std::byte *>(map);
		buffers_.push_back(std::move(buffer));
	}
	return {};
}

DrmDumbBuffers::~DrmDumbBuffers()
{
	for (const Buffer &b : buffers_)
		munmap(b.map, b.size);
}

void DrmDumbBuffers::begin_cpu_access(unsigned index) const
{
	sync(buffers_[index].dmabuf.get(), DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
}

void DrmDumbBuffers::end_cpu_access(unsigned index) const
{
	sync(buffers_[index].dmabuf.get(), DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
}

} // namespace zcap
