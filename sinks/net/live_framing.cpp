// SPDX-License-Identifier: LGPL-2.1-or-later
#include "live_framing.h"

#include <zcap/stream_server.h>

namespace zcap::net {

namespace {

/// A new Cluster at least this often in a live Matroska stream, as in files.
constexpr uint64_t kClusterMs = 1000;

template <typename Bytes>
void append(std::string &out, const Bytes &bytes)
{
	out.append(reinterpret_cast<const char *>(bytes.data()), bytes.size());
}

} // namespace

void LiveFraming::frame_header(const Frame &frame, const matroska::FileHeader &header,
			       std::string &out)
{
	if (kind_ == Kind::mkv) {
		if (!stream_header_sent_) {
			append(out, header.bytes);
			stream_header_sent_ = true;
		}
		cluster_and_block(frame, out);
		return;
	}
	RawFrameHeader h;
	h.sequence = frame.sequence();
	h.timestamp_ns = frame.timestamp_ns();
	h.fourcc = frame.format().fourcc;
	h.width = frame.format().width;
	h.height = frame.format().height;
	h.payload_size = uint32_t(frame.data().size());
	out.append(reinterpret_cast<const char *>(&h), sizeof(h));
}

void LiveFraming::cluster_and_block(const Frame &frame, std::string &out)
{
	if (!first_ns_)
		first_ns_ = frame.timestamp_ns();
	const uint64_t since =
		frame.timestamp_ns() > *first_ns_ ? frame.timestamp_ns() - *first_ns_ : 0;
	const uint64_t ms = since / matroska::kTimestampScaleNs;
	if (new_cluster_ || ms - cluster_ms_ >= kClusterMs || ms < cluster_ms_) {
		append(out, matroska::cluster_header(ms));
		cluster_ms_ = ms;
		new_cluster_ = false;
	}
	append(out, matroska::block_header(frame.data().size(), int16_t(ms - cluster_ms_), true));
}

} // namespace zcap::net
