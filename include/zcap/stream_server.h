// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zcap/sink.h>
#include <zcap/status.h>

namespace zcap {

/// How a client's frame payloads reach its socket.
enum class NetPath : uint8_t {
	automatic, ///< per client: copy for a peer on this host, zerocopy for others
	copy,	   ///< send(): the kernel copies the payload into socket buffers
	zerocopy,  ///< send(MSG_ZEROCOPY): the pages go to the NIC; the frame stays
		   ///< pinned until the kernel's completion notification
	sendfile,  ///< sendfile() from the frame's memfd; the frame stays pinned until
		   ///< the peer has acknowledged every byte of it. Peers on this host
		   ///< get copy instead: their socket reads the pages after the ACK.
};

std::optional<NetPath> parse_net_path(std::string_view name);
std::string_view net_path_name(NetPath path);

/// "[ADDR:]PORT" (--listen, --serve) or "HOST:PORT" (--connect), split at
/// the last colon; the one reading of these the server and the CLI share.
struct Endpoint {
	std::string host; ///< an IPv6 address without its brackets; empty when left out
	std::string port;
	bool has_host = false; ///< the text had a colon

	static Endpoint parse(std::string_view text);
	/// The host for a URL: an IPv6 address in brackets, 127.0.0.1 when left out.
	std::string url_host() const;
};

struct StreamServerOptions {
	/// [ADDR:]PORT to listen on; ADDR defaults to 127.0.0.1, PORT 0 picks one;
	/// empty: no listening (push only).
	std::string listen = "127.0.0.1:0";
	/// HOST:PORT receivers to push the live Matroska stream to, as
	/// GStreamer's tcpclientsink does: no HTTP, the stream from its header.
	std::vector<std::string> connect;
	/// Served read-only at /recordings/; empty: not served.
	std::filesystem::path recordings;
	NetPath net_path = NetPath::automatic;
	/// A client that takes no byte for this long is disconnected.
	std::chrono::milliseconds stall_timeout{5000};
	/// A client must send its whole request within this time.
	std::chrono::milliseconds request_timeout{5000};
	unsigned max_clients = 64;
	/// For a server that is its pipeline's only sink: when the stream's
	/// frame rate is unlimited, write() waits (up to a tick) until some
	/// client is ready for a new frame, so that the source runs at the
	/// pace of the fastest client instead of making frames no one takes.
	/// Paced streams never wait: a camera does not wait for clients.
	bool pace_unlimited_source = false;
};

/// What the server knows of one client, live or gone.
struct ClientStats {
	std::string peer;   ///< "127.0.0.1:40112"
	std::string target; ///< "/live.mkv", empty before the request
	NetPath path = NetPath::copy;
	uint64_t frames = 0; ///< frames sent whole
	/// Frames the server was given while this client streamed that it did
	/// not get whole: it fell behind, the server's thread did, or the
	/// connection ended amid them (the frame being sent, the one queued).
	uint64_t dropped = 0;
	uint64_t bytes = 0; ///< payload bytes sent
	uint64_t copied =
		0; ///< payload bytes the CPU copied (send(), or the kernel on local delivery)
	bool open = true;
	std::string closed_because; ///< when !open: "peer closed", "stalled 5 s", ...
};

/// The frames of a pipeline served over HTTP/1.1 while the pipeline runs:
///
///   GET /live.mkv        a live Matroska stream (ffplay, VLC, mpv, souphttpsrc)
///   GET /live.raw        frames, each behind a RawFrameHeader (below)
///   GET /recordings/     the finished recordings (HTML, or text/plain when asked)
///   GET /recordings/NAME one of them, with Range requests
///
/// A Sink like the disk sinks: add it to a Pipeline beside them and every
/// client gets the same pinned frames, never a copy made for it. The server
/// runs its own thread, so it accepts clients whether or not frames flow.
///
/// A peer is "on this host" when it is loopback, the address it reached us
/// on, or reached through an interface with no device behind it (veth,
/// bridge, tun): the kernel delivers to its socket locally.
///
/// Each client has its own queue of one frame; a client that is busy with an
/// older frame when a newer one arrives loses the older queued one (counted;
/// its Matroska stream resumes with a new Cluster), and one that falls two
/// frames behind has the rest of its frame copied (counted) so that the
/// server never pins more than kPinnedFrames capture buffers for its
/// clients' queues, whatever the clients do. A zero-copy client also pins
/// the one frame the kernel may still be sending: it sends zero-copy (or by
/// sendfile) only while the kernel holds none of its earlier frames, and
/// copies (counted) otherwise. Nothing a client does blocks capture, the disk or other
/// clients; a client that takes nothing for stall_timeout is disconnected.
class StreamServer : public Sink {
public:
	/// Capture buffers the server may keep pinned at once: the newest
	/// frame, the one before (fast clients are still sending it) and one
	/// more being released. Sources need this many buffers beyond the others.
	static constexpr unsigned kPinnedFrames = 3;
	/// Closed clients clients() still lists, the most recent ones: enough
	/// for a summary and to look into a burst of clients, while a server
	/// that runs for days and answers a connection a second keeps a
	/// bounded history (about 200 bytes each).
	static constexpr unsigned kClosedClientsKept = 1000;

	/// Binds and listens (so port() is known) and starts serving.
	static std::unique_ptr<StreamServer> create(const StreamServerOptions &options,
						    Status &status);

	/// The port it listens on.
	virtual uint16_t port() const = 0;
	/// Every open client, and the last kClosedClientsKept closed ones, in
	/// the order they came.
	virtual std::vector<ClientStats> clients() const = 0;
	/// Clients so far, open or closed, also those clients() forgot.
	virtual uint64_t client_count() const = 0;
};

/// What precedes every frame on /live.raw, all fields little-endian.
struct RawFrameHeader {
	static constexpr uint32_t kMagic = 0x3146435a; ///< "ZCF1"
	uint32_t magic = kMagic;
	uint32_t header_size = sizeof(RawFrameHeader);
	uint64_t sequence = 0;
	uint64_t timestamp_ns = 0; ///< capture time, CLOCK_MONOTONIC
	uint32_t fourcc = 0;
	uint32_t width = 0;
	uint32_t height = 0;
	uint32_t payload_size = 0; ///< bytes of frame that follow
};
static_assert(sizeof(RawFrameHeader) == 40);

} // namespace zcap
