// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <zcap/pipeline.h>
#include <zcap/reconnecting_source.h>
#include <zcap/segmented_sink.h>
#include <zcap/sink.h>
#include <zcap/source.h>
#include <zcap/status.h>
#include <zcap/stream_server.h>

#include "record_options.h"

namespace zcap::cli {

/// The sinks of a run, by what they are; unset when the run has none.
struct RecordSinks {
	const Sink *recording = nullptr;	 ///< the file (or segments) written
	const SegmentedSink *segments = nullptr; ///< the recording, with --segment
	const StreamServer *server = nullptr;	 ///< with --serve, --listen or --connect

	/// The sink whose frames the progress line and summary count: the
	/// recording, else the server.
	const Sink &counted() const { return recording ? *recording : *server; }
};

/// What a finished run reports.
struct RunReport {
	const Source &source;
	const Pipeline &pipeline;
	RecordSinks sinks;
	std::string source_note;
	double seconds;
	double cpu;
	Status status;
};

/// A camera's comebacks with --reconnect; null for any other source.
const ReconnectStats *reconnect_stats(const Source &source);
/// "came back 2 times: 3.1 s away, about 77 frames missed"; empty if never.
std::string reconnect_summary(const ReconnectStats &stats);

/// @p s as a JSON string, quoted and escaped.
std::string json_string(std::string_view s);

/// "4 segment files: a-0001.mkv ... a-0004.mkv", and which are left after
/// --max-files deleted some.
std::string segment_summary(const SegmentedSink &segments);

/// CPU time this process has used, user and system.
double cpu_seconds();

/// Writes @p text to the file @p path (mode 0644); throws when it cannot.
void write_report_file(const std::filesystem::path &path, std::string_view text);

/// --stats-json: the run's numbers for programs.
void write_stats_json(const std::filesystem::path &path, const RunReport &r);

/// The summary printed at the end of a run.
void print_summary(const RecordOptions &o, const RunReport &r);

/// The progress line, rewritten in place at most four times a second.
class Progress {
public:
	Progress(const Sink &sink, bool enabled) : sink_(sink), enabled_(enabled) {}

	void update();
	void clear();

private:
	using Clock = std::chrono::steady_clock;

	const Sink &sink_;
	bool enabled_;
	bool shown_ = false;
	Clock::time_point last_ = Clock::now();
	uint64_t frames_ = 0;
	uint64_t bytes_ = 0;
};

/// Segment files deleted for --max-files: noted on the sink's threads, told
/// from the main thread so that the lines do not cut into the progress line.
class DeletedSegments {
public:
	void add(const std::filesystem::path &path);
	void print(Progress &progress);
	/// Whether some are waiting to be told.
	bool pending();

private:
	std::mutex lock_;
	std::vector<std::filesystem::path> paths_;
};

} // namespace zcap::cli
