// SPDX-License-Identifier: LGPL-2.1-or-later
// The HTTP streaming server with real clients: every frame a client gets is
// the pattern frame its header names, however many clients there are; a
// client that stops reading is dropped without slowing anyone; buffers
// recycled under a slow client never leak into what it receives, on either
// net path; FFmpeg and GStreamer play /live.mkv; recordings are served with
// ranges and nothing outside their directory; bad requests are answered and
// hurt no one else.
#include <zcap/stream_server.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/disk_sink.h>
#include <zcap/pattern.h>
#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>
#include <zcap/unique_fd.h>

#include "test_files.h"

using namespace zcap;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

/// How long a client waits for a byte before it gives up: no test hangs.
constexpr std::chrono::seconds kIoTimeout{10};

/// Pattern frames, each rendered once and shared by the client threads.
class PatternFrames {
public:
	explicit PatternFrames(const FrameFormat &format) : format_(format) {}

	const std::vector<std::byte> &get(uint64_t sequence)
	{
		std::lock_guard lock(lock_);
		auto [it, added] = frames_.try_emplace(sequence);
		if (added) {
			it->second.resize(format_.size_image);
			pattern::render(format_, sequence, it->second);
		}
		return it->second;
	}

private:
	const FrameFormat format_;
	std::mutex lock_;
	std::map<uint64_t, std::vector<std::byte>> frames_;
};

/// How a client reads: at most @p chunk bytes at a time, resting @p pause
/// after each read (a slow client).
struct Pace {
	size_t chunk = 1 << 20;
	std::chrono::microseconds pause{0};
};

/// A blocking client connection to the server on 127.0.0.1.
class Connection {
public:
	/// @p receive_buffer: the SO_RCVBUF to ask for, 0 for the default.
	explicit Connection(uint16_t port, int receive_buffer = 0)
	    : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))
	{
		timeval timeout{.tv_sec = kIoTimeout.count(), .tv_usec = 0};
		setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
		setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
		if (receive_buffer)
			setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer,
				   sizeof(receive_buffer));
		sockaddr_in addr{};
		addr.sin_family = AF_INET;
		addr.sin_port = htons(port);
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		EXPECT_EQ(connect(fd_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0)
			<< std::strerror(errno);
		socklen_t length = sizeof(addr);
		getsockname(fd_.get(), reinterpret_cast<sockaddr *>(&addr), &length);
		name_ = fmt::format("127.0.0.1:{}", ntohs(addr.sin_port));
	}

	int fd() const { return fd_.get(); }
	/// The client as the server names it in ClientStats::peer.
	const std::string &name() const { return name_; }
	/// Why the last read got nothing: empty at the end of the stream.
	const std::string &error() const { return error_; }

	/// Sends all of @p bytes; false when the connection is gone.
	bool send(std::string_view bytes)
	{
		while (!bytes.empty()) {
			ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
			if (n <= 0)
				return false;
			bytes.remove_prefix(size_t(n));
		}
		return true;
	}

	/// Up to @p size bytes; 0 at the end of the stream or on an error.
	size_t read_some(std::byte *out, size_t size)
	{
		if (!pending_.empty()) {
			size_t n = std::min(size, pending_.size());
			std::memcpy(out, pending_.data(), n);
			pending_.erase(0, n);
			return n;
		}
		ssize_t n = recv(fd_.get(), out, size, 0);
		if (n < 0)
			error_ = std::strerror(errno);
		return n > 0 ? size_t(n) : 0;
	}

	/// Exactly @p size bytes; false when the stream ended before.
	bool read_exact(std::byte *out, size_t size, const Pace &pace)
	{
		while (size) {
			size_t n = read_some(out, std::min(size, pace.chunk));
			if (n == 0)
				return false;
			out += n;
			size -= n;
			if (pace.pause.count())
				std::this_thread::sleep_for(pace.pause);
		}
		return true;
	}

	/// The response head through its blank line, or what came before the
	/// connection ended; the bytes after the head are kept for the reads.
	std::string read_head()
	{
		std::string bytes;
		char chunk[4096];
		for (;;) {
			if (size_t end = bytes.find("\r\n\r\n"); end != bytes.npos) {
				pending_ = bytes.substr(end + 4);
				bytes.resize(end + 4);
				return bytes;
			}
			ssize_t n = recv(fd_.get(), chunk, sizeof(chunk), 0);
			if (n <= 0) {
				if (n < 0)
					error_ = std::strerror(errno);
				return bytes;
			}
			bytes.append(chunk, size_t(n));
		}
	}

	/// Everything up to the end of the stream.
	std::string read_rest()
	{
		std::string bytes = std::exchange(pending_, {});
		char chunk[65536];
		ssize_t n;
		while ((n = recv(fd_.get(), chunk, sizeof(chunk), 0)) > 0)
			bytes.append(chunk, size_t(n));
		if (n < 0)
			error_ = std::strerror(errno);
		return bytes;
	}

