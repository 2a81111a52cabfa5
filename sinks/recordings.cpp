// SPDX-License-Identifier: LGPL-2.1-or-later
#include "recordings.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include <fmt/format.h>

namespace zcap::http {

namespace {

using Headers = std::vector<std::pair<std::string_view, std::string>>;

/// Whether @p name is one that zcap serves and lists: a single path
/// component, not hidden (which also rules out "." and ".."), without
/// control characters (NUL included) that would break a listing line.
bool servable_name(std::string_view name)
{
	return !name.empty() && !name.starts_with('.') &&
	       std::none_of(name.begin(), name.end(), [](char c) {
		       return c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
	       });
}

bool ends_with_ignoring_case(std::string_view s, std::string_view suffix)
{
	return s.size() >= suffix.size() &&
	       std::equal(suffix.begin(), suffix.end(), s.end() - ptrdiff_t(suffix.size()),
			  [](char a, char b) {
				  return a == (b >= 'A' && b <= 'Z' ? b - 'A' + 'a' : b);
			  });
}

std::string_view content_type(std::string_view name)
{
	return ends_with_ignoring_case(name, ".mkv") ? "video/x-matroska"
						     : "application/octet-stream";
}

/// The status for a failed openat() of a recording.
int open_error_status(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return 403;
	case EMFILE:
	case ENFILE:
	case ENOMEM:
		return 503;
	case ENOENT:
	case ENOTDIR:
	case ELOOP: // a symbolic link, refused by O_NOFOLLOW
	case ENAMETOOLONG:
	case ENXIO: // a socket
		return 404;
	default:
		return 500;
	}
}

FileResponse failed(int status, std::string_view message, const Headers &extra = {})
{
	FileResponse response;
	response.status = status;
	response.head = error_response(status, message, extra);
	return response;
}

/// @p s with the characters that mean something in HTML replaced by
/// references.
std::string html_escape(std::string_view s)
{
	std::string out;
	for (char c : s) {
		switch (c) {
		case '&':
			out += "&amp;";
			break;
		case '<':
			out += "&lt;";
			break;
		case '>':
			out += "&gt;";
			break;
		case '"':
			out += "&quot;";
			break;
		case '\'':
			out += "&#39;";
			break;
		default:
			out += c;
		}
	}
	return out;
}

/// @p s with every byte but the unreserved ones of RFC 3986 as %XX: safe as
/// one path segment of a URL.
std::string percent_encode(std::string_view s)
{
	std::string out;
	for (char c : s) {
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			out += c;
		else
			out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
	}
	return out;
}

struct Entry {
	std::string name;
	uint64_t size = 0;
};

struct DirCloser {
	void operator()(DIR *dir) const { closedir(dir); }
};

/// The servable regular files of @p directory_fd, sorted by name;
/// std::nullopt when the directory cannot be read.
std::optional<std::vector<Entry>> list_recordings(int directory_fd)
{
	// A description of its own, so that reading it moves no offset of
	// @p directory_fd.
	UniqueFd fd(openat(directory_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!fd)
		return std::nullopt;
	std::unique_ptr<DIR, DirCloser> dir(fdopendir(fd.get()));
	if (!dir)
		return std::nullopt;
	fd.release();

	std::vector<Entry> entries;
	while (true) {
		errno = 0;
		const dirent *entry = readdir(dir.get());
		if (!entry)
			break;
		struct stat st;
		if (!servable_name(entry->d_name) ||
		    fstatat(dirfd(dir.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		entries.push_back({entry->d_name, uint64_t(st.st_size)});
	}
	if (errno != 0)
		return std::nullopt;
	std::sort(entries.begin(), entries.end(),
		  [](const Entry &a, const Entry &b) { return a.name < b.name; });
	return entries;
}

std::string html_listing(const std::vector<Entry> &entries)
{
	std::string body = "<!DOCTYPE html>\n"
			   "<html><head><meta charset=\"utf-8\"><title>Recordings</title></head>\n"
			   "<body><h1>Recordings</h1>\n"
			   "<table>\n<tr><th>Name</th><th>Bytes</th></tr>\n";
	for (const Entry &entry : entries)
		body += fmt::format("<tr><td><a href=\"{}{}\">{}</a></td><td>{}</td></tr>\n",
				    kRecordingsPath, percent_encode(entry.name),
				    html_escape(entry.name), entry.size);
	body += "</table>\n</body></html>\n";
	return body;
}

std::string text_listing(const std::vector<Entry> &entries)
{
	std::string body;
	for (const Entry &entry : entries)
		body += fmt::format("{} {}\n", entry.name, entry.size);
	return body;
}

} // namespace

FileResponse serve_recording(int directory_fd, const Request &request)
{
	bool head_only = request.method == "HEAD";
	if (request.method != "GET" && !head_only)
		return failed(405, "only GET and HEAD are served");
	std::string_view target = request.target;
	if (!target.starts_with(kRecordingsPath))
		return failed(404, "no such recording");
	std::string name(target.substr(kRecordingsPath.size()));
	if (!servable_name(name))
		return failed(404, "no such recording");

	UniqueFd fd(
		openat(directory_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
	if (!fd) {
		int status = open_error_status(errno);
		return failed(status, status == 404 ? "no such recording" : "");
	}
	struct stat st;
	if (fstat(fd.get(), &st) != 0)
		return failed(500, "");
	if (!S_ISREG(st.st_mode))
		return failed(404, "no such recording");
	uint64_t size = uint64_t(st.st_size);
	std::string last_modified = http_date(st.st_mtime);

	// Only GET has ranges (RFC 9110 14.2); an If-Range that does not match
	// what is served asks for all of it.
	std::optional<ByteRange> range;
	std::string_view if_range = request.header("If-Range");
	if (!head_only && (if_range.empty() || if_range == last_modified))
		range = parse_range(request.header("Range"), size);
	if (range && !range->satisfiable)
		return failed(416, "range not satisfiable",
			      {{"Content-Range", fmt::format("bytes */{}", size)}});

	FileResponse response;
	response.status = range ? 206 : 200;
	response.offset = range ? range->offset : 0;
	uint64_t length = range ? range->length : size;
	Headers headers = {
		{"Content-Type", std::string(content_type(name))},
		{"Content-Length", std::to_string(length)},
	};
	if (range)
		headers.emplace_back("Content-Range",
				     fmt::format("bytes {}-{}/{}", range->offset,
						 range->offset + range->length - 1, size));
	headers.emplace_back("Accept-Ranges", "bytes");
	if (!last_modified.empty())
		headers.emplace_back("Last-Modified", std::move(last_modified));
	response.head = response_head(response.status, headers);
	response.fd = std::move(fd);
	response.length = head_only ? 0 : length;
	return response;
}

ListingFormat listing_format(const Request &request)
{
	std::string accept(request.header("Accept"));
	std::transform(accept.begin(), accept.end(), accept.begin(),
		       [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; });
	bool text = accept.find("text/plain") != accept.npos;
	bool html = accept.find("text/html") != accept.npos;
	return text && !html ? ListingFormat::text : ListingFormat::html;
}

std::string recordings_listing(int directory_fd, ListingFormat format, bool head_only)
{
	std::optional<std::vector<Entry>> entries = list_recordings(directory_fd);
	if (!entries)
		return error_response(500, "cannot read the recordings directory");
	bool html = format == ListingFormat::html;
	std::string body = html ? html_listing(*entries) : text_listing(*entries);
	Headers headers = {
		{"Content-Type", html ? "text/html; charset=utf-8" : "text/plain; charset=utf-8"},
		{"Content-Length", std::to_string(body.size())},
		// It changes while zcap records.
		{"Cache-Control", "no-cache"},
	};
	std::string response = response_head(200, headers);
	if (!head_only)
		response += body;
	return response;
}

} // namespace zcap::http
