// SPDX-License-Identifier: LGPL-2.1-or-later
// The HTTP streaming server with real clients: every frame a client gets is
// the pattern frame its header names, however many clients there are; a
// client that stops reading is dropped without slowing anyone; buffers
// recycled under a slow client never leak into what it receives, on either
// net path; FFmpeg and GStreamer play /live.mkv; recordings are served with
// ranges and nothing outside their directory; bad requests are answered and
// hurt no one else.
#include <zcap/stream_server.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/disk_sink.h>
#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>

#include "stream_test_client.h"
#include "test_files.h"

using namespace zcap;
using namespace zcap::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

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
		// The connection itself, not clients[i]: the deque grows meanwhile.
		readers.emplace_back([&, i] { received[i] = read_raw(client, format, patterns); });
	}
	ASSERT_TRUE(eventually([&] { return clients_of(live, "/live.raw") == kClients; }));

	std::atomic<bool> stop{false};
	Status status = pipeline.run({.frames = kFrames}, stop);
	ASSERT_TRUE(status) << status.message();
	readers.clear(); // the end of the run ends every stream

	// The recording has every frame the source made (frames it could not
	// make in time on a loaded machine are counted there as dropped).
	EXPECT_EQ(source->stats().frames.load(), kFrames);
	EXPECT_EQ(pipeline.sink(0).stats().frames.load(), kFrames);
	EXPECT_EQ(probed_frames(file.string()), kFrames);
	for (size_t i = 0; i < kClients; ++i) {
		SCOPED_TRACE(fmt::format("client {}", i));
		const RawStream &r = received[i];
		EXPECT_EQ(r.error, "");
		EXPECT_EQ(r.ended, "");
		ClientStats s = stats_of(live, clients[i].name());
		// Every frame reached the client whole and right, or was counted
		// as lost on the way.
		EXPECT_GE(s.frames + s.dropped + live.stats().dropped.load(), kFrames);
		EXPECT_LE(missing(r.sequences), s.dropped + live.stats().dropped.load());
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
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::block});

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
	// Every frame reached it but those the server counted as its drops
	// (its thread fell behind on a loaded machine).
	const ClientStats s = stats_of(live, reader.name());
	EXPECT_EQ(s.frames, received.sequences.size());
	EXPECT_EQ(s.frames + s.dropped, kFrames);
	EXPECT_LE(missing(received.sequences), s.dropped);

	EXPECT_EQ(pipeline.sink(0).stats().frames.load(), kFrames);
	EXPECT_EQ(probed_frames(file.string()), kFrames);
}

class StreamServerPaths : public testing::TestWithParam<NetPath> {};

TEST_P(StreamServerPaths, BuffersRecycledUnderASlowClientNeverLeakIntoItsFrames)
{
	constexpr uint64_t kFramesRead = 3;
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

	// Until the client has fallen behind and read a few frames whole,
	// however long that takes on a loaded machine: the source has reused
	// every buffer many times by then.
	std::atomic<bool> stop{false};
	auto until_behind = [&] {
		const ClientStats s = stats_of(live, slow.name());
		if (s.dropped > 0 && s.frames >= kFramesRead)
			stop = true;
	};
	Status status = pipeline.run({}, stop, until_behind, 50ms);
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
	EXPECT_GE(received.sequences.size(), kFramesRead);
	EXPECT_GT(s.dropped, 0u);
	EXPECT_EQ(s.frames, received.sequences.size());
	EXPECT_EQ(s.bytes, s.frames * format.size_image);
	// Copied: each payload byte sent once, by send() or by the kernel on
	// local delivery of a zero-copy send; a byte set aside when the client
	// fell behind is copied twice (aside, then by send()); at most the frame
	// cut off at the end beyond what was sent.
	EXPECT_GE(s.copied, s.bytes);
	EXPECT_LE(s.copied, 2 * s.bytes + format.size_image);
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
	const StreamServer &live = *server;
	const std::string url = fmt::format("http://127.0.0.1:{}/live.mkv", server->port());
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::drop});
	BackgroundRun run(pipeline);
	// Frames not made or not sent whole so far: the source's (a loaded
	// machine), the server's, and every /live.mkv client's.
	auto counted_drops = [&] {
		uint64_t dropped = source->stats().dropped.load() + live.stats().dropped.load();
		for (const ClientStats &c : live.clients())
			dropped += c.target == "/live.mkv" ? c.dropped : 0;
		return dropped;
	};

	// Two seconds of the stream: 60 frames at 30 fps, less those counted
	// as dropped.
	const uint64_t dropped_before_probe = counted_drops();
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
	const uint64_t frames = std::strtoull(probed["nb_read_frames"].c_str(), nullptr, 10);
	EXPECT_GE(frames, 1u);
	EXPECT_LE(frames, 62u);
	EXPECT_GE(frames + counted_drops() - dropped_before_probe, 58u);

	// Ten frames FFmpeg decodes are pattern frames in order, from about
	// where the source was when it connected; a frame skipped between them
	// is one counted as dropped.
	// The pattern's numbers count the frames it made and those it dropped.
	const uint64_t before = source->stats().frames.load() + source->stats().dropped.load();
	const uint64_t dropped_before_decode = counted_drops();
	std::vector<std::string> decoded =
		frame_md5s(fmt::format("-rw_timeout 20000000 -i {} -frames:v 10", url));
	const uint64_t after = source->stats().frames.load() + source->stats().dropped.load();
	ASSERT_EQ(decoded.size(), 10u);
	const uint64_t first = before - std::min<uint64_t>(before, 8);
	std::vector<uint64_t> sequences(after - first);
	std::iota(sequences.begin(), sequences.end(), first);
	std::vector<std::string> window = pattern_md5s(format, sequences, dir.path());
	std::vector<uint64_t> found;
	for (auto at = window.begin(); const std::string &md5 : decoded) {
		at = std::find(at, window.end(), md5);
		if (at == window.end())
			break;
		found.push_back(sequences[size_t(at - window.begin())]);
		++at;
	}
	ASSERT_EQ(found.size(), decoded.size())
		<< "FFmpeg's frame " << found.size()
		<< " is no pattern frame after the ones before it, from " << first << " to "
		<< after;
	EXPECT_LE(missing(found), counted_drops() - dropped_before_decode);

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
	// Its time counts from before the server can have accepted it.
	const auto slow_start = Clock::now();
	Connection slowloris(port);
	const std::string slow_request = get_request("/live.raw");
	size_t slow_sent = 0;
	Clock::duration slow_lasted{};
	std::string slow_answer;
	std::jthread trickling([&] {
		for (; slow_sent < slow_request.size(); ++slow_sent) {
			if (!slowloris.send(std::string_view(slow_request).substr(slow_sent, 1)))
				break;
			pollfd p{.fd = slowloris.fd(), .events = POLLIN | POLLRDHUP, .revents = 0};
			if (poll(&p, 1, 100) != 0)
				break;
		}
		slow_lasted = Clock::now() - slow_start;
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
	EXPECT_GE(slow_lasted, options.request_timeout);
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
	const uint64_t dropped = stats_of(live, good.name()).dropped + live.stats().dropped.load();
	EXPECT_GE(received.sequences.size() + dropped, made);
	EXPECT_LE(missing(received.sequences), dropped);
	EXPECT_EQ(stats_of(live, good.name()).frames, received.sequences.size());
}

} // namespace
