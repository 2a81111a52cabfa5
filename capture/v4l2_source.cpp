// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/v4l2_source.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include <zcap/log.h>

#include "drm_dumb_buffers.h"
#include "video_device.h"

namespace zcap {

namespace {

using Clock = std::chrono::steady_clock;

/// How long one wait for a frame lasts before the stop flag is looked at.
constexpr int kPollMs = 50;

/// The largest step between two of the device's 32-bit sequence numbers
/// that counts as forward (with the frames between lost); a larger one is
/// the number going back.
constexpr uint32_t kMaxSequenceStep = 1u << 31;

uint32_t buf_type(bool mplane)
{
	return mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE;
}

std::string errno_text(int negative_errno)
{
	return std::strerror(-negative_errno);
}

/// A format whose planes the driver keeps in separate buffers, as zcap
/// captures it: in one buffer, each plane right after the one before, as
/// files hold them (v4l2-ctl --stream-to writes them so); the first plane
/// without its @p header bytes (data_offset: vivid puts 128 there).
FrameFormat planes_back_to_back(FrameFormat format, const v4l2_pix_format_mplane &pix,
				uint32_t header)
{
	uint32_t offset = 0;
	format.num_planes = pix.num_planes;
	for (unsigned i = 0; i < pix.num_planes; ++i) {
		const v4l2_plane_pix_format &plane = pix.plane_fmt[i];
		const uint32_t size = plane.sizeimage - (i == 0 ? header : 0);
		format.planes[i] = {offset, plane.bytesperline, size};
		offset += size;
	}
	format.size_image = offset;
	return format;
}

} // namespace

std::string_view io_mode_name(IoMode mode)
{
	switch (mode) {
	case IoMode::automatic:
		return "auto";
	case IoMode::userptr:
		return "userptr";
	case IoMode::mmap:
		return "mmap";
	case IoMode::dmabuf:
		return "dmabuf";
	}
	return "?";
}

std::optional<IoMode> parse_io_mode(std::string_view name)
{
	for (IoMode m : {IoMode::automatic, IoMode::userptr, IoMode::mmap, IoMode::dmabuf})
		if (name == io_mode_name(m))
			return m;
	return std::nullopt;
}

V4l2Source::V4l2Source(std::unique_ptr<VideoDevice> device, const V4l2SourceOptions &options)
    : device_(std::move(device)), options_(options)
{
}

std::unique_ptr<V4l2Source> V4l2Source::open(const V4l2SourceOptions &options, Status &status)
{
	// libv4l2's multi-planar plugin shows the node as single-planar with
	// one plane: a format of several buffers needs the kernel's own API
	// (libv4l2 would convert nothing anyway, conversion being off).
	const PixelFormatInfo *info = format_info(options.fourcc);
	auto device = info && info->num_buffers > 1
			      ? open_video_device_direct(options.device, status)
			      : open_video_device(options.device, status);
	if (!device)
		return nullptr;
	return open(std::move(device), options, status);
}

std::unique_ptr<V4l2Source> V4l2Source::open(std::unique_ptr<VideoDevice> device,
					     const V4l2SourceOptions &options, Status &status)
{
	std::unique_ptr<V4l2Source> source(new V4l2Source(std::move(device), options));
	source->released_wake_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (!source->released_wake_) {
		status = Status::from_errno(errno, "eventfd");
		return nullptr;
	}
	for (auto step : {&V4l2Source::query, &V4l2Source::configure, &V4l2Source::setup_buffers}) {
		status = (source.get()->*step)();
		if (!status)
			return nullptr;
	}
	return source;
}

V4l2Source::~V4l2Source()
{
	stop();
	{
		std::lock_guard lock(released_lock_);
		if (pinned_) {
			// A sink still holds a frame in our buffers: freeing them
			// now would turn a lifetime bug into silent corruption.
			std::fprintf(stderr, "zcap: V4L2 source destroyed with %u frames in use\n",
				     pinned_);
			std::abort();
		}
	}
	release_buffers();
}

Status V4l2Source::query()
{
	v4l2_capability cap{};
	if (int ret = device_->ioctl(VIDIOC_QUERYCAP, &cap); ret < 0)
		return Status::from_errno(-ret, device_->path() + ": not a V4L2 device");
	driver_ = reinterpret_cast<const char *>(cap.driver);
	card_ = reinterpret_cast<const char *>(cap.card);
	uint32_t caps =
		cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
	if (!(caps & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE)))
		return Status::invalid(device_->path() + " (" + card_ +
				       ") is not a video capture device");
	if (!(caps & V4L2_CAP_STREAMING))
		return Status::invalid(device_->path() + " (" + card_ +
				       ") cannot stream (no V4L2_CAP_STREAMING)");
	type_ = buf_type(!(caps & V4L2_CAP_VIDEO_CAPTURE));
	return {};
}

