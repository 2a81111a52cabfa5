// SPDX-License-Identifier: LGPL-2.1-or-later
#include "test_files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/log.h>
#include <zcap/pattern.h>
#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>

namespace zcap::test {

namespace fs = std::filesystem;

TempDir::TempDir(const fs::path &parent)
{
	std::string pattern = (parent / "zcap-test-XXXXXX").string();
	if (!mkdtemp(pattern.data()))
		throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
	path_ = pattern;
}

TempDir::~TempDir()
{
	std::error_code ec;
	fs::remove_all(path_, ec);
}

fs::path TempDir::default_parent()
{
	const char *dir = std::getenv("ZCAP_TEST_DIR");
	return dir && *dir ? fs::path(dir) : fs::path("/var/tmp");
}

LoopFs::LoopFs(unsigned mib) : mountpoint_(dir_ / "mnt")
{
	fs::path image = dir_ / "fs.img";
	fs::create_directory(mountpoint_);
	std::string cmd = "truncate -s " + std::to_string(mib) + "M " + image.string() +
			  " && mkfs.ext4 -q -F " + image.string() + " && mount -o loop " +
			  image.string() + " " + mountpoint_.string();
	if (std::system(cmd.c_str()) != 0) {
		error_ = "could not make and mount an ext4 image (" + cmd + ")";
		return;
	}
	mounted_ = true;
}

LoopFs::~LoopFs()
{
	if (mounted_)
		umount2(mountpoint_.c_str(), MNT_DETACH);
}

RawCheck check_raw_file(const fs::path &path, const FrameFormat &format, uint64_t max_gap)
{
	RawCheck check;
	std::ifstream in(path, std::ios::binary);
	if (!in) {
		check.error = "cannot open " + path.string();
		return check;
	}
	std::vector<std::byte> frame(format.size_image), expected(format.size_image);
	uint64_t next = 0;
	for (;;) {
		in.read(reinterpret_cast<char *>(frame.data()), std::streamsize(frame.size()));
		auto got = uint64_t(in.gcount());
		if (got < frame.size()) {
			check.trailing_bytes = got;
			break;
		}
		bool matched = false;
		for (uint64_t seq = next; seq <= next + max_gap && !matched; ++seq) {
			pattern::render(format, seq, expected);
			if (std::memcmp(frame.data(), expected.data(), frame.size()) == 0) {
				check.sequences.push_back(seq);
				next = seq + 1;
				matched = true;
			}
		}
		if (!matched) {
			check.error = "frame " + std::to_string(check.sequences.size()) +
				      " matches no pattern frame from sequence " +
				      std::to_string(next);
			break;
		}
	}
	return check;
}

bool root_tests_required()
{
	const char *v = std::getenv("ZCAP_REQUIRE_ROOT_TESTS");
	return v && std::string(v) == "1";
}

void wait_for_last_writes(const std::filesystem::path &path)
{
	// Tries every 10 ms: the writes land within milliseconds on an idle
	// disk, seconds on a busy one.
	constexpr auto kRetry = std::chrono::milliseconds(10);
	constexpr int kMostTries = 6000;
	const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
	int tries = 0;
	while (fcntl(fd, F_SETLEASE, F_WRLCK) < 0 && errno == EAGAIN && ++tries < kMostTries)
		std::this_thread::sleep_for(kRetry);
	const bool leased = fcntl(fd, F_GETLEASE) == F_WRLCK;
	const int error = errno;
	fcntl(fd, F_SETLEASE, F_UNLCK);
	::close(fd);
	ASSERT_TRUE(leased) << path << " is still open elsewhere after a minute ("
			    << std::strerror(error) << ")";
}

std::string run_command(const std::string &command, int *exit_status)
{
	std::string out;
	FILE *pipe = popen(command.c_str(), "r");
	if (!pipe) {
		if (exit_status)
			*exit_status = -1;
		return out;
	}
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), pipe)) > 0)
		out.append(chunk, n);
	int status = pclose(pipe);
	if (exit_status)
		*exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return out;
}