private:
	UniqueFd fd_;
	std::string name_;
	std::string error_;
	std::string pending_;
};

std::string get_request(std::string_view target, std::string_view headers = "")
{
	return fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n", target, headers);
}

/// The status code of a response head; 0 when there is none.
int status_of(std::string_view head)
{
	if (head.size() < 12 || !head.starts_with("HTTP/1.1 "))
		return 0;
	return std::stoi(std::string(head.substr(9, 3)));
}

struct Response {
	int status = 0; ///< 0 when no response came
	std::string head;
	std::string body;

	/// The value of header field @p name, empty when there is none.
	std::string header(std::string_view name) const
	{
		size_t start = head.find(fmt::format("\r\n{}: ", name));
		if (start == head.npos)
			return {};
		start += name.size() + 4;
		return head.substr(start, head.find("\r\n", start) - start);
	}
};

/// Sends @p request on a new connection and reads the response to its end.
Response ask(uint16_t port, std::string_view request)
{
	Connection connection(port);
	// A refused request may be answered before all of it is sent.
	connection.send(request);
	Response response;
	response.head = connection.read_head();
	response.status = status_of(response.head);
	response.body = connection.read_rest();
	return response;
}

/// What a client of /live.raw received.
struct RawStream {
	int status = 0;
	std::vector<uint64_t> sequences; ///< of the whole frames, in order
	std::string error;		 ///< the first thing wrong, empty when nothing was
	std::string ended;		 ///< why reading ended, empty at the end of stream
};

/// Reads /live.raw to its end, checking every header and every payload byte
/// against the pattern frame the header names. A frame cut off by the end
/// of the stream is not counted.
RawStream read_raw(Connection &connection, const FrameFormat &format, PatternFrames &patterns,
		   const Pace &pace = {})
{
	RawStream r;
	r.status = status_of(connection.read_head());
	if (r.status != 200) {
		r.error = fmt::format("HTTP status {}", r.status);
		return r;
	}
	std::vector<std::byte> payload(format.size_image);
	for (;;) {
		RawFrameHeader h;
		if (!connection.read_exact(reinterpret_cast<std::byte *>(&h), sizeof(h), pace))
			break;
		if (h.magic != RawFrameHeader::kMagic || h.header_size != sizeof(h) ||
		    h.fourcc != format.fourcc || h.width != format.width ||
		    h.height != format.height || h.payload_size != format.size_image) {
			r.error = fmt::format("a wrong frame header after {} frames",
					      r.sequences.size());
			break;
		}
		if (!r.sequences.empty() && h.sequence <= r.sequences.back()) {
			r.error = fmt::format("frame {} after frame {}", h.sequence,
					      r.sequences.back());
			break;
		}
		if (!connection.read_exact(payload.data(), payload.size(), pace))
			break;
		const std::vector<std::byte> &expected = patterns.get(h.sequence);
		if (payload != expected) {
			auto [at, _] =
				std::mismatch(payload.begin(), payload.end(), expected.begin());
			r.error = fmt::format("frame {} differs from the pattern from byte {}",
					      h.sequence, at - payload.begin());
			break;
		}
		r.sequences.push_back(h.sequence);
	}
	r.ended = connection.error();
	return r;
}