Status V4l2Source::configure()
{
	const bool mplane = type_ == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	v4l2_format fmt{};
	fmt.type = type_;
	if (int ret = device_->ioctl(VIDIOC_G_FMT, &fmt); ret < 0)
		return Status::from_errno(-ret, device_->path() + ": VIDIOC_G_FMT");

	if (mplane) {
		auto &pix = fmt.fmt.pix_mp;
		pix.pixelformat = options_.fourcc ? options_.fourcc : pix.pixelformat;
		pix.width = options_.width ? options_.width : pix.width;
		pix.height = options_.width ? options_.height : pix.height;
		pix.field = V4L2_FIELD_NONE;
		const PixelFormatInfo *asked = format_info(pix.pixelformat);
		pix.num_planes = asked ? asked->num_buffers : 1;
		for (auto &plane : pix.plane_fmt)
			plane.bytesperline = 0;
	} else {
		auto &pix = fmt.fmt.pix;
		pix.pixelformat = options_.fourcc ? options_.fourcc : pix.pixelformat;
		pix.width = options_.width ? options_.width : pix.width;
		pix.height = options_.width ? options_.height : pix.height;
		pix.field = V4L2_FIELD_NONE;
		pix.bytesperline = 0;
	}
	if (int ret = device_->ioctl(VIDIOC_S_FMT, &fmt); ret < 0)
		return Status::from_errno(-ret, device_->path() + ": VIDIOC_S_FMT");
	const uint32_t fourcc = mplane ? fmt.fmt.pix_mp.pixelformat : fmt.fmt.pix.pixelformat;
	const uint32_t width = mplane ? fmt.fmt.pix_mp.width : fmt.fmt.pix.width;
	const uint32_t height = mplane ? fmt.fmt.pix_mp.height : fmt.fmt.pix.height;

	// Drivers adjust what they cannot do; what was asked for must hold.
	if (options_.fourcc && fourcc != options_.fourcc)
		return Status::invalid(fmt::format("{} does not capture {} (it offers {}; see zcap "
						   "formats -d {})",
						   device_->path(), fourcc_name(options_.fourcc),
						   fourcc_name(fourcc), device_->path()));
	if (options_.width && (width != options_.width || height != options_.height))
		return Status::invalid(fmt::format("{} does not capture {}x{} in {} (nearest: "
						   "{}x{})",
						   device_->path(), options_.width, options_.height,
						   fourcc_name(fourcc), width, height));
	// libv4l2's mplane plugin shows a multi-planar node as single-planar, so
	// the format table, not only num_planes, tells a format of several buffers.
	const PixelFormatInfo *info = format_info(fourcc);
	buffer_planes_ = mplane ? std::max(1u, unsigned(fmt.fmt.pix_mp.num_planes)) : 1u;
	if (info && info->num_buffers != buffer_planes_ && !mplane)
		return Status::invalid(fmt::format("{}: {} keeps planes in {} separate buffers, "
						   "which libv4l2 does not show",
						   device_->path(), fourcc_name(fourcc),
						   info->num_buffers));
	if (buffer_planes_ > 1 && (!info || info->num_planes != buffer_planes_))
		return Status::invalid(fmt::format("{}: the driver puts {} in {} separate buffers, "
						   "a layout zcap does not know",
						   device_->path(), fourcc_name(fourcc),
						   buffer_planes_));

	uint32_t stride =
		mplane ? fmt.fmt.pix_mp.plane_fmt[0].bytesperline : fmt.fmt.pix.bytesperline;
	uint32_t size = mplane ? fmt.fmt.pix_mp.plane_fmt[0].sizeimage : fmt.fmt.pix.sizeimage;
	if (size == 0)
		return Status::invalid(device_->path() + ": the driver reports a zero image size");
	format_ = driver_format(fourcc, width, height, stride, size);
	if (buffer_planes_ > 1) {
		// What the first plane's buffer holds beyond its lines is a
		// header before them (V4L2's data_offset, checked per frame).
		const uint32_t lines = format_.planes[0].size;
		if (size < lines)
			return Status::invalid(
				fmt::format("{}: {} bytes for {} plane 0 of {} bytes",
					    device_->path(), size, fourcc_name(fourcc), lines));
		header_ = size - lines;
		format_ = planes_back_to_back(format_, fmt.fmt.pix_mp, header_);
		for (unsigned i = 1; i < buffer_planes_; ++i)
			buffer_at_[i] =
				buffer_at_[i - 1] + fmt.fmt.pix_mp.plane_fmt[i - 1].sizeimage;
	}

	v4l2_streamparm parm{};
	parm.type = type_;
	if (!options_.rate.unlimited()) {
		parm.parm.capture.timeperframe = {options_.rate.den, options_.rate.num};
		device_->ioctl(VIDIOC_S_PARM, &parm);
	}
	if (device_->ioctl(VIDIOC_G_PARM, &parm) == 0 && parm.parm.capture.timeperframe.numerator)
		rate_ = {parm.parm.capture.timeperframe.denominator,
			 parm.parm.capture.timeperframe.numerator};
	return {};
}

