// SPDX-License-Identifier: LGPL-2.1-or-later
// soak_client [--host ADDR] [--frames N] [--rate BYTES] PORT: the client the
// soak test keeps on zcap's /live.raw for a whole run, and the NIC test's
// (tests/vm/nic_test.sh) on a guest's server: at ADDR (default 127.0.0.1),
// until N frames came (default: the end of the stream), reading at most
// BYTES a second (default: as fast as they come; a slow client). Reads the
// stream and checks every frame: the header
// (the format of the first, sequence numbers and timestamps that never go
// back) and every payload byte against the pattern frame the header names,
// the expected frame kept in one buffer and redrawn with pattern::restamp()
// (a memcmp a frame: cheap). Prints one JSON object: the peer name the
// server knows it by, the frames, the first and last sequence, the frames
// missing between them, the first thing wrong and why reading ended (empty
// at the end of the stream). Exit status 0 when nothing was wrong.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <zcap/format.h>
#include <zcap/pattern.h>
#include <zcap/stream_server.h>
#include <zcap/unique_fd.h>

namespace {

using namespace zcap;

/// The server sends the stream's frames while the run lasts, and ends the
/// stream when it stops: this long without a byte is a failure.
constexpr timeval kReadTimeout{.tv_sec = 10, .tv_usec = 0};
/// Longer than any response head the server sends.
constexpr size_t kMaxHead = 4096;
/// With --rate: the most one read takes, so that the pace is even.
constexpr size_t kRateChunk = 16 << 10;
/// With --rate: the receive buffer asked for, so that the server sees a slow
/// client soon instead of the kernel's buffers taking seconds of the stream.
constexpr int kRateReceiveBuffer = 64 << 10;

struct Options {
	std::string host = "127.0.0.1";
	unsigned port = 0;
	uint64_t frames = 0; ///< 0: to the end of the stream
	uint64_t rate = 0;   ///< bytes a second; 0: unlimited
};

struct Result {
	std::string peer;
	int status = 0;
	uint64_t frames = 0;
	std::optional<uint64_t> first, last;
	uint64_t missing = 0;
	std::string error; ///< the first thing wrong
	std::string ended; ///< why reading ended; empty at the end of the stream
};

/// Reads at most --rate bytes a second: after each read it rests until the
/// bytes read so far are due.
class Pacer {
public:
	explicit Pacer(uint64_t rate) : rate_(rate) {}

