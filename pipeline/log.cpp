// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/log.h>

#include <cstdio>

namespace zcap {

namespace {

LogHandler &handler()
{
	static LogHandler instance;
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
	handler() = std::move(h);
}

void log(LogLevel level, std::string_view message)
{
	if (handler()) {
		handler()(level, message);
		return;
	}
	std::string_view p = prefix(level);
	std::fprintf(stderr, "%.*s%.*s\n", int(p.size()), p.data(), int(message.size()),
		     message.data());
}

} // namespace zcap
