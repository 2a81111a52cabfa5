// SPDX-License-Identifier: LGPL-2.1-or-later
// The HTTP streaming server under network faults: clients that reset at
// random points of a frame, half-closed and vanished clients, 200 clients at
// once (with and without room for them), ten thousand short connections,
// slowloris requests and a process out of file descriptors. Whatever they
// do, a good client gets every frame it is sent, byte for byte, the server
// lets go of every descriptor and frame, its memory stays bounded, and new
// clients are still answered.
#include <zcap/stream_server.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>

#include "stream_test_client.h"
#include "test_files.h"

using namespace zcap;
using namespace zcap::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

/// Long enough for any machine to have done what a test waits for: only
/// so that a broken server fails the test rather than hangs it.
constexpr auto kHangGuard = 60s;

/// Descriptors this process has open.
size_t open_fds()
{
	size_t count = 0;
	for ([[maybe_unused]] const auto &entry :
	     std::filesystem::directory_iterator("/proc/self/fd"))
		++count;
	return count;
}

/// What this process's descriptors refer to, for failure messages.
std::string fd_targets()
{
	std::map<std::string, int> targets;
	for (const auto &entry : std::filesystem::directory_iterator("/proc/self/fd")) {
		std::error_code ec;
		std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
		++targets[target.starts_with("socket:") ? "socket" : target];
	}
	std::string text;
	for (const auto &[target, count] : targets)
		text += fmt::format(" {}x {}", count, target);
	return text;
}

/// This process's resident memory, in bytes.
uint64_t resident_bytes()
{
	std::ifstream status("/proc/self/status");
	for (std::string line; std::getline(status, line);)
		if (line.starts_with("VmRSS:"))
			return std::stoull(line.substr(6)) * 1024;
	ADD_FAILURE() << "no VmRSS in /proc/self/status";
	return 0;
}

/// CPU time this process used, all threads.
std::chrono::nanoseconds cpu_time()
{
	timespec t{};
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

/// Sets the process's limit of descriptors for its lifetime: to @p count,
/// or to at least @p count; never above the hard limit.
class FdLimit {
public:
	enum Mode { exactly, at_least };

	FdLimit(rlim_t count, Mode mode)
	{
		getrlimit(RLIMIT_NOFILE, &saved_);
		rlimit limit = saved_;
		if (mode == exactly || limit.rlim_cur < count)
			limit.rlim_cur = std::min(count, limit.rlim_max);
		EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0) << std::strerror(errno);
	}
	~FdLimit() { setrlimit(RLIMIT_NOFILE, &saved_); }
	FdLimit(const FdLimit &) = delete;
	FdLimit &operator=(const FdLimit &) = delete;

private:
	rlimit saved_{};
};

/// Whether the server has closed its client @p peer (false while it does
/// not know it yet).
bool closed(const StreamServer &server, const std::string &peer)
{
	auto clients = server.clients();
	auto it = std::find_if(clients.rbegin(), clients.rend(),
			       [&](const ClientStats &c) { return c.peer == peer; });
	return it != clients.rend() && !it->open;
}

/// Frames that never reached the client @p peer or that it lost, as the
/// server counted them: the client's own count (its queue, the server's
/// mailbox while it streamed) and the server's (its pipeline queue and
/// mailbox, counted there too: an upper bound).
uint64_t counted_drops(const StreamServer &server, const std::string &peer)
{
	return stats_of(server, peer).dropped + server.stats().dropped.load();
}

/// A client of /live.raw reading on its own thread from before the
/// pipeline runs: it must get every frame but those counted as dropped.
class GoodClient {
public:
	GoodClient(const StreamServer &server, const FrameFormat &format)
	    : server_(server), connection_(server.port()), patterns_(format)
	{
		EXPECT_TRUE(connection_.send(get_request("/live.raw")));
		thread_ = std::jthread(
			[this, format] { received_ = read_raw(connection_, format, patterns_); });
		EXPECT_TRUE(eventually([&] { return clients_of(server, "/live.raw") == 1; }));
	}

	const std::string &name() const { return connection_.name(); }
	uint64_t frames() const { return stats_of(server_, name()).frames; }

