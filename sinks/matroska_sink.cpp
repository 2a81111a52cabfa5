// SPDX-License-Identifier: LGPL-2.1-or-later
#include "matroska_sink.h"

#include "matroska_file.h"

namespace zcap {

namespace {

/// A Matroska file of one track: the frames of one source (matroska_file.h
/// says how they are laid out).
class MatroskaSink final : public Sink {
public:
	explicit MatroskaSink(const DiskSinkOptions &options) : options_(options), file_(options) {}

	std::string description() const override
	{
		return "Matroska file " + options_.path.string();
	}

	Status start(const StreamInfo &info) override
	{
		matroska::TrackSpec track{info.format, info.frame_rate};
		Status status = file_.open(std::span(&track, 1), info, stats_);
		page_offset_ = file_.page_offset();
		return status;
	}
	Status write(const Frame &frame) override { return file_.write(0, frame, stats_); }
	bool busy() const override { return file_.busy(); }
	unsigned max_held_frames() const override
	{
		return disk_sink_held_frames(options_.queue_depth);
	}
	Status service(std::chrono::milliseconds timeout) override
	{
		return file_.service(timeout);
	}
	Status finish() override { return file_.finish(); }
	std::optional<uint32_t> page_offset([[maybe_unused]] uint64_t index) const override
	{
		return page_offset_;
	}

private:
	DiskSinkOptions options_;
	MatroskaFile file_;
	/// What page_offset() answers, on the source's thread: set by start()
	/// only, as finish() on the sink's thread closes the file.
	std::optional<uint32_t> page_offset_;
};

} // namespace

std::unique_ptr<Sink> make_matroska_sink(const DiskSinkOptions &options)
{
	return std::make_unique<MatroskaSink>(options);
}

} // namespace zcap
