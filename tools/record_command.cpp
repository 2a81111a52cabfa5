// SPDX-License-Identifier: LGPL-2.1-or-later
#include "record_command.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include <zcap/disk_sink.h>
#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>
#include <zcap/reconnecting_source.h>
#include <zcap/segmented_sink.h>
#include <zcap/stream_server.h>
#include <zcap/v4l2_query.h>
#include <zcap/v4l2_source.h>

#include "cli.h"
#include "multi_record.h"
#include "record_options.h"
#include "record_report.h"
#include "recording_parts.h"
#include "signal_stop.h"

namespace zcap::cli {

namespace {

using Clock = std::chrono::steady_clock;

/// Frames waiting for the HTTP server's thread, which only hands them on.
constexpr unsigned kServerQueueFrames = 2;
/// Descriptors the process needs besides one per HTTP client.
constexpr unsigned kOtherFds = 256;

/// A sink, and how the pipeline is to queue frames for it.
struct QueuedSink {
	std::unique_ptr<Sink> sink;
	SinkOptions queue;
};

std::unique_ptr<Source> open_pattern(const RecordOptions &o, unsigned buffers)
{
	auto [w, h] = o.size.value_or(std::pair(kDefaultWidth, kDefaultHeight));
	const FrameFormat format = *packed_format(o.fourcc.value_or(pixfmt::YUYV), w, h);
	Status status;
	auto source = PatternSource::create(format, o.rate.value_or(kDefaultRate), buffers, status);
	if (!source)
		throw std::runtime_error(status.message());
	return source;
}

std::unique_ptr<Source> open_camera(const RecordOptions &o, const std::string &device,
				    unsigned buffers)
{
	V4l2SourceOptions v;
	v.device = device;
	v.fourcc = o.fourcc.value_or(0);
	if (o.size)
		std::tie(v.width, v.height) = *o.size;
	v.rate = o.rate.value_or(FrameRate{});
	v.io = o.io;
	v.buffers = buffers;
	Status status;
	auto source = V4l2Source::open(v, status);
	if (!source)
		throw std::runtime_error(status.message());
	if (!o.reconnect)
		return source;
	// Back with the format, rate and buffers of the first capture.
	const FrameFormat format = source->format();
	v.fourcc = format.fourcc;
	v.width = format.width;
	v.height = format.height;
	v.rate = source->frame_rate();
	auto reopen = [v](Status &why) { return V4l2Source::open(v, why); };
	return std::make_unique<ReconnectingSource>(std::move(source), device, reopen);
}

/// Lets the process open @p count descriptors, as far as its hard limit
/// allows: the default soft limit (often 1024) is below what a server with
/// many clients needs.
void allow_fds(rlim_t count)
{
	rlimit limit{};
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < count) {
		limit.rlim_cur = std::min(count, limit.rlim_max);
		setrlimit(RLIMIT_NOFILE, &limit);
	}
}

} // namespace

std::unique_ptr<Source> open_recording_source(const RecordOptions &o,
					      std::span<const PlannedSink> sinks, std::string &why)
{
	const unsigned buffers = source_buffers(sinks);
	if (o.source == "pattern") {
		why = "asked for";
		return open_pattern(o, buffers);
	}
	if (o.source != "auto") {
		why = "asked for";
		return open_camera(o, o.source, buffers);
	}
	for (const V4l2DeviceInfo &device : list_v4l2_devices()) {
		if (device.capture()) {
			why = "the first camera found";
			return open_camera(o, device.path, buffers);
		}
	}
	why = "no camera found";
	return open_pattern(o, buffers);
}

SinkOptions recording_queue(const RecordOptions &o)
{
	SinkOptions queue;
	queue.queue_frames = queue_frames(o);
	queue.policy = o.policy.value_or(o.rate && o.rate->unlimited() ? OverflowPolicy::block
								       : OverflowPolicy::drop);
	return queue;
}

DiskSinkOptions recording_disk(const RecordOptions &o, const std::filesystem::path &path)
{
	DiskSinkOptions disk;
	disk.path = path;
	disk.container = o.container.value_or(container_for(o.output));
	disk.queue_depth = o.queue_depth;
	disk.overwrite = o.force;
	disk.disk_path = o.disk_path;
	return disk;
}

std::unique_ptr<Sink> make_recording(const RecordOptions &o, const std::filesystem::path &path,
				     const SegmentedSink *&segments, DeletedSegments &deleted)
{
	DiskSinkOptions disk = recording_disk(o, path);
	if (!segmented(o))
		return make_disk_sink(disk);
	SegmentedSinkOptions options;
	options.disk = disk;
	options.pattern = path;
	options.max_duration = o.segment.duration;
	options.max_bytes = o.segment.bytes;
	options.max_files = o.max_files;
	if (!o.quiet)
		options.on_delete = [&deleted](const std::filesystem::path &path) {
			deleted.add(path);
		};
	std::unique_ptr<SegmentedSink> segmented_sink = make_segmented_sink(options);
	segments = segmented_sink.get();
	return segmented_sink;
}

