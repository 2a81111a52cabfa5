// SPDX-License-Identifier: LGPL-2.1-or-later
// Recordings served over HTTP: whole files and ranges of them, nothing
// outside the directory, and a listing that escapes what it shows.
#include "../sinks/recordings.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace zcap::http {
namespace {

namespace fs = std::filesystem;

/// A directory of recordings, with a secret file next to it (outside), both
/// removed when the object dies.
class RecordingsDir {
public:
	RecordingsDir()
	{
		std::string pattern = (fs::temp_directory_path() / "zcap-http-XXXXXX").string();
		EXPECT_TRUE(mkdtemp(pattern.data()));
		base_ = pattern;
		fs::create_directory(path());
		fd_.reset(open(path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		EXPECT_TRUE(fd_);
		write(base_ / "secret.mkv", "outside the directory");
	}
	~RecordingsDir()
	{
		std::error_code ec;
		fs::remove_all(base_, ec);
	}
	RecordingsDir(const RecordingsDir &) = delete;
	RecordingsDir &operator=(const RecordingsDir &) = delete;

	fs::path path() const { return base_ / "recordings"; }
	fs::path secret() const { return base_ / "secret.mkv"; }
	int fd() const { return fd_.get(); }

	static void write(const fs::path &file, std::string_view contents)
	{
		std::ofstream(file, std::ios::binary) << contents;
	}
	void add(const std::string &name, std::string_view contents)
	{
		write(path() / name, contents);
	}

private:
	fs::path base_;
	UniqueFd fd_;
};

Request get(std::string target, std::string method = "GET")
{
	Request request;
	request.method = std::move(method);
	request.target = std::move(target);
	request.version = "HTTP/1.1";
	return request;
}

/// What is sent after the head.
std::string body(const FileResponse &response)
{
	std::string out(response.length, '\0');
	EXPECT_EQ(pread(response.fd.get(), out.data(), out.size(), off_t(response.offset)),
		  ssize_t(out.size()));
	return out;
}

bool has_header(const std::string &head, std::string_view line)
{
	return head.find("\r\n" + std::string(line) + "\r\n") != head.npos;
}

void expect_not_found(int directory_fd, const std::string &target)
{
	FileResponse response = serve_recording(directory_fd, get(target));
	EXPECT_EQ(response.status, 404) << target;
	EXPECT_FALSE(response.fd) << target;
	EXPECT_EQ(response.length, 0u) << target;
	EXPECT_TRUE(response.head.starts_with("HTTP/1.1 404 Not Found\r\n")) << target;
	EXPECT_EQ(response.head.find("outside"), response.head.npos);
}

TEST(Recordings, ServesAWholeFile)
{
	RecordingsDir dir;
	dir.add("cam-0001.mkv", "0123456789");
	FileResponse response = serve_recording(dir.fd(), get("/recordings/cam-0001.mkv"));
	EXPECT_EQ(response.status, 200);
	ASSERT_TRUE(response.fd);
	EXPECT_EQ(response.offset, 0u);
	EXPECT_EQ(response.length, 10u);
	EXPECT_EQ(body(response), "0123456789");
	EXPECT_TRUE(response.head.starts_with("HTTP/1.1 200 OK\r\n"));
	EXPECT_TRUE(response.head.ends_with("\r\n\r\n"));
	EXPECT_TRUE(has_header(response.head, "Content-Length: 10"));
	EXPECT_TRUE(has_header(response.head, "Content-Type: video/x-matroska"));
	EXPECT_TRUE(has_header(response.head, "Accept-Ranges: bytes"));
	EXPECT_NE(response.head.find("\r\nLast-Modified: "), response.head.npos);

	dir.add("cam.raw", "raw");
	response = serve_recording(dir.fd(), get("/recordings/cam.raw"));
	EXPECT_EQ(response.status, 200);
	EXPECT_TRUE(has_header(response.head, "Content-Type: application/octet-stream"));
	EXPECT_EQ(body(response), "raw");
}

TEST(Recordings, ServesTheSizeAtOpenOfAGrowingFile)
{
	RecordingsDir dir;
	dir.add("live.mkv", "abc");
	FileResponse response = serve_recording(dir.fd(), get("/recordings/live.mkv"));
	std::ofstream(dir.path() / "live.mkv", std::ios::app) << "def";
	EXPECT_EQ(response.length, 3u);
	EXPECT_EQ(body(response), "abc");
}

TEST(Recordings, ServesRanges)
{
	RecordingsDir dir;
	dir.add("a.mkv", "0123456789");
	Request request = get("/recordings/a.mkv");
	request.headers = {{"range", "bytes=2-5"}};
	FileResponse response = serve_recording(dir.fd(), request);
	EXPECT_EQ(response.status, 206);
	EXPECT_EQ(response.offset, 2u);
	EXPECT_EQ(response.length, 4u);
	EXPECT_EQ(body(response), "2345");
	EXPECT_TRUE(response.head.starts_with("HTTP/1.1 206 Partial Content\r\n"));
	EXPECT_TRUE(has_header(response.head, "Content-Range: bytes 2-5/10"));
	EXPECT_TRUE(has_header(response.head, "Content-Length: 4"));

	request.headers = {{"Range", "bytes=-3"}};
	response = serve_recording(dir.fd(), request);
	EXPECT_EQ(response.status, 206);
	EXPECT_EQ(body(response), "789");
	EXPECT_TRUE(has_header(response.head, "Content-Range: bytes 7-9/10"));

	request.headers = {{"Range", "bytes=8-100"}};
	response = serve_recording(dir.fd(), request);
	EXPECT_EQ(body(response), "89");
	EXPECT_TRUE(has_header(response.head, "Content-Range: bytes 8-9/10"));

	// Several ranges: the whole file.
	request.headers = {{"Range", "bytes=0-1,4-5"}};
	response = serve_recording(dir.fd(), request);
	EXPECT_EQ(response.status, 200);
	EXPECT_EQ(body(response), "0123456789");

	// A validator that does not match: the whole file.
	request.headers = {{"Range", "bytes=0-1"}, {"If-Range", "Thu, 01 Jan 1970 00:00:00 GMT"}};
	response = serve_recording(dir.fd(), request);
	EXPECT_EQ(response.status, 200);
	EXPECT_EQ(response.length, 10u);
}

TEST(Recordings, RangePastTheEndIs416)
{
	RecordingsDir dir;
	dir.add("a.mkv", "0123456789");
	Request request = get("/recordings/a.mkv");
	request.headers = {{"Range", "bytes=10-"}};
	FileResponse response = serve_recording(dir.fd(), request);
	EXPECT_EQ(response.status, 416);
	EXPECT_FALSE(response.fd);
	EXPECT_EQ(response.length, 0u);
	EXPECT_TRUE(response.head.starts_with("HTTP/1.1 416 Range Not Satisfiable\r\n"));
	EXPECT_TRUE(has_header(response.head, "Content-Range: bytes */10"));
}

TEST(Recordings, HeadSendsTheHeadOnly)
{
	RecordingsDir dir;
	dir.add("a.mkv", "0123456789");
	FileResponse get_response = serve_recording(dir.fd(), get("/recordings/a.mkv"));
	Request request = get("/recordings/a.mkv", "HEAD");
	// Range means nothing to HEAD.
	request.headers = {{"Range", "bytes=100-"}};
	FileResponse response = serve_recording(dir.fd(), request);
	EXPECT_EQ(response.status, 200);
	EXPECT_EQ(response.head, get_response.head);
	EXPECT_EQ(response.length, 0u);
}

TEST(Recordings, NothingOutsideTheDirectory)
{
	RecordingsDir dir;
	dir.add("a.mkv", "inside");
	fs::create_symlink(dir.secret(), dir.path() / "link.mkv");
	fs::create_symlink("../secret.mkv", dir.path() / "relative.mkv");
	fs::create_symlink("a.mkv", dir.path() / "inside-link.mkv");
	fs::create_directory(dir.path() / "sub");
	RecordingsDir::write(dir.path() / "sub" / "b.mkv", "in a subdirectory");
	dir.add(".hidden.mkv", "hidden");

	for (const char *target : {
		     "/recordings/link.mkv",
		     "/recordings/relative.mkv",
		     "/recordings/inside-link.mkv",
		     "/recordings/..",
		     "/recordings/../secret.mkv",
		     "/recordings/.",
		     "/recordings/sub",
		     "/recordings/sub/b.mkv",
		     "/recordings/.hidden.mkv",
		     "/recordings/missing.mkv",
		     "/recordings/",
		     "/recordings",
		     "/secret.mkv",
		     "/recordings//a.mkv",
		     "/recordings/a.mkv/",
		     "/recordings/a.mkv\n",
	     })
		expect_not_found(dir.fd(), target);
	using namespace std::string_literals;
	expect_not_found(dir.fd(), "/recordings/a.mkv\0.txt"s);
	expect_not_found(dir.fd(), "/recordings/"s + std::string(300, 'a'));

	// Targets arrive percent-decoded: through the parser, %2e%2e and %2F
	// come to the same.
	for (std::string_view line : {
		     "GET /recordings/%2e%2e HTTP/1.1\r\n\r\n",
		     "GET /recordings/%2E%2E%2Fsecret.mkv HTTP/1.1\r\n\r\n",
		     "GET /recordings/sub%2Fb.mkv HTTP/1.1\r\n\r\n",
		     "GET /recordings/%2fsub%2fb.mkv HTTP/1.1\r\n\r\n",
		     "GET /recordings/a.mkv%00 HTTP/1.1\r\n\r\n",
	     }) {
		Request request;
		ASSERT_EQ(parse_request(line, request).state, ParseResult::State::complete);
		FileResponse response = serve_recording(dir.fd(), request);
		EXPECT_EQ(response.status, 404) << line;
		EXPECT_FALSE(response.fd);
	}

	// While the real name is served.
	Request request;
	ASSERT_EQ(parse_request("GET /recordings/%61.mkv HTTP/1.1\r\n\r\n", request).state,
		  ParseResult::State::complete);
	FileResponse response = serve_recording(dir.fd(), request);
	EXPECT_EQ(response.status, 200);
	EXPECT_EQ(body(response), "inside");
}

TEST(Recordings, FifoIsNotServedAndDoesNotBlock)
{
	RecordingsDir dir;
	ASSERT_EQ(mkfifo((dir.path() / "pipe.mkv").c_str(), 0600), 0);
	expect_not_found(dir.fd(), "/recordings/pipe.mkv");
}

TEST(Recordings, OtherMethodsAre405)
{
	RecordingsDir dir;
	dir.add("a.mkv", "x");
	FileResponse response = serve_recording(dir.fd(), get("/recordings/a.mkv", "DELETE"));
	EXPECT_EQ(response.status, 405);
	EXPECT_FALSE(response.fd);
	EXPECT_TRUE(has_header(response.head, "Allow: GET, HEAD"));
}

TEST(Recordings, ListingIsSortedEscapedAndOnlyRegularFiles)
{
	RecordingsDir dir;
	dir.add("b.mkv", "12345");
	dir.add("a<b>&\"c.mkv", "1");
	dir.add("a.raw", "");
	dir.add("with space.mkv", "12");
	dir.add(".hidden.mkv", "hidden");
	fs::create_symlink(dir.secret(), dir.path() / "link.mkv");
	fs::create_directory(dir.path() / "sub");

	std::string html = recordings_listing(dir.fd());
	size_t split = html.find("\r\n\r\n");
	ASSERT_NE(split, html.npos);
	std::string head = html.substr(0, split + 2);
	std::string page = html.substr(split + 4);
	EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n"));
	EXPECT_TRUE(has_header(head, "Content-Type: text/html; charset=utf-8"));
	EXPECT_TRUE(has_header(head, "Content-Length: " + std::to_string(page.size())));

	EXPECT_NE(page.find("<a href=\"/recordings/a%3Cb%3E%26%22c.mkv\">"
			    "a&lt;b&gt;&amp;&quot;c.mkv</a></td><td>1</td>"),
		  page.npos);
	EXPECT_NE(page.find("<a href=\"/recordings/with%20space.mkv\">with space.mkv</a>"),
		  page.npos);
	EXPECT_EQ(page.find("a<b>"), page.npos);
	for (const char *absent : {"hidden", "link", "secret", "sub"})
		EXPECT_EQ(page.find(absent), page.npos) << absent;
	// Sorted by name, byte by byte: '.' before '<'.
	size_t a_raw = page.find(">a.raw<");
	size_t a_odd = page.find(">a&lt;b");
	size_t b = page.find(">b.mkv<");
	size_t space = page.find(">with space.mkv<");
	EXPECT_LT(a_raw, a_odd);
	EXPECT_LT(a_odd, b);
	EXPECT_LT(b, space);
	EXPECT_NE(space, page.npos);

	std::string text = recordings_listing(dir.fd(), ListingFormat::text);
	EXPECT_TRUE(text.starts_with("HTTP/1.1 200 OK\r\n"));
	EXPECT_TRUE(has_header(text, "Content-Type: text/plain; charset=utf-8"));
	EXPECT_TRUE(text.ends_with("\r\n\r\n"
				   "a.raw 0\n"
				   "a<b>&\"c.mkv 1\n"
				   "b.mkv 5\n"
				   "with space.mkv 2\n"));

	std::string head_only = recordings_listing(dir.fd(), ListingFormat::text, true);
	EXPECT_EQ(head_only, text.substr(0, text.find("\r\n\r\n") + 4));
}

TEST(Recordings, ListingFormatFollowsAccept)
{
	Request request = get("/recordings/");
	EXPECT_EQ(listing_format(request), ListingFormat::html);
	request.headers = {{"Accept", "*/*"}};
	EXPECT_EQ(listing_format(request), ListingFormat::html);
	request.headers = {{"accept", "Text/Plain"}};
	EXPECT_EQ(listing_format(request), ListingFormat::text);
	request.headers = {{"Accept", "text/html,application/xhtml+xml,text/plain;q=0.8"}};
	EXPECT_EQ(listing_format(request), ListingFormat::html);
}

TEST(Recordings, EmptyAndUnreadableDirectories)
{
	RecordingsDir dir;
	std::string text = recordings_listing(dir.fd(), ListingFormat::text);
	EXPECT_TRUE(text.ends_with("Content-Length: 0\r\nCache-Control: no-cache\r\n\r\n"));
	EXPECT_TRUE(recordings_listing(-1).starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
}

} // namespace
} // namespace zcap::http
