// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

namespace zcap::cli {

/// `zcap devices`: lists V4L2 nodes. Returns the exit status.
int devices_main(int argc, char **argv);
/// `zcap formats -d DEV`: a capture node's formats, sizes and rates.
int formats_main(int argc, char **argv);

} // namespace zcap::cli
