// SPDX-License-Identifier: LGPL-2.1-or-later
#include "guest_checks.h"

#include <fcntl.h>
#include <linux/videodev2.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/unique_fd.h>

namespace zcap::test {

namespace {

/// Buffers the device-clean check asks the driver for.
constexpr unsigned kCleanCheckBuffers = 4;

/// vivid's default pattern, 75% colour bars, as (Y, U, V) of each of its 8
/// bars (white, yellow, cyan, green, magenta, red, blue, black; limited-range
/// BT.601, measured in the guest). Every row but the OSD text's shows them.
struct Yuv {
	int y, u, v;
};
constexpr std::array<Yuv, 8> kColourBars{{{179, 128, 128},
					  {160, 44, 141},
					  {130, 156, 44},
					  {111, 72, 58},
					  {83, 183, 197},
					  {64, 99, 211},
					  {34, 211, 114},
					  {16, 128, 128}}};
constexpr int kBarTolerance = 2;

} // namespace

std::string colour_bars_mismatch(std::span<const std::byte> bytes, uint32_t width, uint32_t height)
{
	const uint64_t row = uint64_t(height / 2) * width * 2;
	if (bytes.size() < row + uint64_t(width) * 2)
		return fmt::format("short frame: {} bytes", bytes.size());
	for (size_t i = 0; i < kColourBars.size(); ++i) {
		// The middle of bar i, an even pixel: Y0 U Y1 V.
		const uint64_t x = (2 * i + 1) * width / 16 / 2 * 2;
		const auto *p = reinterpret_cast<const uint8_t *>(bytes.data() + row + x * 2);
		const Yuv &want = kColourBars[i];
		if (std::abs(p[0] - want.y) > kBarTolerance ||
		    std::abs(p[1] - want.u) > kBarTolerance ||
		    std::abs(p[3] - want.v) > kBarTolerance)
			return fmt::format("bar {} at x={}: YUV {} {} {}, expected {} {} {}", i, x,
					   p[0], p[1], p[3], want.y, want.u, want.v);
	}
	return {};
}

pid_t spawn_program(const std::vector<std::string> &argv, const std::string &log)
{
	std::vector<char *> args;
	for (const std::string &arg : argv)
		args.push_back(const_cast<char *>(arg.c_str()));
	args.push_back(nullptr);
	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
	pid_t pid;
	int ret = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
	posix_spawn_file_actions_destroy(&actions);
	return ret ? -ret : pid;
}

uint64_t fnv1a(std::span<const std::byte> bytes)
{
	constexpr uint64_t kOffsetBasis = 0xcbf29ce484222325ull;
	constexpr uint64_t kPrime = 0x100000001b3ull;
	uint64_t hash = kOffsetBasis;
	for (std::byte b : bytes)
		hash = (hash ^ uint64_t(b)) * kPrime;
	return hash;
}

std::string errno_text()
{
	return fmt::format("{} (errno {})", std::strerror(errno), errno);
}

std::string vm_flags(const void *address)
{
	std::ifstream smaps("/proc/self/smaps");
	const auto target = reinterpret_cast<uintptr_t>(address);
	bool inside = false;
	std::string line;
	while (std::getline(smaps, line)) {
		unsigned long start, end;
		if (std::sscanf(line.c_str(), "%lx-%lx ", &start, &end) == 2)
			inside = start <= target && target < end;
		else if (inside && line.starts_with("VmFlags:"))
			return line;
	}
	return {};
}

bool pfnmap(const void *address)
{
	return (vm_flags(address) + " ").find(" pf ") != std::string::npos;
}

uint32_t raw_device_caps(const std::string &path)
{
	UniqueFd fd(open(path.c_str(), O_RDWR | O_CLOEXEC));
	EXPECT_TRUE(fd) << path << ": " << errno_text();
	v4l2_capability cap{};
	EXPECT_EQ(ioctl(fd.get(), VIDIOC_QUERYCAP, &cap), 0) << path << ": " << errno_text();
	return cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
}

void expect_device_clean(const std::string &path)
{
	SCOPED_TRACE(path + " left clean");
	UniqueFd fd(open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
	ASSERT_TRUE(fd) << errno_text();
	const bool mplane = raw_device_caps(path) & V4L2_CAP_VIDEO_CAPTURE_MPLANE;
	int type = mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE;
	v4l2_requestbuffers req{};
	req.count = kCleanCheckBuffers;
	req.type = type;
	req.memory = V4L2_MEMORY_MMAP;
	ASSERT_EQ(ioctl(fd.get(), VIDIOC_REQBUFS, &req), 0) << "REQBUFS: " << errno_text();
	EXPECT_GT(req.count, 0u);
	EXPECT_EQ(ioctl(fd.get(), VIDIOC_STREAMON, &type), 0) << "STREAMON: " << errno_text();
	EXPECT_EQ(ioctl(fd.get(), VIDIOC_STREAMOFF, &type), 0) << "STREAMOFF: " << errno_text();
	req.count = 0;
	EXPECT_EQ(ioctl(fd.get(), VIDIOC_REQBUFS, &req), 0) << "REQBUFS 0: " << errno_text();
}

VividControl::VividControl(const std::string &path, std::string_view name)
    : fd_(open(path.c_str(), O_RDWR | O_CLOEXEC))
{
	EXPECT_TRUE(fd_) << path << ": " << errno_text();
	std::string names;
	v4l2_queryctrl q{};
	q.id = V4L2_CTRL_FLAG_NEXT_CTRL;
	while (ioctl(fd_.get(), VIDIOC_QUERYCTRL, &q) == 0) {
		if (std::string_view(reinterpret_cast<const char *>(q.name)) == name)
			id_ = q.id;
		names += fmt::format(" '{}'", reinterpret_cast<const char *>(q.name));
		q.id |= V4L2_CTRL_FLAG_NEXT_CTRL;
	}
	EXPECT_NE(id_, 0u) << path << " has no control '" << name << "'; it has" << names;
}

int VividControl::set(int32_t value)
{
	v4l2_control control{id_, value};
	return ioctl(fd_.get(), VIDIOC_S_CTRL, &control) == 0 ? 0 : errno;
}

} // namespace zcap::test
