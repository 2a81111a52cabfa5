// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <zcap/format.h>

namespace zcap::cli {

/// A command-line mistake: printed as one line, exit status 2.
class UsageError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

/// Exit statuses of the zcap command.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1; ///< the run failed (disk full, I/O error, ...)
constexpr int kExitUsage = 2;	///< bad arguments

/// "1920x1080" -> {1920, 1080}.
std::pair<uint32_t, uint32_t> parse_size(std::string_view text);
/// "30", "29.97", "30000/1001", or "max" (unlimited).
FrameRate parse_rate(std::string_view text);
/// "10s", "500ms", "2m", "1h", or plain seconds; must be positive.
std::chrono::nanoseconds parse_duration(std::string_view text);
/// A positive integer no larger than @p max; @p what names it in errors.
uint64_t parse_count(std::string_view text, std::string_view what, uint64_t max);
/// "500MB", "1.5GB", "1GiB", "4096 bytes", "4096B" or plain bytes: decimal
/// (kB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB) units, in any case; must
/// be positive.
uint64_t parse_byte_size(std::string_view text);

/// Where a segment of a recording ends: after a duration or at a size.
struct SegmentLimit {
	std::chrono::nanoseconds duration{0};
	uint64_t bytes = 0;
};
/// A duration ("60s", "10m", see parse_duration()) or a size ("500MB",
/// "1GiB", see parse_byte_size()); a plain number is refused as ambiguous.
SegmentLimit parse_segment_limit(std::string_view text);

/// "1.5 GB", "640 KB": decimal units, as throughput is reported.
std::string human_bytes(uint64_t bytes);

} // namespace zcap::cli
