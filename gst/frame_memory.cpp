// SPDX-License-Identifier: LGPL-2.1-or-later
// A zcap::Frame as a GstMemory. Frames with a file alias become fd (or
// dmabuf) memory of allocators derived from GStreamer's, which map by
// handing out the frame's existing mapping instead of calling mmap(). What
// keeps the frame pinned is qdata on the memory, released when the memory
// is finalized; memories shared from it hold their parent, so the frame goes
// back to its owner only when the last of them is gone.
//
// This relies on how GStreamer 1.22's fd memory works (gstfdmemory.c,
// gstdmabuf.c, gstmemory.c):
//  - gst_memory_map() calls the allocator instance's mem_map_full, else its
//    mem_map, and adds the memory's offset to what it returns. The fd
//    allocator sets mem_map/mem_unmap per instance; the dmabuf allocator
//    adds a mem_map_full that brackets mem_map with DMA_BUF_IOCTL_SYNC, which
//    is kept. Overriding mem_map/mem_unmap in a subclass's instance init
//    (run after the parents') is what GStreamer itself allows for.
//  - The fd memory frees its mapping only when its private data pointer is
//    set, which only its own mem_map does: here it stays null, so freeing
//    never unmaps, and GST_FD_MEMORY_FLAG_DONT_CLOSE leaves the fd open.
//  - mem_share makes a sub-memory whose parent is the root memory, with the
//    same fd, allocator and an offset from the fd's start; the sub-memory
//    holds a reference to the root until it is freed.
//  - qdata destroy notifies run when a memory's last reference goes, before
//    it is freed, on whichever thread drops that reference.
#include "frame_memory.h"

#include <cstdint>

#include <gst/allocators/allocators.h>

