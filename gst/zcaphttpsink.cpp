// SPDX-License-Identifier: LGPL-2.1-or-later
// zcaphttpsink: zcap's HTTP streaming server as a GStreamer element.
//
//   gst-launch-1.0 v4l2src ! video/x-raw,format=YUY2 ! zcaphttpsink listen=0.0.0.0:8554
//   ffplay http://HOST:8554/live.mkv
//
// Serves GET /live.mkv (live Matroska) and /live.raw (frames behind a
// RawFrameHeader) from the same pinned frames, never a copy made per client
// (include/zcap/stream_server.h).
//
// Properties:
//   listen         [ADDR:]PORT (default 127.0.0.1:0: loopback, any free port)
//   port           the port it listens on (read-only; known once PAUSED)
//   net-path       auto (default: copy to peers on this host, zero-copy to
//                  others), copy, zerocopy or sendfile
//   max-clients    clients served at once (default 64); more are answered 503
//   stall-timeout  a client that takes no byte for this long (ns) is
//                  disconnected (default 5 s)
// and ZcapBaseSink's read-only frames, dropped, bytes-copied and io-path.
//
// A live sink: sync stays on, so frames go out at their running time (a
// file or a test source is served at its real rate, as a camera is), and
// nothing a client does holds the pipeline back: a client that falls behind
// loses frames (counted per client), and frames the server thread has not
// taken yet when newer ones come are dropped (counted in dropped).
#include "zcaphttpsink.h"

#include <set>
#include <string>

#include <zcap/stream_server.h>

namespace {

constexpr const char *kDefaultListen = "127.0.0.1:0";
constexpr guint kDefaultMaxClients = 64;
constexpr guint64 kDefaultStallTimeout = 5 * GST_SECOND;

enum {
	PROP_0,
	PROP_LISTEN,
	PROP_PORT,
	PROP_NET_PATH,
	PROP_MAX_CLIENTS,
	PROP_STALL_TIMEOUT,
};

GType net_path_type()
{
	static GType type = [] {
		static const GEnumValue values[] = {
			{int(zcap::NetPath::automatic),
			 "Per client: copy for a peer on this host, zero-copy for others", "auto"},
			{int(zcap::NetPath::copy), "send(): the kernel copies the payload", "copy"},
			{int(zcap::NetPath::zerocopy),
			 "send(MSG_ZEROCOPY): the pages go to the NIC; the frame stays pinned "
			 "until the kernel is done",
			 "zerocopy"},
			{int(zcap::NetPath::sendfile),
			 "sendfile() from the frame's memfd; the frame stays pinned until the "
			 "peer acknowledged it",
			 "sendfile"},
			{0, nullptr, nullptr},
		};
		return g_enum_register_static("ZcapHttpSinkNetPath", values);
	}();
	return type;
}

} // namespace

struct _ZcapHttpSink {
	ZcapBaseSink parent;
	gchar *listen;
	zcap::NetPath net_path;
	guint max_clients;
	guint64 stall_timeout;
	guint port; ///< while listening, else 0
};

G_DEFINE_TYPE(ZcapHttpSink, zcap_http_sink, ZCAP_TYPE_BASE_SINK)
GST_ELEMENT_REGISTER_DEFINE(zcaphttpsink, "zcaphttpsink", GST_RANK_NONE, ZCAP_TYPE_HTTP_SINK)

namespace {

std::unique_ptr<zcap::Sink> make_sink(ZcapBaseSink *base)
{
	auto *self = ZCAP_HTTP_SINK(base);
	zcap::StreamServerOptions options;
	GST_OBJECT_LOCK(self);
	options.listen = self->listen ? self->listen : "";
	options.net_path = self->net_path;
	options.max_clients = self->max_clients;
	options.stall_timeout = std::chrono::milliseconds(self->stall_timeout / GST_MSECOND);
	GST_OBJECT_UNLOCK(self);

	zcap::Status status;
	std::unique_ptr<zcap::StreamServer> server = zcap::StreamServer::create(options, status);
	if (!server) {
		GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE, ("%s", status.message().c_str()),
				  (nullptr));
		return nullptr;
	}
	GST_OBJECT_LOCK(self);
	self->port = server->port();
	GST_OBJECT_UNLOCK(self);
	g_object_notify(G_OBJECT(self), "port");
	GST_INFO_OBJECT(self, "listening on port %u", server->port());
	return server;
}

/// The paths the clients so far were served by ("copy", "copy+zerocopy"),
/// or "none".
std::string io_path(ZcapBaseSink *, const zcap::Sink &sink)
{
	std::set<std::string_view> paths;
	for (const zcap::ClientStats &c : static_cast<const zcap::StreamServer &>(sink).clients())
		paths.insert(zcap::net_path_name(c.path));
	std::string text;
	for (std::string_view path : paths)
		text += (text.empty() ? "" : "+") + std::string(path);
	return text.empty() ? "none" : text;
}

