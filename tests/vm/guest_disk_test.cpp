// SPDX-License-Identifier: LGPL-2.1-or-later
// `zcap record` against a failing and a slow disk, inside the QEMU guest of
// tests/vm/run-in-guest (--raw-disk, dm-flakey, cgroup v2): a disk that
// starts failing writes (EIO) stops the recording with one clear line and
// leaves every frame before it whole; a disk slower than the capture makes
// the sink drop frames, counted, never write a broken one, and memory stays
// flat. See README.md here.

#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/format.h>
#include <zcap/pattern.h>
#include <zcap/unique_fd.h>

#include "test_files.h"

using namespace zcap;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

extern char **environ;

namespace {

std::string errno_text()
{
	return std::strerror(errno);
}

std::string read_text(const fs::path &path)
{
	std::stringstream out;
	out << std::ifstream(path).rdbuf();
	return out.str();
}

bool write_text(const fs::path &path, const std::string &text)
{
	std::ofstream out(path);
	out << text;
	out.flush();
	return bool(out);
}

/// A file --file put into the guest (/zcap/NAME), or "" when missing.
std::string guest_file(const std::string &name)
{
	const char *dir = std::getenv("ZCAP_VM_FILES");
	if (!dir)
		return {};
	fs::path path = fs::path(dir) / name;
	return fs::exists(path) ? path.string() : std::string();
}

// --- device-mapper, by its ioctls (linux/dm-ioctl.h) ---------------------------

/// A device-mapper device with one target, driven through /dev/mapper/control
/// as dmsetup does it; removed when the object dies.
class DmDevice {
public:
	/// Creates @p name and activates the table "0 @p sectors @p type @p args".
	DmDevice(const std::string &name, uint64_t sectors, const std::string &type,
		 const std::string &args)
	    : name_(name), control_(open("/dev/mapper/control", O_RDWR | O_CLOEXEC))
	{
		if (!control_) {
			error_ = "/dev/mapper/control: " + errno_text();
			return;
		}
		dm_ioctl *io = header(0);
		if (!command(DM_DEV_CREATE, io))
			return;
		created_ = true;
		dev_t dev = io->dev;
		node_ = fmt::format("/dev/dm-{}", minor(dev));
		if (!load(sectors, type, args) || !resume())
			return;
		// devtmpfs makes the node once the disk is added.
		for (int i = 0; i < 200 && !fs::exists(node_); ++i)
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		if (!fs::exists(node_))
			error_ = node_ + " did not appear";
	}
	~DmDevice()
	{
		if (created_)
			command(DM_DEV_REMOVE, header(0));
	}
	DmDevice(const DmDevice &) = delete;
	DmDevice &operator=(const DmDevice &) = delete;

	const std::string &error() const { return error_; }
	const std::string &node() const { return node_; }

	/// Suspends the device (the file system on it frozen, I/O in flight
	/// completed), swaps in "0 @p sectors @p type @p args", resumes.
	bool replace(uint64_t sectors, const std::string &type, const std::string &args)
	{
		return load(sectors, type, args) && suspend() && resume();
	}

private:
	static constexpr size_t kBufferSize = 16384;

	dm_ioctl *header(uint32_t flags)
	{
		buffer_.assign(kBufferSize, std::byte{0});
		auto *io = reinterpret_cast<dm_ioctl *>(buffer_.data());
		io->version[0] = DM_VERSION_MAJOR;
		io->version[1] = 0;
		io->version[2] = 0;
		io->data_size = kBufferSize;
		io->data_start = sizeof(dm_ioctl);
		io->flags = flags;
		std::strncpy(io->name, name_.c_str(), sizeof(io->name) - 1);
		return io;
	}

	bool command(unsigned long request, dm_ioctl *io)
	{
		if (ioctl(control_.get(), request, io) == 0)
			return true;
		if (error_.empty())
			error_ = fmt::format("device-mapper ioctl {:#x} on {}: {}", request, name_,
					     errno_text());
		return false;
	}

	bool load(uint64_t sectors, const std::string &type, const std::string &args)
	{
		dm_ioctl *io = header(0);
		io->target_count = 1;
		auto *spec = reinterpret_cast<dm_target_spec *>(buffer_.data() + io->data_start);
		spec->sector_start = 0;
		spec->length = sectors;
		std::strncpy(spec->target_type, type.c_str(), sizeof(spec->target_type) - 1);
		char *params = reinterpret_cast<char *>(spec + 1);
		std::strncpy(params, args.c_str(), 1024);
		spec->next = 0;
		return command(DM_TABLE_LOAD, io);
	}

