// SPDX-License-Identifier: LGPL-2.1-or-later
#include "transmit.h"

#include <linux/errqueue.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace zcap::net {

std::optional<Transmit::Sent> Transmit::send_payload(Payload &p, size_t max)
{
	const size_t chunk = std::min(p.rest.size(), max);
	release_acknowledged();
	const bool idle_kernel = p.frame && !holds();
	bool zerocopy = path_ == NetPath::zerocopy && idle_kernel;
	const FdAlias memfd = p.frame ? p.frame.memfd() : FdAlias{};
	const bool by_sendfile = path_ == NetPath::sendfile &&
				 (idle_kernel || (p.frame && p.sendfile_sent)) && memfd.valid();
	ssize_t n;
	if (by_sendfile) {
		off_t offset = off_t(memfd.offset + (p.size - p.rest.size()));
		n = sendfile(fd_, memfd.fd, &offset, chunk);
	} else {
		n = send(fd_, p.rest.data(), chunk,
			 MSG_DONTWAIT | MSG_NOSIGNAL | (zerocopy ? MSG_ZEROCOPY : 0));
	}
	if (n < 0 && zerocopy && errno == ENOBUFS) {
		// Out of the memory zero-copy sends are accounted against: this
		// piece goes the ordinary way (a copy, counted).
		zerocopy = false;
		n = send(fd_, p.rest.data(), chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	if (n < 0)
		return std::nullopt;
	sent_total_ += uint64_t(n);
	Sent sent{.bytes = size_t(n)};
	if (zerocopy) {
		zc_bytes_.emplace_back(zc_next_++, uint32_t(n));
		p.zerocopy_sent = true;
	} else if (by_sendfile) {
		p.sendfile_sent = true;
	} else {
		sent.copied = true; // by send(), also when copied aside before
	}
	p.rest = p.rest.subspan(size_t(n));
	if (!p.rest.empty())
		return sent;
	sent.whole = true;
	if (p.zerocopy_sent && p.frame)
		zc_hold_.emplace_back(zc_next_ - 1, std::move(p.frame));
	else if (p.sendfile_sent && p.frame)
		ack_hold_.emplace_back(sent_total_, std::move(p.frame));
	return sent;
}

ssize_t Transmit::send_bytes(const char *data, size_t size, bool more)
{
	ssize_t n = send(fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0));
	if (n > 0)
		sent_total_ += uint64_t(n);
	return n;
}

uint64_t Transmit::reap_completions()
{
	uint64_t copied = 0;
	for (;;) {
		char control[128];
		msghdr msg{};
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		if (recvmsg(fd_, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			break;
		for (cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			auto *err = reinterpret_cast<sock_extended_err *>(CMSG_DATA(cm));
			if (err->ee_errno != 0 || err->ee_origin != SO_EE_ORIGIN_ZEROCOPY)
				continue;
			uint32_t lo = err->ee_info, hi = err->ee_data;
			if (err->ee_code & SO_EE_CODE_ZEROCOPY_COPIED) {
				// Delivered on this host, or through a device that
				// cannot send from the pages: the kernel copied them.
				for (auto [id, n] : zc_bytes_)
					if (id >= lo && id <= hi)
						copied += n;
			}
			zc_ranges_[lo] = std::max(zc_ranges_[lo], hi);
		}
	}
	// Advance over the ranges that are now contiguous.
	for (auto it = zc_ranges_.begin(); it != zc_ranges_.end() && it->first <= zc_done_;
	     it = zc_ranges_.erase(it))
		zc_done_ = std::max(zc_done_, it->second + 1);
	while (!zc_bytes_.empty() && zc_bytes_.front().first < zc_done_)
		zc_bytes_.pop_front();
	while (!zc_hold_.empty() && zc_hold_.front().first < zc_done_)
		zc_hold_.pop_front();
	return copied;
}

void Transmit::release_acknowledged()
{
	if (ack_hold_.empty())
		return;
	// SIOCOUTQ: bytes written and not yet acknowledged by the peer.
	int unacknowledged = 0;
	if (ioctl(fd_, SIOCOUTQ, &unacknowledged) < 0)
		return;
	const uint64_t acknowledged = sent_total_ - uint64_t(unacknowledged);
	while (!ack_hold_.empty() && ack_hold_.front().first <= acknowledged)
		ack_hold_.pop_front();
}

} // namespace zcap::net
