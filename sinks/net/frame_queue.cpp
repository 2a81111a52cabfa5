// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frame_queue.h"

#include <zcap/stream_server.h>

namespace zcap::net {

uint64_t FrameQueue::offer(const Frame &frame, uint64_t offer, uint64_t arrival)
{
	// Frames the server's thread did not take in time, and the one this
	// client is still too busy for, are lost to it.
	uint64_t missed = offer - last_offer_ - 1;
	last_offer_ = offer;
	if (next_) {
		next_.reset();
		++missed;
	}
	next_.emplace(frame);
	next_arrival_ = arrival;
	return missed;
}

uint64_t FrameQueue::copy_aside_if_behind(uint64_t arrival)
{
	if (!current_ || !current_->frame ||
	    arrival - current_->arrival < StreamServer::kPinnedFrames - 1)
		return 0;
	// The client fell behind: keep the rest of its frame in its own memory
	// (counted) and give the capture buffer back.
	Payload &p = *current_;
	if (p.lent_to_kernel())
		return 0; // the kernel holds those pages until it reports them done
	p.copy.assign(p.rest.begin(), p.rest.end());
	p.rest = p.copy;
	p.frame.reset();
	return p.copy.size();
}

Payload &FrameQueue::begin_next()
{
	Payload &p = current_.emplace();
	p.frame = std::move(*next_);
	next_.reset();
	p.rest = p.frame.data();
	p.size = p.rest.size();
	p.arrival = next_arrival_;
	return p;
}

uint64_t FrameQueue::clear()
{
	const uint64_t lost = (current_ ? 1 : 0) + (next_ ? 1 : 0);
	current_.reset();
	next_.reset();
	return lost;
}

} // namespace zcap::net
