// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <zcap/disk_sink.h>
#include <zcap/frame.h>
#include <zcap/frame_pool.h>
#include <zcap/status.h>

#include "block_write_queue.h"

namespace zcap {

/// Appends a byte stream to a file opened with O_DIRECT, through io_uring or,
/// where io_uring is refused (containers), Linux AIO (see
/// BlockWriteQueue), keeping the file offset and length of every write on a
/// filesystem block.
///
/// Frame bytes are written straight from the frame's pages: the handle is
/// kept (the buffer stays pinned) until the kernel completes the write. Where
/// a frame boundary falls inside a block, that block (the end of what came
/// before and the start of what comes next) is assembled in a small owned
/// "seam" buffer; those few bytes are the only ones the CPU copies, and they
/// are counted. Small owned bytes (container headers) go through the seam too.
///
/// The bulk of a frame goes straight from its pages when its address is on a
/// page boundary. Where it is not (a frame whose size is not a whole number of
/// blocks leaves the next one starting mid-block), direct writes from those
/// pages are 36x slower on this machine's virtio disk (40 MB/s against 1.5
/// GB/s, though STATX_DIOALIGN allows 512): such a bulk is copied into
/// page-aligned staging memory first, and the copy is counted.
///
/// Some frame memory cannot be written directly at all: drivers with
/// contiguous DMA memory map buffers as VM_PFNMAP, and the kernel cannot pin
/// those pages (the write fails with EFAULT). The first such write is redone
/// from staging, and so is every later bulk, counted; pages_unwritable() says
/// so, for a warning.
///
/// Writes complete out of order; durable() is the offset below which every
/// byte is on disk, which is what a reader may be shown and what a file is
/// cut back to after an error.
///
/// A container that must not show a frame before all its bytes are on disk
/// appends the frame's header with append_provisional(): a reader first sees
/// provisional bytes (Matroska: a Void over the frame), and the block holding
/// them is written a second time with the real header once everything up to
/// the frame's end is durable. published() says how far that has come.
class AlignedUringWriter {
public:
	struct Params {
		int fd = -1;
		uint32_t block = 4096; ///< file offset/length alignment (filesystem block)
		unsigned depth = 8;    ///< writes in flight
		std::vector<MemoryRegion> regions;	 ///< memory to register as fixed buffers
		std::atomic<uint64_t> *copied = nullptr; ///< where frame-byte copies are counted
		/// automatic: io_uring, else Linux AIO; uring or aio: only that.
		DiskPath path = DiskPath::automatic;
	};

	static std::unique_ptr<AlignedUringWriter> create(const Params &params, Status &status);
	~AlignedUringWriter();

	/// Frame bytes copied into staging memory so far (see above).
	uint64_t staged_bytes() const noexcept { return staged_bytes_; }
	/// The frames' pages refused direct I/O (EFAULT): every bulk is staged.
	bool pages_unwritable() const noexcept { return stage_all_; }

	/// Appends frame bytes, written from @p frame's pages where blocks allow.
	/// When the @p padding bytes that follow @p data in memory complete its
	/// last partial block and are valid stream bytes (a container's
	/// padding), that block too is written from the frame's pages, and
	/// position() moves to its end; otherwise the tail is copied to a seam.
	Status append_frame(const Frame &frame, std::span<const std::byte> data,
			    size_t padding = 0);
	/// Appends bytes the caller owns (copied into the seam; not frame bytes).
	Status append_owned(std::span<const std::byte> data);
	/// The longest @p final that append_provisional() takes.
	static constexpr size_t kMaxFinal = 64;
	/// Appends owned bytes, @p provisional, that must end on a block
	/// boundary. Once every byte before @p publish_at is durable, their block
	/// is written again with @p final in place of the last final.size() of
	/// them; published() then reaches @p publish_at.
	Status append_provisional(std::span<const std::byte> provisional,
				  std::span<const std::byte> final, uint64_t publish_at);

	/// Allocates room on disk for the next @p bytes appended, so that a
	/// full disk (ENOSPC) shows here, with nothing appended: the stream
	/// stays whole and can still be finished.
	Status reserve(uint64_t bytes);
	/// Writes the partly filled last block (zero padded), so durable() reaches
	/// position(). Appending may go on afterwards.
	Status flush_tail();
	/// Reaps completions, waiting up to @p timeout for the first one.
	Status reap(std::chrono::milliseconds timeout);
	/// Waits for every write in flight.
	Status drain();

