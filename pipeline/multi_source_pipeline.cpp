// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/multi_source_pipeline.h>

#include <thread>

#include <fmt/format.h>

namespace zcap {

MultiSourcePipeline::~MultiSourcePipeline() = default;

size_t MultiSourcePipeline::add_source(Source &source)
{
	auto entry = std::make_unique<Entry>();
	entry->source = &source;
	entry->pipeline = std::make_unique<Pipeline>(source);
	entries_.push_back(std::move(entry));
	return entries_.size() - 1;
}

void MultiSourcePipeline::add_sink(size_t source, std::unique_ptr<Sink> sink, SinkOptions options)
{
	entries_.at(source)->pipeline->add_sink(std::move(sink), options);
}

size_t MultiSourcePipeline::failed() const
{
	size_t count = 0;
	for (const SourceResult &result : results_)
		count += !result.status.ok();
	return count;
}

AlignmentStats MultiSourcePipeline::alignment(size_t source) const
{
	return alignment_ ? alignment_->stats(source) : AlignmentStats{};
}

Status MultiSourcePipeline::run(const RunLimits &limits, const std::atomic<bool> &stop,
				const std::function<void()> &progress,
				std::chrono::milliseconds interval)
{
	results_.clear();
	clock_ = std::make_unique<RunClock>(entries_.size());
	alignment_ = std::make_unique<FrameAlignment>(entries_.size());

	std::vector<std::thread> threads;
	for (size_t i = 0; i < entries_.size(); ++i) {
		Entry &entry = *entries_[i];
		entry.first_ns = 0;
		entry.started = false;
		entry.done = false;
		entry.pipeline->join_run(*clock_, [this, i, &entry](uint64_t timestamp_ns) {
			if (!entry.started.exchange(true, std::memory_order_relaxed))
				entry.first_ns.store(timestamp_ns, std::memory_order_relaxed);
			alignment_->add(i, timestamp_ns);
		});
		threads.emplace_back([this, i, &entry, &limits, &stop] {
			entry.status = entry.pipeline->run(limits, stop);
			if (i == 0)
				alignment_->reference_ended();
			entry.done.store(true, std::memory_order_release);
		});
	}

	auto all_done = [this] {
		for (const auto &entry : entries_)
			if (!entry->done.load(std::memory_order_acquire))
				return false;
		return true;
	};
	while (!all_done()) {
		std::this_thread::sleep_for(interval);
		if (progress)
			progress();
	}
	for (std::thread &thread : threads)
		thread.join();

	std::optional<size_t> first_failure;
	for (size_t i = 0; i < entries_.size(); ++i) {
		Entry &entry = *entries_[i];
		SourceResult result;
		result.description = entry.source->description();
		result.status = entry.status;
		result.sinks = entry.pipeline->results();
		result.frames_in = entry.pipeline->frames_in();
		result.frames_before_zero = entry.pipeline->frames_before_zero();
		if (entry.started)
			result.start_offset_ns = clock_->since_zero(entry.first_ns);
		if (!result.status && !first_failure)
			first_failure = i;
		results_.push_back(std::move(result));
	}
	if (!first_failure)
		return {};
	const SourceResult &first = results_[*first_failure];
	return first.status.prefixed(fmt::format("{} of {} sources failed; source {} ({})",
						 failed(), entries_.size(), *first_failure + 1,
						 first.description));
}

} // namespace zcap
