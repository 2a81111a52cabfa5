// SPDX-License-Identifier: LGPL-2.1-or-later
#include "multi_record.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include <fmt/format.h>

#include <zcap/multi_track_sink.h>

#include "cli.h"
#include "multi_record_report.h"
#include "recording_parts.h"
#include "signal_stop.h"

namespace zcap::cli {

namespace {

using Clock = std::chrono::steady_clock;

bool per_camera_files(const RecordOptions &o)
{
	return o.output.string().find(kCameraToken) != std::string::npos;
}

/// Refuses to overwrite a file any camera would start with.
void check_outputs(const RecordOptions &o, const std::vector<Camera> &cameras)
{
	for (const Camera &camera : cameras) {
		std::filesystem::path first = camera.path;
		if (segmented(o))
			if (Status status = segment_path(camera.path, 1, std::time(nullptr), first);
			    !status)
				throw UsageError(status.message());
		std::error_code ec;
		if (!o.force && std::filesystem::exists(first, ec))
			throw UsageError(fmt::format("{} exists; use --force to overwrite it",
						     first.string()));
	}
}

/// The sink each camera's frames go to, for the count of its source's
/// buffers: its own file, made now; or, for a track of the shared file, an
/// unstarted one-track file of the same options (it opens nothing), as a
/// track holds what such a file holds: its writes in flight.
std::unique_ptr<Sink> plan_camera_sink(const RecordOptions &o, bool per_camera, Camera &camera,
				       DeletedSegments &deleted)
{
	if (per_camera) {
		camera.file = make_recording(camera.options, camera.path, camera.segments, deleted);
		return nullptr;
	}
	return make_disk_sink(recording_disk(camera.options, o.output));
}

/// Opens every camera it can; one that cannot be opened (busy, missing) is
/// said on its own line and the others go on.
void open_cameras(const RecordOptions &o, bool per_camera, std::vector<Camera> &cameras,
		  DeletedSegments &deleted)
{
	for (size_t i = 0; i < cameras.size(); ++i) {
		Camera &camera = cameras[i];
		std::unique_ptr<Sink> stand_in = plan_camera_sink(o, per_camera, camera, deleted);
		const PlannedSink plan[] = {
			{stand_in ? *stand_in : *camera.file, recording_queue(camera.options)}};
		try {
			camera.source = open_recording_source(camera.options, plan, camera.note);
		} catch (const UsageError &) {
			throw;
		} catch (const std::exception &e) {
			camera.open_error = e.what();
			fmt::print(stderr,
				   "zcap record: camera {} ({}): {}; recording the others\n", i + 1,
				   camera.spec, camera.open_error);
		}
	}
}

/// A file per camera, each added to its source's pipeline.
void add_camera_files(MultiSourcePipeline &pipeline, std::vector<Camera> &cameras)
{
	for (Camera &camera : cameras) {
		if (!camera.source)
			continue;
		camera.recording = camera.file.get();
		pipeline.add_sink(camera.slot, std::move(camera.file),
				  recording_queue(camera.options));
	}
}

/// One Matroska file with a track per camera that opened.
void add_tracks(MultiSourcePipeline &pipeline, const RecordOptions &o, std::vector<Camera> &cameras)
{
	std::vector<StreamInfo> tracks;
	for (const Camera &camera : cameras)
		if (camera.source)
			tracks.push_back({camera.source->format(), camera.source->frame_rate(),
					  camera.source->memory_regions()});
	std::vector<std::unique_ptr<Sink>> sinks =
		make_matroska_track_sinks(recording_disk(o, o.output), tracks);
	size_t track = 0;
	for (Camera &camera : cameras) {
		if (!camera.source)
			continue;
		camera.recording = sinks[track].get();
		pipeline.add_sink(camera.slot, std::move(sinks[track++]),
				  recording_queue(camera.options));
	}
}

} // namespace

int record_several(const RecordOptions &o)
{
	const bool per_camera = per_camera_files(o);
	std::vector<Camera> cameras(o.sources.size());
	for (size_t i = 0; i < cameras.size(); ++i) {
		cameras[i].spec = o.sources[i].source;
		cameras[i].options = camera_options(o, i);
		cameras[i].path = per_camera ? camera_path(o.output, i) : o.output;
	}
	check_outputs(o, cameras);
	SignalStop signals;

	DeletedSegments deleted;
	open_cameras(o, per_camera, cameras, deleted);
	MultiSourcePipeline pipeline;
	size_t opened = 0;
	for (Camera &camera : cameras)
		if (camera.source) {
			camera.slot = pipeline.add_source(*camera.source);
			++opened;
		}
	if (!opened) {
		fmt::print(stderr, "zcap record: no camera could be opened\n");
		return kExitFailure;
	}
	if (per_camera)
		add_camera_files(pipeline, cameras);
	else
		add_tracks(pipeline, o, cameras);

	if (!o.quiet) {
		fmt::print("recording {} cameras to {}\n", opened,
			   per_camera ? o.output.string()
				      : fmt::format("{} ({} tracks)", o.output.string(), opened));
		for (size_t i = 0; i < cameras.size(); ++i)
			if (cameras[i].source)
				fmt::print("  camera {}: {}\n", i + 1,
					   cameras[i].source->description());
	}
	std::fflush(stdout);
	MultiProgress progress(cameras, !o.quiet && isatty(STDERR_FILENO));
	// Deleted segments are told between progress lines, which go first.
	Progress silent(*progress.first_recording(), false);
	double cpu_before = cpu_seconds();
	auto begin = Clock::now();
	Status status = pipeline.run(o.limits, signals.requested(), [&] {
		if (deleted.pending()) {
			progress.clear();
			deleted.print(silent);
		}
		progress.update();
	});
	double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
	progress.clear();
	deleted.print(silent);

	const MultiRunReport report{
		cameras, pipeline, per_camera, seconds, cpu_seconds() - cpu_before, status};
	if (!o.stats_json.empty())
		write_multi_stats_json(o.stats_json, report);
	for (size_t i = 0; i < cameras.size(); ++i) {
		if (!cameras[i].source)
			continue;
		const SourceResult &result = pipeline.results().at(cameras[i].slot);
		if (!result.status)
			fmt::print(stderr,
				   "zcap record: camera {} ({}): {} ({} complete frames kept)\n",
				   i + 1, cameras[i].spec, result.status.message(),
				   cameras[i].recording->stats().frames.load());
	}
	if (!o.quiet)
		print_multi_summary(o, report);
	bool all_ok = status.ok() && opened == cameras.size();
	return all_ok ? kExitOk : kExitFailure;
}

} // namespace zcap::cli