	bool suspend() { return command(DM_DEV_SUSPEND, header(DM_SUSPEND_FLAG)); }
	bool resume() { return command(DM_DEV_SUSPEND, header(0)); }

	std::string name_;
	UniqueFd control_;
	std::vector<std::byte> buffer_;
	bool created_ = false;
	std::string node_;
	std::string error_;
};

/// 512-byte sectors of the block device @p name ("vdb").
uint64_t sectors_of(const std::string &name)
{
	std::string text = read_text("/sys/block/" + name + "/size");
	return text.empty() ? 0 : std::stoull(text);
}

/// A fresh ext4 (the host's mke2fs, --file) on @p device, mounted on
/// @p mountpoint until the object dies.
class FreshExt4 {
public:
	FreshExt4(const std::string &device, const fs::path &mountpoint) : mountpoint_(mountpoint)
	{
		std::string mke2fs = guest_file("mke2fs");
		if (mke2fs.empty()) {
			error_ = "no mke2fs: pass --file /sbin/mke2fs to run-in-guest";
			return;
		}
		int status = -1;
		std::string out = test::run_command(
			fmt::format("{} -q -F -t ext4 -b 4096 {} 2>&1", mke2fs, device), &status);
		if (status != 0) {
			error_ = "mke2fs failed: " + out;
			return;
		}
		fs::create_directories(mountpoint);
		if (mount(device.c_str(), mountpoint.c_str(), "ext4", 0, nullptr) < 0) {
			error_ = fmt::format("mount {} on {}: {}", device, mountpoint.string(),
					     errno_text());
			return;
		}
		mounted_ = true;
	}
	~FreshExt4()
	{
		if (mounted_)
			umount2(mountpoint_.c_str(), MNT_DETACH);
	}
	FreshExt4(const FreshExt4 &) = delete;
	FreshExt4 &operator=(const FreshExt4 &) = delete;

	const std::string &error() const { return error_; }

private:
	fs::path mountpoint_;
	std::string error_;
	bool mounted_ = false;
};

// --- zcap record as a child process ---------------------------------------------

/// `zcap record ARGS...` running in the background, its output in a log file,
/// optionally in a cgroup (from its start).
class ZcapRecord {
public:
	ZcapRecord(const std::vector<std::string> &args, const fs::path &log,
		   const fs::path &cgroup = {})
	    : log_(log)
	{
		std::string zcap = guest_file("zcap");
		if (zcap.empty()) {
			error_ = "no zcap: pass --file <build>/zcap to run-in-guest";
			return;
		}
		std::vector<std::string> argv = {zcap, "record"};
		argv.insert(argv.end(), args.begin(), args.end());
		std::vector<char *> c_argv;
		for (std::string &arg : argv)
			c_argv.push_back(arg.data());
		c_argv.push_back(nullptr);
		std::string procs = cgroup.empty() ? "" : (cgroup / "cgroup.procs").string();

		pid_ = fork();
		if (pid_ == 0) {
			// Only async-signal-safe calls until exec.
			if (!procs.empty()) {
				int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
				if (fd < 0 || write(fd, "0", 1) != 1)
					_exit(126);
				close(fd);
			}
			int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (out < 0)
				_exit(126);
			dup2(out, STDOUT_FILENO);
			dup2(out, STDERR_FILENO);
			execve(c_argv[0], c_argv.data(), environ);
			_exit(127);
		}
		if (pid_ < 0)
			error_ = "fork: " + errno_text();
	}
	~ZcapRecord()
	{
		if (pid_ > 0) {
			kill(pid_, SIGKILL);
			waitpid(pid_, nullptr, 0);
		}
	}
	ZcapRecord(const ZcapRecord &) = delete;
	ZcapRecord &operator=(const ZcapRecord &) = delete;

	const std::string &error() const { return error_; }
	pid_t pid() const { return pid_; }
	bool running() const { return pid_ > 0; }

	/// Waits at most @p timeout for the exit: its wait status, or nothing.
	/// Calls @p tick about every 50 ms meanwhile.
	std::optional<int> wait(std::chrono::milliseconds timeout,
				const std::function<void()> &tick = {})
	{
		const auto end = Clock::now() + timeout;
		while (pid_ > 0) {
			int wstatus;
			pid_t r = waitpid(pid_, &wstatus, WNOHANG);
			if (r == pid_) {
				pid_ = -1;
				return wstatus;
			}
			if (r < 0 && errno != EINTR)
				return std::nullopt;
			if (Clock::now() > end)
				return std::nullopt;
			if (tick)
				tick();
			std::this_thread::sleep_for(std::chrono::milliseconds(50));
		}
		return std::nullopt;
	}