namespace {

/// The HTTP server and --connect pushes.
QueuedSink make_server(const RecordOptions &o, const StreamServer *&server)
{
	StreamServerOptions options;
	options.listen = o.serve.value_or("");
	options.connect = o.connect;
	options.net_path = o.net_path;
	options.max_clients = o.max_clients.value_or(options.max_clients);
	options.stall_timeout = o.stall_timeout.value_or(options.stall_timeout);
	options.request_timeout = o.request_timeout.value_or(options.request_timeout);
	options.pace_unlimited_source = o.stream_only;
	allow_fds(options.max_clients + kOtherFds);
	options.recordings =
		o.stream_only ? o.recordings : std::filesystem::absolute(o.output).parent_path();
	Status status;
	std::unique_ptr<StreamServer> created = StreamServer::create(options, status);
	if (!created && status.code() == std::errc::invalid_argument)
		throw UsageError(status.message()); // a malformed address
	if (!created)
		throw std::runtime_error(status.message());
	server = created.get();
	// The server's write() never waits on clients (but with
	// pace_unlimited_source), so blocking costs the source nothing
	// and every frame the server misses is counted by its clients.
	return {std::move(created),
		{.queue_frames = kServerQueueFrames, .policy = OverflowPolicy::block}};
}

int record(const RecordOptions &o)
{
	if (o.sources.size() > 1)
		return record_several(o);
	// Segments: the first file's name, by the pattern (checked here).
	std::filesystem::path first = o.output;
	if (segmented(o))
		if (Status status = segment_path(o.output, 1, std::time(nullptr), first); !status)
			throw UsageError(status.message());
	std::error_code ec;
	if (!o.stream_only && !o.force && std::filesystem::exists(first, ec))
		throw UsageError(
			fmt::format("{} exists; use --force to overwrite it", first.string()));
	SignalStop signals;

	DeletedSegments deleted;
	RecordSinks sinks;
	std::vector<QueuedSink> queued;
	if (!o.stream_only) {
		queued.push_back(
			{make_recording(o, o.output, sinks.segments, deleted), recording_queue(o)});
		sinks.recording = queued.back().sink.get();
	}
	if (serving(o))
		queued.push_back(make_server(o, sinks.server));

	std::string source_note;
	std::vector<PlannedSink> plan;
	for (const QueuedSink &s : queued)
		plan.push_back({*s.sink, s.queue});
	std::unique_ptr<Source> source = open_recording_source(o, plan, source_note);
	Pipeline pipeline(*source);
	for (QueuedSink &s : queued)
		pipeline.add_sink(std::move(s.sink), s.queue);

	if (!o.quiet && !o.stream_only)
		fmt::print("recording {} to {}\n", source->description(), o.output.string());
	if (!o.quiet && sinks.server && o.serve)
		fmt::print("serving {} at http://{}:{}/live.mkv (also /live.raw, /recordings/)\n",
			   source->description(), Endpoint::parse(*o.serve).url_host(),
			   sinks.server->port());
	std::fflush(stdout);
	Progress progress(sinks.counted(), !o.quiet && isatty(STDERR_FILENO));
	double cpu_before = cpu_seconds();
	auto begin = Clock::now();
	Status status = pipeline.run(o.limits, signals.requested(), [&] {
		deleted.print(progress);
		progress.update();
	});
	double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
	progress.clear();
	deleted.print(progress);

	const RunReport report{
		*source, pipeline, sinks, source_note, seconds, cpu_seconds() - cpu_before, status};
	if (!o.stats_json.empty())
		write_stats_json(o.stats_json, report);
	if (!status) {
		uint64_t kept = sinks.recording ? sinks.recording->stats().frames.load() : 0;
		if (kept)
			fmt::print(stderr, "zcap: {} ({} complete frames kept)\n", status.message(),
				   kept);
		else
			fmt::print(stderr, "zcap: {}\n", status.message());
		return kExitFailure;
	}
	if (!o.quiet)
		print_summary(o, report);
	return kExitOk;
}

/// zcap record and zcap stream: the same options, with or without a file.
int run_command(int argc, char **argv, bool stream_only)
{
	const char *name = stream_only ? "zcap stream" : "zcap record";
	RecordOptions options;
	try {
		options.stream_only = stream_only;
		options = parse_options(argc, argv, options);
	} catch (const UsageError &e) {
		fmt::print(stderr, "{}: {}\n", name, e.what());
		return kExitUsage;
	}
	if (options.help) {
		fmt::print("{}", usage_text(stream_only));
		return kExitOk;
	}
	try {
		return record(options);
	} catch (const UsageError &e) {
		fmt::print(stderr, "{}: {}\n", name, e.what());
		return kExitUsage;
	} catch (const std::exception &e) {
		fmt::print(stderr, "{}: {}\n", name, e.what());
		return kExitFailure;
	}
}

} // namespace

int record_main(int argc, char **argv)
{
	return run_command(argc, argv, false);
}

int stream_main(int argc, char **argv)
{
	return run_command(argc, argv, true);
}

} // namespace zcap::cli
