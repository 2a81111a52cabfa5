// SPDX-License-Identifier: LGPL-2.1-or-later
#include "net_path_choice.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include <fmt/format.h>

#include <zcap/log.h>
#include <zcap/unique_fd.h>

#include "peer_address.h"

namespace zcap::net {

std::optional<bool> EthtoolFeatures::scatter_gather(const std::string &device) const
{
	if (device.empty() || device.size() >= IFNAMSIZ)
		return std::nullopt;
	UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	if (!fd)
		return std::nullopt;
	ethtool_value value{};
	value.cmd = ETHTOOL_GSG;
	ifreq request{};
	std::memcpy(request.ifr_name, device.c_str(), device.size());
	request.ifr_data = reinterpret_cast<char *>(&value);
	if (ioctl(fd.get(), SIOCETHTOOL, &request) < 0)
		return std::nullopt;
	return value.data != 0;
}

PathChoice choose_net_path(NetPath asked, const PeerRoute &route, const DeviceFeatures &features)
{
	PathChoice choice{.path = asked};
	if (asked == NetPath::automatic)
		choice.path = route.local ? NetPath::copy : NetPath::zerocopy;
	if (choice.path == NetPath::sendfile && route.local)
		return {NetPath::copy, PathChoice::Reason::local_sendfile};
	if ((choice.path == NetPath::zerocopy || choice.path == NetPath::sendfile) &&
	    !route.device.empty() && features.scatter_gather(route.device) == false)
		return {NetPath::copy, PathChoice::Reason::no_scatter_gather};
	return choice;
}

NetPath live_net_path(NetPath asked, int fd, const std::string &peer,
		      const DeviceFeatures &features, std::set<std::string> &said)
{
	const PeerRoute route{.local = peer_on_this_host(fd), .device = local_interface(fd)};
	const PathChoice choice = choose_net_path(asked, route, features);
	if (choice.reason == PathChoice::Reason::local_sendfile)
		log(LogLevel::info, fmt::format("HTTP server: sendfile to {}, a peer on this "
						"host, is not safe; copying instead (counted)",
						peer));
	if (choice.reason == PathChoice::Reason::no_scatter_gather &&
	    said.insert(route.device).second)
		log(LogLevel::info,
		    fmt::format("HTTP server: {} has no scatter-gather, so the kernel would copy "
				"what sendfile or MSG_ZEROCOPY send from the frames' pages; its "
				"clients get send() instead (counted)",
				route.device));
	int one = 1;
	if (choice.path == NetPath::zerocopy &&
	    setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) < 0)
		return NetPath::copy;
	return choice.path;
}

} // namespace zcap::net
