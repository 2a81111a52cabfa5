// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/stream_server.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/errqueue.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include <zcap/log.h>
#include <zcap/unique_fd.h>

#include "http_request.h"
#include "matroska_layout.h"
#include "recordings.h"

namespace zcap {

namespace {

using Clock = std::chrono::steady_clock;

/// Timeouts are checked at least this often.
constexpr std::chrono::milliseconds kTick{100};
/// Bytes read from a client at a time; requests are small.
constexpr size_t kReadChunk = 4096;
/// The largest single send of a payload or file piece. A send takes what
/// the socket buffer has room for anyway; a cap of 1 MiB cost 20 % of a
/// loopback client's throughput in syscalls (bench/net_bench.py).
constexpr size_t kMaxSend = 8 << 20;
/// A new Cluster at least this often in a live Matroska stream, as in files.
constexpr uint64_t kClusterMs = 1000;
/// How long a closing zero-copy client may take to hand back its pages.
constexpr std::chrono::milliseconds kDrainTimeout{1000};
/// With pace_unlimited_source, the longest write() waits for a client to be
/// ready: clients that take nothing never hold up a pipeline that stops.
constexpr std::chrono::milliseconds kDemandWait = kTick;

/// The payload of the frame a client is sending: from the frame's pages, or
/// from the client's own copy once the frame fell behind (see StreamServer).
struct Payload {
	Frame frame;
	uint64_t arrival = 0; ///< the server's count of frames when it came
	std::vector<std::byte> copy;
	std::span<const std::byte> rest;
	uint64_t size = 0;
	bool zerocopy_sent = false; ///< some bytes went out with MSG_ZEROCOPY
	bool sendfile_sent = false; ///< some bytes went out by sendfile()
};

struct Client {
	enum class State { connecting, request, live, file, draining };
	enum class Live { mkv, raw };

	UniqueFd fd;
	uint64_t stats = 0; ///< key in StreamServerImpl::history_
	bool local = false;
	NetPath path = NetPath::copy;
	State state = State::request;
	Live live = Live::mkv;
	std::string in;
	std::string out;
	size_t out_sent = 0;
	bool close_when_sent = false;
	bool head_only = false;
	bool want_out = false;
	/// The peer ended its side (shutdown(SHUT_WR), or it closed): it is
	/// still sent what it asked for until a send fails or it stalls.
	bool peer_done = false;
	bool gone = false;	 ///< closed; erased at the end of the loop's turn
	std::string push_target; ///< HOST:PORT when zcap connected to it (push)
	std::string closed_because;
	Clock::time_point deadline; ///< request deadline, drain deadline
	Clock::time_point last_progress;

	std::optional<Payload> current;
	std::optional<std::pair<Frame, uint64_t>> next; ///< a frame and its arrival
	/// The offer number (StreamServerImpl::offered_) of the last frame
	/// distributed while this client streamed: a gap is frames it missed.
	uint64_t last_offer = 0;
	bool stream_header_sent = false;
	bool new_cluster = true;
	uint64_t cluster_ms = 0;
	std::optional<uint64_t> first_ns;

	/// MSG_ZEROCOPY: sends are numbered from 0; the kernel reports ranges
	/// of them done. A frame is held until every send of it is done.
	uint32_t zc_next = 0;
	uint32_t zc_done = 0;				    ///< every id below this is done
	std::map<uint32_t, uint32_t> zc_ranges;		    ///< done ranges above zc_done
	std::deque<std::pair<uint32_t, uint32_t>> zc_bytes; ///< id, bytes
	std::deque<std::pair<uint32_t, Frame>> zc_hold;	    ///< last id, frame

	/// sendfile(): bytes written to the socket so far, and the frames the
	/// peer has not acknowledged yet with where they end in that count.
	uint64_t sent_total = 0;
	std::deque<std::pair<uint64_t, Frame>> ack_hold;

	/// The kernel still references pages of frames we gave it.
	bool kernel_holds() const { return !zc_hold.empty() || !ack_hold.empty(); }

	UniqueFd file;
	uint64_t file_offset = 0;
	uint64_t file_left = 0;