	/// After the run ended: every frame the source made reached the client
	/// whole and right, but those dropped and counted.
	void expect_every_frame(const PatternSource &source)
	{
		thread_.join();
		const uint64_t made = source.stats().frames.load();
		const uint64_t dropped =
			counted_drops(server_, name()) + source.stats().dropped.load();
		EXPECT_EQ(received_.error, "");
		EXPECT_EQ(received_.ended, "");
		EXPECT_LE(missing(received_.sequences), dropped);
		// However far behind a loaded machine left the server.
		EXPECT_GE(received_.sequences.size() + counted_drops(server_, name()), made)
			<< "of " << made;
		ClientStats s = stats_of(server_, name());
		EXPECT_EQ(s.frames, received_.sequences.size());
		EXPECT_EQ(s.closed_because, "the stream ended");
	}

private:
	const StreamServer &server_;
	Connection connection_;
	PatternFrames patterns_;
	RawStream received_;
	std::jthread thread_;
};

class StreamServerResets : public testing::TestWithParam<NetPath> {};

TEST_P(StreamServerResets, ClientsResettingMidFrameLeaveNoTraceAndHurtNoOne)
{
	constexpr size_t kThreads = 8, kEach = 6;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	const size_t frame_bytes = sizeof(RawFrameHeader) + format.size_image;
	auto source = make_source(format, {60, 1}, 16);
	ASSERT_TRUE(source);
	StreamServerOptions options;
	options.net_path = GetParam();
	auto server = make_server(options);
	ASSERT_TRUE(server);
	const StreamServer &live = *server;
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::drop});

	GoodClient good(live, format);
	BackgroundRun run(pipeline);
	ASSERT_TRUE(eventually([&] { return good.frames() >= 2; }));
	const size_t baseline = open_fds();

	// Each connects, asks for /live.raw, reads up to a random byte of its
	// first three frames (some not even the whole request sent, some
	// nothing read) and resets the connection.
	const unsigned seed = std::random_device{}();
	SCOPED_TRACE(fmt::format("seed {}", seed));
	std::mutex names_lock;
	std::vector<std::string> names;
	std::vector<std::jthread> threads;
	for (size_t t = 0; t < kThreads; ++t) {
		threads.emplace_back([&, t] {
			std::mt19937 random(seed + unsigned(t));
			const std::string request = get_request("/live.raw");
			for (size_t i = 0; i < kEach; ++i) {
				// Half with a small socket buffer: the server is
				// amid a frame, waiting for room, when the reset comes.
				Connection c(live.port(), random() % 2 ? 8192 : 0);
				{
					std::lock_guard lock(names_lock);
					names.push_back(c.name());
				}
				const unsigned kind = random() % 8;
				if (kind == 0) {
					c.send(std::string_view(request).substr(
						0, random() % request.size()));
				} else {
					c.send(request);
					size_t cut = kind == 1 ? 0 : random() % (3 * frame_bytes);
					if (cut)
						c.read_head();
					std::vector<std::byte> sink(64 * 1024);
					while (cut) {
						size_t n = c.read_some(sink.data(),
								       std::min(cut, sink.size()));
						if (n == 0)
							break;
						cut -= n;
					}
				}
				c.abort();
				std::this_thread::sleep_for(
					std::chrono::milliseconds(random() % 20));
			}
		});
	}
	threads.clear();

	EXPECT_TRUE(eventually([&] {
		return std::all_of(names.begin(), names.end(),
				   [&](const std::string &name) { return closed(live, name); });
	}));
	// The server closed its side of each: back to the descriptors it had.
	EXPECT_TRUE(eventually([&] { return open_fds() == baseline; }))
		<< open_fds() << " descriptors open, " << baseline << " before:" << fd_targets();
	std::map<std::string, int> reasons;
	for (const std::string &name : names)
		++reasons[stats_of(live, name).closed_because];
	for (const auto &[reason, count] : reasons)
		EXPECT_TRUE(reason == "Connection reset by peer" || reason == "Broken pipe")
			<< count << " clients closed because: " << reason;

	Status status = run.stop();
	ASSERT_TRUE(status) << status.message();
	EXPECT_EQ(source->pool().free_count(), source->pool().count())
		<< "frames are still pinned after the run";
	good.expect_every_frame(*source);
}

