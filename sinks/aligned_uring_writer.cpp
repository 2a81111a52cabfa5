// SPDX-License-Identifier: LGPL-2.1-or-later
#include "aligned_uring_writer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace zcap {

namespace {

/// Preallocate this much at a time. Appends inside the file's size let ext4
/// complete direct writes inline; appends past it are handed to io_uring's
/// worker threads (about 3x the CPU measured here).
constexpr uint64_t kPreallocateStep = 256ull << 20;

/// Direct writes from memory that is not page-aligned are 36x slower on this
/// machine's disk, whatever the minimum alignment the kernel reports.
constexpr uintptr_t kFastMemAlign = 4096;

uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

uint64_t round_down(uint64_t v, uint64_t to)
{
	return v / to * to;
}

} // namespace

AlignedUringWriter::AlignedUringWriter(const Params &params) : params_(params)
{
}

std::unique_ptr<AlignedUringWriter> AlignedUringWriter::create(const Params &params, Status &status)
{
	std::unique_ptr<AlignedUringWriter> w(new AlignedUringWriter(params));
	unsigned depth = params.depth ? params.depth : 1;

	// A seam may be filling while `depth` others are being written, and as
	// many again may be kept for their final bytes (append_provisional()).
	unsigned seams = 2 * depth + 4;
	w->seams_length_ = size_t(seams) * params.block;
	void *p = mmap(nullptr, w->seams_length_, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		status = Status::from_errno(errno, "allocating seam buffers");
		return nullptr;
	}
	w->seams_ = static_cast<std::byte *>(p);
	for (unsigned i = seams; i-- > 1;)
		w->free_seams_.push_back(int(i));
	w->current_seam_ = 0;

	// `depth` appends in flight, and up to as many rewrites of kept seams.
	unsigned ops = 2 * depth;
	w->ops_.resize(ops);
	for (unsigned i = ops; i-- > 0;)
		w->free_ops_.push_back(i);

	if (Status s = w->open_queue(ops); !s) {
		status = s;
		return nullptr;
	}

	// Registered buffers save pinning the pages again on every write. Older
	// kernels refuse file-backed memory, and RLIMIT_MEMLOCK may be too small:
	// then the same pages are written unregistered, still without a copy.
	std::vector<iovec> iov;
	iov.push_back({w->seams_, w->seams_length_});
	for (const MemoryRegion &r : params.regions)
		iov.push_back({r.base, r.length});
	w->registered_ = w->queue_->register_buffers(iov);
	return w;
}

Status AlignedUringWriter::open_queue(unsigned entries)
{
	Status status;
	if (params_.path != DiskPath::aio) {
		queue_ = make_uring_write_queue(params_.fd, entries, status);
		if (queue_ || params_.path == DiskPath::uring)
			return status;
		// Containers refuse io_uring (seccomp: EPERM or ENOSYS); the
		// same direct writes go through Linux AIO instead.
		note_io_uring_refusal(status);
	}
	queue_ = make_aio_write_queue(params_.fd, entries, status);
	uses_aio_ = bool(queue_);
	return status;
}

AlignedUringWriter::~AlignedUringWriter()
{
	if (queue_)
		drain();
	if (seams_)
		munmap(seams_, seams_length_);
	for (const Staging &buffer : staging_)
		munmap(buffer.data, buffer.size);
}

int AlignedUringWriter::fixed_index(const std::byte *p, size_t length) const
{
	if (!registered_)
		return -1;
	if (p >= seams_ && p + length <= seams_ + seams_length_)
		return 0;
	for (size_t i = 0; i < params_.regions.size(); ++i) {
		const MemoryRegion &r = params_.regions[i];
		if (p >= r.base && p + length <= r.base + r.length)
			return int(i + 1);
	}
	return -1;
}

Status AlignedUringWriter::ensure_allocated(uint64_t end)
{
	if (!can_allocate_ || end <= allocated_)
		return {};
	uint64_t target = allocate_ahead_ ? std::max(end, allocated_ + kPreallocateStep) : end;
	target = round_up(target, params_.block);
	if (fallocate(params_.fd, 0, off_t(allocated_), off_t(target - allocated_)) == 0) {
		allocated_ = target;
		return {};
	}
	if (errno == EOPNOTSUPP) {
		can_allocate_ = false;
		return {};
	}
	if (errno == ENOSPC && allocate_ahead_) {
		// Near the end of the disk: from now on allocate only what each
		// write needs, so that the recording fills the disk exactly. ext4
		// keeps what a failed fallocate got, which can be every free block:
		// give it back, or the next file (a segment) finds the disk full.
		allocate_ahead_ = false;
		if (ftruncate(params_.fd, off_t(allocated_)) < 0)
			return Status::from_errno(errno, "writing");
		return ensure_allocated(end);
	}
	return Status::from_errno(errno, "writing");
}

