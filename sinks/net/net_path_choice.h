// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string>

#include <zcap/stream_server.h>

namespace zcap::net {

/// How a live client's payloads go, given what was @p asked for and
/// whether the peer is on this host (@p local):
///
///   auto      send() to a peer on this host (the kernel would copy the
///             pages anyway, and more slowly), MSG_ZEROCOPY to others;
///   sendfile  send() to a peer on this host: its socket would read the
///             pages after acknowledging them, when the device may already
///             be refilling the buffer (said once per client);
///   zerocopy  send() when the socket refuses SO_ZEROCOPY.
///
/// @p fd is the client's socket (SO_ZEROCOPY is set on it), @p peer its
/// name for the log.
NetPath choose_net_path(NetPath asked, int fd, bool local, const std::string &peer);

} // namespace zcap::net
