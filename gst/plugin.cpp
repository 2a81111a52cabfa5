// SPDX-License-Identifier: LGPL-2.1-or-later
// The "zcap" GStreamer plugin: registers every element.

#include <gst/gst.h>

#include "zcapfilesink.h"
#include "zcaphttpsink.h"
#include "zcapsrc.h"

namespace {

gboolean plugin_init(GstPlugin *plugin)
{
	gboolean ok = FALSE;
	ok |= GST_ELEMENT_REGISTER(zcapsrc, plugin);
	ok |= GST_ELEMENT_REGISTER(zcapfilesink, plugin);
	ok |= GST_ELEMENT_REGISTER(zcaphttpsink, plugin);
	return ok;
}

} // namespace

#define PACKAGE "zcap"
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, zcap,
		  "Zero-copy video capture to disk and network", plugin_init, ZCAP_VERSION, "LGPL",
		  "zcap", "https://github.com/zcap/zcap")