/// Frames missing between the first and the last of @p sequences.
uint64_t missing(const std::vector<uint64_t> &sequences)
{
	if (sequences.empty())
		return 0;
	return sequences.back() - sequences.front() + 1 - sequences.size();
}

/// Polls @p condition until it holds or 5 s pass; returns whether it held.
template <typename Condition>
bool eventually(Condition &&condition)
{
	const auto deadline = Clock::now() + 5s;
	while (!condition()) {
		if (Clock::now() > deadline)
			return false;
		std::this_thread::sleep_for(5ms);
	}
	return true;
}

/// Open clients that asked for @p target: once they are there, they are
/// served every frame from the first.
size_t clients_of(const StreamServer &server, std::string_view target)
{
	auto clients = server.clients();
	return size_t(std::count_if(clients.begin(), clients.end(), [&](const ClientStats &c) {
		return c.open && c.target == target;
	}));
}

/// What the server knows of the client it names @p peer.
ClientStats stats_of(const StreamServer &server, const std::string &peer)
{
	auto clients = server.clients();
	auto it = std::find_if(clients.rbegin(), clients.rend(),
			       [&](const ClientStats &c) { return c.peer == peer; });
	EXPECT_NE(it, clients.rend()) << "the server does not know " << peer;
	return it == clients.rend() ? ClientStats{} : *it;
}

std::unique_ptr<StreamServer> make_server(const StreamServerOptions &options = {})
{
	Status status;
	auto server = StreamServer::create(options, status);
	EXPECT_TRUE(server) << status.message();
	return server;
}

std::unique_ptr<PatternSource> make_source(const FrameFormat &format, FrameRate rate,
					   unsigned buffers)
{
	Status status;
	auto source = PatternSource::create(format, rate, buffers, status);
	EXPECT_TRUE(source) << status.message();
	return source;
}

/// A pipeline running on its own thread until stop().
class BackgroundRun {
public:
	explicit BackgroundRun(Pipeline &pipeline)
	    : thread_([this, &pipeline] { status_ = pipeline.run({}, stop_, {}, 10ms); })
	{
	}
	~BackgroundRun() { stop(); }

	Status stop()
	{
		stop_ = true;
		if (thread_.joinable())
			thread_.join();
		return status_;
	}

private:
	std::atomic<bool> stop_{false};
	Status status_;
	std::thread thread_;
};

/// Frames of the first video stream ffprobe counts in @p input.
uint64_t probed_frames(const std::string &input)
{
	std::string out = test::run_command(
		fmt::format("timeout 20 ffprobe -v quiet -count_frames -select_streams v:0 "
			    "-show_entries stream=nb_read_frames -of csv=p=0 '{}'",
			    input));
	return out.empty() ? 0 : std::stoull(out);
}

/// The MD5 of every frame FFmpeg decodes from the input @p input_args
/// gives, as its framemd5 muxer prints them.
std::vector<std::string> frame_md5s(const std::string &input_args)
{
	std::istringstream out(test::run_command("timeout 20 ffmpeg -v error " + input_args +
						 " -f framemd5 - 2>/dev/null"));
	std::vector<std::string> sums;
	for (std::string line; std::getline(out, line);) {
		if (line.empty() || line[0] == '#')
			continue;
		sums.push_back(line.substr(line.rfind(',') + 2));
	}
	return sums;
}

