// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <zcap/sink.h>
#include <zcap/status.h>
#include <zcap/stream_server.h>
#include <zcap/unique_fd.h>

#include "client_registry.h"
#include "connection.h"
#include "event_loop.h"
#include "frame_mailbox.h"

namespace zcap::net {

/// The server's thread: listens and accepts clients, connects to push
/// receivers, hands each live client the frames the mailbox brings, and
/// closes clients that are done or late. Runs from open() until stop().
class Server {
public:
	Server(const StreamServerOptions &options, SinkStats &stats, ClientRegistry &registry,
	       FrameMailbox &mailbox);
	~Server() { stop(); }

	/// Listens and connects as the options say, and starts the thread.
	Status open();
	/// Ends the thread: every client is closed once the kernel let go of
	/// its frames (or kDrainTimeout passed), so none stays pinned.
	void stop();
	/// Something is in the mailbox.
	void wake() { loop_.wake(); }

	bool listening() const { return bool(listen_fd_); }
	uint16_t port() const { return port_; }

private:
	/// Timeouts are checked at least this often.
	static constexpr std::chrono::milliseconds kTick{100};

	Status listen_on(const std::string &listen);
	Status connect_to(const std::string &target);
	void run();
	void ready(int fd, uint32_t events);
	void accept_clients();
	/// Whether epoll reports the listening socket readable.
	void watch_listen(bool on);
	/// Takes what the pipeline's thread handed over.
	void take_mailbox();
	void start_stream(const StreamInfo &info);
	void distribute(const OfferedFrame &frame);
	/// Tells write() whether some client is ready for a new frame.
	void update_demand();
	void check_timeouts();
	/// Forgets the connections that are gone.
	void bury();

	FrameMailbox &mailbox_;
	EthtoolFeatures features_;
	EventLoop loop_;
	ServerContext context_;
	UniqueFd listen_fd_;
	UniqueFd recordings_fd_;
	uint16_t port_ = 0;
	std::thread thread_;

	std::map<int, std::unique_ptr<Connection>> connections_;
	uint64_t arrivals_ = 0;
	/// While accept() fails for want of descriptors or memory, the
	/// listening socket is not watched until then (it stays readable).
	std::optional<Clock::time_point> accept_retry_;
	bool accept_failing_ = false; ///< warned of; until a client is accepted
};

} // namespace zcap::net
