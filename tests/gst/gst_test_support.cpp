// SPDX-License-Identifier: LGPL-2.1-or-later
#include "gst_test_support.h"

namespace zcap::test {

std::string bus_error(GstElement *pipeline, std::chrono::milliseconds timeout)
{
	GstBus *bus = gst_element_get_bus(pipeline);
	GstMessage *message = gst_bus_timed_pop_filtered(
		bus, std::chrono::nanoseconds(timeout).count(), GST_MESSAGE_ERROR);
	std::string text;
	if (message) {
		GError *error = nullptr;
		gst_message_parse_error(message, &error, nullptr);
		text = error->message;
		g_clear_error(&error);
		gst_message_unref(message);
	}
	gst_object_unref(bus);
	return text;
}

void probe_sink_buffers(GstElement *pipeline, const char *element, GstPadProbeCallback probe,
			gpointer data)
{
	GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), element);
	GstPad *pad = gst_element_get_static_pad(sink, "sink");
	gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, probe, data, nullptr);
	gst_object_unref(pad);
	gst_object_unref(sink);
}

} // namespace zcap::test
