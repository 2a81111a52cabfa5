// SPDX-License-Identifier: LGPL-2.1-or-later
#include "cli.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>

#include <fmt/format.h>

namespace zcap::cli {

namespace {

/// The largest byte size accepted: 1 EiB, beyond any disk.
constexpr uint64_t kMaxByteSize = 1ull << 60;

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

std::string lowercase(std::string_view text)
{
	std::string lower(text);
	for (char &c : lower)
		c = char(std::tolower(static_cast<unsigned char>(c)));
	return lower;
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
	const double ns = value ? *value * scale * 1e9 : 0;
	// Under a nanosecond would become 0, which means no limit at all.
	if (!(ns >= 1) || ns > 366.0 * 86400 * 1e9)
		throw UsageError(fmt::format(
			"invalid duration '{}': expected e.g. 10s, 500ms, 2m, 1h", text));
	return std::chrono::nanoseconds(int64_t(ns));
}

uint64_t parse_count(std::string_view text, std::string_view what, uint64_t max)
{
	auto value = to_uint(text);
	if (!value || *value == 0 || *value > max)
		throw UsageError(fmt::format(
			"invalid {} '{}': expected a whole number from 1 to {}", what, text, max));
	return *value;
}

uint64_t parse_byte_size(std::string_view text)
{
	struct Unit {
		std::string_view suffix; ///< lower case
		uint64_t bytes;
	};
	// Longer suffixes first: "kib" before "b".
	static constexpr Unit units[] = {
		{"bytes", 1},
		{"byte", 1},
		{"kib", 1ull << 10},
		{"mib", 1ull << 20},
		{"gib", 1ull << 30},
		{"tib", 1ull << 40},
		{"kb", 1000},
		{"mb", 1000000},
		{"gb", 1000000000},
		{"tb", 1000000000000},
		{"b", 1},
	};
	const std::string lower = lowercase(text);
	std::string_view number = lower;
	uint64_t scale = 1;
	for (const Unit &u : units) {
		if (number.ends_with(u.suffix)) {
			number.remove_suffix(u.suffix.size());
			scale = u.bytes;
			break;
		}
	}
	while (number.ends_with(' '))
		number.remove_suffix(1);
	// Whole numbers exactly; fractions ("1.5GB") to the nearest byte.
	std::optional<double> bytes;
	if (auto whole = to_uint(number); whole && *whole <= kMaxByteSize / scale)
		bytes = double(*whole * scale);
	else if (auto value = to_double(number))
		bytes = std::round(*value * double(scale));
	if (!bytes || *bytes < 1 || *bytes > double(kMaxByteSize))
		throw UsageError(fmt::format(
			"invalid byte size '{}': expected e.g. 500MB, 1.5GB, 1GiB, 4096 bytes",
			text));
	return uint64_t(*bytes);
}

SegmentLimit parse_segment_limit(std::string_view text)
{
	const std::string error = fmt::format(
		"invalid segment limit '{}': expected a duration (60s, 10m, 1h) or a size "
		"(500MB, 1GiB)",
		text);
	if (to_double(text))
		throw UsageError(error + ", with its unit");
	// Sizes end in b, byte or bytes (MB, GiB); durations never do.
	const std::string lower = lowercase(text);
	const bool size =
		lower.ends_with('b') || lower.ends_with("byte") || lower.ends_with("bytes");
	try {
		if (size)
			return {.bytes = parse_byte_size(text)};
		return {.duration = parse_duration(text)};
	} catch (const UsageError &) {
		throw UsageError(error);
	}
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