	size_t chunk(size_t size) const { return rate_ ? std::min(size, kRateChunk) : size; }
	void read(size_t bytes)
	{
		if (!rate_)
			return;
		bytes_ += bytes;
		std::this_thread::sleep_until(start_ +
					      std::chrono::microseconds(bytes_ * 1000000 / rate_));
	}

private:
	const uint64_t rate_;
	const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
	uint64_t bytes_ = 0;
};

/// Reads exactly @p size bytes; false at the end of the stream (@p ended
/// empty) or on an error (@p ended says which).
bool read_exact(int fd, void *out, size_t size, std::string &ended, Pacer &pacer)
{
	auto *p = static_cast<std::byte *>(out);
	while (size) {
		ssize_t n = recv(fd, p, pacer.chunk(size), MSG_WAITALL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				ended = errno == EAGAIN ? "no byte for 10 s" : std::strerror(errno);
			return false;
		}
		p += n;
		size -= size_t(n);
		pacer.read(size_t(n));
	}
	return true;
}

void read_stream(int fd, uint64_t frames, Pacer &pacer, Result &r)
{
	std::string head;
	while (!head.ends_with("\r\n\r\n")) {
		char c;
		if (head.size() > kMaxHead || !read_exact(fd, &c, 1, r.ended, pacer)) {
			r.error = "no whole response head";
			return;
		}
		head += c;
	}
	std::sscanf(head.c_str(), "HTTP/1.1 %d", &r.status);
	if (r.status != 200) {
		r.error = fmt::format("status {}", r.status);
		return;
	}

	std::optional<FrameFormat> format;
	std::vector<std::byte> payload, expected;
	std::optional<uint64_t> drawn; ///< the frame @p expected holds
	uint64_t last_timestamp = 0;
	while (!frames || r.frames < frames) {
		RawFrameHeader h;
		if (!read_exact(fd, &h, sizeof(h), r.ended, pacer))
			return;
		if (h.magic != RawFrameHeader::kMagic || h.header_size != sizeof(h)) {
			r.error = fmt::format("frame {}: bad header", r.frames);
			return;
		}
		if (!format) {
			format = packed_format(h.fourcc, h.width, h.height);
			if (!format || format->size_image != h.payload_size) {
				r.error = fmt::format("not a pattern format: {}x{} {:#x}, {} bytes",
						      h.width, h.height, h.fourcc, h.payload_size);
				return;
			}
			payload.resize(h.payload_size);
			expected.resize(h.payload_size);
		}
		if (h.fourcc != format->fourcc || h.width != format->width ||
		    h.height != format->height || h.payload_size != format->size_image) {
			r.error = fmt::format("frame {}: the format changed", h.sequence);
			return;
		}
		if (r.last && h.sequence <= *r.last) {
			r.error = fmt::format("frame {} after frame {}", h.sequence, *r.last);
			return;
		}
		if (h.timestamp_ns < last_timestamp) {
			r.error = fmt::format("frame {}: its timestamp goes back", h.sequence);
			return;
		}
		if (!read_exact(fd, payload.data(), payload.size(), r.ended, pacer))
			return; // cut off by the end of the stream: not counted
		if (drawn)
			pattern::restamp(*format, *drawn, h.sequence, expected);
		else
			pattern::render(*format, h.sequence, expected);
		drawn = h.sequence;
		if (payload != expected) {
			r.error =
				fmt::format("frame {}: the payload is not that frame", h.sequence);
			return;
		}
		if (r.last)
			r.missing += h.sequence - *r.last - 1;
		else
			r.first = h.sequence;
		r.last = h.sequence;
		last_timestamp = h.timestamp_ns;
		++r.frames;
	}
}

std::string json_string(std::string_view s)
{
	std::string out = "\"";
	for (char c : s)
		out += c == '"' || c == '\\' ? std::string{'\\', c} : std::string{c};
	return out + "\"";
}

std::string json_number(std::optional<uint64_t> n)
{
	return n ? std::to_string(*n) : "null";
}

/// Parses the command line; false on a bad one.
bool parse(int argc, char **argv, Options &o)
{
	int i = 1;
	for (; i + 1 < argc && std::strncmp(argv[i], "--", 2) == 0; i += 2) {
		const std::string_view name = argv[i];
		unsigned long long n = 0;
		if (name == "--host")
			o.host = argv[i + 1];
		else if ((name == "--frames" || name == "--rate") &&
			 std::sscanf(argv[i + 1], "%llu", &n) == 1 && n)
			(name == "--frames" ? o.frames : o.rate) = n;
		else
			return false;
	}
	return i + 1 == argc && std::sscanf(argv[i], "%u", &o.port) == 1 && o.port &&
	       o.port <= 65535;
}

} // namespace

int main(int argc, char **argv)
{
	Options o;
	if (!parse(argc, argv, o)) {
		std::fprintf(stderr,
			     "usage: soak_client [--host ADDR] [--frames N] [--rate BYTES] PORT\n");
		return 2;
	}
	Result r;
	UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_port = htons(uint16_t(o.port));
	const std::string request =
		fmt::format("GET /live.raw HTTP/1.1\r\nHost: {}\r\n\r\n", o.host);
	if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) {
		r.error = fmt::format("not an IPv4 address: {}", o.host);
	} else if (!fd ||
		   setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &kReadTimeout,
			      sizeof(kReadTimeout)) < 0 ||
		   (o.rate && setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &kRateReceiveBuffer,
					 sizeof(kRateReceiveBuffer)) < 0) ||
		   connect(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) < 0 ||
		   send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
			   ssize_t(request.size())) {
		r.error = fmt::format("cannot ask {}:{}: {}", o.host, o.port, std::strerror(errno));
	} else {
		sockaddr_in self{};
		socklen_t length = sizeof(self);
		getsockname(fd.get(), reinterpret_cast<sockaddr *>(&self), &length);
		char name[INET_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET, &self.sin_addr, name, sizeof(name));
		r.peer = fmt::format("{}:{}", name, ntohs(self.sin_port));
		Pacer pacer(o.rate);
		read_stream(fd.get(), o.frames, pacer, r);
	}
	std::printf("{\"peer\": %s, \"status\": %d, \"frames\": %llu, \"first\": %s, "
		    "\"last\": %s, \"missing\": %llu, \"error\": %s, \"ended\": %s}\n",
		    json_string(r.peer).c_str(), r.status,
		    static_cast<unsigned long long>(r.frames), json_number(r.first).c_str(),
		    json_number(r.last).c_str(), static_cast<unsigned long long>(r.missing),
		    json_string(r.error).c_str(), json_string(r.ended).c_str());
	return r.error.empty() && r.ended.empty() ? 0 : 1;
}
