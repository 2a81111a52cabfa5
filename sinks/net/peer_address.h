// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <sys/socket.h>

#include <string>

#include <zcap/status.h>

namespace zcap::net {

/// A socket address and its length, as bind() and connect() take them.
struct SocketAddress {
	sockaddr_storage storage{};
	socklen_t length = 0;

	const sockaddr *get() const { return reinterpret_cast<const sockaddr *>(&storage); }
	sockaddr *get() { return reinterpret_cast<sockaddr *>(&storage); }
};

/// "[ADDR:]PORT" to listen on: ADDR a numeric IPv4 or bracketed IPv6
/// address, 127.0.0.1 when left out.
Status listen_address(const std::string &text, SocketAddress &address);
/// "HOST:PORT" to connect to: HOST a name or an address (IPv6 bracketed).
Status connect_address(const std::string &text, SocketAddress &address);

/// The port of a bound IPv4 or IPv6 address.
uint16_t address_port(const SocketAddress &address);
/// "127.0.0.1:40112", "[::1]:40112".
std::string address_text(const sockaddr_storage &address);

/// Whether the peer of the connected socket @p fd is on this host: loopback,
/// the very address it reached us on, or reached through an interface with
/// no device behind it (veth, bridge, tun), so that the kernel delivers to
/// its socket locally. Zero-copy pages delivered locally are copied by the
/// kernel anyway (and cost more than send()), measured here.
bool peer_on_this_host(int fd);
/// The interface that holds the connected socket @p fd's own address: the
/// one its packets leave through; empty when none does.
std::string local_interface(int fd);

} // namespace zcap::net
