// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/segmented_sink.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include <zcap/log.h>

namespace zcap {

namespace fs = std::filesystem;

namespace {

/// The digits of the largest segment number: a wider %N pads nothing more.
constexpr unsigned kMaxSequenceWidth = 20;

/// What inserted into a pattern that names every segment alike.
constexpr std::string_view kSequenceSuffix = "-%04N";

bool no_space(const Status &status)
{
	return status.code() == std::errc::no_space_on_device;
}

/// A name pattern with its %N conversions replaced.
struct ExpandedSequence {
	std::string text;      ///< the rest, strftime conversions and %% kept
	bool sequence = false; ///< it had a %N
	bool time = false;     ///< it has a strftime conversion
	bool valid = true;     ///< false: a lone '%' at the end, or %N too wide
};

/// Replaces every %N and %<width>N in @p pattern by @p sequence, padded with
/// zeros to width digits.
ExpandedSequence expand_sequence(std::string_view pattern, uint64_t sequence)
{
	ExpandedSequence out;
	for (size_t i = 0; i < pattern.size(); ++i) {
		if (pattern[i] != '%') {
			out.text += pattern[i];
			continue;
		}
		if (i + 1 == pattern.size()) {
			out.valid = false;
			break;
		}
		if (pattern[i + 1] == '%') {
			out.text += "%%";
			++i;
			continue;
		}
		size_t end = i + 1;
		unsigned width = 0;
		while (end < pattern.size() && pattern[end] >= '0' && pattern[end] <= '9')
			width = std::min(width * 10 + unsigned(pattern[end++] - '0'),
					 kMaxSequenceWidth + 1);
		if (end < pattern.size() && pattern[end] == 'N') {
			if (width > kMaxSequenceWidth) {
				out.valid = false;
				break;
			}
			out.text += fmt::format("{:0{}}", sequence, width);
			out.sequence = true;
			i = end;
			continue;
		}
		// A strftime conversion: its characters follow as they are.
		out.time = true;
		out.text += '%';
	}
	return out;
}

/// @p pattern, with "-%04N" before the extension when it would name every
/// segment alike.
fs::path numbered_pattern(const fs::path &pattern)
{
	ExpandedSequence parts = expand_sequence(pattern.string(), 1);
	if (parts.sequence || parts.time || !parts.valid)
		return pattern;
	fs::path numbered = pattern;
	numbered.replace_filename(pattern.stem().string() + std::string(kSequenceSuffix) +
				  pattern.extension().string());
	return numbered;
}

class SegmentedSinkImpl final : public SegmentedSink {
public:
	explicit SegmentedSinkImpl(const SegmentedSinkOptions &options)
	    : options_(options), pattern_(numbered_pattern(options.pattern))
	{
	}
	~SegmentedSinkImpl() override
	{
		if (finisher_.joinable())
			finisher_.join();
	}

	std::string description() const override { return "segments " + pattern_.string(); }

	Status start(const StreamInfo &info) override;
	Status write(const Frame &frame) override;
	bool busy() const override { return current_ && current_->busy(); }
	Status service(std::chrono::milliseconds timeout) override;
	Status finish() override;
	std::optional<uint32_t> page_offset(uint64_t index) const override;
	/// The current segment's writes in flight, and the previous one's
	/// while it is finished on its own thread.
	unsigned max_held_frames() const override
	{
		return 2 * disk_sink_held_frames(options_.disk.queue_depth);
	}

	uint64_t segments() const override
	{
		std::lock_guard lock(lock_);
		return segments_;
	}
	std::vector<fs::path> files() const override
	{
		std::lock_guard lock(lock_);
		return {files_.begin(), files_.end()};
	}

private:
	/// Whether @p frame would take the current segment past a limit.
	bool crosses_limit(const Frame &frame) const;
	/// Starts the next segment and has the current one finished.
	Status roll();
	/// The current segment failed with @p cause. With max_files and a full
	/// disk: ends it (its whole frames kept, the file valid), deletes this
	/// run's oldest file and starts the next segment. Else @p cause.
	Status continue_after_full(const Status &cause);
	/// Opens the next segment, deleting this run's oldest files while the
	/// disk is full (with max_files), and finishes the one before, if any,
	/// on the finisher thread.
	Status open_next();
	/// Finishes @p segment, given @p frames, on the finisher thread, then
	/// deletes the files beyond max_files.
	void finish_in_background(std::unique_ptr<Sink> segment, uint64_t frames);
	/// Waits for the segment being finished, if any; its result. Frames it
	/// was given and did not write count as dropped.
	Status join_finisher();
	/// Whether the ring goes on after @p status from finishing a segment:
	/// ENOSPC with max_files (the file is valid with its whole frames).
	bool tolerable(const Status &status) const
	{
		return options_.max_files && no_space(status);
	}
	/// Starts the next segment, whose first frame is the frames_in_-th, and
	/// makes it the current one; @p previous gets the one it replaces. On
	/// failure, the current one stays.
	Status open_segment(std::unique_ptr<Sink> &previous);
	/// Finishes the current segment, which holds no frame, and deletes its
	/// file; the next one takes its number.
	void discard_current();
	/// Deletes this sink's oldest files beyond max_files. Called on the
	/// finisher thread.
	void delete_old_files();
	/// Deletes this sink's oldest file to make room, never the newest:
	/// false when that is the only one left.
	bool delete_oldest();
	void delete_file(const fs::path &path);
	/// stats_ := the finished segments' totals plus the current one's and
	/// the one being finished.
	void update_stats();