Status AlignedUringWriter::reserve(uint64_t bytes)
{
	if (!error_.ok())
		return error_;
	return ensure_allocated(position_ + bytes + params_.block);
}

Status AlignedUringWriter::submit(uint64_t offset, std::span<const std::byte> bytes, int seam_index,
				  int staging_index, const Frame *hold, uint64_t valid_end,
				  bool keep_seam, uint32_t padding)
{
	while (free_ops_.empty() || in_order_.size() >= params_.depth) {
		if (Status s = wait_one(); !s)
			return s;
	}
	uint32_t id = free_ops_.back();
	free_ops_.pop_back();
	Op &op = ops_[id];
	op.offset = offset;
	op.length = uint32_t(bytes.size());
	op.buffer = bytes.data();
	op.buf_index = fixed_index(op.buffer, op.length);
	op.seam = seam_index;
	op.staging = staging_index;
	op.valid_end = valid_end;
	op.hold = hold ? *hold : Frame();
	op.done = false;
	op.keep_seam = keep_seam;
	op.rewrite = false;
	op.padding = padding;

	prepare(id);
	in_order_.push_back(id);
	return queue_->submit();
}

void AlignedUringWriter::prepare(uint32_t id)
{
	const Op &op = ops_[id];
	queue_->queue(id, op.buffer, op.length, op.offset, op.buf_index);
}

Status AlignedUringWriter::complete(BlockWriteQueue::Completion completion)
{
	uint32_t id = completion.id;
	int res = completion.result;
	Op &op = ops_[id];

	if (op.rewrite) {
		// The final bytes of a kept seam: the frame behind it is published.
		Replacement *r = replacement_for(op.seam, Replacement::State::rewriting);
		r->state = Replacement::State::done;
		free_seams_.push_back(op.seam);
		--rewrites_in_flight_;
		free_ops_.push_back(id);
		if (res < 0 && error_.ok())
			error_ = Status::from_errno(-res, "writing");
		else if (res >= 0 && uint32_t(res) != op.length && error_.ok())
			error_ = Status::from_errno(EIO, "short write");
		while (!replacements_.empty() &&
		       replacements_.front().state == Replacement::State::done) {
			if (error_.ok())
				published_ = replacements_.front().publish_at;
			replacements_.pop_front();
		}
		return error_;
	}

	if (res >= 0 && uint32_t(res) < op.length && res % params_.block == 0 && res > 0) {
		// A short direct write: the rest goes again, still aligned.
		op.offset += uint32_t(res);
		op.buffer += res;
		op.length -= uint32_t(res);
		prepare(id);
		return queue_->submit();
	}
	if (res == -EFAULT && op.hold && op.staging < 0) {
		// The kernel cannot pin the frame's pages (VM_PFNMAP): redo it
		// from a copy once completions are handled.
		faulted_.push_back(id);
		return error_;
	}

	op.hold.reset();
	if (op.seam >= 0 && op.keep_seam)
		replacement_for(op.seam, Replacement::State::writing)->state =
			Replacement::State::waiting;
	else if (op.seam >= 0)
		free_seams_.push_back(op.seam);
	if (op.staging >= 0)
		free_staging_.push_back(op.staging);
	op.done = true;
	if (res < 0 && error_.ok())
		error_ = Status::from_errno(-res, "writing");
	else if (res >= 0 && uint32_t(res) != op.length && error_.ok())
		error_ = Status::from_errno(EIO, "short write");
	bool failed = !error_.ok();

	// Advance the durable offset over every completed write in file order;
	// after a failure it stays where the failed write began.
	while (!in_order_.empty() && ops_[in_order_.front()].done) {
		uint32_t front = in_order_.front();
		if (!failed)
			durable_ = std::max(durable_, ops_[front].valid_end);
		in_order_.pop_front();
		free_ops_.push_back(front);
	}
	return failed ? error_ : submit_due_rewrites();
}

AlignedUringWriter::Replacement *AlignedUringWriter::replacement_for(int seam,
								     Replacement::State state)
{
	for (Replacement &r : replacements_)
		if (r.seam == seam && r.state == state)
			return &r;
	return nullptr;
}

