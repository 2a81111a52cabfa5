// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zcap::http {

/// The largest request head (request line, headers, blank line) accepted: a
/// GET for a stream or a recording needs a few hundred bytes; larger heads
/// are refused with 431 rather than buffered.
constexpr size_t kMaxRequestHead = 8 * 1024;
/// The longest request line accepted (414 beyond): half the head, so that a
/// long target still leaves room for the headers.
constexpr size_t kMaxRequestLine = kMaxRequestHead / 2;
/// The most header fields accepted (431 beyond): browsers send about 20.
constexpr size_t kMaxHeaders = 64;

/// One parsed request head.
struct Request {
	std::string method;  ///< "GET" or "HEAD" (others are refused with 405)
	std::string target;  ///< the path, percent-decoded: "/recordings/a b.mkv"
	std::string query;   ///< what followed '?' in the target, as sent (not decoded)
	std::string version; ///< "HTTP/1.0" or "HTTP/1.1"
	/// Header fields in the order received: names as sent, values without
	/// the whitespace around them.
	std::vector<std::pair<std::string, std::string>> headers;

	/// The value of the first header field named @p name (compared without
	/// regard to case); empty when there is none.
	std::string_view header(std::string_view name) const;
};

/// What parse_request() made of the bytes it was given.
struct ParseResult {
	enum class State {
		incomplete, ///< no blank line yet: call again with more bytes
		complete,   ///< a request head, @p consumed bytes long
		error,	    ///< answer with @p status and close the connection
	};
	State state = State::incomplete;
	size_t consumed = 0; ///< bytes of the head when complete, else 0
	/// When an error: 400, 405 (answer with Allow: GET, HEAD), 414, 431, 501
	/// or 505. 0 otherwise.
	int status = 0;
	std::string reason; ///< what was wrong, for the error response's body
};

/// Parses the request head at the start of @p bytes (request line, header
/// fields, blank line; CRLF or bare LF line ends) into @p out, which is left
/// alone unless the head is complete. Bytes after the head (a pipelined
/// request) are not looked at. Stateless: call it again with the whole
/// buffer when more bytes arrive; the limits keep that cheap. Only GET and
/// HEAD without a body are accepted.
ParseResult parse_request(std::string_view bytes, Request &out);

/// A Range header's single byte range, resolved against a representation
/// of known size.
struct ByteRange {
	/// false: no byte of the range exists; answer 416 with Content-Range:
	/// bytes */SIZE. offset and length are 0 then.
	bool satisfiable = true;
	uint64_t offset = 0; ///< first byte
	uint64_t length = 0; ///< bytes from there, at least 1 when satisfiable
};

/// The range a Range header value ("bytes=a-b", "bytes=a-", "bytes=-n")
/// asks of a representation of @p size bytes. std::nullopt when the whole
/// representation is to be sent instead (RFC 9110 lets a server ignore
/// Range): the value is malformed, names another unit, asks for several
/// ranges, holds a number too large for 64 bits, or asks for the end of an
/// empty representation.
std::optional<ByteRange> parse_range(std::string_view value, uint64_t size);

/// The standard reason phrase of @p status ("Not Found"); empty when the
/// status is not one zcap sends.
std::string_view reason_phrase(int status);

/// A response head: "HTTP/1.1 STATUS REASON", @p headers one a line, and the
/// blank line. Control characters in values (CR, LF) become spaces, so that
/// a value can never end the head early.
std::string response_head(int status,
			  std::span<const std::pair<std::string_view, std::string>> headers);

/// A whole error response: head and a one-line text/plain body, @p message
/// (the reason phrase when empty). Says Connection: close; a 405 also says
/// Allow: GET, HEAD. @p extra headers go in too (a 416's Content-Range).
std::string error_response(int status, std::string_view message,
			   std::span<const std::pair<std::string_view, std::string>> extra = {});

/// @p time as an HTTP date (IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"), for
/// Date and Last-Modified; empty when the time cannot be expressed.
std::string http_date(std::time_t time);

} // namespace zcap::http
