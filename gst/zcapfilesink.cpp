// SPDX-License-Identifier: LGPL-2.1-or-later
// zcapfilesink: zcap's disk sink as a GStreamer element.
//
//   gst-launch-1.0 v4l2src io-mode=userptr ! video/x-raw,format=YUY2 !
//       zcapfilesink location=rec.mkv
//   gst-launch-1.0 videotestsrc num-buffers=300 !
//       video/x-raw,format=YUY2,width=1280,height=720 ! zcapfilesink location=a.raw
//
// Properties:
//   location   the file to write (required)
//   container  auto (default: Matroska for *.mkv, raw otherwise, as zcap
//              record), raw (frames back to back) or mkv
//   overwrite  replace an existing file (default false: it is an error, as
//              zcap record without --force)
//   disk-path  auto (default: O_DIRECT through io_uring, else, where io_uring
//              is refused as in containers, through Linux AIO), uring,
//              aio or buffered, as zcap record --disk-path
// and ZcapBaseSink's read-only frames, dropped, bytes-copied and io-path.
//
// Buffers from the pool it offers upstream are written without a copy (a
// raw file of frames that are not whole blocks copies the few bytes where
// two frames share a block); others are written from their own mapping,
// copies (if any) counted in bytes-copied. sync is off by default: a file
// takes frames as they come. On a full disk the element fails with "No
// space left on device" and the file keeps every complete frame (a
// Matroska file stays playable).
#include "zcapfilesink.h"

#include <filesystem>
#include <string>

#include <zcap/disk_sink.h>

namespace {

/// Disk writes in flight, as zcap record's default --queue-depth: each pins
/// at most one frame.
constexpr guint kQueueDepth = 8;

/// The container property: auto follows the file name.
enum ContainerChoice {
	CONTAINER_AUTO,
	CONTAINER_RAW,
	CONTAINER_MKV,
};

enum {
	PROP_0,
	PROP_LOCATION,
	PROP_CONTAINER,
	PROP_OVERWRITE,
	PROP_DISK_PATH,
};

GType container_type()
{
	static GType type = [] {
		static const GEnumValue values[] = {
			{CONTAINER_AUTO, "By the file name: Matroska for .mkv, else raw", "auto"},
			{CONTAINER_RAW, "Raw frames back to back", "raw"},
			{CONTAINER_MKV, "Matroska", "mkv"},
			{0, nullptr, nullptr},
		};
		return g_enum_register_static("ZcapFileSinkContainer", values);
	}();
	return type;
}

/// The disk-path property: zcap::DiskPath's values, named as --disk-path.
GType disk_path_type()
{
	static GType type = [] {
		static const GEnumValue values[] = {
			{gint(zcap::DiskPath::automatic),
			 "O_DIRECT through io_uring, else through Linux AIO", "auto"},
			{gint(zcap::DiskPath::uring), "O_DIRECT through io_uring only", "uring"},
			{gint(zcap::DiskPath::aio), "O_DIRECT through Linux AIO only", "aio"},
			{gint(zcap::DiskPath::buffered), "Through the page cache (copied)",
			 "buffered"},
			{0, nullptr, nullptr},
		};
		return g_enum_register_static("ZcapFileSinkDiskPath", values);
	}();
	return type;
}

} // namespace

struct _ZcapFileSink {
	ZcapBaseSink parent;
	gchar *location;
	ContainerChoice container;
	gboolean overwrite;
	zcap::DiskPath disk_path;
};

G_DEFINE_TYPE(ZcapFileSink, zcap_file_sink, ZCAP_TYPE_BASE_SINK)
GST_ELEMENT_REGISTER_DEFINE(zcapfilesink, "zcapfilesink", GST_RANK_NONE, ZCAP_TYPE_FILE_SINK)

