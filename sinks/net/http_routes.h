// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <zcap/unique_fd.h>

#include "../http_request.h"
#include "live_framing.h"

namespace zcap::net {

/// What the server answers a request with.
struct Answer {
	std::string head; ///< the response head, or a whole error response
	/// Set: the client subscribes to the live stream, in this framing;
	/// else the connection closes once the answer is sent.
	std::optional<LiveFraming::Kind> live;
	/// An answer from /recordings/NAME: the recording's bytes follow the
	/// head, by sendfile() (none for HEAD and errors).
	bool recording = false;
	UniqueFd file;
	uint64_t file_offset = 0;
	uint64_t file_length = 0;
};

/// What the server knows when a request comes.
struct RouteContext {
	/// The stream has started, and its format has no Matroska mapping.
	bool mkv_impossible = false;
	/// The directory served at /recordings/; -1: none.
	int recordings_fd = -1;
};

/// The answer to @p request:
///
///   GET /live.mkv        a live Matroska stream (ffplay, VLC, mpv, souphttpsrc)
///   GET /live.raw        frames, each behind a RawFrameHeader
///   GET /recordings/     the finished recordings (HTML, or text/plain when asked)
///   GET /recordings/NAME one of them, with Range requests
///
/// HEAD gets the same heads without a body (nor a stream).
Answer route(const http::Request &request, const RouteContext &context);

} // namespace zcap::net
