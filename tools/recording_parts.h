// SPDX-License-Identifier: LGPL-2.1-or-later
// The pieces of zcap record (record_command.cpp) that a run of several
// sources (multi_record.cpp) uses for each camera.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include <zcap/disk_sink.h>
#include <zcap/pipeline.h>
#include <zcap/segmented_sink.h>
#include <zcap/source.h>

#include "record_options.h"
#include "record_report.h"

namespace zcap::cli {

/// Opens the source @p o names (auto: the first camera, else the pattern),
/// with a buffer for every frame @p sinks may pin; @p why says why that one.
/// Throws with one line when it cannot.
std::unique_ptr<Source> open_recording_source(const RecordOptions &o,
					      std::span<const PlannedSink> sinks, std::string &why);
/// How frames wait for the recording.
SinkOptions recording_queue(const RecordOptions &o);
/// The disk sink's options for the file @p path.
DiskSinkOptions recording_disk(const RecordOptions &o, const std::filesystem::path &path);
/// The file @p path, or with --segment the files its pattern names;
/// @p segments gets the latter.
std::unique_ptr<Sink> make_recording(const RecordOptions &o, const std::filesystem::path &path,
				     const SegmentedSink *&segments, DeletedSegments &deleted);

} // namespace zcap::cli
