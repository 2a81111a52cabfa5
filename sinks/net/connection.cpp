// SPDX-License-Identifier: LGPL-2.1-or-later
#include "connection.h"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "net_path_choice.h"

namespace zcap::net {

namespace {

/// Bytes read from a client at a time; requests are small.
constexpr size_t kReadChunk = 4096;
/// The largest single send of a payload or file piece. A send takes what
/// the socket buffer has room for anyway; a cap of 1 MiB cost 20 % of a
/// loopback client's throughput in syscalls (bench/net_bench.py).
constexpr size_t kMaxSend = 8 << 20;
/// How long a closing zero-copy client may take to hand back its pages.
constexpr std::chrono::milliseconds kDrainTimeout{1000};

} // namespace

Connection::Connection(ServerContext &context, UniqueFd fd, uint64_t id)
    : context_(context), fd_(std::move(fd)), id_(id), transmit_(fd_.get(), NetPath::copy)
{
	deadline_ = Clock::now() + context_.options.request_timeout;
	last_progress_ = Clock::now();
	context_.loop.add(fd_.get(), EPOLLIN | EPOLLRDHUP);
}

Connection::Connection(ServerContext &context, UniqueFd fd, uint64_t id, std::string target)
    : context_(context), fd_(std::move(fd)), id_(id), state_(State::connecting),
      push_target_(std::move(target)), transmit_(fd_.get(), NetPath::copy)
{
	deadline_ = Clock::now() + context_.options.request_timeout;
	last_progress_ = Clock::now();
	context_.loop.add(fd_.get(), EPOLLOUT | EPOLLRDHUP);
	want_out_ = true;
}

void Connection::refuse()
{
	out_ = http::error_response(503, "too many clients");
	close_when_sent_ = true;
	pump();
}

void Connection::connected()
{
	int err = 0;
	socklen_t length = sizeof(err);
	getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &length);
	if (err) {
		close(std::string("cannot connect: ") + strerror(err));
		return;
	}
	start_live(LiveFraming::Kind::mkv);
	pump();
}

void Connection::handle(uint32_t events)
{
	if (state_ == State::connecting) {
		connected();
		return;
	}
	if (events & EPOLLERR)
		reap_completions();
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
		if (state_ == State::request && !peer_done_) {
			read_request();
			if (gone_ || !(events & EPOLLHUP))
				return;
		}
		// Clients have nothing more to say once asked: what they send is
		// discarded, an end of input is a half-close (some tools end
		// their side after the request) and only a hang-up a goodbye.
		char discard[kReadChunk];
		ssize_t n = recv(fd_.get(), discard, sizeof(discard), MSG_DONTWAIT);
		if ((n == 0 && (events & EPOLLHUP)) ||
		    (n < 0 && errno != EAGAIN && errno != EINTR)) {
			close(n == 0 ? "peer closed" : strerror(errno));
			return;
		}
		if (n == 0)
			end_of_input();
		if (gone_)
			return;
	}
	if (events & EPOLLOUT)
		pump();
}

void Connection::end_of_input()
{
	if (state_ == State::request && !close_when_sent_) {
		close("peer closed");
		return;
	}
	// epoll would report the end of input without end: watch for room
	// (and the hang-up epoll always reports) only.
	peer_done_ = true;
	watch();
}

void Connection::read_request()
{
	char chunk[kReadChunk];
	ssize_t n = recv(fd_.get(), chunk, sizeof(chunk), MSG_DONTWAIT);
	if (n == 0) {
		end_of_input();
		return;
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		close(strerror(errno));
		return;
	}
	if (n < 0)
		return;
	if (close_when_sent_)
		return; // already answered (503); the rest is ignored
	in_.append(chunk, size_t(n));
	http::Request request;
	http::ParseResult result = http::parse_request(in_, request);
	if (result.state == http::ParseResult::State::incomplete)
		return;
	if (result.state == http::ParseResult::State::error) {
		update([&](ClientStats &s) { s.target = "(bad request)"; });
		out_ = http::error_response(result.status, result.reason);
		close_when_sent_ = true;
		pump();
		return;
	}
	update([&](ClientStats &s) { s.target = request.target; });
	const RouteContext route_context{
		.mkv_impossible = context_.info && context_.mkv_header.bytes.empty(),
		.recordings_fd = context_.recordings_fd,
	};
	answer(route(request, route_context));
	pump();
}

void Connection::answer(Answer answer)
{
	out_ = std::move(answer.head);
	if (answer.live) {
		start_live(*answer.live);
		return;
	}
	close_when_sent_ = true;
	if (answer.recording) {
		state_ = State::file;
		file_ = std::move(answer.file);
		file_offset_ = answer.file_offset;
		file_left_ = answer.file_length;
	}
}

void Connection::start_live(LiveFraming::Kind kind)
{
	state_ = State::live;
	queue_ = FrameQueue(context_.last_offer);
	framing_ = LiveFraming(kind);
	const NetPath path =
		live_net_path(context_.options.net_path, fd_.get(), context_.registry.peer(id_),
			      context_.features, context_.said_no_scatter_gather);
	transmit_.use(path);
	update([&](ClientStats &s) { s.path = path; });
}

void Connection::offer(const Frame &frame, uint64_t offer, uint64_t arrival)
{
	if (uint64_t missed = queue_.offer(frame, offer, arrival)) {
		framing_.resume();
		update([&](ClientStats &s) { s.dropped += missed; });
	}
	if (uint64_t copied = queue_.copy_aside_if_behind(arrival))
		count_copied(copied);
	pump();
}

void Connection::begin_frame()
{
	Payload &payload = queue_.begin_next();
	// Ready for another frame now, while this one goes out: said at the
	// end of the loop's turn instead, a fast client would have sent it all
	// and wait for the next with nothing to send.
	context_.mailbox.demand_ready();
	framing_.frame_header(payload.frame, context_.mkv_header, out_);
}

