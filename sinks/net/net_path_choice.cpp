// SPDX-License-Identifier: LGPL-2.1-or-later
#include "net_path_choice.h"

#include <sys/socket.h>

#include <fmt/format.h>

#include <zcap/log.h>

namespace zcap::net {

NetPath choose_net_path(NetPath asked, int fd, bool local, const std::string &peer)
{
	NetPath path = asked;
	if (path == NetPath::automatic)
		path = local ? NetPath::copy : NetPath::zerocopy;
	if (path == NetPath::sendfile && local) {
		log(LogLevel::info, fmt::format("HTTP server: sendfile to {}, a peer on this "
						"host, is not safe; copying instead (counted)",
						peer));
		path = NetPath::copy;
	}
	if (path == NetPath::zerocopy) {
		int one = 1;
		if (setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) < 0)
			path = NetPath::copy;
	}
	return path;
}

} // namespace zcap::net
