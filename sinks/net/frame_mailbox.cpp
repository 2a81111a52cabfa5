// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frame_mailbox.h"

namespace zcap::net {

void FrameMailbox::post_info(const StreamInfo &info)
{
	std::lock_guard lock(lock_);
	info_ = info;
}

bool FrameMailbox::post(const Frame &frame, bool pace, std::chrono::milliseconds wait)
{
	std::unique_lock lock(lock_);
	if (pace)
		demand_changed_.wait_for(lock, wait,
					 [&] { return stopping_ || (demand_ && frames_.empty()); });
	bool dropped = false;
	if (frames_.size() >= kCapacity) {
		frames_.pop_front();
		dropped = true;
	}
	frames_.push_back({frame, ++offered_});
	return dropped;
}

FrameMailbox::Taken FrameMailbox::take()
{
	Taken taken;
	std::lock_guard lock(lock_);
	taken.frames.swap(frames_);
	taken.info.swap(info_);
	// write() waits for set_demand() to say whether the clients want more.
	if (!taken.frames.empty())
		demand_ = false;
	return taken;
}

void FrameMailbox::set_demand(bool demand)
{
	{
		std::lock_guard lock(lock_);
		if (std::exchange(demand_, demand) == demand)
			return;
	}
	demand_changed_.notify_all();
}

void FrameMailbox::demand_ready()
{
	set_demand(true);
}

void FrameMailbox::stop()
{
	{
		std::lock_guard lock(lock_);
		stopping_ = true;
	}
	demand_changed_.notify_all();
}

bool FrameMailbox::stopping() const
{
	std::lock_guard lock(lock_);
	return stopping_;
}

} // namespace zcap::net