/// framemd5 of pattern frames @p first to @p first + @p count - 1, decoded
/// by FFmpeg from a plain raw file.
std::vector<std::string> pattern_md5s(const FrameFormat &format, uint64_t first, uint64_t count,
				      const test::TempDir &dir)
{
	fs::path raw = dir / "reference.raw";
	{
		std::ofstream out(raw, std::ios::binary);
		std::vector<std::byte> frame(format.size_image);
		for (uint64_t i = first; i < first + count; ++i) {
			pattern::render(format, i, frame);
			out.write(reinterpret_cast<const char *>(frame.data()),
				  std::streamsize(frame.size()));
		}
	}
	return frame_md5s(fmt::format("-f rawvideo -pixel_format {} -video_size {}x{} -i '{}'",
				      ffmpeg_pix_fmt(format.fourcc), format.width, format.height,
				      raw.string()));
}

std::string file_bytes(const fs::path &path)
{
	std::ifstream in(path, std::ios::binary);
	return {std::istreambuf_iterator<char>(in), {}};
}

TEST(StreamServer, SixteenClientsGetEveryByteRightWhileTheRecordingLosesNothing)
{
	constexpr uint64_t kFrames = 120; // 2 s at 60 fps
	constexpr size_t kClients = 16;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	test::TempDir dir;
	const fs::path file = dir / "recording.mkv";
	auto source = make_source(format, {60, 1}, 32);
	ASSERT_TRUE(source);
	auto server = make_server();
	ASSERT_TRUE(server);
	const StreamServer &live = *server;
	Pipeline pipeline(*source);
	pipeline.add_sink(make_disk_sink({.path = file, .container = Container::matroska}),
			  {.queue_frames = 8, .policy = OverflowPolicy::block});
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::drop});

	PatternFrames patterns(format);
	std::deque<Connection> clients;
	std::vector<RawStream> received(kClients);
	std::vector<std::jthread> readers;
	for (size_t i = 0; i < kClients; ++i) {
		Connection &client = clients.emplace_back(live.port());
		ASSERT_TRUE(client.send(get_request("/live.raw")));
		readers.emplace_back(
			[&, i] { received[i] = read_raw(clients[i], format, patterns); });
	}
	ASSERT_TRUE(eventually([&] { return clients_of(live, "/live.raw") == kClients; }));

	std::atomic<bool> stop{false};
	Status status = pipeline.run({.frames = kFrames}, stop);
	ASSERT_TRUE(status) << status.message();
	readers.clear(); // the end of the run ends every stream

	EXPECT_EQ(source->stats().frames.load(), kFrames);
	EXPECT_EQ(source->stats().dropped.load(), 0u);
	EXPECT_EQ(pipeline.sink(0).stats().frames.load(), kFrames);
	EXPECT_EQ(probed_frames(file.string()), kFrames);
	for (size_t i = 0; i < kClients; ++i) {
		SCOPED_TRACE(fmt::format("client {}", i));
		const RawStream &r = received[i];
		EXPECT_EQ(r.error, "");
		EXPECT_EQ(r.ended, "");
		EXPECT_GE(r.sequences.size(), kFrames / 2);
		ClientStats s = stats_of(live, clients[i].name());
		EXPECT_EQ(s.path, NetPath::copy);
		// Every frame the server sent whole arrived whole.
		EXPECT_EQ(s.frames, r.sequences.size());
		EXPECT_EQ(s.bytes, s.frames * format.size_image);
		EXPECT_EQ(s.closed_because, "the stream ended");
	}
}

