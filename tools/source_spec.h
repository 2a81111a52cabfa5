// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <string_view>

#include "record_options.h"

namespace zcap::cli {

/// A -f/--format value: a format zcap names, or any four-character fourcc
/// (cameras offer formats zcap has no name for, such as MJPG).
uint32_t parse_format_option(std::string_view text);
/// An --io value.
IoMode parse_io_option(std::string_view text);
/// `SOURCE[,size=WxH][,format=F][,fps=N][,io=M]`: a source of a run with
/// several (pattern, auto or a V4L2 node) and what it overrides.
SourceSpec parse_source_spec(std::string_view text);
/// Throws when the built-in pattern cannot make @p code frames of @p size.
void check_pattern_format(uint32_t code, std::pair<uint32_t, uint32_t> size);

} // namespace zcap::cli