INSTANTIATE_TEST_SUITE_P(StreamServer, StreamServerResets,
			 testing::Values(NetPath::copy, NetPath::zerocopy),
			 [](const testing::TestParamInfo<NetPath> &info) {
				 return std::string(net_path_name(info.param));
			 });

TEST(StreamServerFaults, HalfClosedClientsAreStreamedAndVanishedOnesClosed)
{
	constexpr size_t kEach = 20;
	constexpr size_t kReaders = 4;
	constexpr size_t kFramesRead = 3;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	auto source = make_source(format, {60, 1}, 16);
	ASSERT_TRUE(source);
	StreamServerOptions options;
	options.stall_timeout = 500ms;
	auto server = make_server(options);
	ASSERT_TRUE(server);
	const StreamServer &live = *server;
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::drop});

	GoodClient good(live, format);
	BackgroundRun run(pipeline);
	ASSERT_TRUE(eventually([&] { return good.frames() >= 2; }));
	const size_t baseline = open_fds();

	// Half-closed: the request, then the end of their input, as some tools
	// do (shutdown(SHUT_WR)); the readers read, the others never do.
	// Vanished: the request, then nothing at all, as when the peer's host
	// is gone. A few KiB of socket buffer for those that do not read.
	const auto start = Clock::now();
	std::deque<Connection> readers, half_closed, vanished;
	auto ask_and_half_close = [&](Connection &c) {
		EXPECT_TRUE(c.send(get_request("/live.raw")));
		EXPECT_EQ(shutdown(c.fd(), SHUT_WR), 0);
	};
	for (size_t i = 0; i < kReaders; ++i)
		ask_and_half_close(readers.emplace_back(live.port()));
	for (size_t i = 0; i < kEach; ++i) {
		ask_and_half_close(half_closed.emplace_back(live.port(), 4096));
		Connection &v = vanished.emplace_back(live.port(), 4096);
		EXPECT_TRUE(v.send(get_request("/live.raw")));
	}

	// An end of input is no goodbye: the readers are streamed, frame after
	// whole frame, and stay open.
	PatternFrames patterns(format);
	std::vector<std::byte> payload(format.size_image);
	for (Connection &c : readers) {
		SCOPED_TRACE(c.name());
		EXPECT_EQ(status_of(c.read_head()), 200);
		uint64_t previous = 0;
		for (size_t i = 0; i < kFramesRead; ++i) {
			RawFrameHeader h;
			ASSERT_TRUE(c.read_exact(reinterpret_cast<std::byte *>(&h), sizeof(h), {}));
			ASSERT_EQ(h.magic, RawFrameHeader::kMagic);
			ASSERT_EQ(h.payload_size, format.size_image);
			ASSERT_TRUE(c.read_exact(payload.data(), payload.size(), {}));
			EXPECT_TRUE(payload == patterns.get(h.sequence)) << "frame " << h.sequence;
			EXPECT_TRUE(i == 0 || h.sequence > previous);
			previous = h.sequence;
		}
		EXPECT_FALSE(closed(live, c.name()));
	}
	// Closing is their goodbye: the next send finds them gone.
	std::vector<std::string> reader_names;
	for (const Connection &c : readers)
		reader_names.push_back(c.name());
	readers.clear();
	for (const std::string &name : reader_names) {
		EXPECT_TRUE(eventually([&] { return closed(live, name); })) << name;
		const std::string why = stats_of(live, name).closed_because;
		EXPECT_TRUE(why == "peer closed" || why == "Connection reset by peer" ||
			    why == "Broken pipe")
			<< why;
		EXPECT_GE(stats_of(live, name).frames, kFramesRead);
	}

	// Those that never read stall, as do the vanished ones.
	auto all_closed = [&](const std::deque<Connection> &connections) {
		return std::all_of(connections.begin(), connections.end(),
				   [&](const Connection &c) { return closed(live, c.name()); });
	};
	EXPECT_TRUE(
		eventually([&] { return all_closed(half_closed) && all_closed(vanished); }, 3s));
	const auto lasted = Clock::now() - start;
	EXPECT_GE(lasted, 500ms);
	for (const std::deque<Connection> *connections : {&half_closed, &vanished})
		for (const Connection &c : *connections)
			EXPECT_EQ(stats_of(live, c.name()).closed_because, "stalled for 500 ms");
	// The server closed its side while the clients still hold theirs.
	EXPECT_TRUE(eventually([&] { return open_fds() == baseline + 2 * kEach; }))
		<< open_fds() << " descriptors open, " << baseline << " + " << 2 * kEach
		<< " expected:" << fd_targets();
	half_closed.clear();
	vanished.clear();
	EXPECT_EQ(open_fds(), baseline);

	Status status = run.stop();
	ASSERT_TRUE(status) << status.message();
	good.expect_every_frame(*source);
}

