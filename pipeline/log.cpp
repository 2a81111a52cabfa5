// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/log.h>

#include <cstdio>
#include <mutex>
#include <shared_mutex>

namespace zcap {

namespace {

/// The handler: messages run it under a shared lock, so that replacing it
/// waits until no message is being handled by the one it replaces (whose
/// state, a test's capture say, may go away right after).
struct Installed {
	std::shared_mutex lock;
	LogHandler handler;
};

Installed &installed()
{
	static Installed instance;
	return instance;
}

std::string_view prefix(LogLevel level)
{
	switch (level) {
	case LogLevel::info:
		return "zcap: ";
	case LogLevel::warning:
		return "zcap: warning: ";
	case LogLevel::error:
		return "zcap: error: ";
	}
	return "zcap: ";
}

} // namespace

void set_log_handler(LogHandler h)
{
	Installed &i = installed();
	std::unique_lock lock(i.lock);
	i.handler.swap(h);
}

void log(LogLevel level, std::string_view message)
{
	Installed &i = installed();
	std::shared_lock lock(i.lock);
	if (i.handler) {
		i.handler(level, message);
		return;
	}
	std::string_view p = prefix(level);
	std::fprintf(stderr, "%.*s%.*s\n", int(p.size()), p.data(), int(message.size()),
		     message.data());
}

} // namespace zcap
