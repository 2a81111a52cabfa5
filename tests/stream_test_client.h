// SPDX-License-Identifier: LGPL-2.1-or-later
// Clients of the HTTP streaming server for its tests: a blocking connection
// on 127.0.0.1, requests and responses, a reader of /live.raw that checks
// every byte against the pattern, and a pipeline running in the background.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <zcap/format.h>
#include <zcap/pattern_source.h>
#include <zcap/pipeline.h>
#include <zcap/stream_server.h>
#include <zcap/unique_fd.h>

namespace zcap::test {

/// How long a client waits for a byte before it gives up: no test hangs.
constexpr std::chrono::seconds kIoTimeout{10};

/// Pattern frames, each rendered once and shared by the client threads.
class PatternFrames {
public:
	explicit PatternFrames(const FrameFormat &format) : format_(format) {}

	const std::vector<std::byte> &get(uint64_t sequence);

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
	explicit Connection(uint16_t port, int receive_buffer = 0);

	int fd() const { return fd_.get(); }
	/// The client as the server names it in ClientStats::peer.
	const std::string &name() const { return name_; }
	/// Why the last read got nothing: empty at the end of the stream.
	const std::string &error() const { return error_; }

	/// Sends all of @p bytes; false when the connection is gone.
	bool send(std::string_view bytes);
	/// Up to @p size bytes; 0 at the end of the stream or on an error.
	size_t read_some(std::byte *out, size_t size);
	/// Exactly @p size bytes; false when the stream ended before.
	bool read_exact(std::byte *out, size_t size, const Pace &pace);
	/// The response head through its blank line, or what came before the
	/// connection ended; the bytes after the head are kept for the reads.
	std::string read_head();
	/// Everything up to the end of the stream.
	std::string read_rest();
	/// Closes the connection with a reset (SO_LINGER 0) instead of a FIN.
	void abort();

private:
	UniqueFd fd_;
	std::string name_;
	std::string error_;
	std::string pending_;
};

std::string get_request(std::string_view target, std::string_view headers = "");

/// The status code of a response head; 0 when there is none.
int status_of(std::string_view head);

struct Response {
	int status = 0; ///< 0 when no response came
	std::string head;
	std::string body;

	/// The value of header field @p name, empty when there is none.
	std::string header(std::string_view name) const;
};

/// Sends @p request on a new connection and reads the response to its end.
Response ask(uint16_t port, std::string_view request);

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
		   const Pace &pace = {});

/// Frames missing between the first and the last of @p sequences.
uint64_t missing(const std::vector<uint64_t> &sequences);

/// Polls @p condition until it holds or @p timeout passes; returns whether
/// it held.
template <typename Condition>
bool eventually(Condition &&condition, std::chrono::milliseconds timeout = std::chrono::seconds(5))
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	while (!condition()) {
		if (std::chrono::steady_clock::now() > deadline)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
	}
	return true;
}

/// Open clients that asked for @p target: once they are there, they are
/// served every frame from the first.
size_t clients_of(const StreamServer &server, std::string_view target);

/// What the server knows of the client it names @p peer.
ClientStats stats_of(const StreamServer &server, const std::string &peer);

std::unique_ptr<StreamServer> make_server(const StreamServerOptions &options = {});

std::unique_ptr<PatternSource> make_source(const FrameFormat &format, FrameRate rate,
					   unsigned buffers);

/// A pipeline running on its own thread until stop().
class BackgroundRun {
public:
	explicit BackgroundRun(Pipeline &pipeline);
	~BackgroundRun() { stop(); }

	Status stop();

private:
	std::atomic<bool> stop_{false};
	Status status_;
	std::thread thread_;
};

} // namespace zcap::test