void V4l2Source::fill_buffer(v4l2_buffer &b, PlaneArray &planes, unsigned index) const
{
	b = {};
	planes = {};
	b.index = index;
	b.type = type_;
	b.memory = memory_;
	const bool mplane = type_ == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	if (mplane) {
		b.m.planes = planes.data();
		b.length = buffer_planes_;
	}
	v4l2_plane &plane = planes[0];
	if (memory_ == V4L2_MEMORY_USERPTR) {
		// Each of the driver's planes at its place in the one buffer:
		// the frame is there whole, its planes back to back.
		const FrameSlot &slot = *slots_[index];
		const uint32_t offset = queued_at_[index];
		const size_t length = lengths_[index] - offset;
		auto address = reinterpret_cast<unsigned long>(slot.memory().data() + offset);
		if (!mplane) {
			b.m.userptr = address;
			b.length = uint32_t(length);
		}
		for (unsigned i = 0; mplane && i < buffer_planes_; ++i) {
			const bool last = i + 1 == buffer_planes_;
			planes[i].m.userptr = address + buffer_at_[i];
			planes[i].length = uint32_t(last ? length - buffer_at_[i]
							 : buffer_at_[i + 1] - buffer_at_[i]);
		}
	} else if (memory_ == V4L2_MEMORY_DMABUF) {
		(mplane ? plane.m.fd : b.m.fd) = slots_[index]->dmabuf().fd;
		(mplane ? plane.length : b.length) = uint32_t(lengths_[index]);
	}
}

