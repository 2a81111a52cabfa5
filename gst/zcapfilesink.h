// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/gst.h>

#include "zcapbasesink.h"

/// zcapfilesink: records to a file with O_DIRECT through io_uring, straight
/// from the frames' pages (zcap::make_disk_sink()). See the element's
/// documentation in zcapfilesink.cpp.
G_DECLARE_FINAL_TYPE(ZcapFileSink, zcap_file_sink, ZCAP, FILE_SINK, ZcapBaseSink)
#define ZCAP_TYPE_FILE_SINK (zcap_file_sink_get_type())

GST_ELEMENT_REGISTER_DECLARE(zcapfilesink);