	bool sending() const { return out_sent < out.size() || current || next || file_left; }
};

std::string address_text(const sockaddr_storage &a)
{
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;
	if (a.ss_family == AF_INET) {
		const auto &in = reinterpret_cast<const sockaddr_in &>(a);
		inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
		port = ntohs(in.sin_port);
		return fmt::format("{}:{}", host, port);
	}
	const auto &in6 = reinterpret_cast<const sockaddr_in6 &>(a);
	inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
	return fmt::format("[{}]:{}", host, ntohs(in6.sin6_port));
}

/// A peer on this host: loopback, or the very address it reached us on.
/// Zero-copy pages delivered locally are copied by the kernel anyway (and
/// cost more than send()), measured here.
bool is_local(const sockaddr_storage &peer, const sockaddr_storage &self)
{
	if (peer.ss_family == AF_INET) {
		const auto &p = reinterpret_cast<const sockaddr_in &>(peer);
		const auto &s = reinterpret_cast<const sockaddr_in &>(self);
		return (ntohl(p.sin_addr.s_addr) >> 24) == 127 ||
		       p.sin_addr.s_addr == s.sin_addr.s_addr;
	}
	const auto &p = reinterpret_cast<const sockaddr_in6 &>(peer);
	const auto &s = reinterpret_cast<const sockaddr_in6 &>(self);
	return IN6_IS_ADDR_LOOPBACK(&p.sin6_addr) ||
	       std::memcmp(&p.sin6_addr, &s.sin6_addr, sizeof(in6_addr)) == 0 ||
	       (IN6_IS_ADDR_V4MAPPED(&p.sin6_addr) && p.sin6_addr.s6_addr[12] == 127);
}

/// Whether the connection's own address @p self belongs to an interface
/// with a device behind it (a NIC). Virtual ones (loopback, veth, bridges,
/// tun) deliver to sockets on this host.
bool through_device(const sockaddr_storage &self)
{
	ifaddrs *list = nullptr;
	if (getifaddrs(&list) < 0)
		return false;
	bool device = false;
	for (ifaddrs *i = list; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != self.ss_family)
			continue;
		bool same;
		if (self.ss_family == AF_INET)
			same = reinterpret_cast<const sockaddr_in *>(i->ifa_addr)
				       ->sin_addr.s_addr ==
			       reinterpret_cast<const sockaddr_in &>(self).sin_addr.s_addr;
		else
			same = std::memcmp(&reinterpret_cast<const sockaddr_in6 *>(i->ifa_addr)
						    ->sin6_addr,
					   &reinterpret_cast<const sockaddr_in6 &>(self).sin6_addr,
					   sizeof(in6_addr)) == 0;
		if (same) {
			std::string path = fmt::format("/sys/class/net/{}/device", i->ifa_name);
			device = access(path.c_str(), F_OK) == 0;
			break;
		}
	}
	freeifaddrs(list);
	return device;
}

/// Parses "[ADDR:]PORT" (ADDR an IPv4 or bracketed IPv6 address).
Status parse_listen(const std::string &listen, sockaddr_storage &addr, socklen_t &length)
{
	std::string host = "127.0.0.1", port = listen;
	if (size_t colon = listen.rfind(':'); colon != std::string::npos) {
		host = listen.substr(0, colon);
		port = listen.substr(colon + 1);
		if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
			host = host.substr(1, host.size() - 2);
	}
	addrinfo hints{};
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	addrinfo *result = nullptr;
	if (port.empty() || getaddrinfo(host.c_str(), port.c_str(), &hints, &result) != 0)
		return Status::invalid(fmt::format(
			"invalid listen address '{}': expected [ADDR:]PORT such as 8554 or "
			"0.0.0.0:8554",
			listen));
	std::memcpy(&addr, result->ai_addr, result->ai_addrlen);
	length = result->ai_addrlen;
	freeaddrinfo(result);
	return {};
}

class StreamServerImpl final : public StreamServer {
public:
	explicit StreamServerImpl(const StreamServerOptions &options) : options_(options) {}
	~StreamServerImpl() override { stop(); }

	/// Listens and connects as the options say, and starts the thread.
	Status listen();

	std::string description() const override
	{
		return listen_fd_ ? fmt::format("HTTP server on port {}", port_)
				  : std::string("stream pusher");
	}
	Status start(const StreamInfo &info) override;
	Status write(const Frame &frame) override;
	bool busy() const override { return false; }
	Status service(std::chrono::milliseconds) override { return {}; }
	Status finish() override
	{
		stop();
		return {};
	}

	uint16_t port() const override { return port_; }
	std::vector<ClientStats> clients() const override
	{
		std::lock_guard lock(stats_lock_);
		std::vector<ClientStats> clients;
		clients.reserve(history_.size());
		for (const auto &[id, stats] : history_)
			clients.push_back(stats);
		return clients;
	}
	uint64_t client_count() const override
	{
		std::lock_guard lock(stats_lock_);
		return client_count_;
	}

private:
	void stop();
	bool stopping()
	{
		std::lock_guard lock(mailbox_lock_);
		return stopping_;
	}
	void run();
	void wake();
	/// Takes what the pipeline's thread handed over.
	void take_mailbox();
	Status listen_on(const std::string &listen);
	Status connect_to(const std::string &target);
	void connected(Client &client);
	void start_live(Client &client);
	void accept_clients();
	/// Whether epoll reports the listening socket readable.
	void watch_listen(bool on);
	void handle(Client &client, uint32_t events);
	/// The peer will send nothing more: a client still being answered or
	/// streamed keeps receiving, one that did not ask for anything goes.
	void end_of_input(Client &client);
	void read_request(Client &client);
	void route(Client &client, const http::Request &request);
	void distribute(const Frame &frame, uint64_t offer);
	/// Tells write() whether some client is ready for a new frame.
	void update_demand();
	/// Tells write() that a client is ready: it has no frame queued.
	void demand_ready();
	/// Sends what the client has to send until its socket is full.
	void pump(Client &client);
	bool send_out(Client &client, bool more);
	bool send_payload(Client &client);
	bool send_file(Client &client);
	/// A send to @p client failed (errno): waits until its socket takes
	/// more, or closes it on a real error.
	void send_failed(Client &client);
	void begin_frame(Client &client);
	void stream_header(Client &client);
	void copy_aside(Client &client);
	void read_notifications(Client &client);
	/// Lets go of the frames sent by sendfile() that the peer acknowledged.
	void release_acknowledged(Client &client);
	/// Starts the statistics of a new client; returns their key.
	uint64_t add_history(std::string peer, std::string target = {});
	std::string history_peer(const Client &client)
	{
		std::lock_guard lock(stats_lock_);
		return history_.at(client.stats).peer;
	}
	void watch_out(Client &client, bool on);
	/// Sets the events epoll reports for @p client.
	void watch(Client &client);
	/// Closes the connection; the client is erased by bury().
	void close(Client &client, const std::string &why);
	void bury();
	void check_timeouts();
	template <typename F>
	void update(const Client &client, F &&change)
	{
		std::lock_guard lock(stats_lock_);
		change(history_.at(client.stats));
	}

