// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <zcap/frame.h>

namespace zcap::net {

/// The payload of the frame a client is sending: from the frame's pages, or
/// from the client's own copy once the frame fell behind.
struct Payload {
	Frame frame;
	uint64_t arrival = 0; ///< the server's count of frames when it came
	std::vector<std::byte> copy;
	std::span<const std::byte> rest;
	uint64_t size = 0;
	bool zerocopy_sent = false; ///< some bytes went out with MSG_ZEROCOPY
	bool sendfile_sent = false; ///< some bytes went out by sendfile()

	/// Whether the kernel may hold pages of it: they cannot be copied aside.
	bool lent_to_kernel() const { return zerocopy_sent || sendfile_sent; }
};

/// A live client's frames: the one it is sending and at most one queued.
///
/// A newer frame replaces the queued one, which the client has lost; so
/// are the frames the server's thread missed (gaps in the offer numbers).
/// A client two frames behind has the rest of the frame it is sending
/// copied aside (counted) so that it pins at most the newest frame and the
/// one before, whatever it does (StreamServer::kPinnedFrames).
class FrameQueue {
public:
	/// Frames the server's thread had distributed when the client started.
	explicit FrameQueue(uint64_t last_offer = 0) : last_offer_(last_offer) {}

	/// A new frame, numbered @p offer by the mailbox and @p arrival by the
	/// server's thread. Returns the frames this client missed.
	uint64_t offer(const Frame &frame, uint64_t offer, uint64_t arrival);
	/// Copies aside what is left of the frame being sent when it is too far
	/// behind @p arrival (and the kernel holds none of it). Returns the
	/// bytes copied.
	uint64_t copy_aside_if_behind(uint64_t arrival);

	bool has_next() const { return next_.has_value(); }
	/// Starts sending the queued frame.
	Payload &begin_next();
	Payload *current() { return current_ ? &*current_ : nullptr; }
	bool has_current() const { return current_.has_value(); }
	/// The frame being sent is sent whole (or forgotten).
	void end_current() { current_.reset(); }
	/// Forgets the frames; returns how many it had (lost to the client).
	uint64_t clear();

private:
	std::optional<Payload> current_;
	std::optional<Frame> next_;
	uint64_t next_arrival_ = 0;
	/// The offer number of the last frame distributed while this client
	/// streamed: a gap is frames it missed.
	uint64_t last_offer_;
};

} // namespace zcap::net
