// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/frame_pool.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

using namespace zcap;
using Clock = std::chrono::steady_clock;

namespace {

std::unique_ptr<FramePool> make_pool(size_t size, unsigned count)
{
	Status status;
	auto pool = FramePool::create(size, count, status);
	EXPECT_TRUE(pool) << status.message();
	return pool;
}

Frame take(FramePool &pool)
{
	FrameSlot *slot = pool.acquire(Clock::now());
	EXPECT_NE(slot, nullptr);
	slot->metadata().bytes_used = uint32_t(slot->memory().size());
	return Frame::adopt(*slot);
}

} // namespace

TEST(FramePool, SlotsArePageAlignedSlicesOfOneSealedMemfd)
{
	auto pool = make_pool(5000, 3);
	ASSERT_EQ(pool->count(), 3u);
	EXPECT_EQ(pool->buffer_size(), 8192u);

	int seals = fcntl(pool->memfd(), F_GET_SEALS);
	EXPECT_TRUE(seals & F_SEAL_SHRINK);

	for (unsigned i = 0; i < 3; ++i) {
		Frame frame = take(*pool);
		auto address = reinterpret_cast<uintptr_t>(frame.data().data());
		EXPECT_EQ(address % 4096, 0u);
		EXPECT_EQ(frame.memfd().fd, pool->memfd());
		EXPECT_EQ(frame.memfd().offset,
			  uint64_t(frame.data().data() - pool->region().base));

		// The mapping and the file alias are the same pages.
		std::memset(const_cast<std::byte *>(frame.data().data()), 0x40 + int(i), 100);
		char via_fd[100];
		ASSERT_EQ(pread(frame.memfd().fd, via_fd, sizeof(via_fd),
				off_t(frame.memfd().offset)),
			  100);
		EXPECT_EQ(via_fd[0], char(0x40 + i));
		EXPECT_EQ(via_fd[99], char(0x40 + i));
	}
}

TEST(FramePool, BufferReturnsOnlyWhenTheLastReferenceIsDropped)
{
	auto pool = make_pool(4096, 2);
	Frame a = take(*pool);
	Frame b = take(*pool);
	EXPECT_EQ(pool->free_count(), 0u);
	EXPECT_EQ(pool->acquire(Clock::now()), nullptr);

	Frame in_flight = a; // say, held by I/O the kernel has not completed
	EXPECT_EQ(a.use_count(), 2u);
	a.reset();
	EXPECT_EQ(pool->free_count(), 0u) << "recycled while a reference was alive";
	EXPECT_EQ(in_flight.use_count(), 1u);
	in_flight.reset();
	EXPECT_EQ(pool->free_count(), 1u);

	Frame moved = std::move(b);
	EXPECT_FALSE(b);
	EXPECT_EQ(pool->free_count(), 1u);
	moved = Frame();
	EXPECT_EQ(pool->free_count(), 2u);
}

TEST(FramePool, CopiesShareThePixels)
{
	auto pool = make_pool(4096, 1);
	Frame a = take(*pool);
	Frame b = a;
	EXPECT_EQ(a.data().data(), b.data().data());
	EXPECT_EQ(a.slot_index(), b.slot_index());
}

TEST(FramePool, AcquireWaitsForARecycledBuffer)
{
	auto pool = make_pool(4096, 1);
	Frame held = take(*pool);
	std::thread releaser([&] {
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
		held.reset();
	});
	FrameSlot *slot = pool->acquire(Clock::now() + std::chrono::seconds(5));
	releaser.join();
	ASSERT_NE(slot, nullptr);
	pool->recycle(*slot);
}

TEST(FramePool, RejectsEmptyPools)
{
	Status status;
	EXPECT_FALSE(FramePool::create(0, 4, status));
	EXPECT_FALSE(status.ok());
	EXPECT_FALSE(FramePool::create(4096, 0, status));
}
