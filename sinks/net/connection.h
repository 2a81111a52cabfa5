// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <zcap/sink.h>
#include <zcap/stream_server.h>
#include <zcap/unique_fd.h>

#include "../matroska_layout.h"
#include "client_registry.h"
#include "event_loop.h"
#include "frame_mailbox.h"
#include "frame_queue.h"
#include "http_routes.h"
#include "live_framing.h"
#include "net_path_choice.h"
#include "transmit.h"

namespace zcap::net {

using Clock = std::chrono::steady_clock;

/// What the server's connections share: set up by the server, used on its
/// thread.
struct ServerContext {
	ServerContext(const StreamServerOptions &options, EventLoop &loop, ClientRegistry &registry,
		      FrameMailbox &mailbox, SinkStats &stats, const DeviceFeatures &features)
	    : options(options), loop(loop), registry(registry), mailbox(mailbox), stats(stats),
	      features(features)
	{
	}

	const StreamServerOptions &options;
	EventLoop &loop;
	ClientRegistry &registry;
	FrameMailbox &mailbox;
	SinkStats &stats;		///< the server's, as a Sink
	const DeviceFeatures &features; ///< of the devices clients are reached through
	/// The devices without scatter-gather the log has named.
	std::set<std::string> said_no_scatter_gather;
	std::optional<StreamInfo> info;	 ///< set once the stream started
	matroska::FileHeader mkv_header; ///< empty: the format has no Matroska mapping
	int recordings_fd = -1;
	uint64_t last_offer = 0; ///< of the last frame distributed
	/// The connections closed this turn of the loop, in that order.
	std::vector<int> graveyard;
};

/// One client's connection: an HTTP request and its answer (an error, a
/// listing, a recording by sendfile()), a live subscriber, or a receiver
/// zcap pushes the live stream to. Lives on the server's thread.
class Connection {
public:
	enum class State { connecting, request, live, file, draining };

	/// A client that connected to us, known to the registry as @p id.
	Connection(ServerContext &context, UniqueFd fd, uint64_t id);
	/// A receiver we are connecting to (@p target, HOST:PORT) to push to.
	Connection(ServerContext &context, UniqueFd fd, uint64_t id, std::string target);

	int fd() const { return fd_.get(); }
	bool live() const { return state_ == State::live && !gone_; }
	bool gone() const { return gone_; }
	/// A live client with no frame queued.
	bool ready() const { return !queue_.has_next(); }

	/// Refuses the client at once (503): too many.
	void refuse();
	/// epoll reported @p events.
	void handle(uint32_t events);
	/// A new frame of the live stream.
	void offer(const Frame &frame, uint64_t offer, uint64_t arrival);
	/// Sends what the client has to send until its socket is full.
	void pump();
	/// Closes the connection, once the kernel let go of its frames; the
	/// server then forgets it.
	void close(const std::string &why);
	/// Closes it when a deadline passed (see StreamServerOptions).
	void check_timeouts(Clock::time_point now);
	/// The key of its statistics in the registry.
	uint64_t id() const { return id_; }

private:
	void connected();
	void start_live(LiveFraming::Kind kind);
	/// The peer will send nothing more: a client still being answered or
	/// streamed keeps receiving, one that did not ask for anything goes.
	void end_of_input();
	void read_request();
	void answer(Answer answer);
	void begin_frame();
	bool send_out(bool more);
	bool send_payload();
	bool send_file();
	/// A send failed (errno): waits until the socket takes more, or
	/// closes it on a real error.
	void send_failed();
	void reap_completions();
	void watch_out(bool on);
	/// Sets the events epoll reports for this connection.
	void watch();
	bool sending() const;
	void count_copied(uint64_t bytes);
	template <typename F>
	void update(F &&change)
	{
		context_.registry.update(id_, std::forward<F>(change));
	}

	ServerContext &context_;
	UniqueFd fd_;
	uint64_t id_;
	State state_ = State::request;

	std::string in_;
	std::string out_;
	size_t out_sent_ = 0;
	bool close_when_sent_ = false;
	bool want_out_ = false;
	/// The peer ended its side (shutdown(SHUT_WR), or it closed): it is
	/// still sent what it asked for until a send fails or it stalls.
	bool peer_done_ = false;
	bool gone_ = false;	  ///< closed; forgotten at the end of the loop's turn
	std::string push_target_; ///< HOST:PORT when zcap connected to it (push)
	std::string closed_because_;
	Clock::time_point deadline_; ///< request deadline, drain deadline
	Clock::time_point last_progress_;

	FrameQueue queue_;
	LiveFraming framing_;
	Transmit transmit_;

	UniqueFd file_;
	uint64_t file_offset_ = 0;
	uint64_t file_left_ = 0;
};

} // namespace zcap::net