	StreamServerOptions options_;
	UniqueFd listen_fd_;
	UniqueFd epoll_fd_;
	UniqueFd wake_fd_;
	UniqueFd recordings_fd_;
	uint16_t port_ = 0;
	std::thread thread_;

	std::mutex mailbox_lock_;
	std::condition_variable demand_changed_;
	std::optional<StreamInfo> mailbox_info_;
	/// Frames with their offer number: every frame write() was given counts.
	std::deque<std::pair<Frame, uint64_t>> mailbox_frames_;
	uint64_t offered_ = 0;
	bool unlimited_rate_ = false;
	/// A live client has no frame queued, or there is no live client.
	bool demand_ = true;
	bool stopping_ = false;

	// The server thread's own state.
	std::optional<StreamInfo> info_;
	matroska::FileHeader mkv_header_;
	std::map<int, std::unique_ptr<Client>> clients_;
	std::vector<int> graveyard_;
	uint64_t arrivals_ = 0;
	uint64_t last_offer_ = 0; ///< of the last frame distributed
	/// While accept() fails for want of descriptors or memory, the
	/// listening socket is not watched until then (it stays readable).
	std::optional<Clock::time_point> accept_retry_;
	bool accept_failing_ = false; ///< warned of; until a client is accepted

	mutable std::mutex stats_lock_;
	/// By key, in the order the clients came: the open clients and the
	/// last kClosedClientsKept closed ones, whose keys closed_ holds in
	/// the order they were buried.
	std::map<uint64_t, ClientStats> history_;
	std::deque<uint64_t> closed_;
	uint64_t client_count_ = 0;
	Status push_failure_; ///< the first receiver we pushed to that went away
};

Status StreamServerImpl::listen()
{
	epoll_fd_.reset(epoll_create1(EPOLL_CLOEXEC));
	wake_fd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (!epoll_fd_ || !wake_fd_)
		return Status::from_errno(errno, "setting up the server");
	epoll_event ev{};
	ev.events = EPOLLIN;
	ev.data.fd = wake_fd_.get();
	epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev);
	if (!options_.listen.empty())
		if (Status s = listen_on(options_.listen); !s)
			return s;
	for (const std::string &target : options_.connect)
		if (Status s = connect_to(target); !s)
			return s;
	thread_ = std::thread([this] { run(); });
	return {};
}

