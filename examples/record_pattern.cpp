// SPDX-License-Identifier: LGPL-2.1-or-later
// The smallest zcap program: 100 frames of the built-in pattern to a raw
// file, written with O_DIRECT through io_uring from the frame buffers.
//
//   record_pattern out.raw
//   ffplay -f rawvideo -pixel_format yuyv422 -video_size 640x480 out.raw
#include <cstdio>

#include <zcap/disk_sink.h>
#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		std::fprintf(stderr, "usage: %s OUTPUT\n", argv[0]);
		return 2;
	}

	zcap::Status status;
	auto format = *zcap::packed_format(zcap::pixfmt::YUYV, 640, 480);
	auto source = zcap::PatternSource::create(format, {30, 1}, 8, status);
	if (!source) {
		std::fprintf(stderr, "%s\n", status.message().c_str());
		return 1;
	}

	zcap::Pipeline pipeline(*source);
	pipeline.add_sink(zcap::make_disk_sink({.path = argv[1]}), {});

	std::atomic<bool> stop{false};
	status = pipeline.run({.frames = 100}, stop);
	const zcap::SinkStats &stats = pipeline.sink(0).stats();
	std::printf("%llu frames, %llu bytes copied by the CPU, via %s\n",
		    static_cast<unsigned long long>(stats.frames.load()),
		    static_cast<unsigned long long>(stats.copied_bytes.load()),
		    std::string(zcap::io_path_name(stats.io_path.load())).c_str());
	if (!status) {
		std::fprintf(stderr, "%s\n", status.message().c_str());
		return 1;
	}
	return 0;
}
