// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/buffer_arena.h>

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

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

std::unique_ptr<BufferArena> BufferArena::create(size_t buffer_size, unsigned count, Status &status)
{
	if (buffer_size == 0 || count == 0) {
		status = Status::invalid("frame buffers must be at least one non-empty buffer");
		return nullptr;
	}

	std::unique_ptr<BufferArena> arena(new BufferArena);
	arena->buffer_size_ = round_up(buffer_size, kPageSize);
	arena->count_ = count;
	size_t length = arena->buffer_size_ * count;
	void *base = map_memfd(arena->memfd_, length, arena->huge_pages_);
	if (base == MAP_FAILED) {
		status = Status::from_errno(errno, "allocating frame buffers");
		return nullptr;
	}
	arena->base_ = static_cast<std::byte *>(base);
	arena->length_ = length;

	// Nobody may shrink the file under the mapping (SIGBUS) or under an
	// in-flight sendfile.
	if (fcntl(arena->memfd_.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
	    0) {
		status = Status::from_errno(errno, "sealing frame buffers");
		return nullptr;
	}
	return arena;
}

BufferArena::~BufferArena()
{
	if (base_)
		munmap(base_, length_);
}

} // namespace zcap