Status AlignedUringWriter::submit_due_rewrites()
{
	bool submitted = false;
	for (Replacement &r : replacements_) {
		if (r.state != Replacement::State::waiting || r.publish_at > durable_)
			continue;
		if (free_ops_.empty())
			break; // the next completion frees one
		uint32_t id = free_ops_.back();
		free_ops_.pop_back();
		std::memcpy(seam(r.seam) + r.at, r.final.data(), r.length);
		Op &op = ops_[id];
		op = Op{};
		op.offset = r.block_offset;
		op.length = params_.block;
		op.buffer = seam(r.seam);
		op.buf_index = fixed_index(op.buffer, op.length);
		op.seam = r.seam;
		op.rewrite = true;
		r.state = Replacement::State::rewriting;
		++rewrites_in_flight_;
		prepare(id);
		submitted = true;
	}
	return submitted ? queue_->submit() : Status();
}

Status AlignedUringWriter::wait_one()
{
	std::optional<BlockWriteQueue::Completion> completion;
	if (Status s = queue_->wait(std::nullopt, completion); !s)
		return s;
	if (!completion)
		return Status::from_errno(EIO, "waiting for a write that was never started");
	Status status = complete(*completion);
	return status && !faulted_.empty() ? redo_faulted() : status;
}

Status AlignedUringWriter::reap(std::chrono::milliseconds timeout)
{
	std::optional<BlockWriteQueue::Completion> completion;
	if (Status s = queue_->wait(timeout, completion); !s)
		return s;
	if (!completion)
		return error_;
	Status status = complete(*completion);
	return status ? reap_ready() : status;
}

Status AlignedUringWriter::reap_ready()
{
	Status status;
	while (status)
		if (std::optional<BlockWriteQueue::Completion> c = queue_->peek())
			status = complete(*c);
		else
			break;
	return status && !faulted_.empty() ? redo_faulted() : status;
}

Status AlignedUringWriter::drain()
{
	Status first;
	while (busy()) {
		Status s = wait_one();
		if (!s && first.ok())
			first = s;
	}
	return first.ok() ? error_ : first;
}

Status AlignedUringWriter::write_seam()
{
	int index = current_seam_;
	uint64_t offset = position_ - params_.block;
	bool keep = next_replacement_ && next_replacement_->block_offset == offset;
	if (keep) {
		replacements_.push_back(*next_replacement_);
		replacements_.back().seam = index;
	}
	if (Status s = take_seam(); !s)
		return s;
	return submit(offset, {seam(index), params_.block}, index, -1, nullptr, position_, keep);
}

Status AlignedUringWriter::take_seam()
{
	// Every other seam is in flight or kept: wait for one to come back.
	while (free_seams_.empty()) {
		if (!busy())
			return Status::from_errno(ENOBUFS, "no seam buffer is free");
		if (Status s = wait_one(); !s)
			return s;
	}
	current_seam_ = free_seams_.back();
	free_seams_.pop_back();
	return {};
}

Status AlignedUringWriter::copy_into_seam(std::span<const std::byte> bytes)
{
	while (!bytes.empty()) {
		size_t n = std::min<size_t>(bytes.size(), params_.block - seam_fill_);
		std::memcpy(seam(current_seam_) + seam_fill_, bytes.data(), n);
		seam_fill_ += uint32_t(n);
		position_ += n;
		bytes = bytes.subspan(n);
		if (seam_fill_ == params_.block) {
			seam_fill_ = 0;
			if (Status s = write_seam(); !s)
				return s;
		}
	}
	return {};
}

Status AlignedUringWriter::append_owned(std::span<const std::byte> data)
{
	if (!error_.ok())
		return error_;
	if (Status s = ensure_allocated(position_ + data.size() + params_.block); !s)
		return s;
	return copy_into_seam(data);
}

Status AlignedUringWriter::append_provisional(std::span<const std::byte> provisional,
					      std::span<const std::byte> final, uint64_t publish_at)
{
	if (!error_.ok())
		return error_;
	if (final.size() > kMaxFinal || final.size() > provisional.size() ||
	    (position_ + provisional.size()) % params_.block)
		return Status::from_errno(EINVAL, "provisional bytes must end on a block");
	if (Status s = ensure_allocated(position_ + provisional.size() + params_.block); !s)
		return s;

	Replacement r;
	r.block_offset = position_ + provisional.size() - params_.block;
	r.at = uint32_t(params_.block - final.size());
	std::memcpy(r.final.data(), final.data(), final.size());
	r.length = uint32_t(final.size());
	r.publish_at = publish_at;
	next_replacement_ = r;
	Status status = copy_into_seam(provisional);
	next_replacement_.reset();
	return status;
}

