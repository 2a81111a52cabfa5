// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/frame_alignment.h>

#include <algorithm>

namespace zcap {

namespace {

/// Reference timestamps kept behind the newest, for frames that arrive late
/// from their source's thread (a camera's frames may reach us after
/// several of the reference's newer ones).
constexpr size_t kReferenceHistory = 256;

} // namespace

FrameAlignment::FrameAlignment(size_t sources) : tracks_(sources)
{
}

void FrameAlignment::measure(Track &track, uint64_t timestamp_ns)
{
	// The first reference frame at or after the timestamp, and the one before.
	auto after = std::lower_bound(reference_.begin(), reference_.end(), timestamp_ns);
	uint64_t distance = UINT64_MAX;
	if (after != reference_.end())
		distance = *after - timestamp_ns;
	if (after != reference_.begin())
		distance = std::min(distance, timestamp_ns - *std::prev(after));
	if (distance == UINT64_MAX)
		return; // no reference frame at all
	track.frames++;
	track.max_ns = std::max(track.max_ns, distance);
	track.histogram[std::min<uint64_t>(distance / kBucketNs, kBuckets - 1)]++;
}

void FrameAlignment::trim()
{
	while (reference_.size() > kReferenceHistory)
		reference_.pop_front();
}

void FrameAlignment::add(size_t source, uint64_t timestamp_ns)
{
	std::lock_guard guard(lock_);
	if (source >= tracks_.size())
		return;
	Track &track = tracks_[source];
	if (source == 0) {
		reference_.push_back(timestamp_ns);
		measure(track, timestamp_ns);
		for (size_t i = 1; i < tracks_.size(); ++i) {
			Track &other = tracks_[i];
			while (!other.waiting.empty() && other.waiting.front() <= timestamp_ns) {
				measure(other, other.waiting.front());
				other.waiting.pop_front();
			}
		}
		trim();
		return;
	}
	if (reference_ended_ || (!reference_.empty() && reference_.back() >= timestamp_ns))
		measure(track, timestamp_ns);
	else
		track.waiting.push_back(timestamp_ns);
}

void FrameAlignment::reference_ended()
{
	std::lock_guard guard(lock_);
	reference_ended_ = true;
	for (size_t i = 1; i < tracks_.size(); ++i) {
		for (uint64_t timestamp : tracks_[i].waiting)
			measure(tracks_[i], timestamp);
		tracks_[i].waiting.clear();
	}
}

AlignmentStats FrameAlignment::stats(size_t source) const
{
	std::lock_guard guard(lock_);
	AlignmentStats result;
	if (source >= tracks_.size())
		return result;
	const Track &track = tracks_[source];
	result.frames = track.frames;
	result.max_ns = track.max_ns;
	uint64_t seen = 0;
	for (size_t bucket = 0; bucket < kBuckets && track.frames; ++bucket) {
		seen += track.histogram[bucket];
		if (2 * seen >= track.frames) {
			result.median_ns = bucket * kBucketNs;
			break;
		}
	}
	return result;
}

} // namespace zcap