TEST(StreamServer, AClientThatNeverReadsIsDisconnectedWhileAnotherGetsEveryFrame)
{
	constexpr uint64_t kFrames = 90; // 1.5 s at 60 fps
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	test::TempDir dir;
	const fs::path file = dir / "recording.mkv";
	auto source = make_source(format, {60, 1}, 16);
	ASSERT_TRUE(source);
	StreamServerOptions options;
	options.stall_timeout = 500ms;
	auto server = make_server(options);
	ASSERT_TRUE(server);
	const StreamServer &live = *server;
	Pipeline pipeline(*source);
	pipeline.add_sink(make_disk_sink({.path = file, .container = Container::matroska}),
			  {.queue_frames = 8, .policy = OverflowPolicy::block});
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::drop});

	// Its socket takes a few KiB; it never reads them.
	Connection stalled(live.port(), 4096);
	ASSERT_TRUE(stalled.send(get_request("/live.raw")));
	PatternFrames patterns(format);
	Connection reader(live.port());
	ASSERT_TRUE(reader.send(get_request("/live.raw")));
	RawStream received;
	std::jthread reading([&] { received = read_raw(reader, format, patterns); });
	ASSERT_TRUE(eventually([&] { return clients_of(live, "/live.raw") == 2; }));

	std::atomic<bool> stop{false};
	Status status = pipeline.run({.frames = kFrames}, stop);
	ASSERT_TRUE(status) << status.message();
	reading.join();

	ClientStats gone = stats_of(live, stalled.name());
	EXPECT_FALSE(gone.open);
	EXPECT_EQ(gone.closed_because, "stalled for 500 ms");

	EXPECT_EQ(received.error, "");
	EXPECT_EQ(received.ended, "");
	EXPECT_GE(received.sequences.size(), kFrames - 2);
	EXPECT_EQ(stats_of(live, reader.name()).frames, received.sequences.size());

	EXPECT_EQ(source->stats().dropped.load(), 0u);
	EXPECT_EQ(pipeline.sink(0).stats().frames.load(), kFrames);
	EXPECT_EQ(probed_frames(file.string()), kFrames);
}

class StreamServerPaths : public testing::TestWithParam<NetPath> {};

TEST_P(StreamServerPaths, BuffersRecycledUnderASlowClientNeverLeakIntoItsFrames)
{
	constexpr uint64_t kFrames = 180; // 1.5 s at 120 fps
	const FrameFormat format = *packed_format(pixfmt::YUYV, 640, 480);
	// Four buffers: the source reuses each one every few frames.
	auto source = make_source(format, {120, 1}, 4);
	ASSERT_TRUE(source);
	StreamServerOptions options;
	options.net_path = GetParam();
	auto server = make_server(options);
	ASSERT_TRUE(server);
	const StreamServer &live = *server;
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(server), {.queue_frames = 1, .policy = OverflowPolicy::drop});

	// 16 KiB a millisecond at most, through a small socket buffer: a
	// fraction of the 70 MB/s the source makes.
	PatternFrames patterns(format);
	Connection slow(live.port(), 64 * 1024);
	ASSERT_TRUE(slow.send(get_request("/live.raw")));
	RawStream received;
	std::jthread reading([&] {
		received = read_raw(slow, format, patterns, {.chunk = 16 * 1024, .pause = 1ms});
	});
	ASSERT_TRUE(eventually([&] { return clients_of(live, "/live.raw") == 1; }));

	std::atomic<bool> stop{false};
	Status status = pipeline.run({.frames = kFrames}, stop);
	ASSERT_TRUE(status) << status.message();
	EXPECT_EQ(source->pool().free_count(), source->pool().count())
		<< "frames are still pinned after the run";
	reading.join();

	ClientStats s = stats_of(live, slow.name());
	// sendfile to a peer on this host is refused: its socket would read the
	// pages after acknowledging them. It gets send().
	EXPECT_EQ(s.path, GetParam() == NetPath::sendfile ? NetPath::copy : GetParam());
	EXPECT_EQ(received.error, "");
	EXPECT_EQ(received.ended, "");
	EXPECT_GE(received.sequences.size(), 3u);
	EXPECT_GT(s.dropped, 0u);
	// Its drops spare the source, which finds a free buffer for nearly
	// every frame (a frame the kernel still sends may be one too many
	// now and then, on a loaded machine).
	EXPECT_LE(source->stats().dropped.load(), kFrames / 20);
	EXPECT_EQ(s.frames, received.sequences.size());
	EXPECT_EQ(s.bytes, s.frames * format.size_image);
	// Copied: each payload byte sent once, by send() or by the kernel on
	// local delivery of a zero-copy send, or set aside when the client fell
	// behind; at most the frame cut off at the end beyond what was sent.
	EXPECT_GE(s.copied, s.bytes);
	EXPECT_LE(s.copied, s.bytes + format.size_image);
	EXPECT_EQ(live.stats().copied_bytes.load(), s.copied);
}

