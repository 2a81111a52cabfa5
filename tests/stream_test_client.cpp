// SPDX-License-Identifier: LGPL-2.1-or-later
#include "stream_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/pattern.h>

namespace zcap::test {

using namespace std::chrono_literals;

const std::vector<std::byte> &PatternFrames::get(uint64_t sequence)
{
	std::lock_guard lock(lock_);
	auto [it, added] = frames_.try_emplace(sequence);
	if (added) {
		it->second.resize(format_.size_image);
		pattern::render(format_, sequence, it->second);
	}
	return it->second;
}

Connection::Connection(uint16_t port, int receive_buffer)
    : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))
{
	timeval timeout{.tv_sec = kIoTimeout.count(), .tv_usec = 0};
	setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	if (receive_buffer)
		setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer,
			   sizeof(receive_buffer));
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	EXPECT_EQ(connect(fd_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0)
		<< std::strerror(errno);
	socklen_t length = sizeof(addr);
	getsockname(fd_.get(), reinterpret_cast<sockaddr *>(&addr), &length);
	name_ = fmt::format("127.0.0.1:{}", ntohs(addr.sin_port));
}

bool Connection::send(std::string_view bytes)
{
	while (!bytes.empty()) {
		ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		bytes.remove_prefix(size_t(n));
	}
	return true;
}

/// recv() that goes on after a signal: with SO_RCVTIMEO set, a signal or
/// the kernel's task work (io_uring completions of this thread) ends a
/// blocking recv() with EINTR instead of restarting it.
static ssize_t receive(int fd, void *out, size_t size)
{
	ssize_t n;
	do
		n = recv(fd, out, size, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

size_t Connection::read_some(std::byte *out, size_t size)
{
	if (!pending_.empty()) {
		size_t n = std::min(size, pending_.size());
		std::memcpy(out, pending_.data(), n);
		pending_.erase(0, n);
		return n;
	}
	ssize_t n = receive(fd_.get(), out, size);
	if (n < 0)
		error_ = std::strerror(errno);
	return n > 0 ? size_t(n) : 0;
}

bool Connection::read_exact(std::byte *out, size_t size, const Pace &pace)
{
	while (size) {
		size_t n = read_some(out, std::min(size, pace.chunk));
		if (n == 0)
			return false;
		out += n;
		size -= n;
		if (pace.pause.count())
			std::this_thread::sleep_for(pace.pause);
	}
	return true;
}

std::string Connection::read_head()
{
	std::string bytes;
	char chunk[4096];
	for (;;) {
		if (size_t end = bytes.find("\r\n\r\n"); end != bytes.npos) {
			pending_ = bytes.substr(end + 4);
			bytes.resize(end + 4);
			return bytes;
		}
		ssize_t n = receive(fd_.get(), chunk, sizeof(chunk));
		if (n <= 0) {
			if (n < 0)
				error_ = std::strerror(errno);
			return bytes;
		}
		bytes.append(chunk, size_t(n));
	}
}

std::string Connection::read_rest()
{
	std::string bytes = std::exchange(pending_, {});
	char chunk[65536];
	ssize_t n;
	while ((n = receive(fd_.get(), chunk, sizeof(chunk))) > 0)
		bytes.append(chunk, size_t(n));
	if (n < 0)
		error_ = std::strerror(errno);
	return bytes;
}

void Connection::abort()
{
	linger reset{.l_onoff = 1, .l_linger = 0};
	setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	fd_.reset();
}

std::string get_request(std::string_view target, std::string_view headers)
{
	return fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n", target, headers);
}

int status_of(std::string_view head)
{
	if (head.size() < 12 || !head.starts_with("HTTP/1.1 "))
		return 0;
	return std::stoi(std::string(head.substr(9, 3)));
}

std::string Response::header(std::string_view name) const
{
	size_t start = head.find(fmt::format("\r\n{}: ", name));
	if (start == head.npos)
		return {};
	start += name.size() + 4;
	return head.substr(start, head.find("\r\n", start) - start);
}

Response ask(uint16_t port, std::string_view request)
{
	Connection connection(port);
	// A refused request may be answered before all of it is sent.
	connection.send(request);
	Response response;
	response.head = connection.read_head();
	response.status = status_of(response.head);
	response.body = connection.read_rest();
	return response;
}

RawStream read_raw(Connection &connection, const FrameFormat &format, PatternFrames &patterns,
		   const Pace &pace)
{
	RawStream r;
	r.status = status_of(connection.read_head());
	if (r.status != 200) {
		r.error = fmt::format("HTTP status {}", r.status);
		return r;
	}
	std::vector<std::byte> payload(format.size_image);
	for (;;) {
		RawFrameHeader h;
		if (!connection.read_exact(reinterpret_cast<std::byte *>(&h), sizeof(h), pace))
			break;
		if (h.magic != RawFrameHeader::kMagic || h.header_size != sizeof(h) ||
		    h.fourcc != format.fourcc || h.width != format.width ||
		    h.height != format.height || h.payload_size != format.size_image) {
			r.error = fmt::format("a wrong frame header after {} frames",
					      r.sequences.size());
			break;
		}
		if (!r.sequences.empty() && h.sequence <= r.sequences.back()) {
			r.error = fmt::format("frame {} after frame {}", h.sequence,
					      r.sequences.back());
			break;
		}
		if (!connection.read_exact(payload.data(), payload.size(), pace))
			break;
		const std::vector<std::byte> &expected = patterns.get(h.sequence);
		if (payload != expected) {
			auto [at, _] =
				std::mismatch(payload.begin(), payload.end(), expected.begin());
			r.error = fmt::format("frame {} differs from the pattern from byte {}",
					      h.sequence, at - payload.begin());
			break;
		}
		r.sequences.push_back(h.sequence);
	}
	r.ended = connection.error();
	return r;
}

uint64_t missing(const std::vector<uint64_t> &sequences)
{
	if (sequences.empty())
		return 0;
	return sequences.back() - sequences.front() + 1 - sequences.size();
}

size_t clients_of(const StreamServer &server, std::string_view target)
{
	auto clients = server.clients();
	return size_t(std::count_if(clients.begin(), clients.end(), [&](const ClientStats &c) {
		return c.open && c.target == target;
	}));
}

ClientStats stats_of(const StreamServer &server, const std::string &peer)
{
	auto clients = server.clients();
	auto it = std::find_if(clients.rbegin(), clients.rend(),
			       [&](const ClientStats &c) { return c.peer == peer; });
	EXPECT_NE(it, clients.rend()) << "the server does not know " << peer;
	return it == clients.rend() ? ClientStats{} : *it;
}

std::unique_ptr<StreamServer> make_server(const StreamServerOptions &options)
{
	Status status;
	auto server = StreamServer::create(options, status);
	EXPECT_TRUE(server) << status.message();
	return server;
}

std::unique_ptr<PatternSource> make_source(const FrameFormat &format, FrameRate rate,
					   unsigned buffers)
{
	Status status;
	auto source = PatternSource::create(format, rate, buffers, status);
	EXPECT_TRUE(source) << status.message();
	return source;
}

BackgroundRun::BackgroundRun(Pipeline &pipeline)
    : thread_([this, &pipeline] { status_ = pipeline.run({}, stop_, {}, 10ms); })
{
}

Status BackgroundRun::stop()
{
	stop_ = true;
	if (thread_.joinable())
		thread_.join();
	return status_;
}

} // namespace zcap::test
