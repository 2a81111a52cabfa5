// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <zcap/frame.h>

#include "../matroska_layout.h"

namespace zcap::net {

/// What goes before each frame's payload on a live stream: on /live.mkv the
/// stream's Matroska header once, a Cluster at least every second (and
/// after a gap) and a SimpleBlock header; on /live.raw a RawFrameHeader.
class LiveFraming {
public:
	enum class Kind { mkv, raw };

	explicit LiveFraming(Kind kind = Kind::mkv) : kind_(kind) {}

	Kind kind() const { return kind_; }
	/// Appends what precedes @p frame's payload to @p out; @p header is the
	/// stream's Matroska header.
	void frame_header(const Frame &frame, const matroska::FileHeader &header, std::string &out);
	/// Frames were lost: the Matroska stream resumes with a new Cluster.
	void resume() { new_cluster_ = true; }

private:
	void cluster_and_block(const Frame &frame, std::string &out);

	Kind kind_;
	bool stream_header_sent_ = false;
	bool new_cluster_ = true;
	uint64_t cluster_ms_ = 0;
	std::optional<uint64_t> first_ns_;
};

} // namespace zcap::net