	bool busy() const noexcept { return !in_order_.empty() || rewrites_in_flight_; }
	uint64_t position() const noexcept { return position_; }
	uint64_t durable() const noexcept { return durable_; }
	/// The largest publish_at whose final bytes are on disk, with those of
	/// every earlier append_provisional().
	uint64_t published() const noexcept { return published_; }
	bool registered_buffers() const noexcept { return registered_; }
	/// How the writes reach the file.
	IoPath io_path() const noexcept
	{
		return uses_aio_     ? IoPath::aio_direct
		       : registered_ ? IoPath::uring_direct_fixed
				     : IoPath::uring_direct;
	}

private:
	struct Op {
		uint64_t offset = 0;
		uint32_t length = 0;
		const std::byte *buffer = nullptr;
		int buf_index = -1;	///< registered buffer, or -1
		int seam = -1;		///< seam buffer it writes, or -1
		int staging = -1;	///< staging buffer it writes, or -1
		uint64_t valid_end = 0; ///< end of the stream bytes it carries
		uint32_t padding = 0;	///< bytes at its end that are not frame bytes
		Frame hold;		///< pins the frame's pages until completion
		bool done = false;
		bool keep_seam = false; ///< the seam waits for its final bytes
		bool rewrite = false;	///< writes a seam's final bytes (not in in_order_)
	};

	/// A seam written with provisional bytes, kept to be written again.
	struct Replacement {
		enum class State { writing, waiting, rewriting, done };
		int seam = -1;
		uint64_t block_offset = 0;
		uint32_t at = 0; ///< where the final bytes go within the block
		std::array<std::byte, kMaxFinal> final{};
		uint32_t length = 0;
		uint64_t publish_at = 0;
		State state = State::writing;
	};

	explicit AlignedUringWriter(const Params &params);
	/// Sets up queue_ as params_.path asks, with room for @p entries writes.
	Status open_queue(unsigned entries);

	/// Queues one write; @p valid_end is where its meaningful bytes end
	/// (a zero-padded tail block ends before the block does).
	Status submit(uint64_t offset, std::span<const std::byte> bytes, int seam, int staging,
		      const Frame *hold, uint64_t valid_end, bool keep_seam = false,
		      uint32_t padding = 0);
	/// Writes @p bulk (whole blocks) at the current position, from the
	/// frame's pages or, when they are not page-aligned, from staging.
	Status write_bulk(const Frame &frame, std::span<const std::byte> bulk);
	/// Copies @p bytes into a free staging buffer (made or grown as needed)
	/// and counts the @p frame_bytes among them as copied; returns its index.
	Status stage(std::span<const std::byte> bytes, uint64_t frame_bytes, int &index);
	/// Writes again, from staging, the frame writes that failed with EFAULT.
	Status redo_faulted();
	void prepare(uint32_t id);
	Status complete(BlockWriteQueue::Completion completion);
	/// Writes the final bytes of every kept seam whose frame is durable, as
	/// far as free ops allow (without waiting).
	Status submit_due_rewrites();
	Replacement *replacement_for(int seam, Replacement::State state);
	Status wait_one();
	/// Handles every completion that is ready, without waiting.
	Status reap_ready();
	Status ensure_allocated(uint64_t end);
	Status copy_into_seam(std::span<const std::byte> bytes);
	/// Writes the full current seam and moves on to a free one.
	Status write_seam();
	/// Makes a free seam current, waiting for one if all are in flight.
	Status take_seam();
	int fixed_index(const std::byte *p, size_t length) const;
	std::byte *seam(int index) const { return seams_ + size_t(index) * params_.block; }

	Params params_;
	std::unique_ptr<BlockWriteQueue> queue_;
	bool uses_aio_ = false;
	bool registered_ = false;

	std::byte *seams_ = nullptr;
	size_t seams_length_ = 0;
	std::vector<int> free_seams_;
	int current_seam_ = -1;
	uint32_t seam_fill_ = 0; ///< bytes of the current seam in use

	/// Page-aligned copies of bulks whose own pages cannot be written
	/// directly (see above): made on first need, at most one per write in
	/// flight, each grown to the largest bulk it carried.
	struct Staging {
		std::byte *data = nullptr;
		size_t size = 0;
	};
	std::vector<Staging> staging_;
	std::vector<int> free_staging_;
	uint64_t staged_bytes_ = 0;
	bool stage_all_ = false;
	std::vector<uint32_t> faulted_; ///< ops that failed with EFAULT, to redo

	std::vector<Op> ops_;
	std::vector<uint32_t> free_ops_;
	std::deque<uint32_t> in_order_;	       ///< ops in submission (= offset) order
	std::deque<Replacement> replacements_; ///< in publish_at order
	/// Set by append_provisional() for the seam its last byte lands in.
	std::optional<Replacement> next_replacement_;
	unsigned rewrites_in_flight_ = 0;
	uint64_t published_ = 0;

	uint64_t position_ = 0; ///< logical end of the stream
	uint64_t durable_ = 0;
	uint64_t allocated_ = 0; ///< bytes preallocated with fallocate
	bool can_allocate_ = true;
	bool allocate_ahead_ = true; ///< in kPreallocateStep steps, until the disk is nearly full
	Status error_;
};

} // namespace zcap
