// SPDX-License-Identifier: LGPL-2.1-or-later
// scatter_gather DEV: prints "DEV scatter-gather on|off" as zcap's server
// reads it (SIOCETHTOOL ETHTOOL_GSG, sinks/net/net_path_choice.h), for the
// NIC test (guest_nic_test.sh); exits 1 when the kernel does not say.
#include <cstdio>

#include "../../sinks/net/net_path_choice.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		std::fprintf(stderr, "usage: scatter_gather DEV\n");
		return 2;
	}
	const std::optional<bool> on = zcap::net::EthtoolFeatures().scatter_gather(argv[1]);
	if (!on) {
		std::fprintf(stderr, "scatter_gather: %s: SIOCETHTOOL ETHTOOL_GSG failed\n",
			     argv[1]);
		return 1;
	}
	std::printf("%s scatter-gather %s\n", argv[1], *on ? "on" : "off");
	return 0;
}
