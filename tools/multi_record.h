// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include <zcap/multi_source_pipeline.h>
#include <zcap/segmented_sink.h>
#include <zcap/source.h>

#include "record_options.h"

namespace zcap::cli {

/// One camera of a run of several.
struct Camera {
	std::string spec;		 ///< what -d/--source named
	RecordOptions options;		 ///< the run's, with the camera's own
	std::unique_ptr<Source> source;	 ///< null when it could not be opened
	std::string open_error;		 ///< why not
	std::string note;		 ///< why this source (auto)
	size_t slot = 0;		 ///< in the pipeline, when opened
	std::filesystem::path path;	 ///< its file (or pattern); the shared one
	const Sink *recording = nullptr; ///< its file's or track's sink
	/// Its own file (kCameraToken), made before its source is opened (the
	/// source's buffers follow what the sink may hold), until added.
	std::unique_ptr<Sink> file;
	const SegmentedSink *segments = nullptr;
};

/// zcap record with several -d/--source: one multi-track Matroska file, or a
/// file per camera when the name holds kCameraToken. Returns the exit status.
int record_several(const RecordOptions &o);

} // namespace zcap::cli
