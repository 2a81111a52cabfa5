// SPDX-License-Identifier: LGPL-2.1-or-later
// verify_raw FILE FORMAT WIDTHxHEIGHT: checks every byte of a raw recording
// of the built-in pattern, for the shell tests. Prints "frames N first F
// last L"; exits 1 on any mismatch or a partial trailing frame.
//
// A FILE ending in .mkv is a live Matroska stream of the pattern that a
// client saved (tests/vm/nic_test.sh), which starts at any frame: every
// SimpleBlock must be a whole pattern frame with a sequence number greater
// than the one before, at most 64 further on (the first one below 100000).
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <zcap/format.h>
#include <zcap/pattern.h>

#include "test_files.h"

namespace {

/// How far a live stream's first frame is searched for, and then each next.
constexpr uint64_t kFirstSearch = 100000;
constexpr uint64_t kMaxGap = 64;

int check_live_matroska(const char *path, const zcap::FrameFormat &format)
{
	std::ifstream in(path, std::ios::binary);
	std::vector<std::byte> payload(format.size_image), expected(format.size_image);
	std::optional<uint64_t> first, last;
	uint64_t frames = 0;
	for (const zcap::test::BlockPayload &block : zcap::test::matroska_block_payloads(path)) {
		if (block.size != payload.size() || !in.seekg(std::streamoff(block.offset)) ||
		    !in.read(reinterpret_cast<char *>(payload.data()),
			     std::streamsize(payload.size()))) {
			std::fprintf(stderr, "verify_raw: frame %llu: %llu bytes, not %u\n",
				     static_cast<unsigned long long>(frames),
				     static_cast<unsigned long long>(block.size),
				     format.size_image);
			return 1;
		}
		const uint64_t from = last ? *last + 1 : 0;
		const uint64_t to = last ? from + kMaxGap : kFirstSearch;
		std::optional<uint64_t> found;
		for (uint64_t seq = from; seq < to && !found; ++seq) {
			zcap::pattern::render(format, seq, expected);
			if (payload == expected)
				found = seq;
		}
		if (!found) {
			std::fprintf(stderr,
				     "verify_raw: frame %llu is no pattern frame from %llu\n",
				     static_cast<unsigned long long>(frames),
				     static_cast<unsigned long long>(from));
			return 1;
		}
		if (!first)
			first = found;
		last = found;
		++frames;
	}
	std::printf("frames %llu first %lld last %lld\n", static_cast<unsigned long long>(frames),
		    first ? (long long)*first : -1LL, last ? (long long)*last : -1LL);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	unsigned w = 0, h = 0;
	auto code = argc == 4 ? zcap::parse_fourcc(argv[2]) : std::nullopt;
	if (!code || std::sscanf(argv[3], "%ux%u", &w, &h) != 2) {
		std::fprintf(stderr, "usage: verify_raw FILE FORMAT WIDTHxHEIGHT\n");
		return 2;
	}
	auto format = zcap::packed_format(*code, w, h);
	if (!format) {
		std::fprintf(stderr, "verify_raw: bad format\n");
		return 2;
	}
	if (std::string_view(argv[1]).ends_with(".mkv"))
		return check_live_matroska(argv[1], *format);
	zcap::test::RawCheck check = zcap::test::check_raw_file(argv[1], *format);
	if (!check.error.empty() || check.trailing_bytes) {
		std::fprintf(stderr, "verify_raw: %s (%llu trailing bytes)\n", check.error.c_str(),
			     static_cast<unsigned long long>(check.trailing_bytes));
		return 1;
	}
	std::printf("frames %zu first %lld last %lld\n", check.sequences.size(),
		    check.sequences.empty() ? -1LL : (long long)check.sequences.front(),
		    check.sequences.empty() ? -1LL : (long long)check.sequences.back());
	return 0;
}