Status StreamServerImpl::connect_to(const std::string &target)
{
	size_t colon = target.rfind(':');
	std::string host = colon == std::string::npos ? "" : target.substr(0, colon);
	std::string port = colon == std::string::npos ? "" : target.substr(colon + 1);
	if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
		host = host.substr(1, host.size() - 2);
	addrinfo hints{};
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	addrinfo *result = nullptr;
	if (host.empty() || port.empty() ||
	    getaddrinfo(host.c_str(), port.c_str(), &hints, &result) != 0)
		return Status::invalid(fmt::format(
			"invalid receiver '{}': expected HOST:PORT such as 10.0.0.2:5000", target));
	UniqueFd fd(socket(result->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	int ret = fd ? ::connect(fd.get(), result->ai_addr, result->ai_addrlen) : -1;
	int err = errno;
	freeaddrinfo(result);
	if (!fd || (ret < 0 && err != EINPROGRESS))
		return Status::from_errno(err, "cannot connect to " + target);

	auto client = std::make_unique<Client>();
	client->fd = std::move(fd);
	client->push_target = target;
	client->state = Client::State::connecting;
	client->deadline = Clock::now() + options_.request_timeout;
	client->last_progress = Clock::now();
	client->stats = add_history(target, "(push)");
	epoll_event ev{};
	ev.events = EPOLLOUT | EPOLLRDHUP;
	ev.data.fd = client->fd.get();
	epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, client->fd.get(), &ev);
	client->want_out = true;
	clients_[client->fd.get()] = std::move(client);
	return {};
}

void StreamServerImpl::connected(Client &client)
{
	int err = 0;
	socklen_t length = sizeof(err);
	getsockopt(client.fd.get(), SOL_SOCKET, SO_ERROR, &err, &length);
	if (err) {
		close(client, std::string("cannot connect: ") + strerror(err));
		return;
	}
	sockaddr_storage peer{}, self{};
	length = sizeof(peer);
	getpeername(client.fd.get(), reinterpret_cast<sockaddr *>(&peer), &length);
	length = sizeof(self);
	getsockname(client.fd.get(), reinterpret_cast<sockaddr *>(&self), &length);
	client.local = is_local(peer, self) || !through_device(self);
	client.live = Client::Live::mkv;
	start_live(client);
	pump(client);
}

Status StreamServerImpl::listen_on(const std::string &listen)
{
	sockaddr_storage addr{};
	socklen_t length = 0;
	if (Status s = parse_listen(listen, addr, length); !s)
		return s;
	listen_fd_.reset(socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!listen_fd_)
		return Status::from_errno(errno, "socket");
	int one = 1;
	setsockopt(listen_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd_.get(), reinterpret_cast<sockaddr *>(&addr), length) < 0)
		return Status::from_errno(errno, "cannot listen on " + listen);
	if (::listen(listen_fd_.get(), SOMAXCONN) < 0)
		return Status::from_errno(errno, "cannot listen on " + listen);
	getsockname(listen_fd_.get(), reinterpret_cast<sockaddr *>(&addr), &length);
	port_ = ntohs(addr.ss_family == AF_INET ? reinterpret_cast<sockaddr_in &>(addr).sin_port
						: reinterpret_cast<sockaddr_in6 &>(addr).sin6_port);

	if (!options_.recordings.empty()) {
		recordings_fd_.reset(
			open(options_.recordings.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		if (!recordings_fd_)
			return Status::from_errno(errno, "cannot serve recordings from " +
								 options_.recordings.string());
	}

	epoll_event ev{};
	ev.events = EPOLLIN;
	ev.data.fd = listen_fd_.get();
	epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, listen_fd_.get(), &ev);
	return {};
}

void StreamServerImpl::wake()
{
	uint64_t one = 1;
	[[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
}

void StreamServerImpl::stop()
{
	if (!thread_.joinable())
		return;
	{
		std::lock_guard lock(mailbox_lock_);
		stopping_ = true;
	}
	demand_changed_.notify_all();
	wake();
	thread_.join();
}

Status StreamServerImpl::start(const StreamInfo &info)
{
	{
		std::lock_guard lock(mailbox_lock_);
		mailbox_info_ = info;
		unlimited_rate_ = info.frame_rate.unlimited();
	}
	wake();
	return {};
}

Status StreamServerImpl::write(const Frame &frame)
{
	{
		// A receiver we push to is gone: this sink has failed.
		std::lock_guard lock(stats_lock_);
		if (!push_failure_.ok())
			return push_failure_;
	}
	stats_.frames.fetch_add(1, std::memory_order_relaxed);
	{
		std::unique_lock lock(mailbox_lock_);
		if (options_.pace_unlimited_source && unlimited_rate_)
			demand_changed_.wait_for(lock, kDemandWait, [&] {
				return stopping_ || (demand_ && mailbox_frames_.empty());
			});
		// The server thread takes frames as they come; should it lag,
		// only the newest matters to a live stream. The clients count
		// the frame dropped here by the gap in offer numbers.
		if (mailbox_frames_.size() >= kPinnedFrames - 1) {
			mailbox_frames_.pop_front();
			stats_.dropped.fetch_add(1, std::memory_order_relaxed);
		}
		mailbox_frames_.emplace_back(frame, ++offered_);
	}
	wake();
	return {};
}

void StreamServerImpl::run()
{
	std::array<epoll_event, 64> events;
	for (;;) {
		int n = epoll_wait(epoll_fd_.get(), events.data(), int(events.size()),
				   int(kTick.count()));
		for (int i = 0; i < n; ++i) {
			int fd = events[i].data.fd;
			if (fd == listen_fd_.get()) {
				accept_clients();
			} else if (fd == wake_fd_.get()) {
				uint64_t count;
				[[maybe_unused]] ssize_t r =
					read(wake_fd_.get(), &count, sizeof(count));
			} else if (auto it = clients_.find(fd);
				   it != clients_.end() && !it->second->gone) {
				handle(*it->second, events[i].events);
			}
		}
		take_mailbox();
		check_timeouts();
		bury();
		update_demand();
		if (accept_retry_ && Clock::now() >= *accept_retry_) {
			accept_retry_.reset();
			watch_listen(true);
		}
		std::lock_guard lock(mailbox_lock_);
		if (stopping_)
			break;
	}
	// The frames write() was given since the last turn: each client gets
	// what its socket takes now and counts the rest as dropped.
	take_mailbox();
	for (auto &[fd, client] : clients_)
		if (!client->gone)
			close(*client, "the stream ended");
	bury();
	// Zero-copy clients keep their frames until the kernel hands the pages
	// back or kDrainTimeout passes: none stays pinned once finish() returns.
	while (!clients_.empty()) {
		std::this_thread::sleep_for(kTick / 10);
		check_timeouts();
		bury();
	}
}

uint64_t StreamServerImpl::add_history(std::string peer, std::string target)
{
	ClientStats stats;
	stats.peer = std::move(peer);
	stats.target = std::move(target);
	std::lock_guard lock(stats_lock_);
	const uint64_t id = client_count_++;
	history_.emplace(id, std::move(stats));
	return id;
}

void StreamServerImpl::bury()
{
	std::vector<uint64_t> ids;
	for (int fd : graveyard_) {
		auto it = clients_.find(fd);
		ids.push_back(it->second->stats);
		clients_.erase(it);
	}
	graveyard_.clear();
	std::lock_guard lock(stats_lock_);
	closed_.insert(closed_.end(), ids.begin(), ids.end());
	while (closed_.size() > kClosedClientsKept) {
		history_.erase(closed_.front());
		closed_.pop_front();
	}
}

void StreamServerImpl::take_mailbox()
{
	std::deque<std::pair<Frame, uint64_t>> frames;
	std::optional<StreamInfo> info;
	{
		std::lock_guard lock(mailbox_lock_);
		frames.swap(mailbox_frames_);
		info.swap(mailbox_info_);
		// Until they are distributed, these frames are what the clients
		// were ready for: write() waits for update_demand() to say.
		if (!frames.empty())
			demand_ = false;
	}
	if (info) {
		info_ = info;
		Status status =
			matroska::file_header(info->format, info->frame_rate,
					      std::chrono::system_clock::now(), mkv_header_);
		if (!status) {
			log(LogLevel::warning,
			    fmt::format("HTTP server: /live.mkv is not served: {}",
					status.message()));
			mkv_header_.bytes.clear();
		}
		for (auto &[fd, client] : clients_)
			if (client->state == Client::State::live && !client->gone)
				pump(*client);
	}
	for (const auto &[frame, offer] : frames)
		distribute(frame, offer);
}

void StreamServerImpl::update_demand()
{
	bool live = false;
	bool ready = false;
	for (const auto &[fd, client] : clients_) {
		if (client->state != Client::State::live || client->gone)
			continue;
		live = true;
		ready |= !client->next;
	}
	bool changed;
	{
		std::lock_guard lock(mailbox_lock_);
		changed = demand_ != (ready || !live);
		demand_ = ready || !live;
	}
	if (changed)
		demand_changed_.notify_all();
}

void StreamServerImpl::demand_ready()
{
	{
		std::lock_guard lock(mailbox_lock_);
		if (std::exchange(demand_, true))
			return;
	}
	demand_changed_.notify_all();
}

void StreamServerImpl::accept_clients()
{
	for (;;) {
		sockaddr_storage peer{}, self{};
		socklen_t length = sizeof(peer);
		int fd = accept4(listen_fd_.get(), reinterpret_cast<sockaddr *>(&peer), &length,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			// The connection waits in the backlog and the socket stays
			// readable: retry on a tick rather than without end.
			if (!std::exchange(accept_failing_, true))
				log(LogLevel::warning,
				    fmt::format("HTTP server: cannot accept clients: {}; retrying",
						strerror(errno)));
			watch_listen(false);
			accept_retry_ = Clock::now() + kTick;
			return;
		}
		if (fd < 0)
			return;
		accept_failing_ = false;
		auto client = std::make_unique<Client>();
		client->fd.reset(fd);
		length = sizeof(self);
		getsockname(fd, reinterpret_cast<sockaddr *>(&self), &length);
		client->local = is_local(peer, self) || !through_device(self);
		client->deadline = Clock::now() + options_.request_timeout;
		client->last_progress = Clock::now();
		client->stats = add_history(address_text(peer));
		if (clients_.size() >= options_.max_clients) {
			client->out = http::error_response(503, "too many clients");
			client->close_when_sent = true;
		}
		epoll_event ev{};
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.fd = fd;
		epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev);
		Client &c = *client;
		clients_[fd] = std::move(client);
		if (c.close_when_sent)
			pump(c);
	}
}

void StreamServerImpl::watch_listen(bool on)
{
	epoll_event ev{};
	ev.events = on ? uint32_t(EPOLLIN) : 0u;
	ev.data.fd = listen_fd_.get();
	epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, listen_fd_.get(), &ev);
}

void StreamServerImpl::handle(Client &client, uint32_t events)
{
	if (client.state == Client::State::connecting) {
		connected(client);
		return;
	}
	if (events & EPOLLERR)
		read_notifications(client);
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
		if (client.state == Client::State::request && !client.peer_done) {
			read_request(client);
			if (client.gone || !(events & EPOLLHUP))
				return;
		}
		// Clients have nothing more to say once asked: what they send is
		// discarded, an end of input is a half-close (some tools end
		// their side after the request) and only a hang-up a goodbye.
		char sink[kReadChunk];
		ssize_t n = recv(client.fd.get(), sink, sizeof(sink), MSG_DONTWAIT);
		if ((n == 0 && (events & EPOLLHUP)) ||
		    (n < 0 && errno != EAGAIN && errno != EINTR)) {
			close(client, n == 0 ? "peer closed" : strerror(errno));
			return;
		}
		if (n == 0)
			end_of_input(client);
		if (client.gone)
			return;
	}
	if (events & EPOLLOUT)
		pump(client);
}

