// SPDX-License-Identifier: LGPL-2.1-or-later
#include "record_report.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include <zcap/unique_fd.h>

namespace zcap::cli {

namespace {

/// Files zcap writes besides recordings (--stats-json) are readable by all
/// and writable by the owner alone, as recordings are, whatever the umask
/// (the default 0666 is world-writable under umask 0).
constexpr mode_t kFileMode = 0644;

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

/// With --reconnect, the camera's comebacks as JSON members after a comma.
std::string reconnect_json(const Source &source)
{
	const ReconnectStats *stats = reconnect_stats(source);
	if (!stats)
		return {};
	return fmt::format(", \"reconnects\": {}, \"offline_ms\": {:.3f}, \"frames_missed\": {}",
			   stats->reconnects.load(), double(stats->offline_ns.load()) / 1e6,
			   stats->frames_missed.load());
}

void print_stream_summary(const RunReport &r)
{
	fmt::print("streamed {} frames in {:.1f} s\n", r.sinks.server->stats().frames.load(),
		   r.seconds);
	fmt::print("  source: {} ({})\n", r.source.description(), r.source_note);
	if (uint64_t dropped = r.source.stats().dropped.load())
		fmt::print("  device dropped {} frames: every buffer was still pinned\n", dropped);
	print_clients(*r.sinks.server);
}

} // namespace

const ReconnectStats *reconnect_stats(const Source &source)
{
	auto *camera = dynamic_cast<const ReconnectingSource *>(&source);
	return camera ? &camera->reconnect_stats() : nullptr;
}

std::string reconnect_summary(const ReconnectStats &stats)
{
	const uint64_t times = stats.reconnects.load();
	if (!times)
		return {};
	return fmt::format("came back {} time{}: {:.1f} s away, about {} frames missed", times,
			   times == 1 ? "" : "s", double(stats.offline_ns.load()) / 1e9,
			   stats.frames_missed.load());
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

double cpu_seconds()
{
	rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void write_stats_json(const std::filesystem::path &path, const RunReport &r)
{
	const FrameFormat f = r.source.format();
	std::string json =
		fmt::format("{{\n  \"ok\": {},\n  \"error\": {},\n  \"elapsed_s\": {:.6f},\n"
			    "  \"process_cpu_s\": {:.6f},\n  \"source\": {{\"description\": {}, "
			    "\"format\": {}, \"width\": {}, \"height\": {}, \"frame_bytes\": {}, "
			    "\"frames\": {}, \"dropped\": {}, \"errors\": {}{}}},\n  \"sinks\": [",
			    r.status.ok(), r.status.ok() ? "null" : json_string(r.status.message()),
			    r.seconds, r.cpu, json_string(r.source.description()),
			    json_string(fourcc_name(f.fourcc)), f.width, f.height, f.size_image,
			    r.source.stats().frames.load(), r.source.stats().dropped.load(),
			    r.source.stats().errors.load(), reconnect_json(r.source));
	// Every sink, in the order the pipeline runs them.
	for (size_t i = 0; i < r.pipeline.sink_count(); ++i) {
		const Sink &sink = r.pipeline.sink(i);
		const SinkStats &s = sink.stats();
		const SinkResult &result = r.pipeline.results().at(i);
		json += fmt::format(
			"{}\n    {{\"description\": {}, \"io_path\": {}, \"frames\": {}, "
			"\"bytes\": {}, \"dropped\": {}, \"copied_bytes\": {}, \"error\": {}, "
			"\"io_uring_refusal\": {}}}",
			i ? "," : "", json_string(sink.description()),
			json_string(io_path_name(s.io_path.load())), s.frames.load(),
			s.bytes.load(), s.dropped.load(), s.copied_bytes.load(),
			result.status.ok() ? "null" : json_string(result.status.message()),
			s.io_path.load() == IoPath::aio_direct && !io_uring_refusal().empty()
				? json_string(io_uring_refusal())
				: "null");
	}
	json += "\n  ]";
	if (const StreamServer *server = r.sinks.server) {
		json += fmt::format(",\n  \"client_count\": {},\n  \"clients\": [",
				    server->client_count());
		const std::vector<ClientStats> clients = server->clients();
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
	write_report_file(path, json);
}

void write_report_file(const std::filesystem::path &path, std::string_view text)
{
	UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kFileMode));
	std::string_view rest = text;
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

void print_summary(const RecordOptions &o, const RunReport &r)
{
	if (!r.sinks.recording) {
		print_stream_summary(r);
		return;
	}
	const FrameFormat f = r.source.format();
	const SinkStats &s = r.sinks.recording->stats();
	const SegmentedSink *segments = r.sinks.segments;
	uint64_t bytes = s.bytes.load();
	std::filesystem::path last = o.output;
	if (segments && !segments->files().empty())
		last = segments->files().back();
	fmt::print("recorded {} frames ({}x{} {}, {}) in {:.1f} s to {}\n", s.frames.load(),
		   f.width, f.height, fourcc_name(f.fourcc), human_bytes(bytes), r.seconds,
		   segments ? segment_summary(*segments) : o.output.string());
	fmt::print("  source: {} ({})\n", r.source.description(), r.source_note);
	if (uint64_t dropped = r.source.stats().dropped.load())
		fmt::print(
			"  device dropped {} frames: every buffer was still pinned by the sinks\n",
			dropped);
	if (uint64_t errors = r.source.stats().errors.load())
		fmt::print("  the device marked {} frames as corrupt; they were skipped\n", errors);
	if (const ReconnectStats *back = reconnect_stats(r.source); back && back->reconnects)
		fmt::print("  {}\n", reconnect_summary(*back));
	fmt::print("  written via {}: {:.0f} MB/s, {} dropped, {} copied by the CPU\n",
		   io_path_name(s.io_path.load()),
		   r.seconds > 0 ? double(bytes) / r.seconds / 1e6 : 0, s.dropped.load(),
		   human_bytes(s.copied_bytes.load()));
	if (s.io_path.load() == IoPath::aio_direct && !io_uring_refusal().empty())
		fmt::print("  not io_uring: {}\n", io_uring_refusal());
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
	if (r.sinks.server)
		print_clients(*r.sinks.server);
}

void Progress::update()
{
	if (!enabled_)
		return;
	auto now = Clock::now();
	const SinkStats &s = sink_.stats();
	uint64_t frames = s.frames.load(), bytes = s.bytes.load();
	double dt = std::chrono::duration<double>(now - last_).count();
	if (dt <= 0)
		return;
	std::fprintf(stderr, "\r%8llu frames  %6.1f fps  %8.1f MB/s  dropped %llu  copied %s\x1b[K",
		     static_cast<unsigned long long>(frames), double(frames - frames_) / dt,
		     double(bytes - bytes_) / dt / 1e6,
		     static_cast<unsigned long long>(s.dropped.load()),
		     human_bytes(s.copied_bytes.load()).c_str());
	last_ = now;
	frames_ = frames;
	bytes_ = bytes;
	shown_ = true;
}

void Progress::clear()
{
	if (shown_)
		std::fprintf(stderr, "\r\x1b[K");
}

void DeletedSegments::add(const std::filesystem::path &path)
{
	std::lock_guard lock(lock_);
	paths_.push_back(path);
}

bool DeletedSegments::pending()
{
	std::lock_guard lock(lock_);
	return !paths_.empty();
}

void DeletedSegments::print(Progress &progress)
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

} // namespace zcap::cli
