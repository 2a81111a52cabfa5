// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/status.h>

#include <cerrno>

#include <gtest/gtest.h>

using zcap::Status;

TEST(Status, SystemErrorsKeepTheirReason)
{
	EXPECT_EQ(Status::from_errno(EINVAL, "/dev/video0: VIDIOC_REQBUFS").message(),
		  "/dev/video0: VIDIOC_REQBUFS: Invalid argument");
	EXPECT_EQ(Status::from_errno(ENOSPC, "write a.raw").message(),
		  "write a.raw: No space left on device");
}

TEST(Status, BadInputSaysItAll)
{
	Status status = Status::invalid("NV12M keeps planes in 2 buffers");
	EXPECT_FALSE(status);
	EXPECT_EQ(status.message(), "NV12M keeps planes in 2 buffers");
	EXPECT_EQ(status.prefixed("/dev/video1").message(),
		  "/dev/video1: NV12M keeps planes in 2 buffers");
}

TEST(Status, SuccessIsDefault)
{
	EXPECT_TRUE(Status());
	EXPECT_EQ(Status().message(), "ok");
}
