// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <memory>

#include <zcap/disk_sink.h>

namespace zcap {

/// The Matroska flavour of make_disk_sink() (sinks/matroska_sink.cpp).
std::unique_ptr<Sink> make_matroska_sink(const DiskSinkOptions &options);

} // namespace zcap
