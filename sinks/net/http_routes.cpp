// SPDX-License-Identifier: LGPL-2.1-or-later
#include "http_routes.h"

#include "../recordings.h"

namespace zcap::net {

namespace {

Answer error(int status, std::string_view message)
{
	Answer answer;
	answer.head = http::error_response(status, message);
	return answer;
}

Answer live(const http::Request &request, LiveFraming::Kind kind, const RouteContext &context)
{
	if (kind == LiveFraming::Kind::mkv && context.mkv_impossible)
		return error(415, "this stream's format cannot be carried in Matroska; "
				  "use /live.raw");
	const std::pair<std::string_view, std::string> headers[] = {
		{"Content-Type",
		 kind == LiveFraming::Kind::mkv ? "video/x-matroska" : "application/x-zcap-frames"},
		{"Cache-Control", "no-store"},
		{"Connection", "close"},
	};
	Answer answer;
	answer.head = http::response_head(200, headers);
	if (request.method != "HEAD")
		answer.live = kind;
	return answer;
}

Answer recordings(const http::Request &request, const RouteContext &context)
{
	if (context.recordings_fd < 0)
		return error(404, "no recordings are served here");
	const bool head_only = request.method == "HEAD";
	Answer answer;
	if (request.target == "/recordings" || request.target == "/recordings/") {
		answer.head = http::recordings_listing(context.recordings_fd,
						       http::listing_format(request), head_only);
		return answer;
	}
	http::FileResponse file = http::serve_recording(context.recordings_fd, request);
	answer.head = std::move(file.head);
	answer.recording = true;
	answer.file = std::move(file.fd);
	answer.file_offset = file.offset;
	answer.file_length = head_only ? 0 : file.length;
	return answer;
}

} // namespace

Answer route(const http::Request &request, const RouteContext &context)
{
	const std::string &target = request.target;
	if (target == "/live.mkv")
		return live(request, LiveFraming::Kind::mkv, context);
	if (target == "/live.raw")
		return live(request, LiveFraming::Kind::raw, context);
	if (target == "/recordings" || target.starts_with("/recordings/"))
		return recordings(request, context);
	return error(404, "not found: try /live.mkv, /live.raw or /recordings/");
}

} // namespace zcap::net
