// SPDX-License-Identifier: LGPL-2.1-or-later
// Checks the guest tests of tests/vm share: frame checksums, how a mapping
// is backed, and a V4L2 node left clean by a capture.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <zcap/unique_fd.h>

namespace zcap::test {

/// 64-bit FNV-1a: a checksum of a frame's bytes.
uint64_t fnv1a(std::span<const std::byte> bytes);

/// Empty if the middle row of the YUYV frame @p bytes (@p width x @p
/// height) shows vivid's default colour bars, else the first bar that differs.
std::string colour_bars_mismatch(std::span<const std::byte> bytes, uint32_t width, uint32_t height);

/// Starts @p argv with stdout and stderr to @p log; its pid, or a negative
/// errno when it could not be started.
pid_t spawn_program(const std::vector<std::string> &argv, const std::string &log);

/// strerror(errno) with the number, for failure messages.
std::string errno_text();

/// The VmFlags line of /proc/self/smaps for the mapping holding @p address.
std::string vm_flags(const void *address);

/// Whether @p address lies in a VM_PFNMAP mapping ("pf"): pages the kernel
/// cannot pin, so O_DIRECT from them fails with EFAULT.
bool pfnmap(const void *address);

/// The raw (not libv4l2) device_caps of @p path.
uint32_t raw_device_caps(const std::string &path);

/// Nothing of a capture is left on @p path: a raw open can allocate MMAP
/// buffers (none still allocated or streaming: no EBUSY) and stream.
void expect_device_clean(const std::string &path);

/// A vivid control on a second descriptor of a node, found by name.
class VividControl {
public:
	VividControl(const std::string &path, std::string_view name);

	bool found() const { return id_ != 0; }
	/// Presses the button; returns 0 or an errno.
	int press() { return set(1); }
	/// Sets the control (a menu's item index); returns 0 or an errno.
	int set(int32_t value);

private:
	UniqueFd fd_;
	uint32_t id_ = 0;
};

} // namespace zcap::test