int V4l2Source::queue(unsigned index)
{
	uint32_t &offset = queued_at_[index];
	if (memory_ == V4L2_MEMORY_USERPTR && placement_ && !placement_refused_) {
		// The frame this buffer gets reaches the sinks after the ones
		// in the buffers queued before it; it starts after the header.
		const uint32_t page_offset = placement_(in_driver_).value_or(0);
		offset = (page_offset + kPlacementPage - header_ % kPlacementPage) % kPlacementPage;
	}
	v4l2_buffer b;
	PlaneArray planes;
	fill_buffer(b, planes, index);
	int ret = device_->ioctl(VIDIOC_QBUF, &b);
	if (ret < 0 && offset) {
		// Some drivers take only page-aligned user memory.
		log(LogLevel::info, fmt::format("{}: the driver takes USERPTR buffers only on a "
						"page boundary ({}); frames stay there",
						device_->path(), errno_text(ret)));
		placement_refused_ = true;
		offset = 0;
		fill_buffer(b, planes, index);
		ret = device_->ioctl(VIDIOC_QBUF, &b);
	}
	if (ret == 0)
		++in_driver_;
	return ret;
}

Status V4l2Source::setup_buffers()
{
	if (options_.io != IoMode::automatic)
		return try_io(options_.io);

	// USERPTR first: the same pages get a file alias for sendfile. Drivers
	// with contiguous DMA memory refuse it, some only when the buffer is
	// queued; then the driver's own buffers, then DRM ones.
	std::string refused;
	for (IoMode mode : {IoMode::userptr, IoMode::mmap, IoMode::dmabuf}) {
		Status status = try_io(mode);
		if (status) {
			io_note_ = refused.empty()
					   ? std::string(io_mode_name(mode))
					   : fmt::format("{} ({})", io_mode_name(mode), refused);
			return {};
		}
		refused += fmt::format("{}{} refused: {}", refused.empty() ? "" : "; ",
				       io_mode_name(mode), status.message());
	}
	return Status::invalid(device_->path() + ": no memory mode works: " + refused);
}

Status V4l2Source::try_io(IoMode mode)
{
	static constexpr uint32_t memory_of[] = {0, V4L2_MEMORY_USERPTR, V4L2_MEMORY_MMAP,
						 V4L2_MEMORY_DMABUF};
	memory_ = memory_of[size_t(mode)];
	io_ = mode;
	io_note_ = io_mode_name(mode);
	if (buffer_planes_ > 1 && mode != IoMode::userptr) {
		// Only user memory can put the driver's planes side by side in
		// one buffer; a frame of several buffers is not one zcap has.
		memory_ = 0;
		return Status::invalid(fmt::format("{} keeps its planes in {} buffers, which zcap "
						   "captures with --io userptr only",
						   fourcc_name(format_.fourcc), buffer_planes_));
	}

	v4l2_requestbuffers req{};
	req.count = options_.buffers;
	req.type = type_;
	req.memory = memory_;
	if (int ret = device_->ioctl(VIDIOC_REQBUFS, &req); ret < 0)
		return Status::from_errno(-ret, fmt::format("{}: VIDIOC_REQBUFS ({})",
							    device_->path(), io_mode_name(mode)));
	if (req.count == 0)
		return Status::from_errno(ENOMEM, device_->path() + ": the driver gave no buffers");

	Status status;
	unsigned count = req.count;
	if (mode == IoMode::userptr) {
		// A page of room, so that a frame can start anywhere in its
		// first page when a sink asks for it (placement.h).
		arena_ = BufferArena::create(header_ + format_.size_image + kPlacementPage, count,
					     status);
		for (unsigned i = 0; arena_ && i < count; ++i) {
			slots_.push_back(std::make_unique<FrameSlot>(*this, i, arena_->slice(i),
								     arena_->alias(i)));
			lengths_.push_back(arena_->buffer_size());
		}
	} else if (mode == IoMode::mmap) {
		const bool mplane = type_ == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
		for (unsigned i = 0; i < count && status; ++i) {
			v4l2_buffer b;
			PlaneArray planes;
			fill_buffer(b, planes, i);
			const v4l2_plane &plane = planes[0];
			if (int ret = device_->ioctl(VIDIOC_QUERYBUF, &b); ret < 0) {
				status = Status::from_errno(-ret,
							    device_->path() + ": VIDIOC_QUERYBUF");
				break;
			}
			size_t length = mplane ? plane.length : b.length;
			off_t offset = mplane ? plane.m.mem_offset : b.m.offset;
			// vb2 allocates whole pages and maps them: the rest of the
			// last page is the buffer's unused room (Frame::claim_room_after()).
			size_t mapped =
				(length + kPlacementPage - 1) / kPlacementPage * kPlacementPage;
			void *address = device_->mmap(mapped, offset);
			if (address == MAP_FAILED) {
				status = Status::from_errno(errno, device_->path() + ": mmap");
				break;
			}
			mappings_.push_back({address, mapped});
			v4l2_exportbuffer exp{};
			exp.type = type_;
			exp.index = i;
			exp.flags = O_RDONLY | O_CLOEXEC;
			FdAlias dmabuf;
			int ret = device_->ioctl(VIDIOC_EXPBUF, &exp);
			if (ret == -EINVAL && !mplane) {
				// libv4l-mplane shows a multi-planar node as a
				// single-planar one but passes VIDIOC_EXPBUF on
				// untranslated: the kernel wants the MPLANE type.
				exp.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
				ret = device_->ioctl(VIDIOC_EXPBUF, &exp);
			}
			if (ret == 0) {
				exported_.emplace_back(exp.fd);
				dmabuf = {exp.fd, 0};
			}
			slots_.push_back(std::make_unique<FrameSlot>(
				*this, i, std::span(static_cast<std::byte *>(address), mapped),
				FdAlias{}, dmabuf));
			lengths_.push_back(length);
		}
	} else {
		drm_ = DrmDumbBuffers::create(options_.drm_device, format_.size_image, count,
					      status);
		for (unsigned i = 0; drm_ && i < count; ++i) {
			const auto &buffer = drm_->buffers()[i];
			slots_.push_back(std::make_unique<FrameSlot>(
				*this, i, std::span(buffer.map, buffer.size), FdAlias{},
				FdAlias{buffer.dmabuf.get(), 0}));
			lengths_.push_back(buffer.size);
		}
		if (drm_)
			io_note_ += " (" + drm_->driver() + " on " + drm_->node() + ")";
	}

	queued_at_.assign(slots_.size(), 0);
	if (status)
		status = queue_all();
	if (!status)
		release_buffers();
	return status;
}

