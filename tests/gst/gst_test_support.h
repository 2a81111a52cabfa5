// SPDX-License-Identifier: LGPL-2.1-or-later
// Helpers shared by the GStreamer plugin's tests.
#pragma once

#include <chrono>
#include <string>

#include <gst/gst.h>

namespace zcap::test {

/// The message of the first error on @p pipeline's bus, waiting up to
/// @p timeout for one (0: only one already posted), or empty.
std::string bus_error(GstElement *pipeline,
		      std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

/// Calls @p probe with @p data for every buffer reaching the sink pad of the
/// element named @p element in @p pipeline.
void probe_sink_buffers(GstElement *pipeline, const char *element, GstPadProbeCallback probe,
			gpointer data);

} // namespace zcap::test
