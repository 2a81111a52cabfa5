// SPDX-License-Identifier: LGPL-2.1-or-later
// verify_raw FILE FORMAT WIDTHxHEIGHT: checks every byte of a raw recording
// of the built-in pattern, for the shell tests. Prints "frames N first F
// last L"; exits 1 on any mismatch or a partial trailing frame.
#include <cstdio>
#include <string>

#include <zcap/format.h>

#include "test_files.h"

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
