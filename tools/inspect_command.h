// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

namespace zcap::cli {

/// `zcap inspect`: tells what a recording holds and whether it was finished.
/// Returns the exit status.
int inspect_main(int argc, char **argv);

} // namespace zcap::cli
