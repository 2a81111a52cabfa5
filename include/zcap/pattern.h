// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <zcap/format.h>

namespace zcap::pattern {

/// The built-in test pattern: vertical colour bars, a box that moves with the
/// sequence number, and the sequence number stamped as a row of black and
/// white squares. A frame's bytes depend only on (format, sequence), so tests
/// can check every byte written.

/// Whether the pattern can be drawn in @p fourcc.
bool renders(uint32_t fourcc);

/// Renders frame @p sequence from scratch into @p out (format.size_image
/// bytes). The reference: slow, simple, used by tests and to seed buffers.
void render(const FrameFormat &format, uint64_t sequence, std::span<std::byte> out);

/// Turns a buffer that holds frame @p previous into frame @p next by
/// redrawing only what differs (the old and new box and the stamp), so a
/// frame costs far less to make than to write. The result equals
/// render(format, next).
void restamp(const FrameFormat &format, uint64_t previous, uint64_t next,
	     std::span<std::byte> buffer);

} // namespace zcap::pattern
