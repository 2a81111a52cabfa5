// SPDX-License-Identifier: LGPL-2.1-or-later
// The StreamServer Sink: what the pipeline's thread does (hand frames to the
// mailbox, pace an unlimited source, count), over the server's thread in
// net/server.h. Layout of sinks/net/: see the README.
#include <zcap/stream_server.h>

#include <fmt/format.h>

#include "net/client_registry.h"
#include "net/frame_mailbox.h"
#include "net/server.h"

namespace zcap {

namespace {

/// With pace_unlimited_source, the longest write() waits for a client to be
/// ready: clients that take nothing never hold up a pipeline that stops.
constexpr std::chrono::milliseconds kDemandWait{100};

class StreamServerImpl final : public StreamServer {
public:
	explicit StreamServerImpl(const StreamServerOptions &options)
	    : options_(options), server_(options_, stats_, registry_, mailbox_)
	{
	}

	Status open() { return server_.open(); }

	std::string description() const override
	{
		return server_.listening() ? fmt::format("HTTP server on port {}", server_.port())
					   : std::string("stream pusher");
	}
	Status start(const StreamInfo &info) override;
	Status write(const Frame &frame) override;
	bool busy() const override { return false; }
	/// The frames pinned for the clients, and those in the mailbox that
	/// the server's thread has not taken yet.
	unsigned max_held_frames() const override
	{
		return kPinnedFrames + net::FrameMailbox::kCapacity;
	}
	Status service(std::chrono::milliseconds) override { return {}; }
	Status finish() override
	{
		server_.stop();
		return {};
	}

	uint16_t port() const override { return server_.port(); }
	std::vector<ClientStats> clients() const override { return registry_.list(); }
	uint64_t client_count() const override { return registry_.count(); }

private:
	StreamServerOptions options_;
	bool unlimited_rate_ = false;
	net::ClientRegistry registry_;
	net::FrameMailbox mailbox_;
	net::Server server_;
};

Status StreamServerImpl::start(const StreamInfo &info)
{
	unlimited_rate_ = info.frame_rate.unlimited();
	mailbox_.post_info(info);
	server_.wake();
	return {};
}

Status StreamServerImpl::write(const Frame &frame)
{
	// A receiver we push to is gone: this sink has failed.
	if (Status failure = registry_.push_failure(); !failure)
		return failure;
	stats_.frames.fetch_add(1, std::memory_order_relaxed);
	// The clients count a frame dropped here by the gap in offer numbers.
	const bool pace = options_.pace_unlimited_source && unlimited_rate_;
	if (mailbox_.post(frame, pace, kDemandWait))
		stats_.dropped.fetch_add(1, std::memory_order_relaxed);
	server_.wake();
	return {};
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
	status = server->open();
	if (!status)
		return nullptr;
	return server;
}

} // namespace zcap
