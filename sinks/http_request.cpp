// SPDX-License-Identifier: LGPL-2.1-or-later
#include "http_request.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace zcap::http {

namespace {

using State = ParseResult::State;

ParseResult failure(int status, std::string reason)
{
	return {State::error, 0, status, std::move(reason)};
}

char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

bool equal_ignoring_case(std::string_view a, std::string_view b)
{
	return a.size() == b.size() &&
	       std::equal(a.begin(), a.end(), b.begin(),
			  [](char x, char y) { return lower(x) == lower(y); });
}

bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/// A tchar of RFC 9110: what method and header names are made of.
bool is_token_char(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return true;
	return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s)
{
	return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char);
}

/// A control character: C0 (NUL, CR, LF...) or DEL.
bool is_control(char c)
{
	return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

bool is_whitespace(char c)
{
	return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s)
{
	while (!s.empty() && is_whitespace(s.front()))
		s.remove_prefix(1);
	while (!s.empty() && is_whitespace(s.back()))
		s.remove_suffix(1);
	return s;
}

/// A decimal number of one or more digits; std::nullopt when it is not one
/// or does not fit in 64 bits.
std::optional<uint64_t> parse_decimal(std::string_view s)
{
	if (s.empty())
		return std::nullopt;
	uint64_t value = 0;
	for (char c : s) {
		if (!is_digit(c))
			return std::nullopt;
		unsigned digit = unsigned(c - '0');
		if (value > (UINT64_MAX - digit) / 10)
			return std::nullopt;
		value = value * 10 + digit;
	}
	return value;
}

int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/// @p path with its %XX escapes decoded; std::nullopt for a '%' not followed
/// by two hex digits.
std::optional<std::string> percent_decode(std::string_view path)
{
	std::string out;
	out.reserve(path.size());
	for (size_t i = 0; i < path.size(); ++i) {
		if (path[i] != '%') {
			out += path[i];
			continue;
		}
		int high = i + 2 < path.size() ? hex_value(path[i + 1]) : -1;
		int low = i + 2 < path.size() ? hex_value(path[i + 2]) : -1;
		if (high < 0 || low < 0)
			return std::nullopt;
		out += char(high * 16 + low);
		i += 2;
	}
	return out;
}

/// "METHOD TARGET VERSION", single spaces between, into @p request.
std::optional<ParseResult> parse_request_line(std::string_view line, Request &request)
{
	if (std::any_of(line.begin(), line.end(), [](char c) {
		    return is_control(c) || static_cast<unsigned char>(c) > 0x7f;
	    }))
		return failure(400, "control or non-ASCII character in the request line");
	size_t first = line.find(' ');
	size_t second = first == line.npos ? line.npos : line.find(' ', first + 1);
	if (second == line.npos || line.find(' ', second + 1) != line.npos)
		return failure(400, "malformed request line");
	std::string_view method = line.substr(0, first);
	std::string_view target = line.substr(first + 1, second - first - 1);
	std::string_view version = line.substr(second + 1);

	if (!is_token(method))
		return failure(400, "malformed method");
	if (version.size() != 8 || !version.starts_with("HTTP/") || !is_digit(version[5]) ||
	    version[6] != '.' || !is_digit(version[7]))
		return failure(400, "malformed HTTP version");
	if (version != "HTTP/1.1" && version != "HTTP/1.0")
		return failure(505, "only HTTP/1.0 and HTTP/1.1 are supported");
	if (!target.starts_with('/'))
		return failure(400, "the target must be a path starting with '/'");
	if (target.find('#') != target.npos)
		return failure(400, "a fragment in the target");

	size_t question = target.find('?');
	std::optional<std::string> path = percent_decode(target.substr(0, question));
	if (!path)
		return failure(400, "invalid percent-escape in the target");
	request.method = method;
	request.target = std::move(*path);
	request.query = question == target.npos ? std::string_view() : target.substr(question + 1);
	request.version = version;
	return std::nullopt;
}

/// "Name: value" into @p request.
std::optional<ParseResult> parse_header_line(std::string_view line, Request &request)
{
	if (is_whitespace(line.front()))
		return failure(400, "folded header line");
	size_t colon = line.find(':');
	if (colon == line.npos || !is_token(line.substr(0, colon)))
		return failure(400, "malformed header line");
	std::string_view value = trim(line.substr(colon + 1));
	if (std::any_of(value.begin(), value.end(),
			[](char c) { return is_control(c) && c != '\t'; }))
		return failure(400, "control character in a header value");
	request.headers.emplace_back(line.substr(0, colon), value);
	return std::nullopt;
}

/// What a complete head may still be refused for: a method other than GET
/// and HEAD, or a body.
std::optional<ParseResult> check_request(const Request &request)
{
	if (request.method != "GET" && request.method != "HEAD")
		return failure(405, "only GET and HEAD are served");
	for (const auto &[name, value] : request.headers) {
		if (equal_ignoring_case(name, "Transfer-Encoding"))
			return failure(501, "request bodies are not accepted");
		if (!equal_ignoring_case(name, "Content-Length"))
			continue;
		std::optional<uint64_t> length = parse_decimal(value);
		if (!length)
			return failure(400, "malformed Content-Length");
		if (*length > 0)
			return failure(400, "request bodies are not accepted");
	}
	return std::nullopt;
}

/// @p line without the CR of a CRLF line end.
std::string_view without_cr(std::string_view line)
{
	if (!line.empty() && line.back() == '\r')
		line.remove_suffix(1);
	return line;
}

} // namespace