Status V4l2Source::queue_all()
{
	for (unsigned i = 0; i < slots_.size(); ++i)
		if (int ret = queue(i); ret < 0)
			return Status::from_errno(-ret,
						  fmt::format("{}: VIDIOC_QBUF ({})",
							      device_->path(), io_mode_name(io_)));
	return {};
}

void V4l2Source::stream_off()
{
	device_->ioctl(VIDIOC_STREAMOFF, &type_);
	in_driver_ = 0; // STREAMOFF hands every queued buffer back
}

void V4l2Source::release_device()
{
	// Driver mappings are the frames' memory and keep the device anyway.
	if (!device_ || !mappings_.empty())
		return;
	stop();
	v4l2_requestbuffers req{};
	req.type = type_;
	req.memory = memory_;
	device_->ioctl(VIDIOC_REQBUFS, &req);
	memory_ = 0;
	device_.reset();
}

void V4l2Source::release_buffers()
{
	if (memory_ && device_) {
		v4l2_requestbuffers req{};
		req.type = type_;
		req.memory = memory_;
		// Queued buffers leave the driver on STREAMOFF; the count of zero
		// frees them. Mappings and exports first: they hold buffers.
		stream_off();
		exported_.clear();
		for (const Mapping &m : mappings_)
			device_->munmap(m.address, m.length);
		mappings_.clear();
		device_->ioctl(VIDIOC_REQBUFS, &req);
	}
	slots_.clear();
	lengths_.clear();
	queued_at_.clear();
	arena_.reset();
	drm_.reset();
}