namespace zcap::gst {

namespace {

/// What a frame memory keeps until it is finalized.
struct FrameHold {
	/// Declared before the frame so that it is released after it: the
	/// owner must still be there when the frame goes back to it.
	std::shared_ptr<const FrameOrigin> origin;
	Frame frame;
	/// Where offset 0 of the memory's fd would be in this process's view
	/// of the frame's buffer: the frame's bytes minus its alias offset.
	/// The memory's offset is from the fd's start, so this plus the
	/// memory's offset is its bytes, for shared sub-memories too.
	uintptr_t base;
};

GQuark hold_quark()
{
	static const GQuark quark = g_quark_from_static_string("zcap-frame-hold");
	return quark;
}

void free_hold(gpointer hold)
{
	delete static_cast<FrameHold *>(hold);
}

/// The hold of @p memory, or of the memory it was shared from.
FrameHold *hold_of(GstMemory *memory)
{
	if (!memory)
		return nullptr;
	GstMemory *root = memory->parent ? memory->parent : memory;
	return static_cast<FrameHold *>(
		gst_mini_object_get_qdata(GST_MINI_OBJECT_CAST(root), hold_quark()));
}

/// mem_map of the allocators below: the frame's existing mapping. Frames
/// are read-only (the memory is GST_MEMORY_FLAG_READONLY, so writable maps
/// fail before this and gst_buffer_map() copies).
gpointer map_frame(GstMemory *memory, [[maybe_unused]] gsize maxsize, GstMapFlags flags)
{
	FrameHold *hold = hold_of(memory);
	if (!hold || (flags & GST_MAP_WRITE))
		return nullptr;
	return reinterpret_cast<gpointer>(hold->base);
}

void unmap_frame([[maybe_unused]] GstMemory *memory)
{
}

/// GstFdAllocator and GstDmaBufAllocator that map frames without mmap().
struct ZcapFdAllocator {
	GstFdAllocator parent;
};
struct ZcapFdAllocatorClass {
	GstFdAllocatorClass parent_class;
};
struct ZcapDmaBufAllocator {
	GstDmaBufAllocator parent;
};
struct ZcapDmaBufAllocatorClass {
	GstDmaBufAllocatorClass parent_class;
};

G_DEFINE_TYPE(ZcapFdAllocator, zcap_fd_allocator, GST_TYPE_FD_ALLOCATOR)
G_DEFINE_TYPE(ZcapDmaBufAllocator, zcap_dmabuf_allocator, GST_TYPE_DMABUF_ALLOCATOR)

void zcap_fd_allocator_class_init([[maybe_unused]] ZcapFdAllocatorClass *klass)
{
}

void zcap_fd_allocator_init(ZcapFdAllocator *self)
{
	GstAllocator *allocator = GST_ALLOCATOR_CAST(self);
	allocator->mem_map = map_frame;
	allocator->mem_unmap = unmap_frame;
}

void zcap_dmabuf_allocator_class_init([[maybe_unused]] ZcapDmaBufAllocatorClass *klass)
{
}

void zcap_dmabuf_allocator_init(ZcapDmaBufAllocator *self)
{
	GstAllocator *allocator = GST_ALLOCATOR_CAST(self);
	allocator->mem_map = map_frame;
	allocator->mem_unmap = unmap_frame;
}

/// One allocator of @p type for the process, made on first use.
GstAllocator *make_allocator(GType type)
{
	auto *allocator = GST_ALLOCATOR_CAST(g_object_new(type, nullptr));
	gst_object_ref_sink(allocator);
	GST_OBJECT_FLAG_SET(allocator, GST_OBJECT_FLAG_MAY_BE_LEAKED);
	return allocator;
}

GstAllocator *fd_allocator()
{
	static GstAllocator *const allocator = make_allocator(zcap_fd_allocator_get_type());
	return allocator;
}

GstAllocator *dmabuf_allocator()
{
	static GstAllocator *const allocator = make_allocator(zcap_dmabuf_allocator_get_type());
	return allocator;
}

/// Memory over @p alias's fd from its start, narrowed to the frame's bytes.
GstMemory *alias_memory(GstAllocator *allocator, FdAlias alias, size_t size)
{
	const auto flags = GST_FD_MEMORY_FLAG_DONT_CLOSE;
	GstMemory *memory = gst_fd_allocator_alloc(allocator, alias.fd, alias.offset + size, flags);
	gst_memory_resize(memory, gssize(alias.offset), size);
	return memory;
}

} // namespace

GstMemory *frame_memory_new(Frame frame, std::shared_ptr<const FrameOrigin> origin)
{
	const std::span<const std::byte> bytes = frame.data();
	const uintptr_t address = reinterpret_cast<uintptr_t>(bytes.data());
	// A frame seen by the GPU or a display is better off as a DMA-BUF;
	// zcap's own sinks get the memfd from the frame itself.
	const FdAlias dmabuf = frame.dmabuf();
	const FdAlias memfd = frame.memfd();

	GstMemory *memory;
	uintptr_t base = 0;
	if (dmabuf.valid()) {
		memory = alias_memory(dmabuf_allocator(), dmabuf, bytes.size());
		base = address - dmabuf.offset;
	} else if (memfd.valid()) {
		memory = alias_memory(fd_allocator(), memfd, bytes.size());
		base = address - memfd.offset;
	} else {
		memory = gst_memory_new_wrapped(GST_MEMORY_FLAG_READONLY,
						const_cast<std::byte *>(bytes.data()), bytes.size(),
						0, bytes.size(), nullptr, nullptr);
	}
	// Other sinks of the same frame, and the source that redraws or
	// requeues it, rely on its bytes staying as they are.
	GST_MINI_OBJECT_FLAG_SET(memory, GST_MEMORY_FLAG_READONLY);
	gst_mini_object_set_qdata(GST_MINI_OBJECT_CAST(memory), hold_quark(),
				  new FrameHold{std::move(origin), std::move(frame), base},
				  free_hold);
	return memory;
}

Frame frame_memory_frame(GstMemory *memory)
{
	FrameHold *hold = hold_of(memory);
	return hold ? hold->frame : Frame();
}

std::shared_ptr<const FrameOrigin> frame_memory_origin(GstMemory *memory)
{
	FrameHold *hold = hold_of(memory);
	return hold ? hold->origin : nullptr;
}

} // namespace zcap::gst