std::vector<uint64_t> matroska_pattern_sequences(const std::filesystem::path &file,
						 const FrameFormat &format, uint64_t first,
						 uint64_t max_gap, uint64_t track)
{
	std::vector<BlockPayload> blocks = matroska_block_payloads(file);
	if (track)
		std::erase_if(blocks, [&](const BlockPayload &b) { return b.track != track; });
	std::ifstream in(file, std::ios::binary);
	std::vector<std::byte> payload(format.size_image), expected(format.size_image);
	std::vector<uint64_t> sequences;
	for (size_t i = 0; i < blocks.size(); ++i) {
		EXPECT_EQ(blocks[i].size, format.size_image) << file << " frame " << i;
		in.seekg(std::streamoff(blocks[i].offset));
		in.read(reinterpret_cast<char *>(payload.data()), std::streamsize(payload.size()));
		const uint64_t next = sequences.empty() ? first : sequences.back() + 1;
		for (uint64_t seq = next; seq < next + max_gap; ++seq) {
			pattern::render(format, seq, expected);
			if (payload == expected) {
				sequences.push_back(seq);
				break;
			}
		}
		if (sequences.size() != i + 1) {
			ADD_FAILURE()
				<< file << ": frame " << i << " is no pattern frame from " << next;
			break;
		}
	}
	return sequences;
}

Recording record_pattern(const DiskSinkOptions &options, const FrameFormat &format, FrameRate rate,
			 uint64_t frames)
{
	constexpr unsigned kBuffers = 12;
	constexpr unsigned kQueueFrames = 4;
	Status status;
	auto source = PatternSource::create(format, rate, kBuffers, status);
	Recording r;
	if (!source) {
		r.status = status;
		return r;
	}
	Pipeline pipeline(*source);
	pipeline.add_sink(make_disk_sink(options),
			  {.queue_frames = kQueueFrames, .policy = OverflowPolicy::block});
	std::atomic<bool> stop{false};
	r.status = pipeline.run(
		{.frames = frames}, stop,
		[&] {
			long flags = open_flags(options.path);
			r.saw_o_direct |= flags >= 0 && (flags & O_DIRECT);
		},
		std::chrono::milliseconds(5));
	const SinkStats &s = pipeline.sink(0).stats();
	r.frames = s.frames;
	r.bytes = s.bytes;
	r.copied = s.copied_bytes;
	r.dropped = s.dropped;
	r.io_path = s.io_path;
	return r;
}

std::vector<std::string> frame_md5s(const std::string &input_args)
{
	std::istringstream out(
		run_command("ffmpeg -v error " + input_args + " -f framemd5 - 2>/dev/null"));
	std::vector<std::string> sums;
	for (std::string line; std::getline(out, line);) {
		if (line.empty() || line[0] == '#')
			continue;
		sums.push_back(line.substr(line.rfind(',') + 2));
	}
	return sums;
}

std::vector<std::string> pattern_md5s(const FrameFormat &format,
				      const std::vector<uint64_t> &sequences,
				      const std::filesystem::path &dir)
{
	// FFmpeg has no pix_fmt for V-before-U planar formats: it decodes them
	// (from Matroska) to the U-first one, which the reference is then in.
	const PixelFormatInfo &info = *format_info(format.fourcc);
	const bool swap = info.chroma_swapped;
	std::filesystem::path raw = dir / "reference.raw";
	{
		std::ofstream out(raw, std::ios::binary);
		std::vector<std::byte> frame(format.size_image);
		for (uint64_t i : sequences) {
			pattern::render(format, i, frame);
			if (swap)
				std::swap_ranges(frame.begin() + format.planes[1].offset,
						 frame.begin() + format.planes[2].offset,
						 frame.begin() + format.planes[2].offset);
			out.write(reinterpret_cast<const char *>(frame.data()),
				  std::streamsize(frame.size()));
		}
	}
	return frame_md5s(fmt::format("-f rawvideo -pixel_format {} -video_size {}x{} -i '{}'",
				      swap ? info.ffmpeg_reads : info.ffmpeg, format.width,
				      format.height, raw.string()));
}

uint64_t probed_frames(const std::string &file)
{
	std::string out = run_command(
		fmt::format("ffprobe -v quiet -count_frames -select_streams v:0 -show_entries "
			    "stream=nb_read_frames -of csv=p=0 '{}'",
			    file));
	return out.empty() || !std::isdigit(static_cast<unsigned char>(out[0])) ? 0
										: std::stoull(out);
}