INSTANTIATE_TEST_SUITE_P(StreamServer, StreamServerPaths,
			 testing::Values(NetPath::copy, NetPath::zerocopy, NetPath::sendfile),
			 [](const testing::TestParamInfo<NetPath> &info) {
				 return std::string(net_path_name(info.param));
			 });

TEST(StreamServer, FfmpegAndGstreamerPlayTheLiveMatroskaStream)
{
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	test::TempDir dir;
	auto source = make_source(format, {30, 1}, 8);
	ASSERT_TRUE(source);
	auto server = make_server();
	ASSERT_TRUE(server);
	const std::string url = fmt::format("http://127.0.0.1:{}/live.mkv", server->port());
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::drop});
	BackgroundRun run(pipeline);

	// Two seconds of the stream: 60 frames at 30 fps.
	std::istringstream probe(test::run_command(fmt::format(
		"timeout 20 ffprobe -v error -count_frames -read_intervals %+2 -select_streams v:0 "
		"-show_entries stream=codec_name,width,height,pix_fmt,r_frame_rate,nb_read_frames "
		"-of default=nw=1 {}",
		url)));
	std::map<std::string, std::string> probed;
	for (std::string line; std::getline(probe, line);)
		if (size_t equals = line.find('='); equals != line.npos)
			probed[line.substr(0, equals)] = line.substr(equals + 1);
	EXPECT_EQ(probed["codec_name"], "rawvideo");
	EXPECT_EQ(probed["width"], "320");
	EXPECT_EQ(probed["height"], "240");
	EXPECT_EQ(probed["pix_fmt"], "yuyv422");
	EXPECT_EQ(probed["r_frame_rate"], "30/1");
	const int frames = std::atoi(probed["nb_read_frames"].c_str());
	EXPECT_GE(frames, 58);
	EXPECT_LE(frames, 62);

	// Ten frames FFmpeg decodes are consecutive pattern frames, from about
	// where the source was when it connected.
	const uint64_t before = source->stats().frames.load();
	std::vector<std::string> decoded = frame_md5s(fmt::format("-i {} -frames:v 10", url));
	const uint64_t after = source->stats().frames.load();
	ASSERT_EQ(decoded.size(), 10u);
	const uint64_t first = before - std::min<uint64_t>(before, 8);
	std::vector<std::string> window = pattern_md5s(format, first, after - first, dir);
	EXPECT_NE(std::search(window.begin(), window.end(), decoded.begin(), decoded.end()),
		  window.end())
		<< "FFmpeg's frames are not consecutive pattern frames from " << first << " to "
		<< after;

	// GStreamer: matroskademux reading a stream ignores the end its sink
	// asks for, so gst-launch ends with the stream, stopped once fakesink
	// took its 20 buffers.
	FILE *gst = popen(fmt::format("timeout 20 gst-launch-1.0 -v souphttpsrc location={} ! "
				      "matroskademux ! fakesink num-buffers=20 silent=false",
				      url)
				  .c_str(),
			  "r");
	ASSERT_TRUE(gst);
	int buffers = 0;
	char *line = nullptr;
	size_t capacity = 0;
	while (buffers < 20 && getline(&line, &capacity, gst) > 0)
		buffers += std::strstr(line, "last-message = chain") != nullptr;
	Status status = run.stop();
	EXPECT_TRUE(status) << status.message();
	while (getline(&line, &capacity, gst) > 0)
		buffers += std::strstr(line, "last-message = chain") != nullptr;
	free(line);
	int exit_status = pclose(gst);
	EXPECT_EQ(buffers, 20);
	EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0) << exit_status;
}