Status AlignedUringWriter::append_frame(const Frame &frame, std::span<const std::byte> data,
					size_t padding)
{
	if (!error_.ok())
		return error_;
	if (Status s = ensure_allocated(position_ + data.size() + params_.block); !s)
		return s;

	uint64_t copied = 0;
	// Head: complete the block the previous bytes left open.
	if (seam_fill_) {
		size_t head = std::min<size_t>(data.size(), params_.block - seam_fill_);
		if (Status s = copy_into_seam(data.first(head)); !s)
			return s;
		copied += head;
		data = data.subspan(head);
	}
	// Bulk: whole blocks, from the frame's pages where they are aligned.
	size_t bulk = round_down(data.size(), params_.block);
	if (bulk) {
		if (Status s = write_bulk(frame, data.first(bulk)); !s)
			return s;
		position_ += bulk;
		data = data.subspan(bulk);
	}
	// Tail: less than a block. With padding after it in the frame's own
	// memory, written from there; else kept until the next bytes complete it.
	if (!data.empty() && padding == params_.block - data.size() && !stage_all_ &&
	    reinterpret_cast<uintptr_t>(data.data()) % kFastMemAlign == 0) {
		if (Status s = submit(position_, {data.data(), params_.block}, -1, -1, &frame,
				      position_ + params_.block, false, uint32_t(padding));
		    !s)
			return s;
		position_ += params_.block;
	} else if (!data.empty()) {
		if (Status s = copy_into_seam(data); !s)
			return s;
		copied += data.size();
	}
	if (params_.copied)
		params_.copied->fetch_add(copied, std::memory_order_relaxed);
	return error_;
}

Status AlignedUringWriter::write_bulk(const Frame &frame, std::span<const std::byte> bulk)
{
	uint64_t end = position_ + bulk.size();
	if (!stage_all_ && reinterpret_cast<uintptr_t>(bulk.data()) % kFastMemAlign == 0)
		return submit(position_, bulk, -1, -1, &frame, end);

	int index;
	if (Status s = stage(bulk, bulk.size(), index); !s)
		return s;
	return submit(position_, {staging_[index].data, bulk.size()}, -1, index, nullptr, end);
}

Status AlignedUringWriter::stage(std::span<const std::byte> bytes, uint64_t frame_bytes, int &index)
{
	while (free_staging_.empty() && staging_.size() >= ops_.size()) {
		if (Status s = wait_one(); !s)
			return s;
	}
	if (free_staging_.empty()) {
		staging_.emplace_back();
		index = int(staging_.size() - 1);
	} else {
		index = free_staging_.back();
		free_staging_.pop_back();
	}

	Staging &buffer = staging_[index];
	if (buffer.size < bytes.size()) {
		if (buffer.data)
			munmap(buffer.data, buffer.size);
		size_t size = round_up(bytes.size(), kFastMemAlign);
		void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED) {
			buffer = {};
			free_staging_.push_back(index);
			return Status::from_errno(errno, "allocating staging memory");
		}
		buffer = {static_cast<std::byte *>(p), size};
	}
	std::memcpy(buffer.data, bytes.data(), bytes.size());
	staged_bytes_ += frame_bytes;
	if (params_.copied)
		params_.copied->fetch_add(frame_bytes, std::memory_order_relaxed);
	return {};
}

Status AlignedUringWriter::redo_faulted()
{
	stage_all_ = true;
	std::vector<uint32_t> redo;
	redo.swap(faulted_);
	for (uint32_t id : redo) {
		// No staging buffer is taken by these ops, so one is free or can
		// be made without waiting.
		Op &op = ops_[id];
		int index;
		uint32_t padding = std::min(op.padding, op.length);
		if (Status s = stage({op.buffer, op.length}, op.length - padding, index); !s)
			return s;
		op.buffer = staging_[index].data;
		op.buf_index = fixed_index(op.buffer, op.length);
		op.staging = index;
		op.hold.reset();
		prepare(id);
	}
	return queue_->submit();
}

Status AlignedUringWriter::flush_tail()
{
	if (!error_.ok())
		return error_;
	if (seam_fill_ == 0)
		return {};
	// The partial block is written padded with zeros. Its bytes move on to
	// the next seam, so that later appends complete the block and write it
	// again.
	int index = current_seam_;
	std::byte *tail = seam(index);
	std::memset(tail + seam_fill_, 0, params_.block - seam_fill_);
	if (Status s = take_seam(); !s)
		return s;
	std::memcpy(seam(current_seam_), tail, seam_fill_);
	return submit(round_down(position_, params_.block), {tail, params_.block}, index, -1,
		      nullptr, position_);
}

} // namespace zcap
