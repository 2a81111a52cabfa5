// SPDX-License-Identifier: LGPL-2.1-or-later
// How a live client's payloads go (sinks/net/net_path_choice.h): decided
// from where the peer is and what the device it is reached through can do,
// with a fake feature source; and the kernel's answer for a real tap device
// with scatter-gather turned off and on.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <thread>

#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <zcap/log.h>
#include <zcap/pipeline.h>
#include <zcap/unique_fd.h>

#include "../sinks/net/net_path_choice.h"
#include "stream_test_client.h"
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

/// A choice and what it should come to.
struct Case {
	NetPath asked;
	PeerRoute route;
	NetPath path;
	Reason reason;
};

void expect_choices(const DeviceFeatures &features, std::initializer_list<Case> cases)
{
	for (const Case &c : cases) {
		const PathChoice choice = choose_net_path(c.asked, c.route, features);
		const std::string what =
			fmt::format("{} to a {} peer through {}", net_path_name(c.asked),
				    c.route.local ? "local" : "remote", c.route.device);
		EXPECT_EQ(choice.path, c.path) << what;
		EXPECT_EQ(choice.reason, c.reason) << what;
	}
}

} // namespace

TEST(NetPathChoice, ZeroCopyOnlyThroughADeviceWithScatterGather)
{
	FakeFeatures features;
	features.sg = {{"eth0", true}, {"tap0", false}};
	const PeerRoute nic{.local = false, .device = "eth0"};
	const PeerRoute no_sg{.local = false, .device = "tap0"};
	expect_choices(
		features,
		{
			{NetPath::automatic, nic, NetPath::zerocopy, Reason::asked},
			{NetPath::sendfile, nic, NetPath::sendfile, Reason::asked},
			{NetPath::automatic, no_sg, NetPath::copy, Reason::no_scatter_gather},
			{NetPath::zerocopy, no_sg, NetPath::copy, Reason::no_scatter_gather},
			{NetPath::sendfile, no_sg, NetPath::copy, Reason::no_scatter_gather},
			{NetPath::copy, no_sg, NetPath::copy, Reason::asked},
		});
}

TEST(NetPathChoice, PeersOnThisHostAsBefore)
{
	FakeFeatures features;
	features.sg = {{"lo", true}, {"tap0", false}};
	const PeerRoute loopback{.local = true, .device = "lo"};
	const PeerRoute local_no_sg{.local = true, .device = "tap0"};
	expect_choices(
		features,
		{
			{NetPath::automatic, loopback, NetPath::copy, Reason::asked},
			{NetPath::sendfile, loopback, NetPath::copy, Reason::local_sendfile},
			// MSG_ZEROCOPY to a local peer as asked: the kernel
			// reports its copies.
			{NetPath::zerocopy, loopback, NetPath::zerocopy, Reason::asked},
			// Through a device without scatter-gather, even on
			// this host: send().
			{NetPath::zerocopy, local_no_sg, NetPath::copy, Reason::no_scatter_gather},
		});
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

namespace {

/// A network namespace holding one end of a veth pair, the other end here:
/// a peer that is reached through a device. Removed with its devices.
class PeerNamespace {
public:
	PeerNamespace()
	{
		const unsigned id = unsigned(getpid()) % 100000;
		name = fmt::format("zcapns{}", id);
		device = fmt::format("zv{}a", id);
		const std::string peer_device = fmt::format("zv{}b", id);
		const std::string net = fmt::format("10.213.{}", id % 250);
		address = net + ".1";
		peer_address = net + ".2";
		int status = -1;
		test::run_command(
			fmt::format(
				"ip netns add {0} && ip link add {1} type veth peer name {2} && "
				"ip link set {2} netns {0} && ip addr add {3}/24 dev {1} && "
				"ip link set {1} up && ip -n {0} addr add {4}/24 dev {2} && "
				"ip -n {0} link set {2} up && ip -n {0} link set lo up 2>&1",
				name, device, peer_device, address, peer_address),
			&status);
		ok = status == 0;
	}
	~PeerNamespace()
	{
		test::run_command(
			fmt::format("ip link del {} 2>&1; ip netns del {} 2>&1", device, name));
	}

	std::string name, device, address, peer_address;
	bool ok = false;
};

/// What a client of /live.raw in namespace @p ns received.
struct Received {
	uint64_t frames = 0;
	std::string error;
};

/// Reads /live.raw from @p address:@p port inside network namespace @p ns to
/// its end, checking every payload byte against the pattern.
Received read_live_raw(const std::string &ns, const std::string &address, uint16_t port,
		       const FrameFormat &format, test::PatternFrames &patterns)
{
	Received r;
	UniqueFd netns(open(fmt::format("/run/netns/{}", ns).c_str(), O_RDONLY | O_CLOEXEC));
	if (!netns || setns(netns.get(), CLONE_NEWNET) < 0)
		return {0, "cannot enter " + ns};
	UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	sockaddr_in to{};
	to.sin_family = AF_INET;
	to.sin_port = htons(port);
	inet_pton(AF_INET, address.c_str(), &to.sin_addr);
	timeval timeout{.tv_sec = test::kIoTimeout.count(), .tv_usec = 0};
	setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	if (connect(fd.get(), reinterpret_cast<sockaddr *>(&to), sizeof(to)) < 0)
		return {0, std::string("connect: ") + strerror(errno)};
	const std::string request = test::get_request("/live.raw");
	if (send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size()))
		return {0, "cannot send the request"};
	std::string in;
	char chunk[1 << 16];
	for (;;) {
		ssize_t n = recv(fd.get(), chunk, sizeof(chunk), 0);
		if (n <= 0)
			break;
		in.append(chunk, size_t(n));
	}
	const size_t body = in.find("\r\n\r\n");
	if (body == std::string::npos || test::status_of(in) != 200)
		return {0, "no 200 response"};
	std::string_view rest = std::string_view(in).substr(body + 4);
	while (rest.size() >= sizeof(RawFrameHeader)) {
		RawFrameHeader h;
		std::memcpy(&h, rest.data(), sizeof(h));
		if (h.magic != RawFrameHeader::kMagic || h.payload_size != format.size_image)
			return {r.frames, "bad frame header"};
		if (rest.size() < sizeof(h) + h.payload_size)
			break; // cut off at the end
		const std::vector<std::byte> &expected = patterns.get(h.sequence);
		if (std::memcmp(rest.data() + sizeof(h), expected.data(), expected.size()) != 0)
			return {r.frames, fmt::format("frame {} differs", h.sequence)};
		++r.frames;
		rest.remove_prefix(sizeof(h) + h.payload_size);
	}
	return r;
}

class NetPathWithoutScatterGather : public testing::TestWithParam<NetPath> {};

} // namespace

