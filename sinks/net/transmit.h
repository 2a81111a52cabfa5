// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <utility>

#include <zcap/frame.h>
#include <zcap/stream_server.h>

#include "frame_queue.h"

namespace zcap::net {

/// How one client's payloads reach its socket, and which frames the kernel
/// still holds pages of, until it lets go of them:
///
///   copy      send(): the kernel copies the bytes at once (counted);
///   zerocopy  send(MSG_ZEROCOPY): the pages go to the device; the frame is
///             held until the socket's error queue reports every send of
///             it done (or copied after all: counted then);
///   sendfile  sendfile() from the frame's memfd: the frame is held until
///             the peer has acknowledged its last byte (SIOCOUTQ).
///
/// Zero-copy only while the kernel holds no earlier frame of this client:
/// one that reads slowly would otherwise pin a frame for every socket
/// buffer's worth of them and starve the source; it gets send() meanwhile.
class Transmit {
public:
	Transmit(int fd, NetPath path) : fd_(fd), path_(path) {}

	NetPath path() const { return path_; }
	/// How payloads go from now on (a live stream chose).
	void use(NetPath path) { path_ = path; }

	struct Sent {
		size_t bytes = 0;
		bool copied = false; ///< the CPU copied them (send())
		bool whole = false;  ///< the payload is sent completely
	};
	/// Sends the next piece of @p p, at most @p max bytes; nothing (errno
	/// set) when the socket took nothing.
	std::optional<Sent> send_payload(Payload &p, size_t max);
	/// Sends bytes that are not a frame's (headers) with send().
	ssize_t send_bytes(const char *data, size_t size, bool more);

	/// Reads the zero-copy completions on the socket's error queue and lets
	/// go of the frames done. Returns the bytes the kernel reports it
	/// copied after all (delivered on this host).
	uint64_t reap_completions();
	/// Lets go of the frames sent by sendfile() that the peer acknowledged.
	void release_acknowledged();
	/// Whether the kernel may still read pages of frames it was given.
	bool holds() const { return !zc_hold_.empty() || !ack_hold_.empty(); }
	/// Lets go of every frame, whatever the kernel said (it will not say
	/// more: the connection is closed and its time is up).
	void forget()
	{
		zc_hold_.clear();
		ack_hold_.clear();
	}

private:
	int fd_;
	NetPath path_;

	/// Bytes written to the socket so far (payload and headers).
	uint64_t sent_total_ = 0;

	/// MSG_ZEROCOPY: sends are numbered from 0; the kernel reports ranges
	/// of them done. A frame is held until every send of it is done.
	uint32_t zc_next_ = 0;
	uint32_t zc_done_ = 0;				     ///< every id below this is done
	std::map<uint32_t, uint32_t> zc_ranges_;	     ///< done ranges above zc_done_
	std::deque<std::pair<uint32_t, uint32_t>> zc_bytes_; ///< id, bytes
	std::deque<std::pair<uint32_t, Frame>> zc_hold_;     ///< last id, frame

	/// sendfile(): the frames the peer has not acknowledged yet, with where
	/// they end in sent_total_.
	std::deque<std::pair<uint64_t, Frame>> ack_hold_;
};

} // namespace zcap::net