	std::string output() const { return read_text(log_); }

private:
	fs::path log_;
	pid_t pid_ = -1;
	std::string error_;
};

/// A number from zcap's --stats-json: the first "@p key": N after @p after.
std::optional<double> json_number(const std::string &json, const std::string &after,
				  const std::string &key)
{
	size_t from = json.find(after);
	if (from == std::string::npos)
		return std::nullopt;
	std::regex pattern("\"" + key + "\": *(-?[0-9.]+)");
	std::smatch match;
	std::string rest = json.substr(from);
	if (!std::regex_search(rest, match, pattern))
		return std::nullopt;
	return std::stod(match[1].str());
}

struct CliStats {
	uint64_t source_frames = 0, source_dropped = 0;
	uint64_t frames = 0, dropped = 0, bytes = 0; ///< the sink's
	double elapsed_s = 0;
};

bool read_stats(const fs::path &path, CliStats &s)
{
	std::string json = read_text(path);
	auto get = [&](const char *after, const char *key, auto &out) {
		std::optional<double> v = json_number(json, after, key);
		if (v)
			out = static_cast<std::remove_reference_t<decltype(out)>>(*v);
		return bool(v);
	};
	return get("\"source\"", "frames", s.source_frames) &&
	       get("\"source\"", "dropped", s.source_dropped) &&
	       get("\"sinks\"", "frames", s.frames) && get("\"sinks\"", "dropped", s.dropped) &&
	       get("\"sinks\"", "bytes", s.bytes) && get("{", "elapsed_s", s.elapsed_s);
}

/// The pattern sequence number of every SimpleBlock payload of a Matroska
/// file: each must be a whole pattern frame, later than the one before.
std::vector<uint64_t> mkv_sequences(const fs::path &file, const FrameFormat &format,
				    uint64_t max_gap)
{
	std::vector<test::BlockPayload> blocks = test::matroska_block_payloads(file);
	std::ifstream in(file, std::ios::binary);
	std::vector<std::byte> payload(format.size_image), expected(format.size_image);
	std::vector<uint64_t> sequences;
	uint64_t next = 0;
	for (size_t i = 0; i < blocks.size(); ++i) {
		EXPECT_EQ(blocks[i].size, format.size_image) << "frame " << i;
		in.seekg(std::streamoff(blocks[i].offset));
		in.read(reinterpret_cast<char *>(payload.data()), std::streamsize(payload.size()));
		bool matched = false;
		for (uint64_t seq = next; seq <= next + max_gap && !matched; ++seq) {
			pattern::render(format, seq, expected);
			matched = payload == expected;
			if (matched) {
				sequences.push_back(seq);
				next = seq + 1;
			}
		}
		if (!matched) {
			ADD_FAILURE()
				<< file << ": frame " << i << " is no pattern frame from " << next;
			break;
		}
	}
	return sequences;
}

/// VmRSS of process @p pid in KiB, 0 when gone.
uint64_t rss_kib(pid_t pid)
{
	std::istringstream status(read_text(fmt::format("/proc/{}/status", pid)));
	for (std::string line; std::getline(status, line);)
		if (line.rfind("VmRSS:", 0) == 0)
			return std::stoull(line.substr(6));
	return 0;
}

// --- EIO ---------------------------------------------------------------------------

struct EioCase {
	const char *name;
	const char *file;
	unsigned half; ///< which half of /dev/vdb: each case has its own
};

class GuestDiskFaults : public testing::TestWithParam<EioCase> {};

} // namespace

