// SPDX-License-Identifier: LGPL-2.1-or-later
// libFuzzer target: `zcap inspect` as a whole, arguments and file. The input
// is the options, each ended by a NUL, then an empty one (a second NUL),
// then the file's bytes: "--json\0\0<Matroska bytes>" or
// "-f\0NV12\0--size\0 64x48\0\0<raw frames>". The file, a memfd, is always
// the last argument, so that no other file is ever opened. Each option is
// also given to the value parsers the zcap command shares (sizes, rates,
// durations, byte sizes, counts; tools/cli.h).
#include <getopt.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>

#include <zcap/format.h>

#include "fuzz_check.h"
#include "tools/cli.h"
#include "tools/inspect_command.h"

namespace {

int memfd = -1;
std::string memfd_path;

/// Each of the command's value parsers either accepts @p arg within its
/// bounds or throws a UsageError.
void parse_values(const std::string &arg)
{
	using namespace zcap::cli;
	try {
		auto [w, h] = parse_size(arg);
		FUZZ_CHECK(w >= 1 && w <= 16384 && h >= 1 && h <= 16384);
		if (auto code = zcap::parse_fourcc(arg))
			(void)zcap::packed_format(*code, w, h);
	} catch (const UsageError &) {
	}
	try {
		(void)parse_rate(arg);
	} catch (const UsageError &) {
	}
	// A duration is at least a nanosecond: 0 would mean no limit.
	try {
		FUZZ_CHECK(parse_duration(arg).count() > 0);
	} catch (const UsageError &) {
	}
	try {
		uint64_t bytes = parse_byte_size(arg);
		FUZZ_CHECK(bytes >= 1 && bytes <= (uint64_t(1) << 60));
		FUZZ_CHECK(!human_bytes(bytes).empty());
	} catch (const UsageError &) {
	}
	try {
		uint64_t count = parse_count(arg, "count", 1000);
		FUZZ_CHECK(count >= 1 && count <= 1000);
	} catch (const UsageError &) {
	}
	try {
		SegmentLimit limit = parse_segment_limit(arg);
		FUZZ_CHECK((limit.bytes > 0) != (limit.duration.count() > 0));
	} catch (const UsageError &) {
	}
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	memfd = memfd_create("inspect-fuzz", MFD_CLOEXEC);
	if (memfd < 0) {
		std::perror("memfd_create");
		std::exit(1);
	}
	memfd_path = "/proc/self/fd/" + std::to_string(memfd);
	// inspect prints what it found, and its errors: keep both off the
	// fuzzer's output. The sanitizers and libFuzzer still write to
	// descriptor 2; glibc lets stderr, a variable, point elsewhere.
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	FILE *quiet = fopen("/dev/null", "we");
	if (null < 0 || !quiet || dup2(null, STDOUT_FILENO) < 0) {
		std::perror("/dev/null");
		std::exit(1);
	}
	close(null);
	stderr = quiet;
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const std::string_view input(reinterpret_cast<const char *>(data), size);
	std::vector<std::string> args = {"inspect"};
	size_t pos = 0;
	while (pos < input.size()) {
		size_t nul = input.find('\0', pos);
		if (nul == std::string_view::npos || nul == pos) {
			pos = nul == pos ? pos + 1 : pos;
			break;
		}
		args.emplace_back(input.substr(pos, nul - pos));
		pos = nul + 1;
		if (args.size() > 16)
			break;
	}
	const std::string_view file = input.substr(pos);
	if (ftruncate(memfd, 0) != 0 ||
	    (!file.empty() && pwrite(memfd, file.data(), file.size(), 0) != ssize_t(file.size()))) {
		std::perror("writing the memfd");
		std::abort();
	}
	for (size_t i = 1; i < args.size(); ++i)
		parse_values(args[i]);
	args.push_back(memfd_path);

	std::vector<char *> argv;
	for (std::string &arg : args)
		argv.push_back(arg.data());
	argv.push_back(nullptr);
	// getopt keeps a pointer into the previous argv between calls unless
	// reset with optind = 0 (the zcap command calls inspect once).
	optind = 0;
	static char name[] = "reset";
	static char *reset_argv[] = {name, nullptr};
	(void)getopt(1, reset_argv, "");

	int status = zcap::cli::inspect_main(int(args.size()), argv.data());
	FUZZ_CHECK(status == zcap::cli::kExitOk || status == zcap::cli::kExitFailure ||
		   status == zcap::cli::kExitUsage);
	std::fflush(stdout);
	return 0;
}
