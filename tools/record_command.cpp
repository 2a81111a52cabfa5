// SPDX-License-Identifier: LGPL-2.1-or-later
#include "record_command.h"

#include <fcntl.h>
#include <getopt.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include <zcap/disk_sink.h>
#include <zcap/log.h>
#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>
#include <zcap/segmented_sink.h>
#include <zcap/stream_server.h>
#include <zcap/unique_fd.h>
#include <zcap/v4l2_query.h>
#include <zcap/v4l2_source.h>

#include "cli.h"
#include "signal_stop.h"

namespace zcap::cli {

namespace {

using Clock = std::chrono::steady_clock;

/// A modest default a reader of any speed keeps up with; 1280x720 YUYV
/// frames are a whole number of 4 KiB blocks (no seam copies).
constexpr uint32_t kDefaultWidth = 1280;
constexpr uint32_t kDefaultHeight = 720;
constexpr FrameRate kDefaultRate{30, 1};
constexpr unsigned kDefaultQueueDepth = 8;
constexpr unsigned kDefaultQueueFrames = 4;
/// With --segment: the file left behind is flushed to the device (fdatasync,
/// about 75 ms measured here) while the next one fills, which holds up its
/// writes for 3 frames at 1080p60; 8 frames of room lose none.
constexpr unsigned kSegmentQueueFrames = 8;
/// Frames waiting for the HTTP server's thread, which only hands them on.
constexpr unsigned kServerQueueFrames = 2;
/// Beyond the queue and the writes in flight: the frame being made and the
/// one the sink thread holds.
constexpr unsigned kSpareBuffers = 2;
constexpr unsigned kMaxQueueDepth = 256;
constexpr unsigned kMaxBuffers = 1024;
/// More segment files than any directory listing stays usable with.
constexpr unsigned kMaxFiles = 1000000;
/// More HTTP clients than one server thread sends frames to in time.
constexpr unsigned kMaxClients = 100000;
/// Descriptors the process needs besides one per HTTP client.
constexpr unsigned kOtherFds = 256;
/// Files zcap writes besides recordings (--stats-json) are readable by all
/// and writable by the owner alone, as recordings are, whatever the umask
/// (the default 0666 is world-writable under umask 0).
constexpr mode_t kFileMode = 0644;

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
      --size WxH         frame size (a camera's current size, else 1280x720)
  -f, --format FOURCC    YUYV, UYVY, NV12, GREY, RGB24, BGRA, or any fourcc
                         the camera offers (a camera's current one, else YUYV)
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
      --buffered         write through the page cache (for comparison)
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

struct RecordOptions {
	std::filesystem::path output;
	std::optional<Container> container; // unset: by the file name
	std::string source = "auto";
	// Unset: the camera's current setting, or the pattern's default.
	std::optional<std::pair<uint32_t, uint32_t>> size;
	std::optional<uint32_t> fourcc;
	std::optional<FrameRate> rate;
	IoMode io = IoMode::automatic;
	RunLimits limits;
	unsigned queue_depth = kDefaultQueueDepth;
	std::optional<unsigned> queue_frames; ///< unset: by kDefaultQueueFrames/kSegmentQueueFrames
	std::optional<OverflowPolicy> policy;
	bool buffered = false;
	std::filesystem::path stats_json;
	bool force = false;
	bool quiet = false;
	bool help = false;
	std::optional<std::string> serve; ///< [ADDR:]PORT to serve HTTP on
	std::vector<std::string> connect; ///< receivers to push to
	NetPath net_path = NetPath::automatic;
	// Unset: StreamServerOptions' defaults.
	std::optional<unsigned> max_clients;
	std::optional<std::chrono::milliseconds> stall_timeout;
	std::optional<std::chrono::milliseconds> request_timeout;
	std::filesystem::path recordings; ///< zcap stream --recordings
	bool stream_only = false;	  ///< zcap stream: no file
	/// Zero: one file.
	SegmentLimit segment;
	unsigned max_files = 0;
};

bool segmented(const RecordOptions &o);

/// Frames that may wait for the disk.
unsigned queue_frames(const RecordOptions &o)
{
	return o.queue_frames.value_or(segmented(o) ? kSegmentQueueFrames : kDefaultQueueFrames);
}

/// Whether frames also go to the network.
bool serving(const RecordOptions &o)
{
	return o.serve || !o.connect.empty();
}

/// Whether the recording goes to a series of files.
bool segmented(const RecordOptions &o)
{
	return o.segment.duration.count() || o.segment.bytes;
}

RecordOptions parse_options(int argc, char **argv, RecordOptions o)
{
	enum {
		kSize = 256,
		kFps,
		kQueueDepth,
		kQueueFrames,
		kPolicy,
		kBuffered,
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
			o.source = optarg;
			break;
		case 'd':
			if (arg.empty() || arg == "auto" || arg == "pattern")
				throw UsageError(fmt::format(
					"invalid device '{}': expected a path such as /dev/video0",
					arg));
			o.source = optarg;
			break;
		case kSize:
			o.size = parse_size(arg);
			break;
		case 'f': {
			auto code = parse_fourcc(arg);
			// Cameras may offer formats zcap has no name for (MJPG, ...).
			if (!code && arg.size() == 4)
				code = fourcc(arg[0], arg[1], arg[2], arg[3]);
			if (!code)
				throw UsageError(
					fmt::format("unknown format '{}': expected YUYV, UYVY, "
						    "NV12, GREY, RGB24, BGRA or a fourcc",
						    arg));
			o.fourcc = *code;
			break;
		}
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
			o.buffered = true;
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
			if (auto mode = parse_io_mode(arg))
				o.io = *mode;
			else
				throw UsageError(
					fmt::format("invalid I/O mode '{}': expected auto, "
						    "userptr, mmap or dmabuf",
						    arg));
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
			o.max_files = unsigned(parse_count(arg, "file count", kMaxFiles));
			break;
		case kMaxClients:
			o.max_clients = unsigned(parse_count(arg, "client count", kMaxClients));
			break;
		case kStallTimeout:
			o.stall_timeout =
				std::chrono::ceil<std::chrono::milliseconds>(parse_duration(arg));
			break;
		case kRequestTimeout:
			o.request_timeout =
				std::chrono::ceil<std::chrono::milliseconds>(parse_duration(arg));
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
	if (o.source == "pattern" || o.source == "auto") {
		uint32_t code = o.fourcc.value_or(pixfmt::YUYV);
		auto [w, h] = o.size.value_or(std::pair(kDefaultWidth, kDefaultHeight));
		if (!packed_format(code, 2, 2))
			throw UsageError(fmt::format("the built-in pattern cannot make {}",
						     fourcc_name(code)));
		if (!packed_format(code, w, h))
			throw UsageError(
				fmt::format("{} cannot be {}x{}: chroma-subsampled formats "
					    "need an even width (NV12 also an even height)",
					    fourcc_name(code), w, h));
	}
	return o;
}

/// Buffers the source gets: one per frame the disk sink may hold (queued or
/// in flight), plus the spares.
unsigned source_buffers(const RecordOptions &o)
{
	unsigned disk = o.stream_only ? 0 : queue_frames(o) + o.queue_depth;
	unsigned network = serving(o) ? StreamServer::kPinnedFrames + kServerQueueFrames : 0;
	return disk + network + kSpareBuffers;
}

std::unique_ptr<Source> open_pattern(const RecordOptions &o)
{
	auto [w, h] = o.size.value_or(std::pair(kDefaultWidth, kDefaultHeight));
	const FrameFormat format = *packed_format(o.fourcc.value_or(pixfmt::YUYV), w, h);
	Status status;
	auto source = PatternSource::create(format, o.rate.value_or(kDefaultRate),
					    source_buffers(o), status);
	if (!source)
		throw std::runtime_error(status.message());
	return source;
}

std::unique_ptr<Source> open_camera(const RecordOptions &o, const std::string &device)
{
	V4l2SourceOptions v;
	v.device = device;
	v.fourcc = o.fourcc.value_or(0);
	if (o.size)
		std::tie(v.width, v.height) = *o.size;
	v.rate = o.rate.value_or(FrameRate{});
	v.io = o.io;
	v.buffers = source_buffers(o);
	Status status;
	auto source = V4l2Source::open(v, status);
	if (!source)
		throw std::runtime_error(status.message());
	return source;
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

/// Chooses the source; returns the note that says why, for the summary.
std::unique_ptr<Source> open_source(const RecordOptions &o, std::string &why)
{
	if (o.source == "pattern") {
		why = "asked for";
		return open_pattern(o);
	}
	if (o.source != "auto") {
		why = "asked for";
		return open_camera(o, o.source);
	}
	for (const V4l2DeviceInfo &device : list_v4l2_devices()) {
		if (device.capture()) {
			why = "the first camera found";
			return open_camera(o, device.path);
		}
	}
	why = "no camera found";
	return open_pattern(o);
}

std::string json_string(std::string_view s)
{
	std::string out = "\"";
	for (char c : s) {
		if (c == '"' || c == '\\')
			out += fmt::format("\\{}", c);
		else if (static_cast<unsigned char>(c) < 0x20)
			out += fmt::format("\\u{:04x}", c);
		else
			out += c;
	}
	return out + "\"";
}

double cpu_seconds()
{
	rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct RunReport {
	const Source &source;
	const Pipeline &pipeline;
	std::string source_note;
	double seconds;
	double cpu;
	Status status;
	const SegmentedSink *segments = nullptr; ///< with --segment
	const StreamServer *server = nullptr;	 ///< with --serve
};

/// The host part of --serve/--listen's [ADDR:]PORT, for the URL to print.
std::string listen_host(const std::string &listen)
{
	size_t colon = listen.rfind(':');
	std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
	return host.empty() ? "127.0.0.1" : host;
}

/// A line for each client the server had.
void print_clients(const StreamServer &server)
{
	std::vector<ClientStats> clients = server.clients();
	const uint64_t count = server.client_count();
	fmt::print("  served {} client{}{}\n", count, count == 1 ? "" : "s",
		   clients.size() < count ? fmt::format(" (the last {} listed)", clients.size())
					  : "");
	for (const ClientStats &c : clients) {
		fmt::print("    {} {} via {}: {} frames, {} dropped, {} copied{}\n", c.peer,
			   c.target.empty() ? "(no request)" : c.target, net_path_name(c.path),
			   c.frames, c.dropped, human_bytes(c.copied),
			   c.open ? "" : "; " + c.closed_because);
	}
}

void write_stats_json(const std::filesystem::path &path, const RunReport &r)
{
	const FrameFormat f = r.source.format();
	std::string json = fmt::format(
		"{{\n  \"ok\": {},\n  \"error\": {},\n  \"elapsed_s\": {:.6f},\n"
		"  \"process_cpu_s\": {:.6f},\n  \"source\": {{\"description\": {}, "
		"\"format\": {}, \"width\": {}, \"height\": {}, \"frame_bytes\": {}, "
		"\"frames\": {}, \"dropped\": {}, \"errors\": {}}},\n  \"sinks\": [",
		r.status.ok(), r.status.ok() ? "null" : json_string(r.status.message()), r.seconds,
		r.cpu, json_string(r.source.description()), json_string(fourcc_name(f.fourcc)),
		f.width, f.height, f.size_image, r.source.stats().frames.load(),
		r.source.stats().dropped.load(), r.source.stats().errors.load());
	for (size_t i = 0; i < r.pipeline.sink_count(); ++i) {
		const Sink &sink = r.pipeline.sink(i);
		const SinkStats &s = sink.stats();
		const SinkResult &result = r.pipeline.results().at(i);
		json += fmt::format(
			"{}\n    {{\"description\": {}, \"io_path\": {}, \"frames\": {}, "
			"\"bytes\": {}, \"dropped\": {}, \"copied_bytes\": {}, \"error\": {}}}",
			i ? "," : "", json_string(sink.description()),
			json_string(io_path_name(s.io_path.load())), s.frames.load(),
			s.bytes.load(), s.dropped.load(), s.copied_bytes.load(),
			result.status.ok() ? "null" : json_string(result.status.message()));
	}
	json += "\n  ]";
	if (r.server) {
		json += fmt::format(",\n  \"client_count\": {},\n  \"clients\": [",
				    r.server->client_count());
		const std::vector<ClientStats> clients = r.server->clients();
		for (size_t i = 0; i < clients.size(); ++i) {
			const ClientStats &c = clients[i];
			json += fmt::format(
				"{}\n    {{\"peer\": {}, \"target\": {}, \"net_path\": {}, "
				"\"frames\": {}, \"dropped\": {}, \"bytes\": {}, "
				"\"copied_bytes\": {}, \"closed_because\": {}}}",
				i ? "," : "", json_string(c.peer), json_string(c.target),
				json_string(net_path_name(c.path)), c.frames, c.dropped, c.bytes,
				c.copied, c.open ? "null" : json_string(c.closed_because));
		}
		json += "\n  ]";
	}
	json += "\n}\n";

	UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kFileMode));
	std::string_view rest = json;
	while (fd && !rest.empty()) {
		ssize_t n = ::write(fd.get(), rest.data(), rest.size());
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		rest.remove_prefix(size_t(n));
	}
	if (!fd || !rest.empty())
		throw std::runtime_error(
			fmt::format("cannot write {}: {}", path.string(), strerror(errno)));
}

/// "4 segment files: a-0001.mkv ... a-0004.mkv", and which are left after
/// --max-files deleted some.
std::string segment_summary(const SegmentedSink &segments)
{
	const std::vector<std::filesystem::path> files = segments.files();
	const uint64_t count = segments.segments();
	std::string text = fmt::format("{} segment file{}", count, count == 1 ? "" : "s");
	if (files.size() < count)
		text += fmt::format(", the last {} kept", files.size());
	if (files.size() == 1)
		text += ": " + files.front().string();
	else if (files.size() > 1)
		text += fmt::format(": {} ... {}", files.front().string(), files.back().string());
	return text;
}

void print_summary(const RecordOptions &o, const RunReport &r)
{
	if (o.stream_only) {
		fmt::print("streamed {} frames in {:.1f} s\n",
			   r.pipeline.sink(0).stats().frames.load(), r.seconds);
		fmt::print("  source: {} ({})\n", r.source.description(), r.source_note);
		if (uint64_t dropped = r.source.stats().dropped.load())
			fmt::print("  device dropped {} frames: every buffer was still pinned\n",
				   dropped);
		print_clients(*r.server);
		return;
	}
	const FrameFormat f = r.source.format();
	const SinkStats &s = r.pipeline.sink(0).stats();
	uint64_t bytes = s.bytes.load();
	std::filesystem::path last = o.output;
	if (r.segments && !r.segments->files().empty())
		last = r.segments->files().back();
	fmt::print("recorded {} frames ({}x{} {}, {}) in {:.1f} s to {}\n", s.frames.load(),
		   f.width, f.height, fourcc_name(f.fourcc), human_bytes(bytes), r.seconds,
		   r.segments ? segment_summary(*r.segments) : o.output.string());
	fmt::print("  source: {} ({})\n", r.source.description(), r.source_note);
	if (uint64_t dropped = r.source.stats().dropped.load())
		fmt::print(
			"  device dropped {} frames: every buffer was still pinned by the sinks\n",
			dropped);
	if (uint64_t errors = r.source.stats().errors.load())
		fmt::print("  the device marked {} frames as corrupt; they were skipped\n", errors);
	fmt::print("  written via {}: {:.0f} MB/s, {} dropped, {} copied by the CPU\n",
		   io_path_name(s.io_path.load()),
		   r.seconds > 0 ? double(bytes) / r.seconds / 1e6 : 0, s.dropped.load(),
		   human_bytes(s.copied_bytes.load()));
	if (o.container.value_or(container_for(o.output)) == Container::matroska) {
		if (s.frames.load())
			fmt::print("  play it: ffplay {}\n", last.string());
	} else if (auto pix = ffmpeg_pix_fmt(f.fourcc); !pix.empty() && s.frames.load()) {
		std::string rate = r.source.frame_rate().unlimited()
					   ? "25"
					   : fmt::format("{}/{}", r.source.frame_rate().num,
							 r.source.frame_rate().den);
		fmt::print("  play it: ffplay -f rawvideo -pixel_format {} -video_size {}x{} "
			   "-framerate {} {}\n",
			   pix, f.width, f.height, rate, last.string());
	}
	if (r.server)
		print_clients(*r.server);
}

/// The progress line, rewritten in place at most four times a second.
class Progress {
public:
	Progress(const Pipeline &pipeline, bool enabled) : pipeline_(pipeline), enabled_(enabled) {}

	void update()
	{
		if (!enabled_)
			return;
		auto now = Clock::now();
		const SinkStats &s = pipeline_.sink(0).stats();
		uint64_t frames = s.frames.load(), bytes = s.bytes.load();
		double dt = std::chrono::duration<double>(now - last_).count();
		if (dt <= 0)
			return;
		std::fprintf(stderr,
			     "\r%8llu frames  %6.1f fps  %8.1f MB/s  dropped %llu  copied %s\x1b[K",
			     static_cast<unsigned long long>(frames), double(frames - frames_) / dt,
			     double(bytes - bytes_) / dt / 1e6,
			     static_cast<unsigned long long>(s.dropped.load()),
			     human_bytes(s.copied_bytes.load()).c_str());
		last_ = now;
		frames_ = frames;
		bytes_ = bytes;
		shown_ = true;
	}

	void clear()
	{
		if (shown_)
			std::fprintf(stderr, "\r\x1b[K");
	}

private:
	const Pipeline &pipeline_;
	bool enabled_;
	bool shown_ = false;
	Clock::time_point last_ = Clock::now();
	uint64_t frames_ = 0;
	uint64_t bytes_ = 0;
};

/// Segment files deleted for --max-files: noted on the sink's threads, told
/// from the main thread so that the lines do not cut into the progress line.
class DeletedSegments {
public:
	void add(const std::filesystem::path &path)
	{
		std::lock_guard lock(lock_);
		paths_.push_back(path);
	}

	void print(Progress &progress)
	{
		std::vector<std::filesystem::path> paths;
		{
			std::lock_guard lock(lock_);
			paths.swap(paths_);
		}
		if (paths.empty())
			return;
		progress.clear();
		for (const std::filesystem::path &path : paths)
			fmt::print("deleted {} (--max-files)\n", path.string());
		std::fflush(stdout);
	}

private:
	std::mutex lock_;
	std::vector<std::filesystem::path> paths_;
};

int record(const RecordOptions &o)
{
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

	std::string source_note;
	std::unique_ptr<Source> source = open_source(o, source_note);

	DiskSinkOptions disk;
	disk.path = o.output;
	disk.container = o.container.value_or(container_for(o.output));
	disk.queue_depth = o.queue_depth;
	disk.overwrite = o.force;
	disk.force_buffered = o.buffered;

	SinkOptions queue;
	queue.queue_frames = queue_frames(o);
	queue.policy = o.policy.value_or(o.rate && o.rate->unlimited() ? OverflowPolicy::block
								       : OverflowPolicy::drop);

	DeletedSegments deleted;
	std::unique_ptr<Sink> sink;
	const SegmentedSink *segments = nullptr;
	if (segmented(o)) {
		SegmentedSinkOptions options;
		options.disk = disk;
		options.pattern = o.output;
		options.max_duration = o.segment.duration;
		options.max_bytes = o.segment.bytes;
		options.max_files = o.max_files;
		if (!o.quiet)
			options.on_delete = [&](const std::filesystem::path &path) {
				deleted.add(path);
			};
		std::unique_ptr<SegmentedSink> segmented_sink = make_segmented_sink(options);
		segments = segmented_sink.get();
		sink = std::move(segmented_sink);
	} else {
		sink = make_disk_sink(disk);
	}

	Pipeline pipeline(*source);
	if (!o.stream_only)
		pipeline.add_sink(std::move(sink), queue);
	const StreamServer *server = nullptr;
	if (serving(o)) {
		StreamServerOptions options;
		options.listen = o.serve.value_or("");
		options.connect = o.connect;
		options.net_path = o.net_path;
		options.max_clients = o.max_clients.value_or(options.max_clients);
		options.stall_timeout = o.stall_timeout.value_or(options.stall_timeout);
		options.request_timeout = o.request_timeout.value_or(options.request_timeout);
		options.pace_unlimited_source = o.stream_only;
		allow_fds(options.max_clients + kOtherFds);
		options.recordings = o.stream_only
					     ? o.recordings
					     : std::filesystem::absolute(o.output).parent_path();
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
		pipeline.add_sink(std::move(created), {.queue_frames = kServerQueueFrames,
						       .policy = OverflowPolicy::block});
	}

	if (!o.quiet && !o.stream_only)
		fmt::print("recording {} to {}\n", source->description(), o.output.string());
	if (!o.quiet && server && o.serve)
		fmt::print("serving {} at http://{}:{}/live.mkv (also /live.raw, /recordings/)\n",
			   source->description(), listen_host(*o.serve), server->port());
	std::fflush(stdout);
	Progress progress(pipeline, !o.quiet && isatty(STDERR_FILENO));
	double cpu_before = cpu_seconds();
	auto begin = Clock::now();
	Status status = pipeline.run(o.limits, signals.requested(), [&] {
		deleted.print(progress);
		progress.update();
	});
	double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
	progress.clear();
	deleted.print(progress);

	RunReport report{*source, pipeline, source_note, seconds, cpu_seconds() - cpu_before,
			 status};
	report.segments = segments;
	report.server = server;
	if (!o.stats_json.empty())
		write_stats_json(o.stats_json, report);
	if (!status) {
		uint64_t kept = o.stream_only ? 0 : pipeline.sink(0).stats().frames.load();
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
		fmt::print("{}", stream_only ? kStreamUsage : kUsage);
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
