// SPDX-License-Identifier: LGPL-2.1-or-later
// The HTTP request parser of zcap's streaming server: parses what it should,
// refuses what it should with the right status, and survives any input.
#include "../sinks/http_request.h"

#include <random>
#include <string>

#include <gtest/gtest.h>

namespace zcap::http {
namespace {

using State = ParseResult::State;

constexpr std::string_view kCurlRequest = "GET /recordings/a%20b.mkv?download=1 HTTP/1.1\r\n"
					  "Host: camera:8080\r\n"
					  "User-Agent: curl/7.88.1\r\n"
					  "Accept: */*\r\n"
					  "Range:  bytes=0-99 \r\n"
					  "\r\n";

ParseResult parse(std::string_view bytes)
{
	Request request;
	return parse_request(bytes, request);
}

/// The status of an error; fails the test when there is no error.
int error_status(std::string_view bytes)
{
	ParseResult result = parse(bytes);
	EXPECT_EQ(result.state, State::error) << bytes.substr(0, 200);
	EXPECT_EQ(result.consumed, 0u);
	EXPECT_FALSE(result.reason.empty());
	return result.status;
}

std::string with_header(std::string_view line)
{
	return "GET / HTTP/1.1\r\nHost: x\r\n" + std::string(line) + "\r\n\r\n";
}

TEST(HttpRequest, ParsesARequestHead)
{
	Request request;
	ParseResult result = parse_request(kCurlRequest, request);
	ASSERT_EQ(result.state, State::complete) << result.reason;
	EXPECT_EQ(result.consumed, kCurlRequest.size());
	EXPECT_EQ(result.status, 0);
	EXPECT_EQ(request.method, "GET");
	EXPECT_EQ(request.target, "/recordings/a b.mkv");
	EXPECT_EQ(request.query, "download=1");
	EXPECT_EQ(request.version, "HTTP/1.1");
	ASSERT_EQ(request.headers.size(), 4u);
	EXPECT_EQ(request.headers[0].first, "Host");
	EXPECT_EQ(request.headers[0].second, "camera:8080");
	EXPECT_EQ(request.headers[3].second, "bytes=0-99");
}

TEST(HttpRequest, HeaderLookupIgnoresCase)
{
	Request request;
	ASSERT_EQ(parse_request(kCurlRequest, request).state, State::complete);
	EXPECT_EQ(request.header("range"), "bytes=0-99");
	EXPECT_EQ(request.header("RANGE"), "bytes=0-99");
	EXPECT_EQ(request.header("user-agent"), "curl/7.88.1");
	EXPECT_EQ(request.header("Cookie"), "");
}

TEST(HttpRequest, IncompleteAtEverySplitThenTheSameRequest)
{
	Request whole;
	ASSERT_EQ(parse_request(kCurlRequest, whole).state, State::complete);
	for (size_t split = 0; split < kCurlRequest.size(); ++split) {
		Request request;
		ParseResult result = parse_request(kCurlRequest.substr(0, split), request);
		EXPECT_EQ(result.state, State::incomplete) << "split at " << split;
		EXPECT_EQ(result.consumed, 0u);
		EXPECT_TRUE(request.method.empty()) << "written before complete";

		// The rest arrives: the buffer now holds everything.
		result = parse_request(kCurlRequest, request);
		ASSERT_EQ(result.state, State::complete);
		EXPECT_EQ(result.consumed, kCurlRequest.size());
		EXPECT_EQ(request.target, whole.target);
		EXPECT_EQ(request.query, whole.query);
		EXPECT_EQ(request.headers, whole.headers);
	}
}

TEST(HttpRequest, ConsumesOnlyTheFirstOfPipelinedRequests)
{
	std::string two = std::string(kCurlRequest) + "HEAD /live.mkv HTTP/1.1\r\n\r\n";
	Request request;
	ParseResult result = parse_request(two, request);
	ASSERT_EQ(result.state, State::complete);
	EXPECT_EQ(result.consumed, kCurlRequest.size());
	EXPECT_EQ(request.method, "GET");

	result = parse_request(std::string_view(two).substr(result.consumed), request);
	ASSERT_EQ(result.state, State::complete);
	EXPECT_EQ(request.method, "HEAD");
	EXPECT_EQ(request.target, "/live.mkv");
	EXPECT_TRUE(request.headers.empty());
}

TEST(HttpRequest, ToleratesBareLineFeedsAndLeadingEmptyLines)
{
	constexpr std::string_view bytes = "\r\n\nGET /live.raw HTTP/1.0\nHost: x\n\n";
	Request request;
	ParseResult result = parse_request(bytes, request);
	ASSERT_EQ(result.state, State::complete) << result.reason;
	EXPECT_EQ(result.consumed, bytes.size());
	EXPECT_EQ(request.version, "HTTP/1.0");
	EXPECT_EQ(request.header("host"), "x");
}

TEST(HttpRequest, DecodesPercentEscapesOfThePathOnly)
{
	Request request;
	ASSERT_EQ(parse_request("GET /recordings/%2e%2E%2Fx%41?a=%zz#b HTTP/1.1\r\n\r\n", request)
			  .state,
		  State::error); // a fragment
	ASSERT_EQ(parse_request("GET /recordings/%2e%2E%2Fx%41?a=%zz HTTP/1.1\r\n\r\n", request)
			  .state,
		  State::complete);
	EXPECT_EQ(request.target, "/recordings/../xA");
	EXPECT_EQ(request.query, "a=%zz");

	EXPECT_EQ(error_status("GET /a%2 HTTP/1.1\r\n\r\n"), 400);
	EXPECT_EQ(error_status("GET /a% HTTP/1.1\r\n\r\n"), 400);
	EXPECT_EQ(error_status("GET /a%g0 HTTP/1.1\r\n\r\n"), 400);
}

TEST(HttpRequest, MalformedRequestLinesAre400)
{
	for (std::string_view line : {
		     "GET /\r\n\r\n",
		     "GET  / HTTP/1.1\r\n\r\n",
		     "GET / HTTP/1.1 \r\n\r\n",
		     "GET\t/ HTTP/1.1\r\n\r\n",
		     "GET x HTTP/1.1\r\n\r\n",
		     "GET * HTTP/1.1\r\n\r\n",
		     "GET http://host/ HTTP/1.1\r\n\r\n",
		     "GET /#top HTTP/1.1\r\n\r\n",
		     "G(T / HTTP/1.1\r\n\r\n",
		     " / HTTP/1.1\r\n\r\n",
		     "GET / http/1.1\r\n\r\n",
		     "GET / HTTP/1\r\n\r\n",
		     "GET / HTTP/1.1.1\r\n\r\n",
		     "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
		     "GET / HTTP/1.1\r\r\n\r\n",
	     })
		EXPECT_EQ(error_status(line), 400) << line;
}

TEST(HttpRequest, ControlCharactersAndNulsAre400)
{
	using namespace std::string_literals;
	EXPECT_EQ(error_status("GET /a\0b HTTP/1.1\r\n\r\n"s), 400);
	EXPECT_EQ(error_status("GET /a\x7f HTTP/1.1\r\n\r\n"), 400);
	EXPECT_EQ(error_status(with_header("X-A: a\0b"s)), 400);
	EXPECT_EQ(error_status(with_header("X-A: a\rb")), 400);
	EXPECT_EQ(error_status(with_header("X-A: a\x01")), 400);
	EXPECT_EQ(error_status(with_header("X\0A: b"s)), 400);
	// A tab and bytes above ASCII are allowed in values.
	Request request;
	ASSERT_EQ(parse_request(with_header("X-A: a\tb \xc3\xa9"), request).state, State::complete);
	EXPECT_EQ(request.header("x-a"), "a\tb \xc3\xa9");
}

TEST(HttpRequest, MalformedHeaderLinesAre400)
{
	for (std::string_view line : {"NoColon", ": empty name", "Space Name: x", "Host : x",
				      " folded: x", "\tfolded: x", "X(: y"})
		EXPECT_EQ(error_status(with_header(line)), 400) << line;
	// The value may be empty.
	Request request;
	ASSERT_EQ(parse_request(with_header("X-Empty:"), request).state, State::complete);
	EXPECT_EQ(request.header("X-Empty"), "");
}

TEST(HttpRequest, OnlyHttp10And11Are505)
{
	EXPECT_EQ(error_status("GET / HTTP/2.0\r\n\r\n"), 505);
	EXPECT_EQ(error_status("GET / HTTP/0.9\r\n\r\n"), 505);
	EXPECT_EQ(error_status("GET / HTTP/1.2\r\n\r\n"), 505);
}

TEST(HttpRequest, MethodsOtherThanGetAndHeadAre405)
{
	for (std::string_view line :
	     {"POST / HTTP/1.1\r\n\r\n", "PUT /x HTTP/1.1\r\n\r\n",
	      "DELETE /recordings/a.mkv HTTP/1.1\r\n\r\n", "OPTIONS / HTTP/1.1\r\n\r\n",
	      "get / HTTP/1.1\r\n\r\n", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"})
		EXPECT_EQ(error_status(line), 405) << line;
	Request request;
	ASSERT_EQ(parse_request("HEAD /live.mkv HTTP/1.1\r\n\r\n", request).state, State::complete);
	EXPECT_EQ(request.method, "HEAD");
}

TEST(HttpRequest, RequestBodiesAreRefused)
{
	EXPECT_EQ(error_status(with_header("Content-Length: 1")), 400);
	EXPECT_EQ(error_status(with_header("Content-Length: 99999999999999999999999")), 400);
	EXPECT_EQ(error_status(with_header("Content-Length: -1")), 400);
	EXPECT_EQ(error_status(with_header("Content-Length: 0, 0")), 400);
	EXPECT_EQ(error_status(with_header("Content-Length: 0\r\nContent-Length: 7")), 400);
	EXPECT_EQ(error_status(with_header("Transfer-Encoding: chunked")), 501);
	EXPECT_EQ(error_status(with_header("transfer-encoding: identity")), 501);
	EXPECT_EQ(parse(with_header("Content-Length: 0")).state, State::complete);
}

TEST(HttpRequest, LongRequestLineIs414)
{
	std::string target(kMaxRequestLine, 'a');
	EXPECT_EQ(error_status("GET /" + target + " HTTP/1.1\r\n\r\n"), 414);
	// Without its end yet, as soon as it is too long.
	EXPECT_EQ(error_status("GET /" + target), 414);
	EXPECT_EQ(parse("GET /" + target.substr(0, kMaxRequestLine - 100)).state,
		  State::incomplete);
	// Just within the limit.
	std::string line = "GET /" + target.substr(0, kMaxRequestLine - 14) + " HTTP/1.1";
	ASSERT_EQ(line.size(), kMaxRequestLine);
	EXPECT_EQ(parse(line + "\r").state, State::incomplete);
	EXPECT_EQ(parse(line + "\r\n\r\n").state, State::complete);
}

TEST(HttpRequest, LargeHeadIs431)
{
	std::string head = "GET / HTTP/1.1\r\n";
	std::string header = "X-Pad: " + std::string(1000, 'p') + "\r\n";
	while (head.size() + header.size() + 2 <= kMaxRequestHead)
		head += header;
	// Pad to exactly the limit, blank line included.
	head += "X: " + std::string(kMaxRequestHead - head.size() - 7, 'q') + "\r\n\r\n";
	ASSERT_EQ(head.size(), kMaxRequestHead);
	ParseResult result = parse(head);
	EXPECT_EQ(result.state, State::complete) << result.reason;
	EXPECT_EQ(result.consumed, kMaxRequestHead);

	// One byte more.
	head.insert(head.size() - 4, "q");
	EXPECT_EQ(parse(head.substr(0, kMaxRequestHead)).state, State::incomplete);
	EXPECT_EQ(error_status(head), 431);
	EXPECT_EQ(error_status(head + "GET / HTTP/1.1\r\n\r\n"), 431);
}

TEST(HttpRequest, VeryLongHeaderValueIs431)
{
	std::string value(1 << 20, 'v');
	EXPECT_EQ(error_status(with_header("Cookie: " + value)), 431);
	EXPECT_EQ(error_status("GET / HTTP/1.1\r\nCookie: " + value), 431);
}

TEST(HttpRequest, MoreThan64HeadersIs431)
{
	std::string head = "GET / HTTP/1.1\r\n";
	for (size_t i = 0; i < kMaxHeaders; ++i)
		head += "X-" + std::to_string(i) + ": y\r\n";
	Request request;
	ASSERT_EQ(parse_request(head + "\r\n", request).state, State::complete);
	EXPECT_EQ(request.headers.size(), kMaxHeaders);
	EXPECT_EQ(error_status(head + "X-One-More: y\r\n\r\n"), 431);

	std::string many = "GET / HTTP/1.1\r\n";
	for (int i = 0; i < 10000; ++i)
		many += "A: b\r\n";
	EXPECT_EQ(error_status(many + "\r\n"), 431);
}

TEST(HttpRequest, GarbageIsRefused)
{
	std::mt19937 random(1234);
	std::string garbage(100 * 1024, '\0');
	for (char &c : garbage)
		c = char(random());
	ParseResult result = parse(garbage);
	EXPECT_EQ(result.state, State::error);
	EXPECT_TRUE(result.status == 400 || result.status == 414 || result.status == 431)
		<< result.status;

	EXPECT_EQ(error_status(std::string(100 * 1024, '\0')), 414);
	EXPECT_EQ(error_status(std::string(100, '\0') + "\r\n\r\n"), 400);
	EXPECT_EQ(error_status(std::string(100 * 1024, '\n')), 431);
	EXPECT_EQ(parse(std::string(100, '\n')).state, State::incomplete);
}

TEST(HttpRequest, SurvivesMutationsOfAValidRequest)
{
	std::mt19937 random(20240601);
	int complete = 0, errors = 0;
	for (int round = 0; round < 20000; ++round) {
		std::string bytes(kCurlRequest);
		int mutations = 1 + int(random() % 4);
		for (int m = 0; m < mutations; ++m) {
			size_t at = random() % (bytes.size() + 1);
			switch (random() % 5) {
			case 0:
				if (at < bytes.size())
					bytes[at] = char(random());
				break;
			case 1:
				bytes.insert(at, 1, char(random()));
				break;
			case 2:
				if (at < bytes.size())
					bytes.erase(at, 1 + random() % 8);
				break;
			case 3:
				bytes.insert(at, std::string_view("\r\n:% /?#\0", 9)
							 .substr(random() % 9, 1));
				break;
			default:
				bytes.resize(at);
			}
		}
		Request request;
		ParseResult result = parse_request(bytes, request);
		ASSERT_LE(result.consumed, bytes.size());
		switch (result.state) {
		case State::complete: {
			++complete;
			ASSERT_GT(result.consumed, 0u);
			EXPECT_TRUE(request.method == "GET" || request.method == "HEAD");
			EXPECT_TRUE(request.target.starts_with('/'));
			EXPECT_EQ(result.status, 0);
			// The same from the head alone, and not before its end.
			Request again;
			std::string_view head = std::string_view(bytes).substr(0, result.consumed);
			EXPECT_EQ(parse_request(head, again).consumed, result.consumed);
			EXPECT_EQ(again.headers, request.headers);
			EXPECT_EQ(parse(head.substr(0, head.size() - 1)).state, State::incomplete);
			break;
		}
		case State::error:
			++errors;
			EXPECT_EQ(result.consumed, 0u);
			EXPECT_TRUE(result.status == 400 || result.status == 405 ||
				    result.status == 505 || result.status == 501)
				<< result.status;
			break;
		case State::incomplete:
			EXPECT_EQ(result.consumed, 0u);
			break;
		default:
			FAIL() << "state " << int(result.state);
		}
	}
	// The mutations reach both ends.
	EXPECT_GT(complete, 1000);
	EXPECT_GT(errors, 1000);
}

TEST(HttpRange, AllForms)
{
	auto range = parse_range("bytes=0-99", 1000);
	ASSERT_TRUE(range);
	EXPECT_TRUE(range->satisfiable);
	EXPECT_EQ(range->offset, 0u);
	EXPECT_EQ(range->length, 100u);

	range = parse_range("bytes=500-", 1000);
	ASSERT_TRUE(range && range->satisfiable);
	EXPECT_EQ(range->offset, 500u);
	EXPECT_EQ(range->length, 500u);

	range = parse_range("bytes=-100", 1000);
	ASSERT_TRUE(range && range->satisfiable);
	EXPECT_EQ(range->offset, 900u);
	EXPECT_EQ(range->length, 100u);

	range = parse_range("bytes=999-999", 1000);
	ASSERT_TRUE(range && range->satisfiable);
	EXPECT_EQ(range->offset, 999u);
	EXPECT_EQ(range->length, 1u);

	// Whitespace around the range and a unit in capitals.
	range = parse_range(" Bytes= 10-19 ", 1000);
	ASSERT_TRUE(range && range->satisfiable);
	EXPECT_EQ(range->offset, 10u);
	EXPECT_EQ(range->length, 10u);
}

TEST(HttpRange, EndsPastTheEndAreCut)
{
	auto range = parse_range("bytes=900-5000", 1000);
	ASSERT_TRUE(range && range->satisfiable);
	EXPECT_EQ(range->offset, 900u);
	EXPECT_EQ(range->length, 100u);

	range = parse_range("bytes=-5000", 1000);
	ASSERT_TRUE(range && range->satisfiable);
	EXPECT_EQ(range->offset, 0u);
	EXPECT_EQ(range->length, 1000u);

	range = parse_range("bytes=0-18446744073709551615", 1000);
	ASSERT_TRUE(range && range->satisfiable);
	EXPECT_EQ(range->length, 1000u);
}

TEST(HttpRange, StartsPastTheEndAreUnsatisfiable)
{
	for (std::string_view value : {"bytes=1000-", "bytes=1000-2000", "bytes=5000-6000",
				       "bytes=-0", "bytes=18446744073709551615-"}) {
		auto range = parse_range(value, 1000);
		ASSERT_TRUE(range) << value;
		EXPECT_FALSE(range->satisfiable) << value;
		EXPECT_EQ(range->length, 0u);
	}
	auto range = parse_range("bytes=0-", 0);
	ASSERT_TRUE(range);
	EXPECT_FALSE(range->satisfiable);
	// The end of nothing is nothing: served whole.
	EXPECT_FALSE(parse_range("bytes=-10", 0));
}

TEST(HttpRange, MalformedOrOverflowingOrSeveralAreIgnored)
{
	for (std::string_view value :
	     {"", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=5", "bytes=10-5", "bytes=+1-2",
	      "bytes=1 -2", "bytes=--1", "items=0-1", "0-1", "bytes=99999999999999999999999-",
	      "bytes=0-99999999999999999999999", "bytes=-99999999999999999999999",
	      "bytes=18446744073709551616-", "bytes=0-1,2-3", "bytes=0-1, -5", "bytes=0-1,x"})
		EXPECT_FALSE(parse_range(value, 1000)) << value;
	// Empty list elements do not make a second range.
	auto range = parse_range("bytes=, 0-1 ,", 1000);
	ASSERT_TRUE(range && range->satisfiable);
	EXPECT_EQ(range->length, 2u);
}

TEST(HttpResponse, HeadHasStatusReasonAndHeaders)
{
	std::vector<std::pair<std::string_view, std::string>> headers = {
		{"Content-Type", "video/x-matroska"},
		{"X-Evil", "a\r\nSet-Cookie: b"},
	};
	EXPECT_EQ(response_head(206, headers), "HTTP/1.1 206 Partial Content\r\n"
					       "Content-Type: video/x-matroska\r\n"
					       "X-Evil: a  Set-Cookie: b\r\n"
					       "\r\n");
	EXPECT_EQ(response_head(200, {}), "HTTP/1.1 200 OK\r\n\r\n");
	EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
	EXPECT_EQ(reason_phrase(416), "Range Not Satisfiable");
	EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
	EXPECT_EQ(reason_phrase(299), "");
}

TEST(HttpResponse, ErrorResponseIsComplete)
{
	EXPECT_EQ(error_response(404, "no such recording"),
		  "HTTP/1.1 404 Not Found\r\n"
		  "Content-Type: text/plain; charset=utf-8\r\n"
		  "Content-Length: 18\r\n"
		  "Connection: close\r\n"
		  "\r\n"
		  "no such recording\n");
	std::string response = error_response(405, "");
	EXPECT_TRUE(response.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
	EXPECT_NE(response.find("\r\nAllow: GET, HEAD\r\n"), response.npos);
	EXPECT_TRUE(response.ends_with("\r\n\r\nMethod Not Allowed\n"));
}

TEST(HttpResponse, DatesAreImfFixdate)
{
	EXPECT_EQ(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
	EXPECT_EQ(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

} // namespace
} // namespace zcap::http
