// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <zcap/status.h>
#include <zcap/stream_server.h>

namespace zcap::net {

/// What the server knows of its clients, open and gone: written by the
/// server's thread, read by any. Keeps every open client and the last
/// StreamServer::kClosedClientsKept closed ones (about 200 bytes each).
class ClientRegistry {
public:
	/// Starts the statistics of a new client; returns their key.
	uint64_t add(std::string peer, std::string target = {});
	/// Calls @p change on the statistics of client @p id.
	template <typename F>
	void update(uint64_t id, F &&change)
	{
		std::lock_guard lock(lock_);
		change(history_.at(id));
	}
	std::string peer(uint64_t id) const;
	/// The clients @p ids are gone; the oldest closed ones are forgotten.
	void closed(const std::vector<uint64_t> &ids);

	/// Every open client, and the last closed ones, in the order they came.
	std::vector<ClientStats> list() const;
	/// Clients so far, also those list() forgot.
	uint64_t count() const;

	/// A receiver we pushed to went away; the first one is kept.
	void push_failed(Status failure);
	Status push_failure() const;

private:
	mutable std::mutex lock_;
	/// By key, in the order the clients came; closed_ holds the keys of
	/// the closed ones in the order they went.
	std::map<uint64_t, ClientStats> history_;
	std::deque<uint64_t> closed_;
	uint64_t count_ = 0;
	Status push_failure_;
};

} // namespace zcap::net
