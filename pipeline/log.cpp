// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/log.h>

#include <cstdio>
#include <memory>
#include <mutex>

namespace zcap {

namespace {

/// The handler, replaced under a lock while other threads may log: each
/// message runs the handler it found, which lives until that call returns.
struct Installed {
	std::mutex lock;
	std::shared_ptr<const LogHandler> handler;
};

Installed &installed()
{
	static Installed instance;
	return instance;
}

std::shared_ptr<const LogHandler> handler()
{
	Installed &i = installed();
	std::lock_guard lock(i.lock);
	return i.handler;
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
	auto replacement = h ? std::make_shared<const LogHandler>(std::move(h)) : nullptr;
	Installed &i = installed();
	std::lock_guard lock(i.lock);
	i.handler.swap(replacement);
}

void log(LogLevel level, std::string_view message)
{
	if (auto h = handler()) {
		(*h)(level, message);
		return;
	}
	std::string_view p = prefix(level);
	std::fprintf(stderr, "%.*s%.*s\n", int(p.size()), p.data(), int(message.size()),
		     message.data());
}

} // namespace zcap