namespace {

std::unique_ptr<zcap::Sink> make_sink(ZcapBaseSink *base)
{
	auto *self = ZCAP_FILE_SINK(base);
	zcap::DiskSinkOptions options;
	ContainerChoice container;
	GST_OBJECT_LOCK(self);
	if (self->location)
		options.path = self->location;
	container = self->container;
	options.overwrite = self->overwrite;
	options.disk_path = self->disk_path;
	GST_OBJECT_UNLOCK(self);

	if (options.path.empty()) {
		GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
				  ("No file to write to: set the location property"), (nullptr));
		return nullptr;
	}
	// Said here, before any frame, rather than at the first one.
	std::error_code ec;
	if (!options.overwrite && std::filesystem::exists(options.path, ec)) {
		GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE,
				  ("%s already exists: set overwrite=true to replace it",
				   options.path.c_str()),
				  (nullptr));
		return nullptr;
	}
	options.container = container == CONTAINER_AUTO	 ? zcap::container_for(options.path)
			    : container == CONTAINER_MKV ? zcap::Container::matroska
							 : zcap::Container::raw;
	options.queue_depth = kQueueDepth;
	return zcap::make_disk_sink(options);
}

void set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
	auto *self = ZCAP_FILE_SINK(object);
	GST_OBJECT_LOCK(self);
	switch (id) {
	case PROP_LOCATION:
		g_free(self->location);
		self->location = g_value_dup_string(value);
		break;
	case PROP_CONTAINER:
		self->container = ContainerChoice(g_value_get_enum(value));
		break;
	case PROP_OVERWRITE:
		self->overwrite = g_value_get_boolean(value);
		break;
	case PROP_DISK_PATH:
		self->disk_path = zcap::DiskPath(g_value_get_enum(value));
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
	}
	GST_OBJECT_UNLOCK(self);
}

void get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
	auto *self = ZCAP_FILE_SINK(object);
	GST_OBJECT_LOCK(self);
	switch (id) {
	case PROP_LOCATION:
		g_value_set_string(value, self->location);
		break;
	case PROP_CONTAINER:
		g_value_set_enum(value, self->container);
		break;
	case PROP_OVERWRITE:
		g_value_set_boolean(value, self->overwrite);
		break;
	case PROP_DISK_PATH:
		g_value_set_enum(value, gint(self->disk_path));
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
	}
	GST_OBJECT_UNLOCK(self);
}

void finalize(GObject *object)
{
	g_free(ZCAP_FILE_SINK(object)->location);
	G_OBJECT_CLASS(zcap_file_sink_parent_class)->finalize(object);
}

} // namespace

static void zcap_file_sink_class_init(ZcapFileSinkClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->set_property = set_property;
	object_class->get_property = get_property;
	object_class->finalize = finalize;

	// Settable until the element opens the file (PAUSED).
	constexpr auto flags =
		GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
	g_object_class_install_property(object_class, PROP_LOCATION,
					g_param_spec_string("location", "Location",
							    "The file to record to", nullptr,
							    flags));
	g_object_class_install_property(
		object_class, PROP_CONTAINER,
		g_param_spec_enum("container", "Container",
				  "How frames are laid out in the file (auto: Matroska when "
				  "the name ends in .mkv, raw otherwise)",
				  container_type(), CONTAINER_AUTO, flags));
	g_object_class_install_property(
		object_class, PROP_OVERWRITE,
		g_param_spec_boolean("overwrite", "Overwrite",
				     "Replace the file if it exists (otherwise that is an error)",
				     FALSE, flags));
	g_object_class_install_property(
		object_class, PROP_DISK_PATH,
		g_param_spec_enum("disk-path", "Disk path",
				  "How frames reach the disk (auto: O_DIRECT through io_uring, "
				  "else through Linux AIO; io-path says which)",
				  disk_path_type(), gint(zcap::DiskPath::automatic), flags));

	ZcapBaseSinkClass *base_class = ZCAP_BASE_SINK_CLASS(klass);
	base_class->make_sink = make_sink;

	gst_element_class_set_static_metadata(
		GST_ELEMENT_CLASS(klass), "zcap file sink", "Sink/File/Video",
		"Records video to a raw or Matroska file with O_DIRECT through io_uring, "
		"straight from the frames' pages (every CPU copy counted in bytes-copied)",
		"zcap");
	gst_type_mark_as_plugin_api(container_type(), GstPluginAPIFlags(0));
	gst_type_mark_as_plugin_api(disk_path_type(), GstPluginAPIFlags(0));
}

static void zcap_file_sink_init(ZcapFileSink *self)
{
	self->container = CONTAINER_AUTO;
	self->disk_path = zcap::DiskPath::automatic;
	// A file takes frames as they come, not at their running time.
	gst_base_sink_set_sync(GST_BASE_SINK(self), FALSE);
}