	const SegmentedSinkOptions options_;
	const fs::path pattern_;
	StreamInfo info_;
	/// The frames a segment holds when frames come at the frame rate with
	/// the format's size, for placement advice ahead of a switch; 0: no
	/// limit.
	uint64_t expected_frames_ = 0;

	uint64_t frames_in_ = 0; ///< frames given to write(), over all segments
	uint64_t segment_frames_ = 0;
	uint64_t segment_bytes_ = 0;
	uint64_t segment_first_ns_ = 0;
	/// What the finished segments wrote.
	uint64_t done_frames_ = 0;
	uint64_t done_bytes_ = 0;
	uint64_t done_copied_ = 0;
	/// Every name a segment got, so that none is used twice.
	std::set<fs::path> names_;

	/// The previous segment, finished on its own thread while frames go to
	/// the next one: its fdatasync() alone took 75 ms here, as long as a
	/// 4-frame queue lasts at 60 fps.
	std::unique_ptr<Sink> finishing_;
	uint64_t finishing_frames_ = 0; ///< the frames finishing_ was given
	std::thread finisher_;
	Status finish_status_;			 ///< written by finisher_ before done
	std::atomic<bool> finisher_done_{false}; ///< finisher_ can be joined at once
	std::atomic<uint64_t> deleted_{0};	 ///< files deleted so far
	bool warned_full_ = false;

