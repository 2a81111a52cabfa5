// SPDX-License-Identifier: LGPL-2.1-or-later
// Helpers the tests share: temporary directories, a small ext4 file system on
// a loop device, a checker for raw recordings of the pattern, and a catcher
// of the library's warnings.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <zcap/disk_sink.h>
#include <zcap/format.h>
#include <zcap/status.h>

namespace zcap::test {

/// A fresh directory, removed with its contents when the object dies. By
/// default on the root file system (ext4 here), where O_DIRECT works.
class TempDir {
public:
	explicit TempDir(const std::filesystem::path &parent = default_parent());
	~TempDir();
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;

	const std::filesystem::path &path() const { return path_; }
	std::filesystem::path operator/(const std::string &name) const { return path_ / name; }

	/// $ZCAP_TEST_DIR, else /var/tmp.
	static std::filesystem::path default_parent();

private:
	std::filesystem::path path_;
};

/// An ext4 file system of @p mib MiB in an image file, mounted through a loop
/// device (needs root). Unmounted and removed when the object dies.
class LoopFs {
public:
	explicit LoopFs(unsigned mib);
	~LoopFs();
	LoopFs(const LoopFs &) = delete;
	LoopFs &operator=(const LoopFs &) = delete;

	/// Empty when mounted; else what went wrong.
	const std::string &error() const { return error_; }
	const std::filesystem::path &mountpoint() const { return mountpoint_; }

private:
	TempDir dir_;
	std::filesystem::path mountpoint_;
	std::string error_;
	bool mounted_ = false;
};

/// What check_raw_file() found.
struct RawCheck {
	std::vector<uint64_t> sequences; ///< of the frames that matched, in file order
	uint64_t trailing_bytes = 0;	 ///< bytes after the last whole frame
	std::string error;		 ///< empty when every frame matched
};

/// Reads a raw recording of the built-in pattern and checks every byte: each
/// frame must equal pattern::render() of a sequence number greater than the
/// previous frame's, at most @p max_gap further on.
RawCheck check_raw_file(const std::filesystem::path &path, const FrameFormat &format,
			uint64_t max_gap = 64);

/// Collects the library's warnings (zcap::log) while it lives.
class LogCapture {
public:
	LogCapture();
	~LogCapture();
	LogCapture(const LogCapture &) = delete;
	LogCapture &operator=(const LogCapture &) = delete;

	std::vector<std::string> warnings();

private:
	std::mutex lock_;
	std::vector<std::string> warnings_;
};

/// Whether a sink's direct path is the one expected here: io_uring's, or
/// aio+O_DIRECT where io_uring is refused (the suites run again under
/// tests/no_io_uring, which refuses it as containers do).
bool expected_direct_path(IoPath path);
/// The same, from the path's name (zcapfilesink's io-path).
bool expected_direct_path(std::string_view name);

/// Whether tests that need root must run (CI sets ZCAP_REQUIRE_ROOT_TESTS=1).
bool root_tests_required();

/// Waits until nothing but this process holds @p path open: a writer
/// killed with SIGKILL is reaped before the writes it had in flight land
/// (io_uring finishes them on a kernel worker after the process is gone),
/// and those writes hold the file open until they have. A write lease
/// (fcntl F_SETLEASE) is granted only then. At most a minute, then a
/// failure.
void wait_for_last_writes(const std::filesystem::path &path);

/// Runs @p command through /bin/sh and returns what it printed on standard
/// output; @p exit_status, when given, gets its exit status.
std::string run_command(const std::string &command, int *exit_status = nullptr);

/// The open-file flags of the descriptor this process has on @p path, or -1.
long open_flags(const std::filesystem::path &path);

/// What a recording of the pattern through a disk sink did.
struct Recording {
	Status status;
	uint64_t frames = 0, bytes = 0, copied = 0, dropped = 0;
	IoPath io_path = IoPath::none;
	bool saw_o_direct = false; ///< the file was seen open with O_DIRECT
};

/// Records @p frames of the pattern at @p rate (0 frames: until the sink
/// fails) through make_disk_sink(@p options), every frame kept
/// (OverflowPolicy::block), watching the file's open flags as it goes.
Recording record_pattern(const DiskSinkOptions &options, const FrameFormat &format, FrameRate rate,
			 uint64_t frames);

/// The MD5 of every frame FFmpeg decodes from the input @p input_args
/// names ("-i 'x.mkv'"), in order, as its framemd5 muxer prints them.
std::vector<std::string> frame_md5s(const std::string &input_args);

/// The same for pattern frames @p sequences, rendered here and decoded from
/// a plain raw file in @p dir: a path that shares nothing with zcap's sinks.
std::vector<std::string> pattern_md5s(const FrameFormat &format,
				      const std::vector<uint64_t> &sequences,
				      const std::filesystem::path &dir);

/// Frames ffprobe counts in the first video stream of @p file (0 when it
/// cannot read it).
uint64_t probed_frames(const std::string &file);

/// The pattern sequence number of every SimpleBlock payload in the Matroska
/// file @p file, read straight from the file: each must be a whole pattern
/// frame of @p format, the first at least @p first and each later than the
/// one before by less than @p max_gap (a gap is a frame counted as dropped).
/// A payload that is no such frame is a test failure, and the list ends
/// before it. A @p track other than 0 looks at that track's blocks only.
std::vector<uint64_t> matroska_pattern_sequences(const std::filesystem::path &file,
						 const FrameFormat &format, uint64_t first = 0,
						 uint64_t max_gap = 64, uint64_t track = 0);

/// Where a SimpleBlock's payload lies in a Matroska file.
struct BlockPayload {
	uint64_t offset;
	uint64_t size;
	uint64_t track = 1;
	int64_t time_ms = 0; ///< its Cluster's timestamp plus its own offset
};

/// The SimpleBlock payloads of a Matroska file zcap wrote, in file order. A
/// flat walk that steps into the Segment and Clusters (known or unknown
/// size) and over everything else; it stops at the first byte that starts
/// no element (a crash leaves zeros). For tests only: it trusts the file.
std::vector<BlockPayload> matroska_block_payloads(const std::filesystem::path &path);

} // namespace zcap::test
