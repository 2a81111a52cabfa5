// SPDX-License-Identifier: LGPL-2.1-or-later
#include "peer_address.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include <fmt/format.h>

#include <zcap/stream_server.h>

namespace zcap::net {

namespace {

/// Resolves @p endpoint with @p flags; empty host or port: nothing.
bool resolve(const Endpoint &endpoint, int flags, SocketAddress &address)
{
	addrinfo hints{};
	hints.ai_flags = flags;
	hints.ai_socktype = SOCK_STREAM;
	addrinfo *result = nullptr;
	if (endpoint.port.empty() ||
	    getaddrinfo(endpoint.host.c_str(), endpoint.port.c_str(), &hints, &result) != 0)
		return false;
	std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(result, freeaddrinfo);
	std::memcpy(&address.storage, result->ai_addr, result->ai_addrlen);
	address.length = result->ai_addrlen;
	return true;
}

/// A peer on this host by its address: loopback, or the very address it
/// reached us on.
bool is_local(const sockaddr_storage &peer, const sockaddr_storage &self)
{
	if (peer.ss_family == AF_INET) {
		const auto &p = reinterpret_cast<const sockaddr_in &>(peer);
		const auto &s = reinterpret_cast<const sockaddr_in &>(self);
		return (ntohl(p.sin_addr.s_addr) >> 24) == 127 ||
		       p.sin_addr.s_addr == s.sin_addr.s_addr;
	}
	const auto &p = reinterpret_cast<const sockaddr_in6 &>(peer);
	const auto &s = reinterpret_cast<const sockaddr_in6 &>(self);
	return IN6_IS_ADDR_LOOPBACK(&p.sin6_addr) ||
	       std::memcmp(&p.sin6_addr, &s.sin6_addr, sizeof(in6_addr)) == 0 ||
	       (IN6_IS_ADDR_V4MAPPED(&p.sin6_addr) && p.sin6_addr.s6_addr[12] == 127);
}

/// The interface that holds the address @p self; empty when none does.
std::string interface_of(const sockaddr_storage &self)
{
	ifaddrs *list = nullptr;
	if (getifaddrs(&list) < 0)
		return {};
	std::string name;
	for (ifaddrs *i = list; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != self.ss_family)
			continue;
		bool same;
		if (self.ss_family == AF_INET)
			same = reinterpret_cast<const sockaddr_in *>(i->ifa_addr)
				       ->sin_addr.s_addr ==
			       reinterpret_cast<const sockaddr_in &>(self).sin_addr.s_addr;
		else
			same = std::memcmp(&reinterpret_cast<const sockaddr_in6 *>(i->ifa_addr)
						    ->sin6_addr,
					   &reinterpret_cast<const sockaddr_in6 &>(self).sin6_addr,
					   sizeof(in6_addr)) == 0;
		if (same) {
			name = i->ifa_name;
			break;
		}
	}
	freeifaddrs(list);
	return name;
}

/// Whether the connection's own address @p self belongs to an interface
/// with a device behind it (a NIC). Virtual ones (loopback, veth, bridges,
/// tun) deliver to sockets on this host.
bool through_device(const sockaddr_storage &self)
{
	const std::string name = interface_of(self);
	return !name.empty() &&
	       access(fmt::format("/sys/class/net/{}/device", name).c_str(), F_OK) == 0;
}

} // namespace

Status listen_address(const std::string &text, SocketAddress &address)
{
	Endpoint endpoint = Endpoint::parse(text);
	if (!endpoint.has_host)
		endpoint.host = "127.0.0.1";
	if (!resolve(endpoint, AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE, address))
		return Status::invalid(fmt::format(
			"invalid listen address '{}': expected [ADDR:]PORT such as 8554 or "
			"0.0.0.0:8554",
			text));
	return {};
}

Status connect_address(const std::string &text, SocketAddress &address)
{
	const Endpoint endpoint = Endpoint::parse(text);
	if (endpoint.host.empty() || !resolve(endpoint, AI_NUMERICSERV, address))
		return Status::invalid(fmt::format(
			"invalid receiver '{}': expected HOST:PORT such as 10.0.0.2:5000", text));
	return {};
}

uint16_t address_port(const SocketAddress &address)
{
	const sockaddr_storage &a = address.storage;
	return ntohs(a.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in &>(a).sin_port
					    : reinterpret_cast<const sockaddr_in6 &>(a).sin6_port);
}

std::string address_text(const sockaddr_storage &a)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (a.ss_family == AF_INET) {
		const auto &in = reinterpret_cast<const sockaddr_in &>(a);
		inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
		return fmt::format("{}:{}", host, ntohs(in.sin_port));
	}
	const auto &in6 = reinterpret_cast<const sockaddr_in6 &>(a);
	inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
	return fmt::format("[{}]:{}", host, ntohs(in6.sin6_port));
}

bool peer_on_this_host(int fd)
{
	sockaddr_storage peer{}, self{};
	socklen_t length = sizeof(peer);
	getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &length);
	length = sizeof(self);
	getsockname(fd, reinterpret_cast<sockaddr *>(&self), &length);
	return is_local(peer, self) || !through_device(self);
}

std::string local_interface(int fd)
{
	sockaddr_storage self{};
	socklen_t length = sizeof(self);
	if (getsockname(fd, reinterpret_cast<sockaddr *>(&self), &length) < 0)
		return {};
	return interface_of(self);
}

} // namespace zcap::net

namespace zcap {

Endpoint Endpoint::parse(std::string_view text)
{
	Endpoint endpoint;
	const size_t colon = text.rfind(':');
	if (colon == std::string_view::npos) {
		endpoint.port = text;
		return endpoint;
	}
	endpoint.has_host = true;
	std::string_view host = text.substr(0, colon);
	if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
		host = host.substr(1, host.size() - 2);
	endpoint.host = host;
	endpoint.port = text.substr(colon + 1);
	return endpoint;
}

std::string Endpoint::url_host() const
{
	if (host.empty())
		return "127.0.0.1";
	return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

} // namespace zcap
