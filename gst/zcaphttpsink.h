// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/gst.h>

#include "zcapbasesink.h"

/// zcaphttpsink: serves the stream over HTTP (zcap::StreamServer). See the
/// element's documentation in zcaphttpsink.cpp.
G_DECLARE_FINAL_TYPE(ZcapHttpSink, zcap_http_sink, ZCAP, HTTP_SINK, ZcapBaseSink)
#define ZCAP_TYPE_HTTP_SINK (zcap_http_sink_get_type())

GST_ELEMENT_REGISTER_DECLARE(zcaphttpsink);
