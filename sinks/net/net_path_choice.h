// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <optional>
#include <set>
#include <string>

#include <zcap/stream_server.h>

namespace zcap::net {

/// What the network devices of this host can do.
class DeviceFeatures {
public:
	virtual ~DeviceFeatures() = default;
	/// Whether @p device sends from scattered pages (NETIF_F_SG); nothing
	/// when it cannot be told.
	virtual std::optional<bool> scatter_gather(const std::string &device) const = 0;
};

/// The kernel's answer: SIOCETHTOOL ETHTOOL_GSG.
class EthtoolFeatures final : public DeviceFeatures {
public:
	std::optional<bool> scatter_gather(const std::string &device) const override;
};

/// Where a client is: on this host (see peer_on_this_host()), and the
/// device its connection leaves through (empty: unknown).
struct PeerRoute {
	bool local = false;
	std::string device;
};

/// The way a live client's payloads go, and why it is not the one asked for.
struct PathChoice {
	enum class Reason {
		asked,		  ///< as asked (auto: by where the peer is)
		local_sendfile,	  ///< sendfile to a peer on this host: send() instead
		no_scatter_gather ///< the device would copy: send() instead
	};
	NetPath path = NetPath::copy;
	Reason reason = Reason::asked;
};

/// How a live client's payloads go, given what was @p asked for:
///
///   auto      send() to a peer on this host (the kernel would copy the
///             pages anyway, and more slowly), MSG_ZEROCOPY to others;
///   sendfile  send() to a peer on this host: its socket would read the
///             pages after acknowledging them, when the device may already
///             be refilling the buffer;
///   zerocopy, sendfile
///             send() when the device the peer is reached through has no
///             scatter-gather: the kernel would copy every byte into a
///             linear buffer anyway, and neither path could count it
///             (sendfile says nothing; MSG_ZEROCOPY only on local delivery).
PathChoice choose_net_path(NetPath asked, const PeerRoute &route, const DeviceFeatures &features);

/// choose_net_path() for a live client on the connected socket @p fd, known
/// as @p peer, with SO_ZEROCOPY set when it is to be used (else send()). Says
/// in the log why a client does not get the path asked for: a device without
/// scatter-gather once, when @p said does not hold it yet.
NetPath live_net_path(NetPath asked, int fd, const std::string &peer,
		      const DeviceFeatures &features, std::set<std::string> &said);

} // namespace zcap::net
