// SPDX-License-Identifier: LGPL-2.1-or-later
// libFuzzer target: the Matroska reader behind `zcap inspect`
// (sinks/matroska_reader.h) on any file, written to a memfd since it reads
// through a file descriptor. Beyond not crashing, leaking or hitting
// undefined behaviour, what it reports must add up.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <zcap/status.h>

#include "fuzz_check.h"
#include "sinks/matroska_reader.h"

namespace {

int memfd = -1;

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	memfd = memfd_create("matroska-fuzz", MFD_CLOEXEC);
	if (memfd < 0) {
		std::perror("memfd_create");
		std::exit(1);
	}
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (ftruncate(memfd, 0) != 0 ||
	    (size > 0 && pwrite(memfd, data, size, 0) != ssize_t(size))) {
		std::perror("writing the memfd");
		std::abort();
	}

	zcap::matroska::Summary s;
	zcap::Status status = zcap::matroska::summarize(memfd, size, s);
	if (!status) {
		FUZZ_CHECK(!status.message().empty());
		return 0;
	}
	FUZZ_CHECK(s.file_size == size);
	FUZZ_CHECK(s.doc_type == "matroska" || s.doc_type == "webm");
	FUZZ_CHECK(s.elements_end <= s.file_size);
	FUZZ_CHECK(s.timestamp_scale_ns > 0);
	uint64_t frames = 0, blocks = 0, laced = 0;
	for (const zcap::matroska::TrackSummary &t : s.tracks) {
		FUZZ_CHECK(t.laced_blocks <= t.blocks && t.blocks <= t.frames);
		FUZZ_CHECK(t.first_ms.has_value() == (t.blocks > 0));
		frames += t.frames;
		blocks += t.blocks;
		laced += t.laced_blocks;
	}
	FUZZ_CHECK(frames == s.frames && laced == s.laced_blocks);
	FUZZ_CHECK(blocks == s.simple_blocks + s.group_blocks);
	FUZZ_CHECK(s.duration_ms.has_value() == (blocks > 0));
	FUZZ_CHECK(!s.largest_gap || s.gaps > 0);
	if (s.trailing_bytes() == 0)
		FUZZ_CHECK(s.trailing_zeros);
	return 0;
}
