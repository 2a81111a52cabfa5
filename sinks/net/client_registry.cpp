// SPDX-License-Identifier: LGPL-2.1-or-later
#include "client_registry.h"

namespace zcap::net {

uint64_t ClientRegistry::add(std::string peer, std::string target)
{
	ClientStats stats;
	stats.peer = std::move(peer);
	stats.target = std::move(target);
	std::lock_guard lock(lock_);
	const uint64_t id = count_++;
	history_.emplace(id, std::move(stats));
	return id;
}

std::string ClientRegistry::peer(uint64_t id) const
{
	std::lock_guard lock(lock_);
	return history_.at(id).peer;
}

void ClientRegistry::closed(const std::vector<uint64_t> &ids)
{
	std::lock_guard lock(lock_);
	closed_.insert(closed_.end(), ids.begin(), ids.end());
	while (closed_.size() > StreamServer::kClosedClientsKept) {
		history_.erase(closed_.front());
		closed_.pop_front();
	}
}

std::vector<ClientStats> ClientRegistry::list() const
{
	std::lock_guard lock(lock_);
	std::vector<ClientStats> clients;
	clients.reserve(history_.size());
	for (const auto &[id, stats] : history_)
		clients.push_back(stats);
	return clients;
}

uint64_t ClientRegistry::count() const
{
	std::lock_guard lock(lock_);
	return count_;
}

void ClientRegistry::push_failed(Status failure)
{
	std::lock_guard lock(lock_);
	if (push_failure_.ok())
		push_failure_ = std::move(failure);
}

Status ClientRegistry::push_failure() const
{
	std::lock_guard lock(lock_);
	return push_failure_;
}

} // namespace zcap::net
