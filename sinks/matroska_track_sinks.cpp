// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/multi_track_sink.h>

#include <mutex>

#include <fmt/format.h>

#include "matroska_file.h"

namespace zcap {

namespace {

/// How long a finishing track waits for a completion at a time while its
/// frames are still being written.
constexpr auto kFinishWait = std::chrono::milliseconds(10);

/// The file all track sinks write, and the lock they take around it.
class SharedFile {
public:
	SharedFile(const DiskSinkOptions &options, const std::vector<StreamInfo> &tracks)
	    : file_(options), remaining_(tracks.size())
	{
		for (const StreamInfo &track : tracks) {
			specs_.push_back({track.format, track.frame_rate});
			memory_.regions.insert(memory_.regions.end(), track.regions.begin(),
					       track.regions.end());
		}
	}

	std::mutex lock;

	/// Opens the file on the first call; every later one gets the same result.
	Status open(const StreamInfo &info)
	{
		if (!opened_) {
			opened_ = true;
			memory_.clock = info.clock;
			open_status_ = file_.open(specs_, memory_, file_stats_);
		}
		return open_status_;
	}
	MatroskaFile &file() { return file_; }
	IoPath io_path() const { return file_stats_.io_path.load(); }
	/// Counts the bytes the shared writer copied since the last call as
	/// @p stats' (the track whose call made the copy).
	void credit_copies(SinkStats &stats)
	{
		uint64_t copied = file_stats_.copied_bytes.load(std::memory_order_relaxed);
		stats.copied_bytes.fetch_add(copied - credited_, std::memory_order_relaxed);
		credited_ = copied;
	}
	/// The track is done: the last one completes the file.
	Status track_finished()
	{
		if (--remaining_ > 0)
			return {};
		return file_.finish();
	}
	const matroska::TrackSpec &spec(size_t track) const { return specs_.at(track); }

private:
	MatroskaFile file_;
	std::vector<matroska::TrackSpec> specs_;
	StreamInfo memory_; ///< every track's frame memory, and the run's clock
	SinkStats file_stats_;
	uint64_t credited_ = 0;
	bool opened_ = false;
	Status open_status_;
	size_t remaining_;
};

/// One source's track of a shared file.
class MatroskaTrackSink final : public Sink {
public:
	MatroskaTrackSink(std::shared_ptr<SharedFile> shared, size_t track, std::string path,
			  unsigned queue_depth)
	    : shared_(std::move(shared)), track_(track), path_(std::move(path)),
	      queue_depth_(queue_depth)
	{
	}

	std::string description() const override
	{
		return fmt::format("Matroska file {} track {}", path_, track_ + 1);
	}

	Status start(const StreamInfo &info) override
	{
		const matroska::TrackSpec &spec = shared_->spec(track_);
		if (info.format.fourcc != spec.format.fourcc ||
		    info.format.width != spec.format.width ||
		    info.format.height != spec.format.height)
			return Status::invalid(description() +
					       ": the source's format is not the track's");
		std::lock_guard guard(shared_->lock);
		Status status = shared_->open(info);
		stats_.io_path = shared_->io_path();
		page_offset_ = shared_->file().page_offset();
		return status;
	}
	Status write(const Frame &frame) override
	{
		std::lock_guard guard(shared_->lock);
		Status status = shared_->file().write(track_, frame, stats_);
		shared_->credit_copies(stats_);
		return status;
	}
	bool busy() const override
	{
		std::lock_guard guard(shared_->lock);
		return shared_->file().pending(track_) > 0;
	}
	/// Every write the shared file has in flight may be this track's.
	unsigned max_held_frames() const override { return disk_sink_held_frames(queue_depth_); }
	Status service(std::chrono::milliseconds timeout) override
	{
		std::lock_guard guard(shared_->lock);
		Status status = shared_->file().service(timeout);
		shared_->credit_copies(stats_);
		return status;
	}
	Status finish() override
	{
		std::lock_guard guard(shared_->lock);
		// This track's frames go to disk before its source may go away.
		Status status;
		while (status && shared_->file().pending(track_) > 0)
			status = shared_->file().service(kFinishWait);
		Status finished = shared_->track_finished();
		shared_->credit_copies(stats_);
		return status ? finished : status;
	}
	std::optional<uint32_t> page_offset([[maybe_unused]] uint64_t index) const override
	{
		return page_offset_;
	}

private:
	std::shared_ptr<SharedFile> shared_;
	size_t track_;
	std::string path_;
	unsigned queue_depth_;
	/// Set by start() only: the last track's finish() closes the file.
	std::optional<uint32_t> page_offset_;
};

} // namespace

std::vector<std::unique_ptr<Sink>> make_matroska_track_sinks(const DiskSinkOptions &options,
							     const std::vector<StreamInfo> &tracks)
{
	auto shared = std::make_shared<SharedFile>(options, tracks);
	std::vector<std::unique_ptr<Sink>> sinks;
	for (size_t i = 0; i < tracks.size(); ++i)
		sinks.push_back(std::make_unique<MatroskaTrackSink>(
			shared, i, options.path.string(), options.queue_depth));
	return sinks;
}

} // namespace zcap
