// SPDX-License-Identifier: LGPL-2.1-or-later
#include "server.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include <zcap/log.h>

#include "peer_address.h"

namespace zcap::net {

Server::Server(const StreamServerOptions &options, SinkStats &stats, ClientRegistry &registry,
	       FrameMailbox &mailbox)
    : mailbox_(mailbox), context_(options, loop_, registry, mailbox, stats, features_)
{
}

Status Server::open()
{
	if (Status s = loop_.open(); !s)
		return s;
	const StreamServerOptions &options = context_.options;
	if (!options.listen.empty())
		if (Status s = listen_on(options.listen); !s)
			return s;
	for (const std::string &target : options.connect)
		if (Status s = connect_to(target); !s)
			return s;
	thread_ = std::thread([this] { run(); });
	return {};
}

Status Server::listen_on(const std::string &listen)
{
	SocketAddress address;
	if (Status s = listen_address(listen, address); !s)
		return s;
	listen_fd_.reset(
		socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!listen_fd_)
		return Status::from_errno(errno, "socket");
	int one = 1;
	setsockopt(listen_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd_.get(), address.get(), address.length) < 0)
		return Status::from_errno(errno, "cannot listen on " + listen);
	if (::listen(listen_fd_.get(), SOMAXCONN) < 0)
		return Status::from_errno(errno, "cannot listen on " + listen);
	getsockname(listen_fd_.get(), address.get(), &address.length);
	port_ = address_port(address);

	const std::filesystem::path &recordings = context_.options.recordings;
	if (!recordings.empty()) {
		recordings_fd_.reset(
			::open(recordings.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		if (!recordings_fd_)
			return Status::from_errno(errno, "cannot serve recordings from " +
								 recordings.string());
		context_.recordings_fd = recordings_fd_.get();
	}
	loop_.add(listen_fd_.get(), EPOLLIN);
	return {};
}

Status Server::connect_to(const std::string &target)
{
	SocketAddress address;
	if (Status s = connect_address(target, address); !s)
		return s;
	UniqueFd fd(
		socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	int ret = fd ? ::connect(fd.get(), address.get(), address.length) : -1;
	if (!fd || (ret < 0 && errno != EINPROGRESS))
		return Status::from_errno(errno, "cannot connect to " + target);
	const int key = fd.get();
	const uint64_t id = context_.registry.add(target, "(push)");
	connections_[key] = std::make_unique<Connection>(context_, std::move(fd), id, target);
	return {};
}

void Server::stop()
{
	if (!thread_.joinable())
		return;
	mailbox_.stop();
	loop_.wake();
	thread_.join();
}

void Server::run()
{
	// sendfile() has no MSG_NOSIGNAL: to a peer that has reset the
	// connection it raises SIGPIPE, which would end the process (seen with
	// a client behind a NIC closing mid-frame). A library leaves the
	// process's disposition alone; blocked in this thread, the signal stays
	// pending here and sendfile() fails with EPIPE like send() does.
	sigset_t pipe_signal;
	sigemptyset(&pipe_signal);
	sigaddset(&pipe_signal, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
	for (;;) {
		loop_.wait(kTick, [this](int fd, uint32_t events) { ready(fd, events); });
		take_mailbox();
		check_timeouts();
		bury();
		update_demand();
		if (accept_retry_ && Clock::now() >= *accept_retry_) {
			accept_retry_.reset();
			watch_listen(true);
		}
		if (mailbox_.stopping())
			break;
	}
	// The frames write() was given since the last turn: each client gets
	// what its socket takes now and counts the rest as dropped.
	take_mailbox();
	for (auto &[fd, connection] : connections_)
		connection->close("the stream ended");
	bury();
	// Zero-copy clients keep their frames until the kernel hands the pages
	// back or kDrainTimeout passes: none stays pinned once finish() returns.
	while (!connections_.empty()) {
		std::this_thread::sleep_for(kTick / 10);
		check_timeouts();
		bury();
	}
}

void Server::ready(int fd, uint32_t events)
{
	if (fd == listen_fd_.get()) {
		accept_clients();
		return;
	}
	if (auto it = connections_.find(fd); it != connections_.end() && !it->second->gone())
		it->second->handle(events);
}

void Server::accept_clients()
{
	for (;;) {
		sockaddr_storage peer{};
		socklen_t length = sizeof(peer);
		UniqueFd fd(accept4(listen_fd_.get(), reinterpret_cast<sockaddr *>(&peer), &length,
				    SOCK_NONBLOCK | SOCK_CLOEXEC));
		if (!fd &&
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
		if (!fd)
			return;
		accept_failing_ = false;
		const bool full = connections_.size() >= context_.options.max_clients;
		const int key = fd.get();
		const uint64_t id = context_.registry.add(address_text(peer));
		auto connection = std::make_unique<Connection>(context_, std::move(fd), id);
		Connection &added = *connection;
		connections_[key] = std::move(connection);
		if (full)
			added.refuse();
	}
}

void Server::watch_listen(bool on)
{
	loop_.modify(listen_fd_.get(), on ? uint32_t(EPOLLIN) : 0u);
}

void Server::take_mailbox()
{
	FrameMailbox::Taken taken = mailbox_.take();
	if (taken.info)
		start_stream(*taken.info);
	for (const OfferedFrame &frame : taken.frames)
		distribute(frame);
}

void Server::start_stream(const StreamInfo &info)
{
	context_.info = info;
	Status status =
		matroska::file_header(info.format, info.frame_rate,
				      std::chrono::system_clock::now(), context_.mkv_header);
	if (!status) {
		log(LogLevel::warning,
		    fmt::format("HTTP server: /live.mkv is not served: {}", status.message()));
		context_.mkv_header.bytes.clear();
	}
	for (auto &[fd, connection] : connections_)
		if (connection->live())
			connection->pump();
}

void Server::distribute(const OfferedFrame &frame)
{
	const uint64_t arrival = ++arrivals_;
	context_.last_offer = frame.offer;
	for (auto &[fd, connection] : connections_)
		if (connection->live())
			connection->offer(frame.frame, frame.offer, arrival);
}

void Server::update_demand()
{
	bool live = false;
	bool ready = false;
	for (const auto &[fd, connection] : connections_) {
		if (!connection->live())
			continue;
		live = true;
		ready |= connection->ready();
	}
	mailbox_.set_demand(ready || !live);
}

void Server::check_timeouts()
{
	const auto now = Clock::now();
	for (auto &[fd, connection] : connections_)
		connection->check_timeouts(now);
}

void Server::bury()
{
	std::vector<uint64_t> ids;
	for (int fd : context_.graveyard) {
		auto it = connections_.find(fd);
		ids.push_back(it->second->id());
		connections_.erase(it);
	}
	context_.graveyard.clear();
	context_.registry.closed(ids);
}

} // namespace zcap::net