std::string_view Request::header(std::string_view name) const
{
	for (const auto &[key, value] : headers) {
		if (equal_ignoring_case(key, name))
			return value;
	}
	return {};
}

ParseResult parse_request(std::string_view bytes, Request &out)
{
	Request request;
	bool have_request_line = false;
	// A head longer than the limit cannot end within it.
	std::string_view window = bytes.substr(0, kMaxRequestHead);
	size_t pos = 0;
	while (true) {
		size_t newline = window.find('\n', pos);
		if (newline == window.npos) {
			// The line being received, which may end past the window.
			std::string_view partial = bytes.substr(pos);
			partial = without_cr(partial.substr(0, partial.find('\n')));
			if (!have_request_line && partial.size() > kMaxRequestLine)
				return failure(414, "request line too long");
			if (bytes.size() > kMaxRequestHead)
				return failure(431, "request head too large");
			return {};
		}
		std::string_view line = without_cr(window.substr(pos, newline - pos));
		pos = newline + 1;

		if (!have_request_line) {
			// RFC 9112 2.2: empty lines before a request line are ignored.
			if (line.empty())
				continue;
			if (line.size() > kMaxRequestLine)
				return failure(414, "request line too long");
			if (std::optional<ParseResult> error = parse_request_line(line, request))
				return *error;
			have_request_line = true;
			continue;
		}
		if (line.empty())
			break;
		if (request.headers.size() == kMaxHeaders)
			return failure(431, "too many header fields");
		if (std::optional<ParseResult> error = parse_header_line(line, request))
			return *error;
	}
	if (std::optional<ParseResult> error = check_request(request))
		return *error;
	out = std::move(request);
	return {State::complete, pos, 0, {}};
}

std::optional<ByteRange> parse_range(std::string_view value, uint64_t size)
{
	value = trim(value);
	size_t equals = value.find('=');
	if (equals == value.npos || !equal_ignoring_case(trim(value.substr(0, equals)), "bytes"))
		return std::nullopt;

	// A list: empty elements are allowed (RFC 9110 5.6.1), more than one
	// range is served as the whole representation.
	std::string_view spec;
	std::string_view list = value.substr(equals + 1);
	while (!list.empty()) {
		size_t comma = list.find(',');
		std::string_view element = trim(list.substr(0, comma));
		list = comma == list.npos ? std::string_view() : list.substr(comma + 1);
		if (element.empty())
			continue;
		if (!spec.empty())
			return std::nullopt;
		spec = element;
	}
	size_t dash = spec.find('-');
	if (dash == spec.npos)
		return std::nullopt;
	std::string_view first_text = spec.substr(0, dash);
	std::string_view last_text = spec.substr(dash + 1);

	if (first_text.empty()) {
		// A suffix: the last n bytes, all of them when there are fewer.
		std::optional<uint64_t> suffix = parse_decimal(last_text);
		if (!suffix)
			return std::nullopt;
		if (*suffix == 0)
			return ByteRange{false, 0, 0};
		// A 206 cannot describe zero bytes: send the empty whole.
		if (size == 0)
			return std::nullopt;
		uint64_t length = std::min(*suffix, size);
		return ByteRange{true, size - length, length};
	}
	std::optional<uint64_t> first = parse_decimal(first_text);
	if (!first)
		return std::nullopt;
	uint64_t last = UINT64_MAX;
	if (!last_text.empty()) {
		std::optional<uint64_t> parsed = parse_decimal(last_text);
		if (!parsed || *parsed < *first)
			return std::nullopt;
		last = *parsed;
	}
	if (*first >= size)
		return ByteRange{false, 0, 0};
	last = std::min(last, size - 1);
	return ByteRange{true, *first, last - *first + 1};
}

std::string_view reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 414:
		return "URI Too Long";
	case 416:
		return "Range Not Satisfiable";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return {};
	}
}

std::string response_head(int status,
			  std::span<const std::pair<std::string_view, std::string>> headers)
{
	std::string head = fmt::format("HTTP/1.1 {} {}\r\n", status, reason_phrase(status));
	for (const auto &[name, value] : headers) {
		head += name;
		head += ": ";
		for (char c : value)
			head += is_control(c) && c != '\t' ? ' ' : c;
		head += "\r\n";
	}
	head += "\r\n";
	return head;
}

std::string error_response(int status, std::string_view message,
			   std::span<const std::pair<std::string_view, std::string>> extra)
{
	std::string body = fmt::format("{}\n", message.empty() ? reason_phrase(status) : message);
	std::vector<std::pair<std::string_view, std::string>> headers = {
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Length", std::to_string(body.size())},
		{"Connection", "close"},
	};
	if (status == 405)
		headers.emplace_back("Allow", "GET, HEAD");
	headers.insert(headers.end(), extra.begin(), extra.end());
	return response_head(status, headers) + body;
}

std::string http_date(std::time_t time)
{
	static constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
								  "Thu", "Fri", "Sat"};
	static constexpr std::array<std::string_view, 12> kMonths = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	// IMF-fixdate has four digits for the year.
	if (!gmtime_r(&time, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return {};
	return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kDays[size_t(tm.tm_wday)],
			   tm.tm_mday, kMonths[size_t(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour,
			   tm.tm_min, tm.tm_sec);
}

} // namespace zcap::http
