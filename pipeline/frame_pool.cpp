// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/frame_pool.h>

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace zcap {

namespace {

constexpr size_t kPageSize = 4096;
/// x86-64 huge page size; memfd huge pages need the total rounded to it.
constexpr size_t kHugePageSize = 2 * 1024 * 1024;

size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

/// A memfd of @p length bytes, mapped and pre-faulted, huge pages if the
/// system has a pool of them. Returns MAP_FAILED on error (errno set).
void *map_memfd(UniqueFd &fd, size_t &length, bool &huge)
{
	// Huge pages only exist when the administrator reserved some; try them
	// first, and fall through quietly to normal pages.
	size_t huge_length = round_up(length, kHugePageSize);
	fd.reset(memfd_create("zcap-frames", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB));
	if (fd && ftruncate(fd.get(), off_t(huge_length)) == 0) {
		void *p = mmap(nullptr, huge_length, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_POPULATE, fd.get(), 0);
		if (p != MAP_FAILED) {
			length = huge_length;
			huge = true;
			return p;
		}
	}

	huge = false;
	length = round_up(length, kPageSize);
	fd.reset(memfd_create("zcap-frames", MFD_CLOEXEC | MFD_ALLOW_SEALING));
	if (!fd || ftruncate(fd.get(), off_t(length)) < 0)
		return MAP_FAILED;
	void *p = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
	if (p == MAP_FAILED)
		return p;
	// Transparent huge pages for shmem, where enabled ("advise"), before
	// the pages are faulted in: first touch is the expensive part.
	madvise(p, length, MADV_HUGEPAGE);
	if (madvise(p, length, MADV_POPULATE_WRITE) < 0) {
		// Kernels before 5.14: touch every page once, here and never
		// per frame.
		auto *bytes = static_cast<volatile std::byte *>(p);
		for (size_t off = 0; off < length; off += kPageSize)
			bytes[off] = std::byte{0};
	}
	return p;
}

} // namespace

std::unique_ptr<FramePool> FramePool::create(size_t buffer_size, unsigned count, Status &status)
{
	if (buffer_size == 0 || count == 0) {
		status = Status::invalid("frame pool needs at least one non-empty buffer");
		return nullptr;
	}

	std::unique_ptr<FramePool> pool(new FramePool);
	pool->buffer_size_ = round_up(buffer_size, kPageSize);
	size_t length = pool->buffer_size_ * count;
	void *base = map_memfd(pool->memfd_, length, pool->huge_pages_);
	if (base == MAP_FAILED) {
		status = Status::from_errno(errno, "allocating frame buffers");
		return nullptr;
	}
	pool->base_ = static_cast<std::byte *>(base);
	pool->length_ = length;

	// Nobody may shrink the file under the mapping (SIGBUS) or under an
	// in-flight sendfile.
	if (fcntl(pool->memfd_.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		status = Status::from_errno(errno, "sealing frame buffers");
		return nullptr;
	}

	pool->slots_.reserve(count);
	pool->free_.reserve(count);
	for (unsigned i = 0; i < count; ++i) {
		size_t offset = i * pool->buffer_size_;
		std::span<std::byte> memory(pool->base_ + offset, pool->buffer_size_);
		pool->slots_.push_back(std::make_unique<FrameSlot>(
			*pool, i, memory, FdAlias{pool->memfd_.get(), offset}));
	}
	for (auto it = pool->slots_.rbegin(); it != pool->slots_.rend(); ++it)
		pool->free_.push_back(it->get());
	return pool;
}

FramePool::~FramePool()
{
	if (free_.size() != slots_.size()) {
		// A frame still references our memory: unmapping now would turn a
		// lifetime bug into silent corruption.
		std::fprintf(stderr, "zcap: frame pool destroyed with %zu frames in use\n",
			     slots_.size() - free_.size());
		std::abort();
	}
	if (base_)
		munmap(base_, length_);
}

FrameSlot *FramePool::acquire(std::chrono::steady_clock::time_point deadline)
{
	std::unique_lock lock(lock_);
	if (!freed_.wait_until(lock, deadline, [this] { return !free_.empty(); }))
		return nullptr;
	FrameSlot *slot = free_.back();
	free_.pop_back();
	return slot;
}

void FramePool::recycle(FrameSlot &slot) noexcept
{
	{
		std::lock_guard lock(lock_);
		free_.push_back(&slot);
	}
	freed_.notify_one();
}

unsigned FramePool::free_count() const
{
	std::lock_guard lock(lock_);
	return unsigned(free_.size());
}

} // namespace zcap
