// SPDX-License-Identifier: LGPL-2.1-or-later
// A source whose start() fails, like a device refusing VIDIOC_STREAMON
// (EIO, or ENOSPC when a USB hub has no bandwidth left).
#pragma once

#include <string>
#include <utility>

#include <gtest/gtest.h>

#include <zcap/source.h>

namespace zcap::test {

class UnstartableSource final : public Source {
public:
	UnstartableSource(std::string description, int error)
	    : description_(std::move(description)), error_(error)
	{
	}

	std::string description() const override { return description_; }
	FrameFormat format() const override { return *packed_format(pixfmt::GREY, 8, 8); }
	FrameRate frame_rate() const override { return {30, 1}; }
	std::vector<MemoryRegion> memory_regions() const override { return {}; }
	Status start() override { return Status::from_errno(error_, "STREAMON"); }
	std::optional<Frame> next_frame(const std::atomic<bool> &) override
	{
		ADD_FAILURE() << "no frame is asked of a source that did not start";
		return std::nullopt;
	}
	void stop() override {}
	Status last_error() const override { return {}; }
	const SourceStats &stats() const override { return stats_; }

private:
	std::string description_;
	int error_;
	SourceStats stats_;
};

} // namespace zcap::test
