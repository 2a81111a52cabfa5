// SPDX-License-Identifier: LGPL-2.1-or-later
// The zcap command: one subcommand per job.
#include <cstring>

#include <fmt/format.h>

#include "cli.h"
#include "device_commands.h"
#include "inspect_command.h"
#include "record_command.h"

namespace {

constexpr const char *kUsage = R"(Usage: zcap COMMAND [OPTIONS]

Captures video and moves every frame to disk without the CPU copying pixels.

Commands:
  record     record from a camera or the built-in pattern to a file
  stream     serve a camera or the built-in pattern live over HTTP
  devices    list V4L2 devices
  formats    list a capture device's formats, sizes and rates
  inspect    tell what a recording holds and whether it was finished
  help       show this help

Run 'zcap COMMAND --help' for a command's options.
)";

} // namespace

int main(int argc, char **argv)
{
	using namespace zcap::cli;
	if (argc < 2) {
		fmt::print(stderr, "zcap: no command given (see zcap --help)\n");
		return kExitUsage;
	}
	std::string_view command = argv[1];
	if (command == "record")
		return record_main(argc - 1, argv + 1);
	if (command == "stream")
		return stream_main(argc - 1, argv + 1);
	if (command == "devices")
		return devices_main(argc - 1, argv + 1);
	if (command == "formats")
		return formats_main(argc - 1, argv + 1);
	if (command == "inspect")
		return inspect_main(argc - 1, argv + 1);
	if (command == "help" || command == "--help" || command == "-h") {
		fmt::print("{}", kUsage);
		return kExitOk;
	}
	if (command == "--version") {
		fmt::print("zcap {}\n", ZCAP_VERSION);
		return kExitOk;
	}
	fmt::print(stderr, "zcap: unknown command '{}' (see zcap --help)\n", command);
	return kExitUsage;
}