TEST(StreamServer, RecordingsAreServedWithRangesAndNothingOutsideTheirDirectory)
{
	constexpr uint64_t kFrames = 10;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	test::TempDir dir;
	const fs::path file = dir / "pattern.mkv";
	{
		auto source = make_source(format, {}, 8);
		ASSERT_TRUE(source);
		Pipeline pipeline(*source);
		pipeline.add_sink(make_disk_sink({.path = file, .container = Container::matroska}),
				  {.queue_frames = 4, .policy = OverflowPolicy::block});
		std::atomic<bool> stop{false};
		Status status = pipeline.run({.frames = kFrames}, stop);
		ASSERT_TRUE(status) << status.message();
	}
	fs::create_symlink("/etc/passwd", dir / "passwd");
	const std::string bytes = file_bytes(file);
	const uint64_t size = bytes.size();
	ASSERT_GT(size, 1000u);

	StreamServerOptions options;
	options.recordings = dir.path();
	auto server = make_server(options);
	ASSERT_TRUE(server);
	const uint16_t port = server->port();
	const std::string url = fmt::format("http://127.0.0.1:{}/recordings/", port);

	// Symbolic links are not listed.
	Response listing = ask(port, get_request("/recordings/", "Accept: text/plain\r\n"));
	EXPECT_EQ(listing.status, 200);
	EXPECT_EQ(listing.body, fmt::format("pattern.mkv {}\n", size));

	Response whole = ask(port, get_request("/recordings/pattern.mkv"));
	EXPECT_EQ(whole.status, 200);
	EXPECT_EQ(whole.header("Content-Length"), std::to_string(size));
	EXPECT_EQ(whole.body.size(), size);
	EXPECT_TRUE(whole.body == bytes);

	Response range =
		ask(port, get_request("/recordings/pattern.mkv", "Range: bytes=100-199\r\n"));
	EXPECT_EQ(range.status, 206);
	EXPECT_EQ(range.header("Content-Range"), fmt::format("bytes 100-199/{}", size));
	EXPECT_EQ(range.body, bytes.substr(100, 100));

	Response suffix =
		ask(port, get_request("/recordings/pattern.mkv", "Range: bytes=-500\r\n"));
	EXPECT_EQ(suffix.status, 206);
	EXPECT_EQ(suffix.header("Content-Range"),
		  fmt::format("bytes {}-{}/{}", size - 500, size - 1, size));
	EXPECT_EQ(suffix.body, bytes.substr(size - 500));

	Response beyond = ask(port, get_request("/recordings/pattern.mkv",
						fmt::format("Range: bytes={}-\r\n", size)));
	EXPECT_EQ(beyond.status, 416);
	EXPECT_EQ(beyond.header("Content-Range"), fmt::format("bytes */{}", size));

	for (const char *target :
	     {"/recordings/../etc/passwd", "/recordings/%2e%2e/etc/passwd",
	      "/recordings/%2e%2e%2fetc%2fpasswd", "/recordings/passwd", "/recordings/.."}) {
		SCOPED_TRACE(target);
		Response refused = ask(port, get_request(target));
		EXPECT_EQ(refused.status, 404);
		EXPECT_EQ(refused.body.find("root:"), std::string::npos);
	}

	// Third-party clients: curl, whole and a range; FFmpeg reads every frame.
	int exit_status = -1;
	std::string curled = test::run_command(
		fmt::format("timeout 20 curl -sf {}pattern.mkv", url), &exit_status);
	EXPECT_EQ(exit_status, 0);
	EXPECT_TRUE(curled == bytes);
	EXPECT_EQ(
		test::run_command(fmt::format("timeout 20 curl -sf -r 100-199 {}pattern.mkv", url)),
		bytes.substr(100, 100));
	EXPECT_EQ(probed_frames(url + "pattern.mkv"), kFrames);
}