TEST(StreamServerFaults, TenThousandConnectionsLeaveABoundedHistory)
{
	constexpr size_t kConnections = 10000;
	constexpr size_t kCheckEvery = 500;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 160, 120);
	auto source = make_source(format, {30, 1}, 16);
	ASSERT_TRUE(source);
	auto server = make_server();
	ASSERT_TRUE(server);
	const StreamServer &live = *server;
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::drop});

	GoodClient good(live, format);
	BackgroundRun run(pipeline);
	ASSERT_TRUE(eventually([&] { return good.frames() >= 2; }));

	// Short connections one after the other: half ask for a HEAD and read
	// the answer, half close without asking. The history holds the open
	// clients (the good one, a straggler or two) and the last closed ones.
	const std::string head = "HEAD /live.raw HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	size_t most = 0;
	std::string last;
	for (size_t i = 0; i < kConnections; ++i) {
		Connection c(live.port());
		last = c.name();
		if (i % 2 == 0) {
			ASSERT_TRUE(c.send(head));
			ASSERT_EQ(status_of(c.read_head()), 200);
		}
		if (i % kCheckEvery == 0)
			most = std::max(most, live.clients().size());
	}
	// Once the last is closed and let go of: the good client and the last
	// kClosedClientsKept.
	const size_t kept = StreamServer::kClosedClientsKept + 1;
	EXPECT_TRUE(eventually([&] { return closed(live, last) && live.clients().size() == kept; }))
		<< live.clients().size() << " clients in the history, " << kept << " expected";
	const std::vector<ClientStats> clients = live.clients();
	most = std::max(most, clients.size());
	fmt::print("{} connections: {} clients in the history at most, {} at the end\n",
		   kConnections, most, clients.size());
	EXPECT_LE(most, StreamServer::kClosedClientsKept + 8);
	EXPECT_EQ(live.client_count(), kConnections + 1);
	// The oldest entry is the open client, the newest the last connection.
	ASSERT_FALSE(clients.empty());
	EXPECT_EQ(clients.front().peer, good.name());
	EXPECT_TRUE(clients.front().open);
	EXPECT_EQ(clients.back().peer, last);

	Status status = run.stop();
	ASSERT_TRUE(status) << status.message();
	good.expect_every_frame(*source);
}