void StreamServerImpl::end_of_input(Client &client)
{
	if (client.state == Client::State::request && !client.close_when_sent) {
		close(client, "peer closed");
		return;
	}
	// epoll would report the end of input without end: watch for room
	// (and the hang-up epoll always reports) only.
	client.peer_done = true;
	watch(client);
}

void StreamServerImpl::read_request(Client &client)
{
	char chunk[kReadChunk];
	ssize_t n = recv(client.fd.get(), chunk, sizeof(chunk), MSG_DONTWAIT);
	if (n == 0) {
		end_of_input(client);
		return;
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		close(client, strerror(errno));
		return;
	}
	if (n < 0)
		return;
	if (client.close_when_sent)
		return; // already answered (503); the rest is ignored
	client.in.append(chunk, size_t(n));
	http::Request request;
	http::ParseResult result = http::parse_request(client.in, request);
	if (result.state == http::ParseResult::State::incomplete)
		return;
	if (result.state == http::ParseResult::State::error) {
		update(client, [&](ClientStats &s) { s.target = "(bad request)"; });
		client.out = http::error_response(result.status, result.reason);
		client.close_when_sent = true;
		pump(client);
		return;
	}
	update(client, [&](ClientStats &s) { s.target = request.target; });
	route(client, request);
	pump(client);
}

