// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <zcap/status.h>
#include <zcap/unique_fd.h>

namespace zcap {

/// Buffers allocated on a DRM device (dumb buffers, through libdrm) and
/// exported as DMA-BUFs, for a V4L2 device to fill with V4L2_MEMORY_DMABUF.
/// Each is also mapped, for sinks that need a user mapping; CPU access goes
/// between begin_cpu_access() and end_cpu_access().
class DrmDumbBuffers {
public:
	struct Buffer {
		UniqueFd dmabuf;
		std::byte *map = nullptr;
		size_t size = 0;
	};

	/// @p count buffers of at least @p size bytes on @p node, or on the first
	/// render node, then card node, that can make dumb buffers when empty.
	static std::unique_ptr<DrmDumbBuffers> create(const std::string &node, size_t size,
						      unsigned count, Status &status);
	~DrmDumbBuffers();

	const std::vector<Buffer> &buffers() const { return buffers_; }
	const std::string &node() const { return node_; }
	const std::string &driver() const { return driver_; }

	/// DMA_BUF_IOCTL_SYNC around the CPU reading buffer @p index.
	void begin_cpu_access(unsigned index) const;
	void end_cpu_access(unsigned index) const;

private:
	DrmDumbBuffers() = default;
	Status allocate(size_t size, unsigned count);

	UniqueFd drm_;
	std::string node_;
	std::string driver_;
	std::vector<Buffer> buffers_;
};

} // namespace zcap