/// 200 clients of /live.raw at once on a server that takes @p max_clients:
/// the first ones get every byte right and nearly every frame, the rest a
/// 503; descriptors and memory stay bounded and come back.
void crowd(unsigned max_clients)
{
	constexpr size_t kClients = 200;
	constexpr uint64_t kFrames = 60; // 2 s at 30 fps
	const size_t served = std::min<size_t>(kClients, max_clients);
	FdLimit room(2 * kClients + 256, FdLimit::at_least);
	const FrameFormat format = *packed_format(pixfmt::YUYV, 160, 120);
	auto source = make_source(format, {30, 1}, 16);
	ASSERT_TRUE(source);
	StreamServerOptions options;
	options.max_clients = max_clients;
	auto server = make_server(options);
	ASSERT_TRUE(server);
	const StreamServer &live = *server;
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::drop});

	const size_t fds_before = open_fds();
	const uint64_t memory_before = resident_bytes();
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
	ASSERT_TRUE(eventually([&] { return clients_of(live, "/live.raw") == served; }));

	size_t fds_most = 0;
	uint64_t memory_most = 0;
	auto sample = [&] {
		fds_most = std::max(fds_most, open_fds());
		memory_most = std::max(memory_most, resident_bytes());
	};
	std::atomic<bool> stop{false};
	Status status = pipeline.run({.frames = kFrames}, stop, sample, 50ms);
	ASSERT_TRUE(status) << status.message();
	sample();
	readers.clear(); // the end of the run ends every stream

	const uint64_t made = source->stats().frames.load();
	EXPECT_EQ(made, kFrames);
	for (size_t i = 0; i < kClients; ++i) {
		SCOPED_TRACE(fmt::format("client {}", i));
		const RawStream &r = received[i];
		ClientStats s = stats_of(live, clients[i].name());
		if (i >= served) {
			EXPECT_EQ(r.status, 503);
			EXPECT_EQ(s.frames, 0u);
			EXPECT_EQ(s.closed_because, "answered");
			continue;
		}
		EXPECT_EQ(r.status, 200);
		EXPECT_EQ(r.error, "");
		EXPECT_EQ(r.ended, "");
		EXPECT_GE(r.sequences.size() + counted_drops(live, clients[i].name()), made);
		EXPECT_LE(missing(r.sequences),
			  counted_drops(live, clients[i].name()) + source->stats().dropped.load());
		EXPECT_EQ(s.frames, r.sequences.size());
		EXPECT_EQ(s.bytes, s.frames * format.size_image);
		EXPECT_EQ(s.closed_because, "the stream ended");
	}

	clients.clear();
	EXPECT_TRUE(eventually([&] { return open_fds() == fds_before; }))
		<< open_fds() << " descriptors open, " << fds_before << " before:" << fd_targets();
	auto growth = [&](uint64_t bytes) { return bytes - std::min(bytes, memory_before); };
	const uint64_t memory_after = resident_bytes();
	fmt::print("{} clients, {} served: {} descriptors at most ({} before and after), "
		   "{:.1f} MB more memory at most, {:.1f} MB after\n",
		   kClients, served, fds_most, fds_before, double(growth(memory_most)) / 1e6,
		   double(growth(memory_after)) / 1e6);
	// Two descriptors a served client (ours and the server's), one a
	// refused one (ours); a little memory each, most of it our readers'.
	EXPECT_LE(fds_most, fds_before + kClients + served + 16);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	// ASan's allocator keeps redzones and a quarantine, TSan shadow memory
	// and the history of every thread: no bound to check.
	EXPECT_LT(growth(memory_most), 64u << 20);
	EXPECT_LT(growth(memory_after), 32u << 20);
#endif
}

TEST(StreamServerFaults, TwoHundredClientsAreServedEveryByteRight)
{
	crowd(256);
}

TEST(StreamServerFaults, ClientsBeyondMaxClientsGet503AndTheFirstAreServed)
{
	crowd(50);
}

