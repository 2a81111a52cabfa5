// SPDX-License-Identifier: LGPL-2.1-or-later
// How a live client's payloads go (sinks/net/net_path_choice.h): decided
// from where the peer is and what the device it is reached through can do,
// with a fake feature source; and the kernel's answer for a real tap device
// with scatter-gather turned off and on.
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/unique_fd.h>

#include "../sinks/net/net_path_choice.h"
#include "test_files.h"

using namespace zcap;
using namespace zcap::net;

namespace {

/// Devices as a test says they are; records the ones asked about.
class FakeFeatures final : public DeviceFeatures {
public:
	std::map<std::string, std::optional<bool>> sg;
	mutable std::vector<std::string> asked;

	std::optional<bool> scatter_gather(const std::string &device) const override
	{
		asked.push_back(device);
		auto it = sg.find(device);
		return it == sg.end() ? std::nullopt : it->second;
	}
};

using Reason = PathChoice::Reason;

} // namespace

TEST(NetPathChoice, ZeroCopyOnlyThroughADeviceWithScatterGather)
{
	FakeFeatures features;
	features.sg = {{"eth0", true}, {"tap0", false}};
	const PeerRoute nic{.local = false, .device = "eth0"};
	const PeerRoute no_sg{.local = false, .device = "tap0"};

	PathChoice c = choose_net_path(NetPath::automatic, nic, features);
	EXPECT_EQ(c.path, NetPath::zerocopy);
	EXPECT_EQ(c.reason, Reason::asked);
	c = choose_net_path(NetPath::sendfile, nic, features);
	EXPECT_EQ(c.path, NetPath::sendfile);
	EXPECT_EQ(c.reason, Reason::asked);

	for (NetPath asked : {NetPath::automatic, NetPath::zerocopy, NetPath::sendfile}) {
		c = choose_net_path(asked, no_sg, features);
		EXPECT_EQ(c.path, NetPath::copy) << net_path_name(asked);
		EXPECT_EQ(c.reason, Reason::no_scatter_gather) << net_path_name(asked);
	}
	c = choose_net_path(NetPath::copy, no_sg, features);
	EXPECT_EQ(c.path, NetPath::copy);
	EXPECT_EQ(c.reason, Reason::asked);
}

TEST(NetPathChoice, PeersOnThisHostAsBefore)
{
	FakeFeatures features;
	features.sg = {{"lo", true}, {"tap0", false}};
	const PeerRoute loopback{.local = true, .device = "lo"};

	PathChoice c = choose_net_path(NetPath::automatic, loopback, features);
	EXPECT_EQ(c.path, NetPath::copy);
	EXPECT_EQ(c.reason, Reason::asked);
	c = choose_net_path(NetPath::sendfile, loopback, features);
	EXPECT_EQ(c.path, NetPath::copy);
	EXPECT_EQ(c.reason, Reason::local_sendfile);
	// MSG_ZEROCOPY to a local peer as asked: the kernel reports its copies.
	c = choose_net_path(NetPath::zerocopy, loopback, features);
	EXPECT_EQ(c.path, NetPath::zerocopy);
	EXPECT_EQ(c.reason, Reason::asked);
	// Through a device without scatter-gather, even on this host: send().
	c = choose_net_path(NetPath::zerocopy, {.local = true, .device = "tap0"}, features);
	EXPECT_EQ(c.path, NetPath::copy);
	EXPECT_EQ(c.reason, Reason::no_scatter_gather);
}

TEST(NetPathChoice, UnknownDevicesKeepThePathAsked)
{
	FakeFeatures features; // knows no device
	PathChoice c = choose_net_path(NetPath::zerocopy, {.device = "eth9"}, features);
	EXPECT_EQ(c.path, NetPath::zerocopy);
	EXPECT_EQ(features.asked, std::vector<std::string>{"eth9"});
	features.asked.clear();
	c = choose_net_path(NetPath::sendfile, {.device = ""}, features);
	EXPECT_EQ(c.path, NetPath::sendfile);
	EXPECT_TRUE(features.asked.empty()) << "no device, nothing to ask";
}

/// Turns scatter-gather of @p device on or off (SIOCETHTOOL ETHTOOL_SSG), as
/// `ethtool -K DEVICE sg on|off` does.
static bool set_scatter_gather(const std::string &device, bool on)
{
	UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	ethtool_value value{};
	value.cmd = ETHTOOL_SSG;
	value.data = on;
	ifreq request{};
	std::strncpy(request.ifr_name, device.c_str(), IFNAMSIZ - 1);
	request.ifr_data = reinterpret_cast<char *>(&value);
	return fd && ioctl(fd.get(), SIOCETHTOOL, &request) == 0;
}

TEST(NetPathChoice, KernelSaysWhetherATapDeviceHasScatterGather)
{
	EthtoolFeatures features;
	EXPECT_EQ(features.scatter_gather("lo"), std::optional<bool>(true));
	EXPECT_EQ(features.scatter_gather("zcap-no-such0"), std::nullopt);

	if (geteuid() != 0 && !test::root_tests_required())
		GTEST_SKIP() << "creating a tap device needs root";
	const std::string tap = fmt::format("zcaptap{}", getpid() % 100000);
	int status = -1;
	test::run_command(fmt::format("ip tuntap add dev {} mode tap 2>&1", tap), &status);
	ASSERT_EQ(status, 0) << "ip tuntap add dev " << tap << " mode tap";
	// As a guest NIC without checksum offload (QEMU user networking) has
	// none; a tap's own default differs between kernels (6.1: on).
	const bool off = set_scatter_gather(tap, false);
	const std::optional<bool> without = features.scatter_gather(tap);
	const PathChoice c = choose_net_path(NetPath::zerocopy, {.device = tap}, features);
	const bool on = set_scatter_gather(tap, true);
	const std::optional<bool> with = features.scatter_gather(tap);
	test::run_command(fmt::format("ip tuntap del dev {} mode tap 2>&1", tap), &status);
	ASSERT_TRUE(off && on) << "ETHTOOL_SSG on " << tap;
	EXPECT_EQ(without, std::optional<bool>(false));
	EXPECT_EQ(with, std::optional<bool>(true));
	EXPECT_EQ(c.path, NetPath::copy);
	EXPECT_EQ(c.reason, Reason::no_scatter_gather);
}
