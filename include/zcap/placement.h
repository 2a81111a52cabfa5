// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

namespace zcap {

/// Direct I/O is fast only when memory and file offsets agree on a page
/// boundary (measured here: 2048 bytes off a page, O_DIRECT writes at 35-190
/// MB/s instead of 1-1.5 GB/s). A raw file of 4,147,200-byte frames puts every
/// other frame 2048 bytes into a page, so a sink can write such a frame
/// without a copy only if its bytes also start 2048 bytes into a page in
/// memory. Sources that choose where a frame starts in its buffer (their own
/// frame pool, USERPTR capture) therefore ask where the sinks want it.
constexpr uint32_t kPlacementPage = 4096;

/// Placement advice: the offset within a page (0 to kPlacementPage - 1) at
/// which the frame that reaches the sinks @p ahead frames after the next one
/// should start in memory, or nothing when no sink cares. Callable from any
/// thread while a pipeline runs.
using PlacementAdvice = std::function<std::optional<uint32_t>(uint64_t ahead)>;

} // namespace zcap
