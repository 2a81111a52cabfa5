// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/frame_pool.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace zcap {

std::unique_ptr<FramePool> FramePool::create(size_t buffer_size, unsigned count, Status &status)
{
	std::unique_ptr<FramePool> pool(new FramePool);
	pool->arena_ = BufferArena::create(buffer_size, count, status);
	if (!pool->arena_)
		return nullptr;

	pool->slots_.reserve(count);
	pool->free_.reserve(count);
	for (unsigned i = 0; i < count; ++i)
		pool->slots_.push_back(std::make_unique<FrameSlot>(*pool, i, pool->arena_->slice(i),
								   pool->arena_->alias(i)));
	for (auto it = pool->slots_.rbegin(); it != pool->slots_.rend(); ++it)
		pool->free_.push_back(it->get());
	return pool;
}

FramePool::~FramePool()
{
	if (free_.size() != slots_.size()) {
		// A frame still references our memory: unmapping now would turn a
		// lifetime bug into silent corruption.
		std::fprintf(stderr, "zcap: frame pool destroyed with %zu frames in use\n",
			     slots_.size() - free_.size());
		std::abort();
	}
}

FrameSlot *FramePool::acquire(std::chrono::steady_clock::time_point deadline)
{
	return acquire(deadline, {});
}

FrameSlot *FramePool::acquire(std::chrono::steady_clock::time_point deadline,
			      const std::function<bool(const FrameSlot &)> &prefer)
{
	std::unique_lock lock(lock_);
	if (!freed_.wait_until(lock, deadline, [this] { return !free_.empty(); }))
		return nullptr;
	// Most recently freed first: its pages are the warmest.
	auto it = free_.end() - 1;
	if (prefer) {
		auto match = std::find_if(free_.rbegin(), free_.rend(),
					  [&](const FrameSlot *slot) { return prefer(*slot); });
		if (match != free_.rend())
			it = std::prev(match.base());
	}
	FrameSlot *slot = *it;
	free_.erase(it);
	return slot;
}

void FramePool::recycle(FrameSlot &slot) noexcept
{
	{
		std::lock_guard lock(lock_);
		free_.push_back(&slot);
	}
	freed_.notify_one();
}

unsigned FramePool::free_count() const
{
	std::lock_guard lock(lock_);
	return unsigned(free_.size());
}

} // namespace zcap
