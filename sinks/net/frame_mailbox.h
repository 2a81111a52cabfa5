// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include <zcap/frame.h>
#include <zcap/sink.h>
#include <zcap/stream_server.h>

namespace zcap::net {

/// A frame and its offer number: every frame the server was given counts,
/// so that a client tells the frames it missed by the gaps.
struct OfferedFrame {
	Frame frame;
	uint64_t offer = 0;
};

/// What the pipeline's thread hands the server's thread: the stream's
/// description and the newest frames, and back the other way whether some
/// client is ready for a new frame (the demand that paces an unlimited
/// source).
class FrameMailbox {
public:
	/// Frames the mailbox keeps for the server's thread; should it lag,
	/// only the newest matter to a live stream. One fewer than the server
	/// pins for its clients: the frame they are sending is not here.
	static constexpr size_t kCapacity = StreamServer::kPinnedFrames - 1;

	void post_info(const StreamInfo &info);
	/// Posts @p frame. With @p pace, waits up to @p wait until a client is
	/// ready for it first. Returns whether an older frame was dropped.
	bool post(const Frame &frame, bool pace, std::chrono::milliseconds wait);

	struct Taken {
		std::deque<OfferedFrame> frames;
		std::optional<StreamInfo> info;
	};
	/// Everything posted since the last take(). Until they are
	/// distributed, these frames are what the clients were ready for.
	Taken take();

	/// A live client has no frame queued, or there is no live client.
	void set_demand(bool demand);
	/// A client is ready for a new frame.
	void demand_ready();

	void stop();
	bool stopping() const;

private:
	mutable std::mutex lock_;
	std::condition_variable demand_changed_;
	std::optional<StreamInfo> info_;
	std::deque<OfferedFrame> frames_;
	uint64_t offered_ = 0;
	bool demand_ = true;
	bool stopping_ = false;
};

} // namespace zcap::net
