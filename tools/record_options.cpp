// SPDX-License-Identifier: LGPL-2.1-or-later
#include "record_options.h"

#include <getopt.h>

#include <fmt/format.h>

#include "source_spec.h"

namespace zcap::cli {

namespace {

constexpr unsigned kMaxQueueDepth = 256;
/// Bounds --queue-frames (at most half of this).
constexpr unsigned kMaxBuffers = 1024;
/// More segment files than any directory listing stays usable with.
constexpr unsigned kMaxFileCount = 1000000;
/// More HTTP clients than one server thread sends frames to in time.
constexpr unsigned kMaxClientCount = 100000;

constexpr const char *kStreamUsage = R"(Usage: zcap stream --listen [ADDR:]PORT [OPTIONS]

Serves live video over HTTP from the same pinned capture buffers, no file:
  http://ADDR:PORT/live.mkv   live Matroska (ffplay, VLC, mpv, souphttpsrc)
  http://ADDR:PORT/live.raw   frames behind a 40-byte header (RawFrameHeader)
  http://ADDR:PORT/recordings/ the files in --recordings DIR, with Range

Options: --listen [ADDR:]PORT (ADDR defaults to 127.0.0.1), --recordings DIR,
--connect HOST:PORT (push the live Matroska stream to a waiting receiver, as
tcpclientsink does; repeatable), --net-path auto|copy|zc|sendfile, the limits
--max-clients N, --stall-timeout TIME and --request-timeout TIME (see zcap
record --help), and the source options of zcap record (--source, --device,
--size, --format, --fps, --io, --frames, --duration).
)";

constexpr const char *kUsage = R"(Usage: zcap record -o FILE [OPTIONS]

Records video to FILE, written with O_DIRECT through io_uring straight from
the capture buffers: a Matroska file when FILE ends in .mkv, else raw frames
back to back (like v4l2-ctl --stream-to).

Options:
  -o, --output FILE      where to record (required); an existing file is kept
                         unless --force is given
      --container mkv|raw
                         the file's layout, whatever its name says
      --segment TIME|SIZE
                         a new file every TIME (60s, 10m, 1h) of capture, or
                         before a file's frames pass SIZE (500MB, 1GiB); give
                         both to end a file at whichever comes first. FILE
                         is then a pattern: strftime conversions (local time
                         at the file's start, e.g. rec-%Y%m%d-%H%M%S.mkv) and
                         %N or %04N for the file's number; with neither,
                         "-%04N" goes before the extension (rec-0001.mkv)
      --max-files N      with --segment: keep only the newest N files of this
                         recording, deleting older ones as it goes
  -s, --source SOURCE    auto (default): a camera if there is one, else the
                         built-in pattern; 'pattern': the built-in pattern;
                         /dev/videoN: that V4L2 device
  -d, --device DEV       the V4L2 device to record (same as --source DEV)
                         Several cameras: repeat -d/--source, each as
                         SOURCE[,size=WxH][,format=F][,fps=N][,io=MODE]
                         (what it sets overrides --size/--format/--fps/--io
                         for that source; the pattern may be given more than
                         once). They record on one clock into one .mkv with a
                         track each, or into a file each when FILE holds %C
                         (the camera's number: cam%C.raw, cam%C-%N.mkv with
                         --segment); a camera that fails ends alone
      --reconnect        a camera that fails mid-run (unplugged, its driver
                         removed) is opened again when its node comes back
                         (tried every 0.5 s), with the same options and
                         format; its frames continue in the same file or
                         track, the time it was away a gap in the timestamps
                         (counted in the summary and --stats-json)
      --size WxH         frame size (a camera's current size, else 1280x720)
  -f, --format FOURCC    a fourcc or name (zcap formats lists them: YUYV, I420,
                         NV12, Y16, BGR24, ...) or any fourcc the camera
                         offers (a camera's current one, else YUYV)
      --fps N|N/M|max    frame rate (a camera's current one, else 30); 'max':
                         the pattern as fast as the disk takes frames
      --io MODE          how a camera shares buffers: auto (default: userptr,
                         else mmap, else dmabuf), userptr (memfd buffers),
                         mmap (driver buffers, exported as DMA-BUF), dmabuf
                         (DRM dumb buffers through libdrm)
  -n, --frames N         stop after N frames
  -t, --duration TIME    stop after TIME (10s, 500ms, 2m, 1h)
      --queue-depth N    disk writes in flight (default 8)
      --queue-frames N   frames that may wait for the disk (default 4; 8
                         with --segment)
      --policy drop|block
                         when the disk falls behind: drop frames (counted;
                         default at a set frame rate) or make the source wait
                         (default with --fps max)
      --disk-path auto|uring|aio|buffered
                         how frames reach the disk: auto (default) is O_DIRECT
                         through io_uring, else (containers refuse io_uring)
                         through Linux AIO; buffered is the page cache
                         (for comparison; --buffered says the same)
      --serve [ADDR:]PORT
                         also serve the live stream over HTTP (see zcap
                         stream --help), and FILE's directory as /recordings/
      --connect HOST:PORT
                         also push the live Matroska stream to a receiver
                         waiting at HOST:PORT (repeatable)
      --net-path auto|copy|zc|sendfile
                         how payloads reach the network: auto (default):
                         send() to peers on this host, MSG_ZEROCOPY to others;
                         sendfile from the memfd (held until acknowledged; a
                         peer on this host gets send() instead)
      --max-clients N    HTTP clients served at once (default 64); more are
                         answered 503
      --stall-timeout TIME
                         drop a client that takes no byte for TIME (default 5s)
      --request-timeout TIME
                         drop a client that has not sent its whole request
                         within TIME (default 5s); also how long --connect
                         waits for the receiver
      --stats-json FILE  write the run's statistics as JSON to FILE
      --force            overwrite FILE if it exists
  -q, --quiet            no progress line and no summary
  -h, --help             show this help

Stops at --frames, --duration, or on Ctrl-C/SIGTERM; the file then holds
every complete frame. Exit status: 0 done, 1 the recording failed (the frames
before the failure are kept), 2 bad arguments.
)";

} // namespace

unsigned queue_frames(const RecordOptions &o)
{
	return o.queue_frames.value_or(segmented(o) ? kSegmentQueueFrames : kDefaultQueueFrames);
}

bool serving(const RecordOptions &o)
{
	return o.serve || !o.connect.empty();
}

bool segmented(const RecordOptions &o)
{
	return o.segment.duration.count() || o.segment.bytes;
}

std::string_view usage_text(bool stream_only)
{
	return stream_only ? kStreamUsage : kUsage;
}

namespace {

/// What a run of several sources cannot do (yet), said before anything starts.
void check_several_sources(const RecordOptions &o)
{
	if (o.stream_only || serving(o))
		throw UsageError("serving several sources is not supported yet: record them "
				 "(zcap record -o FILE) and serve one source per zcap stream");
	bool per_camera = o.output.string().find(kCameraToken) != std::string::npos;
	if (per_camera)
		return;
	if (o.container.value_or(container_for(o.output)) != Container::matroska)
		throw UsageError(fmt::format(
			"several sources go into one Matroska file (.mkv) with a track each, or "
			"into one file each with {} in the name (cam{}.raw)",
			kCameraToken, kCameraToken));
	if (segmented(o))
		throw UsageError(fmt::format("--segment with several sources needs one file "
					     "per camera: put {} in the name (cam{}-%N.mkv)",
					     kCameraToken, kCameraToken));
}

} // namespace

RecordOptions parse_options(int argc, char **argv, RecordOptions o)
{
	enum {
		kSize = 256,
		kFps,
		kQueueDepth,
		kQueueFrames,
		kPolicy,
		kBuffered,
		kDiskPath,
		kStatsJson,
		kForce,
		kServe,
		kNetPath,
		kRecordings,
		kConnect,
		kIo,
		kContainer,
		kSegment,
		kMaxFiles,
		kMaxClients,
		kStallTimeout,
		kRequestTimeout,
		kReconnect,
	};
	static const option longopts[] = {
		{"output", required_argument, nullptr, 'o'},
		{"source", required_argument, nullptr, 's'},
		{"size", required_argument, nullptr, kSize},
		{"format", required_argument, nullptr, 'f'},
		{"fps", required_argument, nullptr, kFps},
		{"frames", required_argument, nullptr, 'n'},
		{"device", required_argument, nullptr, 'd'},
		{"duration", required_argument, nullptr, 't'},
		{"queue-depth", required_argument, nullptr, kQueueDepth},
		{"queue-frames", required_argument, nullptr, kQueueFrames},
		{"policy", required_argument, nullptr, kPolicy},
		{"buffered", no_argument, nullptr, kBuffered},
		{"disk-path", required_argument, nullptr, kDiskPath},
		{"stats-json", required_argument, nullptr, kStatsJson},
		{"force", no_argument, nullptr, kForce},
		{"serve", required_argument, nullptr, kServe},
		{"listen", required_argument, nullptr, kServe},
		{"net-path", required_argument, nullptr, kNetPath},
		{"recordings", required_argument, nullptr, kRecordings},
		{"connect", required_argument, nullptr, kConnect},
		{"io", required_argument, nullptr, kIo},
		{"container", required_argument, nullptr, kContainer},
		{"segment", required_argument, nullptr, kSegment},
		{"max-files", required_argument, nullptr, kMaxFiles},
		{"max-clients", required_argument, nullptr, kMaxClients},
		{"stall-timeout", required_argument, nullptr, kStallTimeout},
		{"request-timeout", required_argument, nullptr, kRequestTimeout},
		{"reconnect", no_argument, nullptr, kReconnect},
		{"quiet", no_argument, nullptr, 'q'},
		{"help", no_argument, nullptr, 'h'},
		{},
	};

	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":o:s:d:f:n:t:qh", longopts, nullptr)) != -1) {
		std::string_view arg = optarg ? optarg : "";
		switch (c) {
		case 'o':
			o.output = optarg;
			break;
		case 's':
			o.sources.push_back(parse_source_spec(arg));
			break;
		case 'd':
			if (arg.empty() || arg.starts_with("auto"))
				throw UsageError(fmt::format(
					"invalid device '{}': expected a path such as /dev/video0",
					arg));
			o.sources.push_back(parse_source_spec(arg));
			break;
		case kSize:
			o.size = parse_size(arg);
			break;
		case 'f':
			o.fourcc = parse_format_option(arg);
			break;
		case kFps:
			o.rate = parse_rate(arg);
			break;
		case 'n':
			o.limits.frames = parse_count(arg, "frame count", uint64_t(1) << 40);
			break;
		case 't':
			o.limits.duration = parse_duration(arg);
			break;
		case kQueueDepth:
			o.queue_depth = unsigned(parse_count(arg, "queue depth", kMaxQueueDepth));
			break;
		case kQueueFrames:
			o.queue_frames =
				unsigned(parse_count(arg, "queue length", kMaxBuffers / 2));
			break;
		case kPolicy:
			if (arg == "drop")
				o.policy = OverflowPolicy::drop;
			else if (arg == "block")
				o.policy = OverflowPolicy::block;
			else
				throw UsageError(fmt::format(
					"invalid policy '{}': expected drop or block", arg));
			break;
		case kBuffered:
			o.disk_path = DiskPath::buffered;
			break;
		case kDiskPath:
			o.disk_path = disk_path_from_name(arg).value_or(DiskPath::automatic);
			if (arg != disk_path_name(o.disk_path))
				throw UsageError(
					fmt::format("invalid disk path '{}': expected auto, "
						    "uring, aio or buffered",
						    arg));
			break;
		case kStatsJson:
			o.stats_json = optarg;
			break;
		case kServe:
			o.serve = optarg;
			break;
		case kNetPath:
			if (auto path = parse_net_path(arg))
				o.net_path = *path;
			else
				throw UsageError(fmt::format(
					"invalid network path '{}': expected auto, copy, zc or "
					"sendfile",
					arg));
			break;
		case kRecordings:
			o.recordings = optarg;
			break;
		case kConnect:
			o.connect.push_back(optarg);
			break;
		case kForce:
			o.force = true;
			break;
		case kIo:
			o.io = parse_io_option(arg);
			break;
		case kContainer:
			if (arg == "mkv" || arg == "matroska")
				o.container = Container::matroska;
			else if (arg == "raw")
				o.container = Container::raw;
			else
				throw UsageError(fmt::format(
					"invalid container '{}': expected mkv or raw", arg));
			break;
		case kSegment: {
			// Once a duration and once a size: whichever comes first.
			SegmentLimit limit = parse_segment_limit(arg);
			if (limit.bytes)
				o.segment.bytes = limit.bytes;
			else
				o.segment.duration = limit.duration;
			break;
		}
		case kMaxFiles:
			o.max_files = unsigned(parse_count(arg, "file count", kMaxFileCount));
			break;
		case kMaxClients:
			o.max_clients = unsigned(parse_count(arg, "client count", kMaxClientCount));
			break;
		case kStallTimeout:
			o.stall_timeout =
				std::chrono::ceil<std::chrono::milliseconds>(parse_duration(arg));
			break;
		case kRequestTimeout:
			o.request_timeout =
				std::chrono::ceil<std::chrono::milliseconds>(parse_duration(arg));
			break;
		case kReconnect:
			o.reconnect = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			o.help = true;
			return o;
		case ':':
			throw UsageError(
				fmt::format("option '{}' needs a value", argv[optind - 1]));
		default:
			throw UsageError(fmt::format("unknown option '{}' (see zcap record --help)",
						     argv[optind - 1]));
		}
	}
	if (optind < argc)
		throw UsageError(fmt::format("unexpected argument '{}'", argv[optind]));
	if (o.stream_only) {
		if (!o.output.empty())
			throw UsageError("zcap stream writes no file: use zcap record -o FILE "
					 "--serve PORT to record and serve");
		if (!o.serve && o.connect.empty())
			throw UsageError("nowhere to stream: use --listen [ADDR:]PORT or --connect "
					 "HOST:PORT (see zcap stream --help)");
	} else if (o.output.empty()) {
		throw UsageError("no output file: use -o FILE (see zcap record --help)");
	} else if (!o.recordings.empty()) {
		throw UsageError("--recordings is for zcap stream; zcap record --serve "
				 "serves the output's directory");
	}
	if (o.limits.frames && o.limits.duration.count())
		throw UsageError("--frames and --duration cannot be combined");
	if (o.max_files && !segmented(o))
		throw UsageError("--max-files needs --segment");
	if (!serving(o) && (o.max_clients || o.stall_timeout || o.request_timeout))
		throw UsageError(fmt::format("{} needs --serve or --connect",
					     o.max_clients     ? "--max-clients"
					     : o.stall_timeout ? "--stall-timeout"
							       : "--request-timeout"));
	if (o.sources.size() == 1) {
		// One source: its own options are the run's.
		o = camera_options(o, 0);
	} else if (o.sources.size() > 1) {
		check_several_sources(o);
	}
	std::vector<RecordOptions> cameras;
	for (size_t i = 0; i < o.sources.size(); ++i)
		cameras.push_back(camera_options(o, i));
	if (o.sources.empty())
		cameras.push_back(o);
	for (const RecordOptions &camera : cameras)
		if (camera.source == "pattern" || camera.source == "auto")
			check_pattern_format(
				camera.fourcc.value_or(pixfmt::YUYV),
				camera.size.value_or(std::pair(kDefaultWidth, kDefaultHeight)));
	return o;
}

} // namespace zcap::cli
