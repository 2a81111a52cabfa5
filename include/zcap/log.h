// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <functional>
#include <string_view>

namespace zcap {

enum class LogLevel { info, warning, error };

/// Where the library's messages go: stderr as "zcap: warning: ..." unless a
/// program (the GStreamer plugin, a test) installs its own handler. Called
/// from any thread; messages are single lines.
using LogHandler = std::function<void(LogLevel, std::string_view)>;

/// Replaces the handler; an empty one restores stderr. Safe while other
/// threads log: it returns once no message is being handled by the old
/// one. A handler must not call set_log_handler() or log().
void set_log_handler(LogHandler handler);

void log(LogLevel level, std::string_view message);

} // namespace zcap