std::vector<BlockPayload> matroska_block_payloads(const std::filesystem::path &path)
{
	// Mapped, not read: a killed recording is followed by up to 256 MiB of
	// preallocated space, which the walk stops at without touching.
	std::vector<BlockPayload> blocks;
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	struct stat st {};
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		if (fd >= 0)
			close(fd);
		return blocks;
	}
	const uint64_t end = uint64_t(st.st_size);
	void *map = mmap(nullptr, end, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return blocks;
	const auto *bytes = static_cast<const uint8_t *>(map);

	// An EBML variable-length integer at @p pos: its length, and its value
	// with (size) or without (ID) the length marker; 0 length when invalid.
	auto vint = [&](uint64_t pos, bool keep_marker, uint64_t &value) -> unsigned {
		if (pos >= end || bytes[pos] == 0)
			return 0;
		unsigned length = unsigned(__builtin_clz(bytes[pos]) - 23);
		if (pos + length > end)
			return 0;
		value = keep_marker ? bytes[pos] : bytes[pos] & (0xffu >> length);
		for (unsigned i = 1; i < length; ++i)
			value = value << 8 | bytes[pos + i];
		return length;
	};
	constexpr uint64_t kSegment = 0x18538067, kCluster = 0x1F43B675, kSimpleBlock = 0xA3,
			   kTimestamp = 0xE7;
	constexpr unsigned kBlockHeader = 4; // track (< 127), 16-bit timestamp, flags

	uint64_t pos = 0;
	int64_t cluster_ms = 0;
	while (pos < end) {
		uint64_t id, size;
		unsigned id_length = vint(pos, true, id);
		unsigned size_length = id_length ? vint(pos + id_length, false, size) : 0;
		if (!size_length)
			break;
		uint64_t data = pos + id_length + size_length;
		if (id == kSegment || id == kCluster) {
			pos = data;
			continue;
		}
		if (id == kTimestamp && data + size <= end) {
			cluster_ms = 0;
			for (uint64_t i = 0; i < size; ++i)
				cluster_ms = cluster_ms << 8 | bytes[data + i];
		}
		if (id == kSimpleBlock && data + kBlockHeader <= end) {
			int16_t offset = int16_t(uint16_t(bytes[data + 1] << 8 | bytes[data + 2]));
			blocks.push_back({data + kBlockHeader, size - kBlockHeader,
					  uint64_t(bytes[data] & 0x7f), cluster_ms + offset});
		}
		pos = data + size;
	}
	munmap(map, end);
	return blocks;
}

long open_flags(const std::filesystem::path &path)
{
	std::error_code ec;
	for (const auto &entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
		if (std::filesystem::read_symlink(entry.path(), ec) != path)
			continue;
		std::ifstream info("/proc/self/fdinfo/" + entry.path().filename().string());
		std::string key;
		while (info >> key) {
			if (key == "flags:") {
				std::string octal;
				info >> octal;
				return std::stol(octal, nullptr, 8);
			}
		}
	}
	return -1;
}

LogCapture::LogCapture()
{
	set_log_handler([this](LogLevel level, std::string_view message) {
		std::lock_guard lock(lock_);
		// Said once per process by whichever sink first finds io_uring
		// refused (the suites run again under tests/no_io_uring);
		// expected_direct_path() checks it instead.
		if (level == LogLevel::warning && !message.starts_with("io_uring refused"))
			warnings_.emplace_back(message);
	});
}

LogCapture::~LogCapture()
{
	set_log_handler({});
}

std::vector<std::string> LogCapture::warnings()
{
	std::lock_guard lock(lock_);
	return warnings_;
}

bool expected_direct_path(IoPath path)
{
	if (io_uring_refusal().empty())
		return path == IoPath::uring_direct_fixed || path == IoPath::uring_direct;
	return path == IoPath::aio_direct;
}

bool expected_direct_path(std::string_view name)
{
	for (IoPath path : {IoPath::uring_direct_fixed, IoPath::uring_direct, IoPath::aio_direct})
		if (name == io_path_name(path))
			return expected_direct_path(path);
	return false;
}

} // namespace zcap::test