// A disk that starts failing every write (dm-flakey error_writes swapped in
// under the mounted ext4) while zcap records 320x240 YUYV (37.5 blocks a
// frame) at 30 fps.
TEST_P(GuestDiskFaults, WriteErrorStopsWithTheFileNamedAndWholeFramesBefore)
{
	const EioCase c = GetParam();
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	const uint64_t half = sectors_of("vdb") / 2;
	ASSERT_GT(half, 0u) << "no /dev/vdb: pass --raw-disk to run-in-guest";
	const std::string name = fmt::format("zcap-eio-{}", c.name);
	const std::string linear = fmt::format("/dev/vdb {}", c.half * half);
	DmDevice dm(name, half, "linear", linear);
	ASSERT_EQ(dm.error(), "");
	const fs::path mnt = fs::path("/mnt") / name;
	FreshExt4 ext4(dm.node(), mnt);
	ASSERT_EQ(ext4.error(), "");

	const fs::path file = mnt / c.file, stats = fmt::format("/tmp/{}.json", name);
	ZcapRecord zcap({"--source", "pattern", "--size", "320x240", "-f", "YUYV", "--fps", "30",
			 "-t", "60s", "--policy", "block", "-o", file, "--stats-json", stats},
			fmt::format("/tmp/{}.log", name));
	ASSERT_EQ(zcap.error(), "");
	for (int i = 0; i < 300 && !fs::exists(file); ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	ASSERT_TRUE(fs::exists(file)) << "zcap made no file:\n" << zcap.output();
	std::this_thread::sleep_for(std::chrono::milliseconds(1500));
	ASSERT_FALSE(zcap.wait(std::chrono::milliseconds(0))) << zcap.output();

	// Every write fails from now on; reads still work.
	const auto switched = Clock::now();
	ASSERT_TRUE(dm.replace(half, "flakey", linear + " 0 1 1 error_writes")) << dm.error();
	std::optional<int> wstatus = zcap.wait(std::chrono::seconds(30));
	ASSERT_TRUE(wstatus) << "zcap did not stop within 30 s of the failure";
	const double stop_s = std::chrono::duration<double>(Clock::now() - switched).count();
	const std::string out = zcap.output();
	std::printf("zcap record (stopped %.2f s after the switch):\n%s", stop_s, out.c_str());
	ASSERT_TRUE(WIFEXITED(*wstatus)) << "zcap crashed: " << *wstatus;
	EXPECT_EQ(WEXITSTATUS(*wstatus), 1);
	// One line names the file and the reason.
	std::istringstream lines(out);
	bool named = false;
	for (std::string line; std::getline(lines, line);)
		named |= line.find(file.string()) != std::string::npos &&
			 line.find("Input/output error") != std::string::npos;
	EXPECT_TRUE(named) << "no line names " << file << " and Input/output error";

	CliStats s;
	ASSERT_TRUE(read_stats(stats, s)) << read_text(stats);
	EXPECT_EQ(s.dropped, 0u);
	ASSERT_GE(s.frames, 20u) << "too few frames before the failure to prove much";

	// The frames counted as written are in the file, whole, in order; the
	// file ends with the last of them.
	std::vector<uint64_t> sequences;
	if (container_for(file) == Container::raw) {
		test::RawCheck check = test::check_raw_file(file, format, s.source_dropped + 1);
		EXPECT_EQ(check.error, "");
		EXPECT_EQ(check.trailing_bytes, 0u);
		sequences = check.sequences;
		EXPECT_EQ(fs::file_size(file), sequences.size() * format.size_image);
	} else {
		sequences = mkv_sequences(file, format, s.source_dropped + 1);
		// zcap inspect reads it as an interrupted recording of those frames.
		int status = -1;
		std::string inspect = test::run_command(
			fmt::format("{} inspect '{}' 2>&1", guest_file("zcap"), file.string()),
			&status);
		std::printf("zcap inspect:\n%s", inspect.c_str());
		EXPECT_EQ(status, 0);
		EXPECT_NE(inspect.find(fmt::format("frames: {} ", s.frames)), std::string::npos);
	}
	EXPECT_EQ(sequences.size(), s.frames);
	std::printf("%zu whole frames before the failure, %llu skipped by the source\n",
		    sequences.size(), static_cast<unsigned long long>(s.source_dropped));
}

INSTANTIATE_TEST_SUITE_P(Containers, GuestDiskFaults,
			 testing::Values(EioCase{"raw", "rec.raw", 0},
					 EioCase{"mkv", "rec.mkv", 1}),
			 [](const testing::TestParamInfo<EioCase> &info) {
				 return std::string(info.param.name);
			 });

// --- a disk slower than the capture -------------------------------------------------

// zcap records 480 frames of 640x480 YUYV at 120 fps (74 MB/s, 4 s) with
// --policy drop to /mnt/disk, in a cgroup whose writes to the disk io.max
// holds to 20 MiB/s.
TEST(GuestSlowDisk, DropsAreCountedFramesStayWholeAndMemoryFlat)
{
	constexpr uint64_t kLimit = 20ull << 20;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 640, 480);
	const fs::path root = "/sys/fs/cgroup";
	ASSERT_TRUE(fs::exists(root / "cgroup.controllers")) << "cgroup2 is not mounted";
	ASSERT_TRUE(write_text(root / "cgroup.subtree_control", "+io"))
		<< "cannot enable the io controller: " << read_text(root / "cgroup.controllers");
	const fs::path cgroup = root / "zcap-slow";
	fs::create_directories(cgroup);
	struct stat disk;
	ASSERT_EQ(stat("/dev/vda", &disk), 0) << errno_text();
	const std::string limit =
		fmt::format("{}:{} wbps={}", major(disk.st_rdev), minor(disk.st_rdev), kLimit);
	ASSERT_TRUE(write_text(cgroup / "io.max", limit)) << limit;
	std::printf("io.max: %s", read_text(cgroup / "io.max").c_str());

	test::TempDir dir(".");
	const fs::path file = dir / "slow.raw", stats = "/tmp/slow.json";
	ZcapRecord zcap({"--source", "pattern", "--size", "640x480", "-f", "YUYV", "--fps", "120",
			 "-n", "480", "--policy", "drop", "-o", file, "--stats-json", stats},
			"/tmp/slow.log", cgroup);
	ASSERT_EQ(zcap.error(), "");
	// VmRSS through the run: the first second's peak, and the rest's.
	const auto started = Clock::now();
	uint64_t early = 0, late = 0, samples = 0;
	const pid_t pid = zcap.pid();
	std::optional<int> wstatus = zcap.wait(std::chrono::seconds(60), [&] {
		uint64_t kib = rss_kib(pid);
		if (!kib)
			return;
		++samples;
		if (Clock::now() - started < std::chrono::seconds(1))
			early = std::max(early, kib);
		else
			late = std::max(late, kib);
	});
	ASSERT_TRUE(wstatus) << "zcap did not finish within 60 s";
	const std::string out = zcap.output();
	std::printf("zcap record:\n%s", out.c_str());
	ASSERT_TRUE(WIFEXITED(*wstatus) && WEXITSTATUS(*wstatus) == 0) << *wstatus;

	CliStats s;
	ASSERT_TRUE(read_stats(stats, s)) << read_text(stats);
	const double rate = double(s.bytes) / s.elapsed_s;
	std::printf("source %llu frames (+%llu skipped), sink %llu written, %llu dropped, "
		    "%.1f MB/s; VmRSS peak %llu KiB in the first second, %llu after (%llu "
		    "samples)\n",
		    static_cast<unsigned long long>(s.source_frames),
		    static_cast<unsigned long long>(s.source_dropped),
		    static_cast<unsigned long long>(s.frames),
		    static_cast<unsigned long long>(s.dropped), rate / 1e6,
		    static_cast<unsigned long long>(early), static_cast<unsigned long long>(late),
		    static_cast<unsigned long long>(samples));
	// The disk could not keep up: the sink dropped frames and counted them;
	// every frame it got was written or dropped.
	const uint64_t numbers = s.source_frames + s.source_dropped;
	EXPECT_EQ(s.source_frames, 480u);
	EXPECT_GT(s.dropped, 0u);
	EXPECT_GT(s.dropped + s.source_dropped, numbers / 4);
	EXPECT_EQ(s.frames + s.dropped, s.source_frames);
	EXPECT_LT(rate, 1.25 * double(kLimit)) << "io.max did not hold the writes back";

	// Every frame on disk is a whole pattern frame, in order; the numbers
	// missing are exactly the drops counted (the sink's and the source's).
	test::RawCheck check = test::check_raw_file(file, format, numbers);
	EXPECT_EQ(check.error, "");
	EXPECT_EQ(check.trailing_bytes, 0u);
	ASSERT_EQ(check.sequences.size(), s.frames);
	ASSERT_FALSE(check.sequences.empty());
	EXPECT_LT(check.sequences.back(), numbers);
	EXPECT_EQ(numbers - check.sequences.size(), s.dropped + s.source_dropped);

	// Memory stays flat: bounded queues, nothing piling up behind the disk.
	ASSERT_GT(samples, 20u);
	EXPECT_LE(late, early + 4096) << "VmRSS grew while the disk fell behind";
	EXPECT_LT(late, 32u * 1024) << "VmRSS above 32 MiB";
}
