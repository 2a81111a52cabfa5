// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <filesystem>
#include <vector>

#include <zcap/multi_source_pipeline.h>

#include "multi_record.h"
#include "record_options.h"

namespace zcap::cli {

/// What a finished run of several cameras reports.
struct MultiRunReport {
	const std::vector<Camera> &cameras;
	const MultiSourcePipeline &pipeline;
	bool per_camera_files;
	double seconds;
	double cpu;
	Status status;
};

/// --stats-json of a run of several cameras: a record per camera.
void write_multi_stats_json(const std::filesystem::path &path, const MultiRunReport &r);
/// The summary: a line per camera.
void print_multi_summary(const RecordOptions &o, const MultiRunReport &r);

/// The progress line of several cameras: each one's frames, and the drops
/// and copies of all.
class MultiProgress {
public:
	MultiProgress(const std::vector<Camera> &cameras, bool enabled);

	/// The sink of the first camera that opened (there is one).
	const Sink *first_recording() const;
	void update();
	void clear();

private:
	const std::vector<Camera> &cameras_;
	bool enabled_;
	bool shown_ = false;
};

} // namespace zcap::cli