void StreamServerImpl::route(Client &client, const http::Request &request)
{
	client.head_only = request.method == "HEAD";
	const std::string &target = request.target;
	if (target == "/live.mkv" || target == "/live.raw") {
		if (target == "/live.mkv" && info_ && mkv_header_.bytes.empty()) {
			client.out = http::error_response(
				415, "this stream's format cannot be carried in Matroska; "
				     "use /live.raw");
			client.close_when_sent = true;
			return;
		}
		client.live = target == "/live.mkv" ? Client::Live::mkv : Client::Live::raw;
		const std::pair<std::string_view, std::string> headers[] = {
			{"Content-Type", client.live == Client::Live::mkv
						 ? "video/x-matroska"
						 : "application/x-zcap-frames"},
			{"Cache-Control", "no-store"},
			{"Connection", "close"},
		};
		client.out = http::response_head(200, headers);
		if (client.head_only) {
			client.close_when_sent = true;
			return;
		}
		start_live(client);
		return;
	}
	if (target == "/recordings" || target.starts_with("/recordings/")) {
		if (!recordings_fd_) {
			client.out = http::error_response(404, "no recordings are served here");
			client.close_when_sent = true;
			return;
		}
		if (target == "/recordings" || target == "/recordings/") {
			client.out = http::recordings_listing(recordings_fd_.get(),
							      http::listing_format(request),
							      client.head_only);
			client.close_when_sent = true;
			return;
		}
		http::FileResponse file = http::serve_recording(recordings_fd_.get(), request);
		client.out = std::move(file.head);
		client.file = std::move(file.fd);
		client.file_offset = file.offset;
		client.file_left = client.head_only ? 0 : file.length;
		client.state = Client::State::file;
		client.close_when_sent = true;
		return;
	}
	client.out =
		http::error_response(404, "not found: try /live.mkv, /live.raw or /recordings/");
	client.close_when_sent = true;
}

void StreamServerImpl::start_live(Client &client)
{
	client.state = Client::State::live;
	client.last_offer = last_offer_;
	NetPath path = options_.net_path;
	if (path == NetPath::automatic)
		path = client.local ? NetPath::copy : NetPath::zerocopy;
	if (path == NetPath::sendfile && client.local) {
		// Its socket would read the pages after acknowledging them, when
		// the device may already be refilling the buffer: copy.
		log(LogLevel::info, fmt::format("HTTP server: sendfile to {}, a peer on this "
						"host, is not safe; copying instead (counted)",
						history_peer(client)));
		path = NetPath::copy;
	}
	if (path == NetPath::zerocopy) {
		int one = 1;
		if (setsockopt(client.fd.get(), SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) < 0)
			path = NetPath::copy;
	}
	client.path = path;
	update(client, [&](ClientStats &s) { s.path = path; });
}

void StreamServerImpl::distribute(const Frame &frame, uint64_t offer)
{
	const uint64_t arrival = ++arrivals_;
	last_offer_ = offer;
	for (auto &[fd, c] : clients_) {
		Client &client = *c;
		if (client.state != Client::State::live || client.gone)
			continue;
		// Frames the server's thread did not take in time, and the one
		// this client is still too busy for, are lost to it.
		uint64_t missed = offer - client.last_offer - 1;
		client.last_offer = offer;
		if (client.next) {
			client.next.reset();
			++missed;
		}
		if (missed) {
			client.new_cluster = true;
			update(client, [&](ClientStats &s) { s.dropped += missed; });
		}
		client.next.emplace(frame, arrival);
		if (client.current && client.current->frame &&
		    arrival - client.current->arrival >= kPinnedFrames - 1)
			copy_aside(client);
		pump(client);
	}
}

void StreamServerImpl::copy_aside(Client &client)
{
	// The client fell behind: keep the rest of its frame in its own memory
	// (counted) and give the capture buffer back.
	Payload &p = *client.current;
	if (p.zerocopy_sent || p.sendfile_sent)
		return; // the kernel holds those pages until it reports them done
	p.copy.assign(p.rest.begin(), p.rest.end());
	p.rest = p.copy;
	p.frame.reset();
	uint64_t bytes = p.copy.size();
	stats_.copied_bytes.fetch_add(bytes, std::memory_order_relaxed);
	update(client, [&](ClientStats &s) { s.copied += bytes; });
}

void StreamServerImpl::stream_header(Client &client)
{
	if (client.stream_header_sent || client.live != Client::Live::mkv)
		return;
	client.out.append(reinterpret_cast<const char *>(mkv_header_.bytes.data()),
			  mkv_header_.bytes.size());
	client.stream_header_sent = true;
}

void StreamServerImpl::begin_frame(Client &client)
{
	auto [frame, arrival] = std::move(*client.next);
	client.next.reset();
	// Ready for another frame now, while this one goes out: said at the
	// end of the loop's turn instead, a fast client would have sent it all
	// and wait for the next with nothing to send.
	demand_ready();
	std::span<const std::byte> data = frame.data();
	if (client.live == Client::Live::mkv) {
		stream_header(client);
		if (!client.first_ns)
			client.first_ns = frame.timestamp_ns();
		uint64_t since = frame.timestamp_ns() > *client.first_ns
					 ? frame.timestamp_ns() - *client.first_ns
					 : 0;
		uint64_t ms = since / matroska::kTimestampScaleNs;
		if (client.new_cluster || ms - client.cluster_ms >= kClusterMs ||
		    ms < client.cluster_ms) {
			std::vector<std::byte> cluster = matroska::cluster_header(ms);
			client.out.append(reinterpret_cast<const char *>(cluster.data()),
					  cluster.size());
			client.cluster_ms = ms;
			client.new_cluster = false;
		}
		auto block =
			matroska::block_header(data.size(), int16_t(ms - client.cluster_ms), true);
		client.out.append(reinterpret_cast<const char *>(block.data()), block.size());
	} else {
		RawFrameHeader h;
		h.sequence = frame.sequence();
		h.timestamp_ns = frame.timestamp_ns();
		h.fourcc = frame.format().fourcc;
		h.width = frame.format().width;
		h.height = frame.format().height;
		h.payload_size = uint32_t(data.size());
		client.out.append(reinterpret_cast<const char *>(&h), sizeof(h));
	}
	client.current.emplace();
	client.current->rest = data;
	client.current->size = data.size();
	client.current->arrival = arrival;
	client.current->frame = std::move(frame);
}