gboolean stop(GstBaseSink *bsink)
{
	gboolean ok = GST_BASE_SINK_CLASS(zcap_http_sink_parent_class)->stop(bsink);
	auto *self = ZCAP_HTTP_SINK(bsink);
	GST_OBJECT_LOCK(self);
	self->port = 0;
	GST_OBJECT_UNLOCK(self);
	return ok;
}

void set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
	auto *self = ZCAP_HTTP_SINK(object);
	GST_OBJECT_LOCK(self);
	switch (id) {
	case PROP_LISTEN:
		g_free(self->listen);
		self->listen = g_value_dup_string(value);
		break;
	case PROP_NET_PATH:
		self->net_path = zcap::NetPath(g_value_get_enum(value));
		break;
	case PROP_MAX_CLIENTS:
		self->max_clients = g_value_get_uint(value);
		break;
	case PROP_STALL_TIMEOUT:
		self->stall_timeout = g_value_get_uint64(value);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
	}
	GST_OBJECT_UNLOCK(self);
}

void get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
	auto *self = ZCAP_HTTP_SINK(object);
	GST_OBJECT_LOCK(self);
	switch (id) {
	case PROP_LISTEN:
		g_value_set_string(value, self->listen);
		break;
	case PROP_PORT:
		g_value_set_uint(value, self->port);
		break;
	case PROP_NET_PATH:
		g_value_set_enum(value, int(self->net_path));
		break;
	case PROP_MAX_CLIENTS:
		g_value_set_uint(value, self->max_clients);
		break;
	case PROP_STALL_TIMEOUT:
		g_value_set_uint64(value, self->stall_timeout);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
	}
	GST_OBJECT_UNLOCK(self);
}

void finalize(GObject *object)
{
	g_free(ZCAP_HTTP_SINK(object)->listen);
	G_OBJECT_CLASS(zcap_http_sink_parent_class)->finalize(object);
}

} // namespace

static void zcap_http_sink_class_init(ZcapHttpSinkClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->set_property = set_property;
	object_class->get_property = get_property;
	object_class->finalize = finalize;

	// Settable until the server starts listening (PAUSED).
	constexpr auto flags =
		GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
	g_object_class_install_property(
		object_class, PROP_LISTEN,
		g_param_spec_string("listen", "Listen",
				    "[ADDR:]PORT to serve on (ADDR defaults to 127.0.0.1, port 0 "
				    "picks a free one: see the port property)",
				    kDefaultListen, flags));
	g_object_class_install_property(
		object_class, PROP_PORT,
		g_param_spec_uint(
			"port", "Port", "The port the server listens on (0 while it does not)", 0,
			G_MAXUINT16, 0, GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
	g_object_class_install_property(
		object_class, PROP_NET_PATH,
		g_param_spec_enum("net-path", "Network path",
				  "How frame payloads reach a client's socket", net_path_type(),
				  int(zcap::NetPath::automatic), flags));
	g_object_class_install_property(
		object_class, PROP_MAX_CLIENTS,
		g_param_spec_uint("max-clients", "Maximum clients",
				  "Clients served at once; more are answered 503", 1, G_MAXINT,
				  kDefaultMaxClients, flags));
	g_object_class_install_property(
		object_class, PROP_STALL_TIMEOUT,
		g_param_spec_uint64("stall-timeout", "Stall timeout",
				    "Disconnect a client that takes no byte for this long (ns)",
				    GST_MSECOND, G_MAXUINT64, kDefaultStallTimeout, flags));

	GST_BASE_SINK_CLASS(klass)->stop = stop;
	ZcapBaseSinkClass *base_class = ZCAP_BASE_SINK_CLASS(klass);
	base_class->make_sink = make_sink;
	base_class->io_path = io_path;

	gst_element_class_set_static_metadata(
		GST_ELEMENT_CLASS(klass), "zcap HTTP sink", "Sink/Network/Video",
		"Serves live video over HTTP (/live.mkv, /live.raw) from the frames' own "
		"pages, zero-copy where the network allows (every CPU copy counted)",
		"zcap");
	gst_type_mark_as_plugin_api(net_path_type(), GstPluginAPIFlags(0));
}

static void zcap_http_sink_init(ZcapHttpSink *self)
{
	self->listen = g_strdup(kDefaultListen);
	self->net_path = zcap::NetPath::automatic;
	self->max_clients = kDefaultMaxClients;
	self->stall_timeout = kDefaultStallTimeout;
}