std::string V4l2Source::description() const
{
	std::string rate = rate_.unlimited() ? std::string("at the device's rate")
					     : fmt::format("at {:g} fps", rate_.value());
	return fmt::format("{} ({}, {}) {}x{} {} {}, {}, {} buffers", device_->path(), card_,
			   driver_, format_.width, format_.height, fourcc_name(format_.fourcc),
			   rate, io_note_, slots_.size());
}

std::vector<MemoryRegion> V4l2Source::memory_regions() const
{
	if (arena_)
		return {arena_->region()};
	std::vector<MemoryRegion> regions;
	for (const auto &slot : slots_)
		regions.push_back({slot->memory().data(), slot->memory().size()});
	return regions;
}

Status V4l2Source::start()
{
	if (memory_ == V4L2_MEMORY_USERPTR && placement_) {
		// The buffers were queued at set-up, before anyone said where
		// frames should start: take them back (STREAMOFF before streaming
		// just dequeues them) and queue them again where the sinks want.
		stream_off();
		if (Status status = queue_all(); !status)
			return status;
	}
	if (int ret = device_->ioctl(VIDIOC_STREAMON, &type_); ret < 0)
		return Status::from_errno(-ret, device_->path() + ": VIDIOC_STREAMON");
	streaming_ = true;
	last_frame_ = Clock::now();
	return {};
}

void V4l2Source::stop()
{
	if (streaming_)
		stream_off();
	streaming_ = false;
}

void V4l2Source::record_sequence(uint32_t sequence)
{
	// The driver numbers every frame it captured, the ones it had to drop
	// for want of a queued buffer too: a gap is frames lost. A number that
	// repeats or goes back (vivid's, on a loaded host) loses none; frames
	// keep numbers of their own.
	uint64_t extended = sequence;
	if (last_sequence_) {
		const uint32_t step = sequence - last_device_sequence_;
		const bool forward = step != 0 && step <= kMaxSequenceStep;
		if (forward)
			stats_.dropped.fetch_add(step - 1, std::memory_order_relaxed);
		extended = *last_sequence_ + (forward ? step : 1);
	}
	last_device_sequence_ = sequence;
	last_sequence_ = extended;
}

std::optional<Frame> V4l2Source::next_frame(const std::atomic<bool> &stop_flag)
{
	const bool mplane = type_ == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	const auto timeout = std::max<Clock::duration>(
		kMinTimeout,
		rate_.unlimited()
			? Clock::duration(kMinTimeout)
			: std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
				  options_.timeout_periods / rate_.value())));
	while (!stop_flag.load(std::memory_order_relaxed)) {
		requeue_released();
		bool all_pinned;
		{
			std::lock_guard lock(released_lock_);
			all_pinned = pinned_ == slots_.size();
		}
		if (all_pinned) {
			// With every buffer pinned nothing can be captured: wait
			// for a sink to let one go (the driver drops meanwhile).
			// Woken, timed out or interrupted: the loop looks again.
			pollfd wake{released_wake_.get(), POLLIN, 0};
			::poll(&wake, 1, kPollMs);
			last_frame_ = Clock::now();
			continue;
		}
		int revents = device_->poll(kPollMs, released_wake_.get());
		if (revents < 0) {
			error_ = Status::from_errno(-revents, device_->path() + ": poll");
			return std::nullopt;
		}
		if (revents == 0) {
			// A timeout, or a buffer handed back (queued at the top).
			if (Clock::now() - last_frame_ > timeout) {
				error_ = Status::from_errno(
					ETIMEDOUT,
					fmt::format(
						"{}: no frame for {:.1f} s", device_->path(),
						std::chrono::duration<double>(timeout).count()));
				return std::nullopt;
			}
			continue;
		}

		v4l2_buffer b{};
		PlaneArray planes{};
		b.type = type_;
		b.memory = memory_;
		if (mplane) {
			b.m.planes = planes.data();
			b.length = buffer_planes_;
		}
		int ret = device_->ioctl(VIDIOC_DQBUF, &b);
		if (ret == -EAGAIN)
			continue;
		if (ret < 0) {
			error_ = Status::from_errno(-ret,
						    ret == -ENODEV || ret == -EPIPE
							    ? device_->path() + " was disconnected"
							    : device_->path() + ": VIDIOC_DQBUF");
			return std::nullopt;
		}
		--in_driver_;
		last_frame_ = Clock::now();
		record_sequence(b.sequence);
		if (b.flags & V4L2_BUF_FLAG_ERROR) {
			stats_.errors.fetch_add(1, std::memory_order_relaxed);
			queue(b.index);
			continue;
		}
		if (Status layout = planes_in_place(planes); !layout) {
			// Every frame would have it: one clear line, not a
			// stream of skipped frames.
			error_ = layout;
			queue(b.index);
			return std::nullopt;
		}

		FrameSlot &slot = *slots_[b.index];
		FrameMetadata &meta = slot.metadata();
		meta.format = format_;
		meta.bytes_used = mplane ? planes[0].bytesused : b.bytesused;
		if (buffer_planes_ > 1)
			meta.bytes_used = format_.size_image;
		meta.offset = queued_at_[b.index] + header_;
		meta.sequence = *last_sequence_;
		meta.timestamp_ns = uint64_t(b.timestamp.tv_sec) * 1000000000u +
				    uint64_t(b.timestamp.tv_usec) * 1000u;
		if (drm_)
			drm_->begin_cpu_access(b.index);
		{
			std::lock_guard lock(released_lock_);
			++pinned_;
		}
		stats_.frames.fetch_add(1, std::memory_order_relaxed);
		return Frame::adopt(slot);
	}
	return std::nullopt;
}

