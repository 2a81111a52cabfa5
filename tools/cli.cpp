// SPDX-License-Identifier: LGPL-2.1-or-later
#include "cli.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace zcap::cli {

namespace {

std::optional<uint64_t> to_uint(std::string_view text)
{
	uint64_t value = 0;
	auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
	if (ec != std::errc() || end != text.data() + text.size() || text.empty())
		return std::nullopt;
	return value;
}

std::optional<double> to_double(std::string_view text)
{
	double value = 0;
	auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
	if (ec != std::errc() || end != text.data() + text.size() || text.empty() ||
	    !std::isfinite(value))
		return std::nullopt;
	return value;
}

} // namespace

std::pair<uint32_t, uint32_t> parse_size(std::string_view text)
{
	size_t x = text.find('x');
	auto w = to_uint(text.substr(0, x));
	auto h = x == std::string_view::npos ? std::nullopt : to_uint(text.substr(x + 1));
	if (!w || !h || *w == 0 || *h == 0 || *w > 16384 || *h > 16384)
		throw UsageError(fmt::format(
			"invalid size '{}': expected WIDTHxHEIGHT, e.g. 1920x1080", text));
	return {uint32_t(*w), uint32_t(*h)};
}

FrameRate parse_rate(std::string_view text)
{
	if (text == "max")
		return {};
	if (size_t slash = text.find('/'); slash != std::string_view::npos) {
		auto num = to_uint(text.substr(0, slash));
		auto den = to_uint(text.substr(slash + 1));
		if (num && den && *num > 0 && *den > 0 && *num <= 1000000 && *den <= 1000000 &&
		    double(*num) / double(*den) <= 1000)
			return {uint32_t(*num), uint32_t(*den)};
	} else if (auto fps = to_double(text); fps && *fps > 0 && *fps <= 1000) {
		// Keep three decimals: 29.97 -> 29970/1000.
		return {uint32_t(std::lround(*fps * 1000)), 1000};
	}
	throw UsageError(fmt::format("invalid frame rate '{}': expected a number of frames per "
				     "second up to 1000, N/M, or 'max'",
				     text));
}

std::chrono::nanoseconds parse_duration(std::string_view text)
{
	struct Unit {
		std::string_view suffix;
		double seconds;
	};
	static constexpr Unit units[] = {{"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
	double scale = 1;
	std::string_view number = text;
	for (const Unit &u : units) {
		if (text.size() > u.suffix.size() && text.ends_with(u.suffix) &&
		    to_double(text.substr(0, text.size() - u.suffix.size()))) {
			number = text.substr(0, text.size() - u.suffix.size());
			scale = u.seconds;
			break;
		}
	}
	auto value = to_double(number);
	if (!value || *value <= 0 || *value * scale > 366.0 * 86400)
		throw UsageError(fmt::format(
			"invalid duration '{}': expected e.g. 10s, 500ms, 2m, 1h", text));
	return std::chrono::nanoseconds(int64_t(*value * scale * 1e9));
}

uint64_t parse_count(std::string_view text, std::string_view what, uint64_t max)
{
	auto value = to_uint(text);
	if (!value || *value == 0 || *value > max)
		throw UsageError(fmt::format(
			"invalid {} '{}': expected a whole number from 1 to {}", what, text, max));
	return *value;
}

std::string human_bytes(uint64_t bytes)
{
	static constexpr const char *units[] = {"B", "KB", "MB", "GB", "TB"};
	double value = double(bytes);
	size_t unit = 0;
	while (value >= 1000 && unit + 1 < std::size(units)) {
		value /= 1000;
		++unit;
	}
	return unit == 0 ? fmt::format("{} B", bytes)
			 : fmt::format("{:.1f} {}", value, units[unit]);
}

} // namespace zcap::cli
