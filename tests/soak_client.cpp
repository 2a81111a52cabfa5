// SPDX-License-Identifier: LGPL-2.1-or-later
// soak_client PORT: the client the soak test keeps on zcap's /live.raw for a
// whole run. Reads the stream to its end and checks every frame: the header
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

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
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

struct Result {
	std::string peer;
	int status = 0;
	uint64_t frames = 0;
	std::optional<uint64_t> first, last;
	uint64_t missing = 0;
	std::string error; ///< the first thing wrong
	std::string ended; ///< why reading ended; empty at the end of the stream
};

/// Reads exactly @p size bytes; false at the end of the stream (@p ended
/// empty) or on an error (@p ended says which).
bool read_exact(int fd, void *out, size_t size, std::string &ended)
{
	auto *p = static_cast<std::byte *>(out);
	while (size) {
		ssize_t n = recv(fd, p, size, MSG_WAITALL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				ended = errno == EAGAIN ? "no byte for 10 s" : std::strerror(errno);
			return false;
		}
		p += n;
		size -= size_t(n);
	}
	return true;
}

void read_stream(int fd, Result &r)
{
	std::string head;
	while (!head.ends_with("\r\n\r\n")) {
		char c;
		if (head.size() > kMaxHead || !read_exact(fd, &c, 1, r.ended)) {
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
	for (;;) {
		RawFrameHeader h;
		if (!read_exact(fd, &h, sizeof(h), r.ended))
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
		if (!read_exact(fd, payload.data(), payload.size(), r.ended))
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

} // namespace

int main(int argc, char **argv)
{
	unsigned port = 0;
	if (argc != 2 || std::sscanf(argv[1], "%u", &port) != 1 || !port || port > 65535) {
		std::fprintf(stderr, "usage: soak_client PORT\n");
		return 2;
	}
	Result r;
	UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_port = htons(uint16_t(port));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	const std::string request = "GET /live.raw HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	if (!fd ||
	    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &kReadTimeout, sizeof(kReadTimeout)) <
		    0 ||
	    connect(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) < 0 ||
	    send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
		    ssize_t(request.size())) {
		r.error = fmt::format("cannot ask 127.0.0.1:{}: {}", port, std::strerror(errno));
	} else {
		sockaddr_in self{};
		socklen_t length = sizeof(self);
		getsockname(fd.get(), reinterpret_cast<sockaddr *>(&self), &length);
		r.peer = fmt::format("127.0.0.1:{}", ntohs(self.sin_port));
		read_stream(fd.get(), r);
	}
	std::printf("{\"peer\": %s, \"status\": %d, \"frames\": %llu, \"first\": %s, "
		    "\"last\": %s, \"missing\": %llu, \"error\": %s, \"ended\": %s}\n",
		    json_string(r.peer).c_str(), r.status,
		    static_cast<unsigned long long>(r.frames), json_number(r.first).c_str(),
		    json_number(r.last).c_str(), static_cast<unsigned long long>(r.missing),
		    json_string(r.error).c_str(), json_string(r.ended).c_str());
	return r.error.empty() && r.ended.empty() ? 0 : 1;
}