void StreamServerImpl::pump(Client &client)
{
	for (;;) {
		if (client.out_sent < client.out.size()) {
			bool more = client.current || client.file_left ||
				    (client.next && client.state == Client::State::live);
			if (!send_out(client, more))
				return;
			continue;
		}
		client.out.clear();
		client.out_sent = 0;
		if (client.current) {
			if (!send_payload(client))
				return;
			continue;
		}
		if (client.file_left) {
			if (!send_file(client))
				return;
			continue;
		}
		if (client.close_when_sent) {
			close(client, "answered");
			return;
		}
		if (client.state == Client::State::live && client.next && info_) {
			if (client.live == Client::Live::mkv && mkv_header_.bytes.empty())
				return;
			begin_frame(client);
			continue;
		}
		watch_out(client, false);
		return;
	}
}

bool StreamServerImpl::send_out(Client &client, bool more)
{
	ssize_t n = send(client.fd.get(), client.out.data() + client.out_sent,
			 client.out.size() - client.out_sent,
			 MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0));
	if (n < 0) {
		send_failed(client);
		return false;
	}
	client.out_sent += size_t(n);
	client.sent_total += uint64_t(n);
	client.last_progress = Clock::now();
	return true;
}

bool StreamServerImpl::send_payload(Client &client)
{
	Payload &p = *client.current;
	size_t chunk = std::min(p.rest.size(), kMaxSend);
	// Zero-copy only while the kernel holds no earlier frame of this
	// client: one that reads slowly would otherwise pin a frame for every
	// socket buffer's worth of them and starve the source.
	release_acknowledged(client);
	const bool idle_kernel = p.frame && !client.kernel_holds();
	bool zerocopy = client.path == NetPath::zerocopy && idle_kernel;
	const FdAlias memfd = p.frame ? p.frame.memfd() : FdAlias{};
	const bool by_sendfile = client.path == NetPath::sendfile &&
				 (idle_kernel || (p.frame && p.sendfile_sent)) && memfd.valid();
	ssize_t n;
	if (by_sendfile) {
		off_t offset = off_t(memfd.offset + (p.size - p.rest.size()));
		n = sendfile(client.fd.get(), memfd.fd, &offset, chunk);
	} else {
		n = send(client.fd.get(), p.rest.data(), chunk,
			 MSG_DONTWAIT | MSG_NOSIGNAL | (zerocopy ? MSG_ZEROCOPY : 0));
	}
	if (n < 0 && zerocopy && errno == ENOBUFS) {
		// Out of the memory zero-copy sends are accounted against: this
		// piece goes the ordinary way (a copy, counted).
		zerocopy = false;
		n = send(client.fd.get(), p.rest.data(), chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	if (n < 0) {
		send_failed(client);
		return false;
	}
	client.last_progress = Clock::now();
	client.sent_total += uint64_t(n);
	if (zerocopy) {
		client.zc_bytes.emplace_back(client.zc_next++, uint32_t(n));
		p.zerocopy_sent = true;
	} else if (by_sendfile) {
		p.sendfile_sent = true;
	} else {
		// Copied by send(), also when copied aside before.
		stats_.copied_bytes.fetch_add(uint64_t(n), std::memory_order_relaxed);
		update(client, [&](ClientStats &s) { s.copied += uint64_t(n); });
	}
	p.rest = p.rest.subspan(size_t(n));
	if (!p.rest.empty())
		return true;

	uint64_t size = p.size;
	if (p.zerocopy_sent && p.frame)
		client.zc_hold.emplace_back(client.zc_next - 1, std::move(p.frame));
	else if (p.sendfile_sent && p.frame)
		client.ack_hold.emplace_back(client.sent_total, std::move(p.frame));
	client.current.reset();
	stats_.bytes.fetch_add(size, std::memory_order_relaxed);
	update(client, [&](ClientStats &s) {
		++s.frames;
		s.bytes += size;
	});
	return true;
}

bool StreamServerImpl::send_file(Client &client)
{
	off_t offset = off_t(client.file_offset);
	ssize_t n = sendfile(client.fd.get(), client.file.get(), &offset,
			     std::min<uint64_t>(client.file_left, kMaxSend));
	if (n == 0) {
		close(client, "the file shrank");
		return false;
	}
	if (n < 0) {
		send_failed(client);
		return false;
	}
	client.file_offset += uint64_t(n);
	client.file_left -= uint64_t(n);
	client.last_progress = Clock::now();
	return true;
}

void StreamServerImpl::read_notifications(Client &client)
{
	for (;;) {
		char control[128];
		msghdr msg{};
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		if (recvmsg(client.fd.get(), &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			break;
		for (cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			auto *err = reinterpret_cast<sock_extended_err *>(CMSG_DATA(cm));
			if (err->ee_errno != 0 || err->ee_origin != SO_EE_ORIGIN_ZEROCOPY)
				continue;
			uint32_t lo = err->ee_info, hi = err->ee_data;
			if (err->ee_code & SO_EE_CODE_ZEROCOPY_COPIED) {
				// Delivered on this host: the kernel copied the pages.
				uint64_t bytes = 0;
				for (auto [id, n] : client.zc_bytes)
					if (id >= lo && id <= hi)
						bytes += n;
				stats_.copied_bytes.fetch_add(bytes, std::memory_order_relaxed);
				update(client, [&](ClientStats &s) { s.copied += bytes; });
			}
			client.zc_ranges[lo] = std::max(client.zc_ranges[lo], hi);
		}
	}
	// Advance over the ranges that are now contiguous.
	for (auto it = client.zc_ranges.begin();
	     it != client.zc_ranges.end() && it->first <= client.zc_done;
	     it = client.zc_ranges.erase(it))
		client.zc_done = std::max(client.zc_done, it->second + 1);
	while (!client.zc_bytes.empty() && client.zc_bytes.front().first < client.zc_done)
		client.zc_bytes.pop_front();
	while (!client.zc_hold.empty() && client.zc_hold.front().first < client.zc_done)
		client.zc_hold.pop_front();
}

void StreamServerImpl::send_failed(Client &client)
{
	if (errno == EAGAIN || errno == EINTR)
		watch_out(client, true);
	else
		close(client, strerror(errno));
}

void StreamServerImpl::release_acknowledged(Client &client)
{
	if (client.ack_hold.empty())
		return;
	// SIOCOUTQ: bytes written and not yet acknowledged by the peer.
	int unacknowledged = 0;
	if (ioctl(client.fd.get(), SIOCOUTQ, &unacknowledged) < 0)
		return;
	const uint64_t acknowledged = client.sent_total - uint64_t(unacknowledged);
	while (!client.ack_hold.empty() && client.ack_hold.front().first <= acknowledged)
		client.ack_hold.pop_front();
}

void StreamServerImpl::watch_out(Client &client, bool on)
{
	if (client.want_out == on)
		return;
	client.want_out = on;
	watch(client);
}

void StreamServerImpl::watch(Client &client)
{
	epoll_event ev{};
	ev.events = (client.peer_done ? 0u : uint32_t(EPOLLIN | EPOLLRDHUP)) |
		    (client.want_out ? uint32_t(EPOLLOUT) : 0u);
	ev.data.fd = client.fd.get();
	epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, client.fd.get(), &ev);
}

void StreamServerImpl::close(Client &client, const std::string &why)
{
	if (client.gone)
		return;
	if (client.state != Client::State::draining) {
		client.closed_because = why;
		if (!client.push_target.empty() && !stopping()) {
			std::lock_guard lock(stats_lock_);
			if (push_failure_.ok())
				push_failure_ = Status::invalid(
					fmt::format("pushing to {}: {}", client.push_target, why));
		}
		// The frame being sent and the one queued are lost to it.
		const uint64_t lost = (client.current ? 1 : 0) + (client.next ? 1 : 0);
		update(client, [&](ClientStats &s) {
			s.open = false;
			s.closed_because = why;
			s.dropped += lost;
		});
		client.current.reset();
		client.next.reset();
		if (client.kernel_holds()) {
			// The kernel may still be sending those pages: wait for its
			// notifications (or the peer's ACKs) before giving the
			// frames back.
			// check_timeouts() polls for them: a shut down socket
			// would wake epoll without end.
			shutdown(client.fd.get(), SHUT_RDWR);
			epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, client.fd.get(), nullptr);
			client.state = Client::State::draining;
			client.deadline = Clock::now() + kDrainTimeout;
			read_notifications(client);
			release_acknowledged(client);
			if (client.kernel_holds())
				return;
		}
	}
	epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, client.fd.get(), nullptr);
	client.gone = true;
	graveyard_.push_back(client.fd.get());
}

void StreamServerImpl::check_timeouts()
{
	const auto now = Clock::now();
	std::vector<std::pair<Client *, std::string>> expired;
	for (auto &[fd, c] : clients_) {
		Client &client = *c;
		if (client.gone)
			continue;
		if (client.state == Client::State::draining)
			read_notifications(client);
		release_acknowledged(client);
		// Asked and being answered (or streamed), or a push receiver.
		const bool answering =
			client.state != Client::State::request || client.close_when_sent;
		const bool idle = now - client.last_progress > options_.stall_timeout;
		if (client.state == Client::State::connecting && now > client.deadline) {
			expired.emplace_back(&client, "cannot connect: timed out");
		} else if (!answering && now > client.deadline) {
			expired.emplace_back(&client, "no request in time");
		} else if (client.state == Client::State::draining) {
			// Done, or past the deadline: nothing more will come back.
			if (!client.kernel_holds() || now > client.deadline)
				expired.emplace_back(&client, client.closed_because);
		} else if (answering && client.sending() && idle) {
			expired.emplace_back(&client, fmt::format("stalled for {} ms",
								  options_.stall_timeout.count()));
		} else if (client.peer_done && idle) {
			// It ended its side and nothing is coming for it: it may
			// be gone, which only a send would tell.
			expired.emplace_back(&client, "peer closed");
		}
	}
	for (auto &[client, why] : expired) {
		if (client->state == Client::State::draining) {
			client->zc_hold.clear();
			client->ack_hold.clear();
		}
		close(*client, why);
	}
}

} // namespace

std::optional<NetPath> parse_net_path(std::string_view name)
{
	if (name == "auto")
		return NetPath::automatic;
	if (name == "copy")
		return NetPath::copy;
	if (name == "zc" || name == "zerocopy")
		return NetPath::zerocopy;
	if (name == "sendfile")
		return NetPath::sendfile;
	return std::nullopt;
}

std::string_view net_path_name(NetPath path)
{
	switch (path) {
	case NetPath::automatic:
		return "auto";
	case NetPath::copy:
		return "copy";
	case NetPath::zerocopy:
		return "zerocopy";
	case NetPath::sendfile:
		return "sendfile";
	}
	return "?";
}

std::unique_ptr<StreamServer> StreamServer::create(const StreamServerOptions &options,
						   Status &status)
{
	auto server = std::make_unique<StreamServerImpl>(options);
	status = server->listen();
	if (!status)
		return nullptr;
	return server;
}

} // namespace zcap