void Connection::pump()
{
	for (;;) {
		if (out_sent_ < out_.size()) {
			bool more = queue_.has_current() || file_left_ ||
				    (queue_.has_next() && state_ == State::live);
			if (!send_out(more))
				return;
			continue;
		}
		out_.clear();
		out_sent_ = 0;
		if (queue_.has_current()) {
			if (!send_payload())
				return;
			continue;
		}
		if (file_left_) {
			if (!send_file())
				return;
			continue;
		}
		if (close_when_sent_) {
			close("answered");
			return;
		}
		if (state_ == State::live && queue_.has_next() && context_.info) {
			if (framing_.kind() == LiveFraming::Kind::mkv &&
			    context_.mkv_header.bytes.empty())
				return;
			begin_frame();
			continue;
		}
		watch_out(false);
		return;
	}
}

bool Connection::send_out(bool more)
{
	ssize_t n = transmit_.send_bytes(out_.data() + out_sent_, out_.size() - out_sent_, more);
	if (n < 0) {
		send_failed();
		return false;
	}
	out_sent_ += size_t(n);
	last_progress_ = Clock::now();
	return true;
}

bool Connection::send_payload()
{
	Payload &payload = *queue_.current();
	const std::optional<Transmit::Sent> sent = transmit_.send_payload(payload, kMaxSend);
	if (!sent) {
		send_failed();
		return false;
	}
	last_progress_ = Clock::now();
	if (sent->copied)
		count_copied(sent->bytes);
	if (!sent->whole)
		return true;
	const uint64_t size = payload.size;
	queue_.end_current();
	context_.stats.bytes.fetch_add(size, std::memory_order_relaxed);
	update([&](ClientStats &s) {
		++s.frames;
		s.bytes += size;
	});
	return true;
}

bool Connection::send_file()
{
	off_t offset = off_t(file_offset_);
	ssize_t n =
		sendfile(fd_.get(), file_.get(), &offset, std::min<uint64_t>(file_left_, kMaxSend));
	if (n == 0) {
		close("the file shrank");
		return false;
	}
	if (n < 0) {
		send_failed();
		return false;
	}
	file_offset_ += uint64_t(n);
	file_left_ -= uint64_t(n);
	last_progress_ = Clock::now();
	return true;
}

void Connection::send_failed()
{
	if (errno == EAGAIN || errno == EINTR)
		watch_out(true);
	else
		close(strerror(errno));
}

void Connection::reap_completions()
{
	if (uint64_t copied = transmit_.reap_completions())
		count_copied(copied);
}

void Connection::count_copied(uint64_t bytes)
{
	context_.stats.copied_bytes.fetch_add(bytes, std::memory_order_relaxed);
	update([&](ClientStats &s) { s.copied += bytes; });
}

void Connection::watch_out(bool on)
{
	if (want_out_ == on)
		return;
	want_out_ = on;
	watch();
}

void Connection::watch()
{
	context_.loop.modify(fd_.get(), (peer_done_ ? 0u : uint32_t(EPOLLIN | EPOLLRDHUP)) |
						(want_out_ ? uint32_t(EPOLLOUT) : 0u));
}

bool Connection::sending() const
{
	return out_sent_ < out_.size() || queue_.has_current() || queue_.has_next() || file_left_;
}

void Connection::close(const std::string &why)
{
	if (gone_)
		return;
	if (state_ != State::draining) {
		closed_because_ = why;
		if (!push_target_.empty() && !context_.mailbox.stopping())
			context_.registry.push_failed(Status::invalid(
				fmt::format("pushing to {}: {}", push_target_, why)));
		// The frame being sent and the one queued are lost to it.
		const uint64_t lost = queue_.clear();
		update([&](ClientStats &s) {
			s.open = false;
			s.closed_because = why;
			s.dropped += lost;
		});
		if (transmit_.holds()) {
			// The kernel may still be sending those pages: wait for its
			// notifications (or the peer's ACKs) before giving the
			// frames back. check_timeouts() polls for them: a shut
			// down socket would wake epoll without end.
			shutdown(fd_.get(), SHUT_RDWR);
			context_.loop.remove(fd_.get());
			state_ = State::draining;
			deadline_ = Clock::now() + kDrainTimeout;
			reap_completions();
			transmit_.release_acknowledged();
			if (transmit_.holds())
				return;
		}
	}
	context_.loop.remove(fd_.get());
	gone_ = true;
	context_.graveyard.push_back(fd_.get());
}

void Connection::check_timeouts(Clock::time_point now)
{
	if (gone_)
		return;
	if (state_ == State::draining)
		reap_completions();
	transmit_.release_acknowledged();
	// Asked and being answered (or streamed), or a push receiver.
	const bool answering = state_ != State::request || close_when_sent_;
	const bool idle = now - last_progress_ > context_.options.stall_timeout;
	std::optional<std::string> why;
	if (state_ == State::connecting && now > deadline_) {
		why = "cannot connect: timed out";
	} else if (!answering && now > deadline_) {
		why = "no request in time";
	} else if (state_ == State::draining) {
		// Done, or past the deadline: nothing more will come back.
		if (!transmit_.holds() || now > deadline_) {
			transmit_.forget();
			why = closed_because_;
		}
	} else if (answering && sending() && idle) {
		why = fmt::format("stalled for {} ms", context_.options.stall_timeout.count());
	} else if (peer_done_ && idle) {
		// It ended its side and nothing is coming for it: it may be
		// gone, which only a send would tell.
		why = "peer closed";
	}
	if (why)
		close(*why);
}

} // namespace zcap::net
