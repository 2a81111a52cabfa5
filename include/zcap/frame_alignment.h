// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace zcap {

/// How far the frames of one camera are from the nearest frame of the first
/// camera (the reference), by capture timestamp.
struct AlignmentStats {
	uint64_t frames = 0;	///< frames measured
	uint64_t median_ns = 0; ///< to kBucketNs below kBuckets * kBucketNs, exact above
	uint64_t max_ns = 0;
};

/// Measures, as frames arrive from several sources' threads, each frame's
/// distance to the nearest frame of source 0. A frame newer than the
/// reference's newest waits (its timestamp only) until the reference has a
/// frame at least as new, or ends. Memory stays bounded: a histogram per
/// source and the timestamps not yet matched.
class FrameAlignment {
public:
	/// Resolution of the median.
	static constexpr uint64_t kBucketNs = 10'000;
	/// Buckets of the histogram (up to 100 ms); farther frames share the
	/// last one, whose median is then its lower edge.
	static constexpr size_t kBuckets = 10'000;

	explicit FrameAlignment(size_t sources);

	/// A frame of @p source captured at @p timestamp_ns (monotonic per source).
	void add(size_t source, uint64_t timestamp_ns);
	/// The reference delivers no more frames: frames waiting are measured
	/// against its last one.
	void reference_ended();

	/// The distances of @p source's frames (source 0: all zero).
	AlignmentStats stats(size_t source) const;

private:
	struct Track {
		std::deque<uint64_t> waiting; ///< newer than the reference's newest
		std::vector<uint32_t> histogram = std::vector<uint32_t>(kBuckets);
		uint64_t frames = 0;
		uint64_t max_ns = 0;
	};

	/// Measures @p timestamp_ns against the reference frames known now.
	void measure(Track &track, uint64_t timestamp_ns);
	/// Forgets reference frames no waiting frame can be nearest to.
	void trim();

	mutable std::mutex lock_;
	std::vector<Track> tracks_;
	std::deque<uint64_t> reference_; ///< source 0's recent timestamps, ascending
	bool reference_ended_ = false;
};

} // namespace zcap