TEST_P(NetPathWithoutScatterGather, APeerBehindTheDeviceGetsSendAndEveryCopyIsCounted)
{
	if (geteuid() != 0 && !test::root_tests_required())
		GTEST_SKIP() << "network namespaces need root";
	PeerNamespace ns;
	ASSERT_TRUE(ns.ok) << "cannot set up namespace " << ns.name;
	ASSERT_TRUE(set_scatter_gather(ns.device, false)) << ns.device;

	std::mutex lock;
	std::vector<std::string> lines;
	set_log_handler([&](LogLevel, std::string_view message) {
		std::lock_guard guard(lock);
		lines.emplace_back(message);
	});
	constexpr uint64_t kFrames = 20;
	const FrameFormat format = *packed_format(pixfmt::YUYV, 320, 240);
	auto source = test::make_source(format, {100, 1}, 8);
	ASSERT_TRUE(source);
	StreamServerOptions options;
	options.listen = ns.address + ":0";
	options.net_path = GetParam();
	auto server = test::make_server(options);
	ASSERT_TRUE(server);
	const StreamServer &live = *server;
	Pipeline pipeline(*source);
	pipeline.add_sink(std::move(server), {.queue_frames = 2, .policy = OverflowPolicy::block});

	test::PatternFrames patterns(format);
	Received received;
	std::thread client([&] {
		received = read_live_raw(ns.name, ns.address, live.port(), format, patterns);
	});
	ASSERT_TRUE(test::eventually([&] { return test::clients_of(live, "/live.raw") == 1; }));
	std::atomic<bool> stop{false};
	Status status = pipeline.run({.frames = kFrames}, stop);
	client.join();
	set_log_handler({});
	ASSERT_TRUE(status) << status.message();

	const std::vector<ClientStats> clients = live.clients();
	ASSERT_EQ(clients.size(), 1u);
	const ClientStats &s = clients.front();
	EXPECT_EQ(received.error, "");
	EXPECT_EQ(s.path, NetPath::copy) << "asked for " << net_path_name(GetParam());
	EXPECT_EQ(s.frames, received.frames);
	EXPECT_GT(s.frames, 0u);
	EXPECT_EQ(s.bytes, s.frames * format.size_image);
	EXPECT_GE(s.copied, s.bytes) << "every payload byte sent is counted as copied";
	const auto said = std::count_if(lines.begin(), lines.end(), [&](const std::string &line) {
		return line.find(ns.device + " has no scatter-gather") != std::string::npos;
	});
	// A veth has no device behind it, so its peer counts as on this host:
	// auto and sendfile get send() for that already, unsaid (sendfile: said
	// per client); MSG_ZEROCOPY, which a local peer keeps, is refused for
	// the device, said once.
	EXPECT_EQ(said, GetParam() == NetPath::zerocopy ? 1 : 0);
}

INSTANTIATE_TEST_SUITE_P(NetPathChoice, NetPathWithoutScatterGather,
			 testing::Values(NetPath::automatic, NetPath::zerocopy, NetPath::sendfile),
			 [](const testing::TestParamInfo<NetPath> &info) {
				 return std::string(net_path_name(info.param));
			 });