TEST(StreamServer, BadRequestsAreRefusedAndHurtNoOneElse)
{
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	auto source = make_source(format, {60, 1}, 12);
	ASSERT_TRUE(source);
	StreamServerOptions options;
	options.request_timeout = 500ms;
	auto server = make_server(options);
	ASSERT_TRUE(server);
	const StreamServer &live = *server;
	const uint16_t port = live.port();
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::drop});

	PatternFrames patterns(format);
	Connection good(port);
	ASSERT_TRUE(good.send(get_request("/live.raw")));
	RawStream received;
	std::jthread watching([&] { received = read_raw(good, format, patterns); });
	ASSERT_TRUE(eventually([&] { return clients_of(live, "/live.raw") == 1; }));
	BackgroundRun run(pipeline);

	// A header byte every 100 ms: the request never completes in time.
	Connection slowloris(port);
	const std::string slow_request = get_request("/live.raw");
	size_t slow_sent = 0;
	Clock::duration slow_lasted{};
	std::string slow_answer;
	std::jthread trickling([&] {
		const auto start = Clock::now();
		for (; slow_sent < slow_request.size(); ++slow_sent) {
			if (!slowloris.send(std::string_view(slow_request).substr(slow_sent, 1)))
				break;
			pollfd p{.fd = slowloris.fd(), .events = POLLIN | POLLRDHUP, .revents = 0};
			if (poll(&p, 1, 100) != 0)
				break;
		}
		slow_lasted = Clock::now() - start;
		slow_answer = slowloris.read_rest();
	});

	const struct {
		const char *what;
		std::string request;
		int status;
	} refused[] = {
		{"garbage", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n", 13), 400},
		{"a 20 KB header",
		 get_request("/live.raw", "X-Filler: " + std::string(20000, 'a') + "\r\n"), 431},
		{"a path above the root", get_request("/../etc/passwd"), 404},
		{"recordings not served", get_request("/recordings/../../etc/passwd"), 404},
		{"POST", "POST /live.raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
		 405},
	};
	for (const auto &bad : refused) {
		SCOPED_TRACE(bad.what);
		Response response = ask(port, bad.request);
		EXPECT_EQ(response.status, bad.status) << response.head;
	}

	// A hundred connections opened and closed at once; the server lets
	// go of every one.
	std::vector<std::string> crowd_names;
	{
		std::deque<Connection> crowd;
		for (int i = 0; i < 100; ++i)
			crowd_names.push_back(crowd.emplace_back(port).name());
	}
	EXPECT_TRUE(eventually([&] {
		auto clients = live.clients();
		return std::none_of(clients.begin(), clients.end(), [&](const ClientStats &c) {
			return c.open && std::find(crowd_names.begin(), crowd_names.end(),
						   c.peer) != crowd_names.end();
		});
	}));

	trickling.join();
	EXPECT_LT(slow_sent, slow_request.size());
	EXPECT_GE(slow_lasted, 400ms);
	EXPECT_LE(slow_lasted, 3s);
	EXPECT_TRUE(slow_answer.empty() || slow_answer.starts_with("HTTP/1.1 408")) << slow_answer;
	EXPECT_EQ(stats_of(live, slowloris.name()).closed_because, "no request in time");

	// The server still answers.
	EXPECT_EQ(ask(port, "HEAD /live.raw HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status, 200);
	EXPECT_EQ(ask(port, get_request("/nothing")).status, 404);

	Status status = run.stop();
	ASSERT_TRUE(status) << status.message();
	watching.join();
	// The good client's stream went on throughout: no frame missing that
	// the server did not count as dropped.
	const uint64_t made = source->stats().frames.load();
	EXPECT_EQ(received.error, "");
	EXPECT_EQ(received.ended, "");
	EXPECT_GE(received.sequences.size(), made * 9 / 10);
	EXPECT_LE(missing(received.sequences), live.stats().dropped.load());
	EXPECT_EQ(stats_of(live, good.name()).frames, received.sequences.size());
}

} // namespace
