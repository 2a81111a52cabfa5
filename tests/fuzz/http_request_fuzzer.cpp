// SPDX-License-Identifier: LGPL-2.1-or-later
// libFuzzer target: the streaming server's HTTP request parser and Range
// parser (sinks/http_request.h) on any bytes, with the properties the server
// relies on: a complete head is never longer than the bytes nor the limit,
// any shorter prefix of it is incomplete, an error has one of the documented
// statuses, a range lies inside the representation, and a response head
// cannot be ended early by a value.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "fuzz_check.h"
#include "sinks/http_request.h"

namespace {

using zcap::http::ByteRange;
using zcap::http::ParseResult;
using zcap::http::Request;
using State = ParseResult::State;

bool documented_error(int status)
{
	return status == 400 || status == 405 || status == 414 || status == 431 || status == 501 ||
	       status == 505;
}

void check_range(std::string_view value, uint64_t size)
{
	std::optional<ByteRange> range = zcap::http::parse_range(value, size);
	if (!range)
		return;
	if (!range->satisfiable) {
		FUZZ_CHECK(range->offset == 0 && range->length == 0);
		return;
	}
	FUZZ_CHECK(range->length >= 1);
	FUZZ_CHECK(range->offset < size);
	FUZZ_CHECK(range->length <= size - range->offset);
}

void check_ranges(std::string_view value)
{
	for (uint64_t size : {uint64_t(0), uint64_t(1), uint64_t(1000), UINT64_MAX - 1, UINT64_MAX})
		check_range(value, size);
}

/// A value sent back in a header cannot end the head: the only blank line is
/// the last.
void check_response_head(std::string_view value)
{
	std::pair<std::string_view, std::string> header{"X-Value", std::string(value)};
	std::string head = zcap::http::response_head(200, {&header, 1});
	FUZZ_CHECK(head.find("\r\n\r\n") == head.size() - 4);
	FUZZ_CHECK(head.find('\n') == head.find("\r\n") + 1);
	std::string error = zcap::http::error_response(416, value, {&header, 1});
	FUZZ_CHECK(error.find("\r\n\r\n") != std::string::npos);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const std::string_view bytes(reinterpret_cast<const char *>(data), size);

	Request request;
	ParseResult result = zcap::http::parse_request(bytes, request);
	switch (result.state) {
	case State::incomplete:
		FUZZ_CHECK(result.consumed == 0 && result.status == 0);
		FUZZ_CHECK(bytes.size() <= zcap::http::kMaxRequestHead);
		break;
	case State::error:
		FUZZ_CHECK(result.consumed == 0 && documented_error(result.status));
		FUZZ_CHECK(!result.reason.empty());
		break;
	case State::complete: {
		FUZZ_CHECK(result.consumed > 0 && result.consumed <= bytes.size());
		FUZZ_CHECK(result.consumed <= zcap::http::kMaxRequestHead);
		FUZZ_CHECK(request.method == "GET" || request.method == "HEAD");
		FUZZ_CHECK(request.version == "HTTP/1.1" || request.version == "HTTP/1.0");
		FUZZ_CHECK(request.target.starts_with('/'));
		FUZZ_CHECK(request.headers.size() <= zcap::http::kMaxHeaders);
		// Stateless: the same head with anything after it (a pipelined
		// request) parses the same, and before its last byte it is
		// incomplete.
		Request again;
		ParseResult head =
			zcap::http::parse_request(bytes.substr(0, result.consumed), again);
		FUZZ_CHECK(head.state == State::complete && head.consumed == result.consumed);
		FUZZ_CHECK(again.target == request.target && again.headers == request.headers);
		ParseResult shorter =
			zcap::http::parse_request(bytes.substr(0, result.consumed - 1), again);
		FUZZ_CHECK(shorter.state == State::incomplete);
		for (const auto &[name, value] : request.headers)
			check_response_head(value);
		check_response_head(request.target);
		check_ranges(request.header("Range"));
		break;
	}
	}

	// The Range parser and the response head on the raw bytes too.
	check_ranges(bytes);
	check_response_head(bytes);
	if (size >= sizeof(int64_t)) {
		int64_t time = 0;
		std::memcpy(&time, data, sizeof time);
		std::string date = zcap::http::http_date(time);
		FUZZ_CHECK(date.empty() || date.size() == 29);
	}
	return 0;
}
