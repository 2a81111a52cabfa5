// SPDX-License-Identifier: LGPL-2.1-or-later
#include "multi_record_report.h"

#include <cstdio>

#include <fmt/format.h>

#include "cli.h"
#include "record_report.h"

namespace zcap::cli {

namespace {

constexpr double kNsPerMs = 1e6;

/// The numbers a camera's summary line and JSON record share.
struct CameraNumbers {
	const SourceResult *result = nullptr; ///< null: never opened
	uint64_t frames = 0, bytes = 0, device_dropped = 0, sink_dropped = 0, copied = 0;
	IoPath io_path = IoPath::none;
	AlignmentStats alignment;
	std::optional<size_t> track; ///< in a shared file
	/// With --reconnect: its comebacks.
	uint64_t reconnects = 0, offline_ns = 0, frames_missed = 0;
	std::string comebacks; ///< its summary line, if any
};

CameraNumbers numbers(const MultiRunReport &r, size_t index)
{
	CameraNumbers n;
	const Camera &camera = r.cameras[index];
	if (!camera.source)
		return n;
	n.result = &r.pipeline.results().at(camera.slot);
	const SinkStats &s = camera.recording->stats();
	n.frames = s.frames.load();
	n.bytes = s.bytes.load();
	n.sink_dropped = s.dropped.load();
	n.copied = s.copied_bytes.load();
	n.io_path = s.io_path.load();
	n.device_dropped = camera.source->stats().dropped.load();
	n.alignment = r.pipeline.alignment(camera.slot);
	if (!r.per_camera_files)
		n.track = camera.slot + 1;
	if (const ReconnectStats *back = reconnect_stats(*camera.source)) {
		n.reconnects = back->reconnects.load();
		n.offline_ns = back->offline_ns.load();
		n.frames_missed = back->frames_missed.load();
		n.comebacks = reconnect_summary(*back);
	}
	return n;
}

std::string camera_files(const Camera &camera)
{
	if (camera.segments)
		return segment_summary(*camera.segments);
	return camera.path.string();
}

std::string json_ms(std::optional<uint64_t> ns)
{
	return ns ? fmt::format("{:.3f}", double(*ns) / kNsPerMs) : "null";
}

} // namespace

void write_multi_stats_json(const std::filesystem::path &path, const MultiRunReport &r)
{
	const RunClock *clock = r.pipeline.clock();
	std::optional<uint64_t> zero = clock ? clock->zero() : std::nullopt;
	std::string json = fmt::format(
		"{{\n  \"ok\": {},\n  \"error\": {},\n  \"elapsed_s\": {:.6f},\n"
		"  \"process_cpu_s\": {:.6f},\n  \"time_zero_ns\": {},\n  \"cameras\": [",
		r.status.ok() && r.pipeline.source_count() == r.cameras.size(),
		r.status.ok() ? "null" : json_string(r.status.message()), r.seconds, r.cpu,
		zero ? std::to_string(*zero) : "null");
	for (size_t i = 0; i < r.cameras.size(); ++i) {
		const Camera &camera = r.cameras[i];
		CameraNumbers n = numbers(r, i);
		std::string error = !camera.source     ? json_string(camera.open_error)
				    : n.result->status ? "null"
						       : json_string(n.result->status.message());
		std::string source = "null";
		if (camera.source) {
			const FrameFormat f = camera.source->format();
			source =
				fmt::format("{{\"description\": {}, \"format\": {}, \"width\": {}, "
					    "\"height\": {}, \"frame_bytes\": {}}}",
					    json_string(camera.source->description()),
					    json_string(fourcc_name(f.fourcc)), f.width, f.height,
					    f.size_image);
		}
		std::vector<std::string> files;
		if (camera.segments)
			for (const auto &file : camera.segments->files())
				files.push_back(json_string(file.string()));
		else if (camera.source)
			files.push_back(json_string(camera.path.string()));
		json += fmt::format(
			"{}\n    {{\"camera\": {}, \"spec\": {}, \"source\": {}, \"error\": {}, "
			"\"track\": {}, \"files\": [{}], \"io_path\": {}, \"frames\": {}, "
			"\"bytes\": {}, \"dropped\": {}, \"device_dropped\": {}, \"sink_dropped\": "
			"{}, "
			"\"copied_bytes\": {}, \"frames_before_start\": {}, \"start_offset_ms\": "
			"{}, \"reconnects\": {}, \"offline_ms\": {:.3f}, \"frames_missed\": {}, "
			"\"from_first_camera_ms\": {{\"frames\": {}, \"median\": {}, \"max\": "
			"{}}}}}",
			i ? "," : "", i + 1, json_string(camera.spec), source, error,
			n.track ? std::to_string(*n.track) : "null", fmt::join(files, ", "),
			json_string(io_path_name(n.io_path)), n.frames, n.bytes,
			n.device_dropped + n.sink_dropped, n.device_dropped, n.sink_dropped,
			n.copied, n.result ? n.result->frames_before_zero : 0,
			json_ms(n.result ? n.result->start_offset_ns : std::nullopt), n.reconnects,
			double(n.offline_ns) / kNsPerMs, n.frames_missed, n.alignment.frames,
			json_ms(n.alignment.median_ns), json_ms(n.alignment.max_ns));
	}
	json += "\n  ]\n}\n";
	write_report_file(path, json);
}

void print_multi_summary(const RecordOptions &o, const MultiRunReport &r)
{
	uint64_t frames = 0, bytes = 0;
	for (size_t i = 0; i < r.cameras.size(); ++i) {
		CameraNumbers n = numbers(r, i);
		frames += n.frames;
		bytes += n.bytes;
	}
	fmt::print("recorded {} frames of {} cameras ({}) in {:.1f} s to {}\n", frames,
		   r.cameras.size(), human_bytes(bytes), r.seconds,
		   r.per_camera_files ? "a file each" : o.output.string());
	for (size_t i = 0; i < r.cameras.size(); ++i) {
		const Camera &camera = r.cameras[i];
		if (!camera.source) {
			fmt::print("  camera {}: {}: not recorded: {}\n", i + 1, camera.spec,
				   camera.open_error);
			continue;
		}
		CameraNumbers n = numbers(r, i);
		const FrameFormat f = camera.source->format();
		fmt::print("  camera {}: {}{}\n", i + 1, camera.source->description(),
			   n.track ? fmt::format(" (track {})", *n.track)
				   : " to " + camera_files(camera));
		std::string offset =
			n.result->start_offset_ns
				? fmt::format("starts at +{:.1f} ms",
					      double(*n.result->start_offset_ns) / kNsPerMs)
				: "no frame";
		fmt::print("    {} frames ({}x{} {}, {}), {} dropped, {} copied by the CPU; {}; "
			   "from camera 1's frames: median {:.2f} ms, max {:.2f} ms\n",
			   n.frames, f.width, f.height, fourcc_name(f.fourcc), human_bytes(n.bytes),
			   n.device_dropped + n.sink_dropped, human_bytes(n.copied), offset,
			   double(n.alignment.median_ns) / kNsPerMs,
			   double(n.alignment.max_ns) / kNsPerMs);
		if (n.result->frames_before_zero)
			fmt::print("    {} frames made before every camera ran were not recorded\n",
				   n.result->frames_before_zero);
		if (!n.comebacks.empty())
			fmt::print("    {}\n", n.comebacks);
		if (!n.result->status)
			fmt::print("    failed: {}\n", n.result->status.message());
	}
	const Camera *first = nullptr;
	for (const Camera &camera : r.cameras)
		if (camera.source && !first)
			first = &camera;
	fmt::print("  written via {}\n", io_path_name(first->recording->stats().io_path.load()));
	if (!r.per_camera_files && frames)
		fmt::print("  play it: ffplay {} (first track), mpv --lavfi-complex=\"[vid1][vid2]"
			   "hstack[vo]\" {} (side by side)\n",
			   o.output.string(), o.output.string());
}

MultiProgress::MultiProgress(const std::vector<Camera> &cameras, bool enabled)
    : cameras_(cameras), enabled_(enabled)
{
}

const Sink *MultiProgress::first_recording() const
{
	for (const Camera &camera : cameras_)
		if (camera.recording)
			return camera.recording;
	return nullptr;
}

void MultiProgress::update()
{
	if (!enabled_)
		return;
	std::string line;
	uint64_t dropped = 0, copied = 0;
	for (size_t i = 0; i < cameras_.size(); ++i) {
		const Camera &camera = cameras_[i];
		if (!camera.recording)
			continue;
		const SinkStats &s = camera.recording->stats();
		line += fmt::format("cam{} {} ", i + 1, s.frames.load());
		dropped += s.dropped.load() + camera.source->stats().dropped.load();
		copied += s.copied_bytes.load();
	}
	std::fprintf(stderr, "\r%sframes  dropped %llu  copied %s\x1b[K", line.c_str(),
		     static_cast<unsigned long long>(dropped), human_bytes(copied).c_str());
	shown_ = true;
}

void MultiProgress::clear()
{
	if (shown_)
		std::fprintf(stderr, "\r\x1b[K");
	shown_ = false;
}

} // namespace zcap::cli
