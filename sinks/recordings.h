// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <zcap/unique_fd.h>

#include "http_request.h"

namespace zcap::http {

/// Where the recordings are served: the listing at this path, each file
/// below it by name.
constexpr std::string_view kRecordingsPath = "/recordings/";

/// How to answer a request for one recording: send @p head, then
/// sendfile() @p length bytes of @p fd from @p offset.
struct FileResponse {
	int status = 0;
	/// The response head; for an error the whole response (head and body,
	/// with Connection: close).
	std::string head;
	UniqueFd fd;	     ///< the recording, for a 200 or 206 (HEAD too)
	uint64_t offset = 0; ///< first byte to send
	uint64_t length = 0; ///< bytes to send; 0 for HEAD and for errors
};

/// The answer to a GET or HEAD of kRecordingsPath + NAME, NAME a regular file
/// directly in @p directory_fd. NAME (percent-decoded) must be one path
/// component, not starting with '.', without control characters; the file
/// is opened without following a symbolic link, so nothing outside the
/// directory can be reached. Anything else is 404. A satisfiable Range gives
/// 206, an unsatisfiable one 416. A file still being recorded is served as
/// long as it was when opened.
FileResponse serve_recording(int directory_fd, const Request &request);

/// The forms of the listing of kRecordingsPath.
enum class ListingFormat {
	html, ///< a page with a link to each recording
	text, ///< text/plain, "NAME SIZE" a line
};

/// text when the request's Accept header names text/plain but not
/// text/html, else html.
ListingFormat listing_format(const Request &request);

/// The whole response (head and body) to a GET of kRecordingsPath: the
/// regular files of @p directory_fd that serve_recording() serves (no
/// dotfiles, no symbolic links), sorted by name, with their sizes. Only the
/// head when @p head_only (for a HEAD). 500 when the directory cannot be
/// read.
std::string recordings_listing(int directory_fd, ListingFormat format = ListingFormat::html,
			       bool head_only = false);

} // namespace zcap::http