	/// Guards what other threads read: page_offset() and the accessors.
	mutable std::mutex lock_;
	std::unique_ptr<Sink> current_; ///< written only by the sink's thread, under lock_
	uint64_t first_index_ = 0;	///< frames_in_ at the current segment's first frame
	uint64_t segments_ = 0;
	std::deque<fs::path> files_; ///< this sink's files still on disk, oldest first
};

Status SegmentedSinkImpl::start(const StreamInfo &info)
{
	info_ = info;
	const auto limit_ns = uint64_t(options_.max_duration.count());
	if (limit_ns && !info.frame_rate.unlimited()) {
		// Frame i is i * den / num seconds after the first.
		long double frames = static_cast<long double>(limit_ns) * info.frame_rate.num /
				     (1e9L * info.frame_rate.den);
		expected_frames_ = std::max<uint64_t>(1, uint64_t(std::ceil(frames)));
	}
	if (options_.max_bytes && info.format.size_image) {
		uint64_t frames =
			std::max<uint64_t>(1, options_.max_bytes / info.format.size_image);
		expected_frames_ = expected_frames_ ? std::min(expected_frames_, frames) : frames;
	}
	std::unique_ptr<Sink> none;
	return open_segment(none);
}

bool SegmentedSinkImpl::crosses_limit(const Frame &frame) const
{
	const auto limit_ns = uint64_t(options_.max_duration.count());
	const uint64_t ns = frame.timestamp_ns();
	if (limit_ns && ns >= segment_first_ns_ && ns - segment_first_ns_ >= limit_ns)
		return true;
	return options_.max_bytes && segment_bytes_ + frame.data().size() > options_.max_bytes;
}

Status SegmentedSinkImpl::write(const Frame &frame)
{
	if (finisher_done_.load(std::memory_order_acquire))
		if (Status status = join_finisher(); !status)
			return status;
	if (segment_frames_ && crosses_limit(frame))
		if (Status status = roll(); !status)
			return status;
	if (!segment_frames_)
		segment_first_ns_ = frame.timestamp_ns();
	Status status = current_->write(frame);
	// A full disk with max_files: the frame starts the next segment. Each
	// turn deletes a file, or gives up.
	while (!status) {
		if (status = continue_after_full(status); !status)
			break;
		segment_first_ns_ = frame.timestamp_ns();
		status = current_->write(frame);
	}
	++frames_in_;
	++segment_frames_;
	segment_bytes_ += frame.data().size();
	update_stats();
	return status;
}

Status SegmentedSinkImpl::roll()
{
	// One segment finishes at a time.
	if (Status status = join_finisher(); !status)
		return status;
	return open_next();
}

Status SegmentedSinkImpl::open_next()
{
	// The next file starts before the current one finishes, so that
	// page_offset() always has a segment to answer for.
	const uint64_t frames = segment_frames_;
	std::unique_ptr<Sink> previous;
	Status status = open_segment(previous);
	// A full disk: with max_files, this run's oldest files make room.
	while (!status && tolerable(status) && delete_oldest())
		status = open_segment(previous);
	if (!status)
		return status;
	if (previous)
		finish_in_background(std::move(previous), frames);
	return {};
}

Status SegmentedSinkImpl::continue_after_full(const Status &cause)
{
	if (!tolerable(cause) || !current_)
		return cause;
	// The segment before may be done, and its deletions made room.
	const uint64_t deleted = deleted_.load(std::memory_order_relaxed);
	if (Status status = join_finisher(); !status)
		return status;
	const bool room = deleted_.load(std::memory_order_relaxed) > deleted;
	if (!segment_frames_)
		discard_current();
	if (!room && !delete_oldest())
		return cause; // only the newest segment is left: the disk is full
	if (!warned_full_) {
		warned_full_ = true;
		log(LogLevel::warning,
		    fmt::format(
			    "{}; going on in the next segment after deleting this "
			    "recording's oldest (--max-files), and so whenever the disk is full",
			    cause.message()));
	}
	return open_next();
}

void SegmentedSinkImpl::finish_in_background(std::unique_ptr<Sink> segment, uint64_t frames)
{
	finishing_ = std::move(segment);
	finishing_frames_ = frames;
	finisher_ = std::thread([this] {
		finish_status_ = finishing_->finish();
		if (finish_status_ || tolerable(finish_status_))
			delete_old_files();
		finisher_done_.store(true, std::memory_order_release);
	});
}

Status SegmentedSinkImpl::join_finisher()
{
	if (!finisher_.joinable())
		return {};
	finisher_.join();
	finisher_done_.store(false, std::memory_order_relaxed);
	const SinkStats &s = finishing_->stats();
	const uint64_t frames = s.frames.load(std::memory_order_relaxed);
	done_frames_ += frames;
	done_bytes_ += s.bytes.load(std::memory_order_relaxed);
	done_copied_ += s.copied_bytes.load(std::memory_order_relaxed);
	// Frames the segment did not write whole before an error (in flight).
	if (finishing_frames_ > frames)
		stats_.dropped.fetch_add(finishing_frames_ - frames, std::memory_order_relaxed);
	finishing_.reset();
	update_stats();
	return tolerable(finish_status_) ? Status() : finish_status_;
}

Status SegmentedSinkImpl::open_segment(std::unique_ptr<Sink> &previous)
{
	const uint64_t sequence = segments_ + 1;
	fs::path path;
	if (Status status = segment_path(pattern_, sequence, std::time(nullptr), path); !status)
		return status;
	if (!names_.insert(path).second)
		return Status::invalid(fmt::format(
			"segment {} would be named {} like an earlier one: the name pattern {} "
			"must change from one segment to the next (add %N)",
			sequence, path.string(), pattern_.string()));

	DiskSinkOptions disk = options_.disk;
	disk.path = path;
	std::unique_ptr<Sink> next = make_disk_sink(disk);
	// Started before the producer can see it: page_offset() reads what
	// start() sets.
	if (Status status = next->start(info_); !status) {
		if (no_space(status)) {
			// Made, then the disk was full: another try takes the name.
			next.reset();
			std::error_code ec;
			fs::remove(path, ec);
			names_.erase(path);
		}
		return status;
	}
	segment_frames_ = 0;
	segment_bytes_ = 0;
	{
		std::lock_guard lock(lock_);
		previous = std::exchange(current_, std::move(next));
		first_index_ = frames_in_;
		segments_ = sequence;
		files_.push_back(path);
	}
	update_stats();
	return {};
}

void SegmentedSinkImpl::discard_current()
{
	std::unique_ptr<Sink> empty;
	fs::path path;
	{
		std::lock_guard lock(lock_);
		empty = std::move(current_);
		path = files_.back();
		files_.pop_back();
		--segments_;
	}
	empty->finish();
	empty.reset();
	std::error_code ec;
	fs::remove(path, ec);
	names_.erase(path);
	update_stats();
}

void SegmentedSinkImpl::delete_old_files()
{
	if (!options_.max_files)
		return;
	for (;;) {
		fs::path oldest;
		{
			std::lock_guard lock(lock_);
			if (files_.size() <= options_.max_files)
				return;
			oldest = files_.front();
			files_.pop_front();
		}
		delete_file(oldest);
	}
}

bool SegmentedSinkImpl::delete_oldest()
{
	fs::path oldest;
	{
		std::lock_guard lock(lock_);
		if (files_.size() < 2)
			return false;
		oldest = files_.front();
		files_.pop_front();
	}
	delete_file(oldest);
	return true;
}

void SegmentedSinkImpl::delete_file(const fs::path &path)
{
	std::error_code ec;
	bool removed = fs::remove(path, ec);
	deleted_.fetch_add(1, std::memory_order_relaxed);
	if (ec)
		log(LogLevel::warning, fmt::format("cannot delete the old segment {}: {}",
						   path.string(), ec.message()));
	else if (removed && options_.on_delete)
		options_.on_delete(path);
}

Status SegmentedSinkImpl::service(std::chrono::milliseconds timeout)
{
	if (finisher_done_.load(std::memory_order_acquire))
		if (Status status = join_finisher(); !status)
			return status;
	if (!current_)
		return {};
	Status status = current_->service(timeout);
	if (!status)
		status = continue_after_full(status);
	update_stats();
	return status;
}

Status SegmentedSinkImpl::finish()
{
	Status status = join_finisher();
	if (current_) {
		Status last = current_->finish();
		// With max_files, a last segment whose index did not fit on the
		// full disk still holds every frame it was given, playable.
		if (tolerable(last) && current_->stats().frames.load() == segment_frames_) {
			log(LogLevel::warning,
			    fmt::format("{}: the last segment keeps its {} frames", last.message(),
					segment_frames_));
			last = {};
		}
		if (status)
			status = last;
	}
	update_stats();
	return status;
}

std::optional<uint32_t> SegmentedSinkImpl::page_offset(uint64_t index) const
{
	std::lock_guard lock(lock_);
	if (!current_ || index < first_index_)
		return std::nullopt;
	// Frames past the current segment's expected end go to later
	// segments, which all start alike.
	uint64_t in_segment = index - first_index_;
	if (expected_frames_)
		in_segment %= expected_frames_;
	return current_->page_offset(in_segment);
}

void SegmentedSinkImpl::update_stats()
{
	uint64_t frames = done_frames_, bytes = done_bytes_, copied = done_copied_;
	for (const Sink *sink : {finishing_.get(), current_.get()}) {
		if (!sink)
			continue;
		const SinkStats &s = sink->stats();
		frames += s.frames.load(std::memory_order_relaxed);
		bytes += s.bytes.load(std::memory_order_relaxed);
		copied += s.copied_bytes.load(std::memory_order_relaxed);
		stats_.io_path.store(s.io_path.load(std::memory_order_relaxed),
				     std::memory_order_relaxed);
	}
	stats_.frames.store(frames, std::memory_order_relaxed);
	stats_.bytes.store(bytes, std::memory_order_relaxed);
	stats_.copied_bytes.store(copied, std::memory_order_relaxed);
}

} // namespace

std::unique_ptr<SegmentedSink> make_segmented_sink(const SegmentedSinkOptions &options)
{
	return std::make_unique<SegmentedSinkImpl>(options);
}

Status segment_path(const fs::path &pattern, uint64_t sequence, std::time_t when, fs::path &path)
{
	ExpandedSequence parts = expand_sequence(numbered_pattern(pattern).string(), sequence);
	if (!parts.valid || parts.text.empty())
		return Status::invalid(fmt::format(
			"invalid segment name pattern '{}': expected strftime conversions (%Y, "
			"%H, ...), %N or %04N for the segment number, %% for '%'",
			pattern.string()));
	std::tm local;
	localtime_r(&when, &local);
	std::string name(PATH_MAX, '\0');
	size_t length = std::strftime(name.data(), name.size(), parts.text.c_str(), &local);
	if (!length)
		return Status::invalid(fmt::format("segment name pattern '{}' expands to nothing "
						   "or to more than {} bytes",
						   pattern.string(), PATH_MAX));
	name.resize(length);
	path = name;
	return {};
}

} // namespace zcap