TEST(StreamServerFaults, SlowlorisRequestsAreCutOffAndNewClientsStillAnswered)
{
	constexpr size_t kSlow = 50;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	auto source = make_source(format, {60, 1}, 16);
	ASSERT_TRUE(source);
	StreamServerOptions options;
	options.request_timeout = 300ms;
	auto server = make_server(options);
	ASSERT_TRUE(server);
	const StreamServer &live = *server;
	const uint16_t port = live.port();
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::drop});

	GoodClient good(live, format);
	BackgroundRun run(pipeline);
	ASSERT_TRUE(eventually([&] { return good.frames() >= 2; }));
	const size_t baseline = open_fds();

	// Each sends a byte of a request that never ends every 50 ms, far
	// more often than the timeout: only a deadline for the whole request
	// ends them, however late a loaded machine lets the server see it.
	const std::string request = get_request("/live.raw");
	const std::string endless_start = "GET /live.raw HTTP/1.1\r\nX-Slow: ";
	const auto start = Clock::now();
	std::deque<Connection> slow;
	for (size_t i = 0; i < kSlow; ++i)
		slow.emplace_back(port);
	std::vector<Clock::duration> lasted(kSlow);
	std::vector<size_t> sent(kSlow);
	for (size_t left = kSlow; left && Clock::now() - start < kHangGuard;) {
		for (size_t i = 0; i < kSlow; ++i) {
			if (lasted[i].count())
				continue;
			char byte;
			const char next =
				sent[i] < endless_start.size() ? endless_start[sent[i]] : 'a';
			ssize_t n = recv(slow[i].fd(), &byte, 1, MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN) ||
			    ::send(slow[i].fd(), &next, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
				lasted[i] = Clock::now() - start;
				--left;
				continue;
			}
			++sent[i];
		}
		std::this_thread::sleep_for(50ms);
	}
	for (size_t i = 0; i < kSlow; ++i) {
		SCOPED_TRACE(fmt::format("client {}", i));
		EXPECT_GE(lasted[i], options.request_timeout);
		EXPECT_EQ(stats_of(live, slow[i].name()).closed_because, "no request in time");
	}
	slow.clear();
	EXPECT_TRUE(eventually([&] { return open_fds() == baseline; }))
		<< open_fds() << " descriptors open, " << baseline << " before:" << fd_targets();

	// A new client is answered, and streamed.
	EXPECT_EQ(ask(port, "HEAD /live.raw HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status, 200);
	{
		Connection next(port);
		ASSERT_TRUE(next.send(request));
		EXPECT_EQ(status_of(next.read_head()), 200);
		RawFrameHeader h;
		EXPECT_TRUE(next.read_exact(reinterpret_cast<std::byte *>(&h), sizeof(h), {}));
		EXPECT_EQ(h.magic, RawFrameHeader::kMagic);
	}

	Status status = run.stop();
	ASSERT_TRUE(status) << status.message();
	good.expect_every_frame(*source);
}

TEST(StreamServerFaults, OutOfDescriptorsTheServerWaitsWithoutSpinning)
{
	constexpr size_t kWaiting = 20;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 160, 120);
	auto source = make_source(format, {30, 1}, 16);
	ASSERT_TRUE(source);
	auto server = make_server();
	ASSERT_TRUE(server);
	const StreamServer &live = *server;
	const uint16_t port = live.port();
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::drop});

	GoodClient good(live, format);
	BackgroundRun run(pipeline);
	ASSERT_TRUE(eventually([&] { return good.frames() >= 2; }));

	// Sockets made while there is room, connected (and asking) once the
	// process can open no more: the server cannot accept them.
	std::vector<UniqueFd> waiting;
	for (size_t i = 0; i < kWaiting; ++i)
		waiting.emplace_back(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	const std::string request = get_request("/live.raw");
	std::chrono::nanoseconds spent{};
	LogCapture warnings;
	{
		// The lowest free descriptor: none below it is free.
		const int lowest = dup(waiting.front().get());
		ASSERT_GE(lowest, 0) << std::strerror(errno);
		close(lowest);
		FdLimit limit(rlim_t(lowest), FdLimit::exactly);
		for (const UniqueFd &fd : waiting) {
			ASSERT_EQ(connect(fd.get(), reinterpret_cast<sockaddr *>(&addr),
					  sizeof(addr)),
				  0)
				<< std::strerror(errno);
			ASSERT_EQ(send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL),
				  ssize_t(request.size()));
		}
		ASSERT_EQ(dup(waiting.front().get()), -1) << "the descriptor limit does not hold";
		const auto before = cpu_time();
		std::this_thread::sleep_for(500ms);
		spent = cpu_time() - before;
	}
	// The frames and the good client take a few percent of a CPU; a server
	// retrying accept() without end takes one whole.
	EXPECT_LT(spent, 150ms) << "the server spins while it cannot accept";
	EXPECT_EQ(warnings.warnings(),
		  std::vector<std::string>{
			  "HTTP server: cannot accept clients: Too many open files; retrying"});

	// With room again, the waiting clients are served.
	for (const UniqueFd &fd : waiting) {
		pollfd p{.fd = fd.get(), .events = POLLIN, .revents = 0};
		ASSERT_EQ(poll(&p, 1, 2000), 1) << "a waiting client got no answer";
		char head[16] = {};
		EXPECT_GT(recv(fd.get(), head, sizeof(head) - 1, 0), 12);
		EXPECT_EQ(status_of(head), 200) << head;
	}
	waiting.clear();

	Status status = run.stop();
	ASSERT_TRUE(status) << status.message();
	good.expect_every_frame(*source);
}

} // namespace
