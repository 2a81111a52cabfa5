// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

namespace zcap::cli {

/// `zcap record`: records from a source to a file. Returns the exit status.
int record_main(int argc, char **argv);
/// `zcap stream`: serves a source over HTTP without a file.
int stream_main(int argc, char **argv);

} // namespace zcap::cli