Status V4l2Source::planes_in_place(const PlaneArray &planes) const
{
	// Planes follow each other in the frame: one the driver filled only
	// in part, or not where configure() expects, would leave a gap of
	// stale bytes.
	for (unsigned i = 0; buffer_planes_ > 1 && i < buffer_planes_; ++i) {
		const uint32_t header = i == 0 ? header_ : 0;
		const uint32_t bytes = format_.planes[i].size + header;
		if (planes[i].bytesused != bytes || planes[i].data_offset != header)
			// A header before a later plane (vivid's NM61) would
			// sit on the end of the plane before it: only a copy
			// could leave it out of the frame.
			return Status::invalid(fmt::format(
				"{}: the driver filled {} plane {} with bytes {}-{}, not {}-{}: a "
				"layout zcap does not know (it takes a header only before the "
				"first plane)",
				device_->path(), fourcc_name(format_.fourcc), i,
				planes[i].data_offset, planes[i].bytesused, header, bytes));
	}
	return {};
}

void V4l2Source::recycle(FrameSlot &slot) noexcept
{
	// Under the lock, the wake-up too: once frames_in_use() says 0, no
	// thread touches this source any more.
	std::lock_guard lock(released_lock_);
	released_.push_back(slot.index());
	--pinned_;
	// Cannot fail: the counter would need 2^64 - 1 buffers to overflow.
	const uint64_t one = 1;
	[[maybe_unused]] ssize_t written = write(released_wake_.get(), &one, sizeof(one));
}

unsigned V4l2Source::frames_in_use() const
{
	std::lock_guard lock(released_lock_);
	return pinned_;
}

void V4l2Source::requeue_released()
{
	uint64_t wakes;
	[[maybe_unused]] ssize_t drained = read(released_wake_.get(), &wakes, sizeof(wakes));
	{
		std::lock_guard lock(released_lock_);
		requeue_.swap(released_);
	}
	for (unsigned index : requeue_) {
		if (drm_)
			drm_->end_cpu_access(index);
		if (!streaming_)
			continue;
		// A disconnected node (ENODEV) takes no buffer back; the
		// capture ends with that error from DQBUF.
		if (int ret = queue(index); ret < 0 && ret != -ENODEV)
			log(LogLevel::warning,
			    fmt::format("{}: cannot queue buffer {} again: {}", device_->path(),
					index, errno_text(ret)));
	}
	requeue_.clear();
}

} // namespace zcap
