// SPDX-License-Identifier: LGPL-2.1-or-later
#include <cerrno>
#include <mutex>

#include <zcap/disk_sink.h>
#include <zcap/log.h>
#include <zcap/sink.h>

#include "block_write_queue.h"

namespace zcap {

std::string_view io_path_name(IoPath path)
{
	switch (path) {
	case IoPath::none:
		return "none";
	case IoPath::uring_direct_fixed:
		return "io_uring+O_DIRECT+registered-buffers";
	case IoPath::uring_direct:
		return "io_uring+O_DIRECT";
	case IoPath::buffered:
		return "buffered-write-behind";
	case IoPath::aio_direct:
		return "aio+O_DIRECT";
	}
	return "unknown";
}

std::string_view disk_path_name(DiskPath path)
{
	switch (path) {
	case DiskPath::automatic:
		return "auto";
	case DiskPath::uring:
		return "uring";
	case DiskPath::aio:
		return "aio";
	case DiskPath::buffered:
		return "buffered";
	}
	return "unknown";
}

std::optional<DiskPath> disk_path_from_name(std::string_view name)
{
	for (DiskPath path :
	     {DiskPath::automatic, DiskPath::uring, DiskPath::aio, DiskPath::buffered})
		if (name == disk_path_name(path))
			return path;
	return std::nullopt;
}

namespace {

std::mutex refusal_lock;
std::string refusal;

/// What the kernel's answer most likely means.
std::string explain_refusal(const Status &why)
{
	switch (why.code().value()) {
	case EPERM:
		return "io_uring refused (EPERM: seccomp, a container, or "
		       "kernel.io_uring_disabled=2?)";
	case ENOSYS:
		return "io_uring refused (ENOSYS: seccomp (Podman?) or a kernel without it)";
	case EACCES:
		return "io_uring refused (EACCES: kernel.io_uring_disabled=1 and not in "
		       "kernel.io_uring_group?)";
	default:
		return "io_uring could not be set up (" + why.message() + ")";
	}
}

} // namespace

void note_io_uring_refusal(const Status &why)
{
	std::string reason = explain_refusal(why);
	{
		std::lock_guard lock(refusal_lock);
		if (!refusal.empty())
			return;
		refusal = reason;
	}
	log(LogLevel::warning,
	    reason + "; writing with O_DIRECT through Linux AIO instead (no copy)");
}

std::string io_uring_refusal()
{
	std::lock_guard lock(refusal_lock);
	return refusal;
}

} // namespace zcap
