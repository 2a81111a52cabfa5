// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <zcap/disk_sink.h>
#include <zcap/format.h>
#include <zcap/pipeline.h>
#include <zcap/stream_server.h>
#include <zcap/v4l2_source.h>

#include "cli.h"

namespace zcap::cli {

/// A modest default a reader of any speed keeps up with; 1280x720 YUYV
/// frames are a whole number of 4 KiB blocks (no seam copies).
constexpr uint32_t kDefaultWidth = 1280;
constexpr uint32_t kDefaultHeight = 720;
constexpr FrameRate kDefaultRate{30, 1};
constexpr unsigned kDefaultQueueFrames = 4;
/// With --segment: the file left behind is flushed to the device (fdatasync,
/// about 75 ms measured here) while the next one fills, which holds up its
/// writes for 3 frames at 1080p60; 8 frames of room lose none.
constexpr unsigned kSegmentQueueFrames = 8;

/// One of several sources (`-d SOURCE[,size=WxH][,format=F][,fps=N][,io=M]`):
/// what it overrides of the run's --size/--format/--fps/--io.
struct SourceSpec {
	std::string source;
	std::optional<std::pair<uint32_t, uint32_t>> size;
	std::optional<uint32_t> fourcc;
	std::optional<FrameRate> rate;
	std::optional<IoMode> io;
};

/// The token of a file name pattern that becomes the camera's number.
constexpr std::string_view kCameraToken = "%C";

/// What zcap record and zcap stream were asked to do.
struct RecordOptions {
	std::filesystem::path output;
	std::optional<Container> container; // unset: by the file name
	std::string source = "auto";
	// Unset: the camera's current setting, or the pattern's default.
	std::optional<std::pair<uint32_t, uint32_t>> size;
	std::optional<uint32_t> fourcc;
	std::optional<FrameRate> rate;
	IoMode io = IoMode::automatic;
	RunLimits limits;
	unsigned queue_depth = kDefaultDiskQueueDepth;
	std::optional<unsigned> queue_frames; ///< unset: by kDefaultQueueFrames/kSegmentQueueFrames
	std::optional<OverflowPolicy> policy;
	DiskPath disk_path = DiskPath::automatic;
	std::filesystem::path stats_json;
	bool force = false;
	/// A camera that fails mid-run is waited for and recorded again.
	bool reconnect = false;
	bool quiet = false;
	bool help = false;
	std::optional<std::string> serve; ///< [ADDR:]PORT to serve HTTP on
	std::vector<std::string> connect; ///< receivers to push to
	NetPath net_path = NetPath::automatic;
	// Unset: StreamServerOptions' defaults.
	std::optional<unsigned> max_clients;
	std::optional<std::chrono::milliseconds> stall_timeout;
	std::optional<std::chrono::milliseconds> request_timeout;
	std::filesystem::path recordings; ///< zcap stream --recordings
	bool stream_only = false;	  ///< zcap stream: no file
	/// Zero: one file.
	SegmentLimit segment;
	unsigned max_files = 0;
	/// Two or more with several -d/--source; otherwise empty (source and
	/// the options above say it all).
	std::vector<SourceSpec> sources;
};

/// The options of the @p index-th of several sources: the run's, with what
/// its spec overrides.
RecordOptions camera_options(const RecordOptions &o, size_t index);
/// With several sources and a name with kCameraToken: camera @p index's name
/// (numbered from 1).
std::filesystem::path camera_path(const std::filesystem::path &pattern, size_t index);

/// Frames that may wait for the disk.
unsigned queue_frames(const RecordOptions &o);
/// Whether frames also go to the network.
bool serving(const RecordOptions &o);
/// Whether the recording goes to a series of files.
bool segmented(const RecordOptions &o);

/// Reads the command line over the defaults in @p o (stream_only set);
/// throws UsageError for anything wrong with it.
RecordOptions parse_options(int argc, char **argv, RecordOptions o);

/// The --help text of zcap record, or of zcap stream.
std::string_view usage_text(bool stream_only);

} // namespace zcap::cli
