// SPDX-License-Identifier: LGPL-2.1-or-later
// zcaphttpsink in a real live pipeline: a client of /live.raw checks every
// byte of the frames it gets against what videotestsrc makes, and FFmpeg
// decodes /live.mkv; the port property is where the server listens.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <zcap/stream_server.h>

#include "gst_test_support.h"
#include "tests/stream_test_client.h"
#include "tests/test_files.h"

using namespace zcap;

namespace {

/// videotestsrc's colour spectrum is the same every frame (its SMPTE bars
/// have a patch of noise).
constexpr const char *kSource = "videotestsrc pattern=colors";
constexpr const char *kCaps = "video/x-raw,format=YUY2,width=320,height=240,framerate=30/1";
constexpr uint32_t kWidth = 320, kHeight = 240;
constexpr uint32_t kFrameSize = kWidth * kHeight * 2;
constexpr auto kTimeout = std::chrono::seconds(20);

/// One frame of the pattern as GStreamer's filesink writes it.
std::string reference_frame(const test::TempDir &dir)
{
	std::filesystem::path raw = dir / "reference.raw";
	int status = -1;
	test::run_command(fmt::format("gst-launch-1.0 -q {} num-buffers=1 ! {} ! "
				      "filesink location='{}'",
				      kSource, kCaps, raw.string()),
			  &status);
	EXPECT_EQ(status, 0);
	std::ifstream in(raw, std::ios::binary);
	std::ostringstream out;
	out << in.rdbuf();
	return out.str();
}

/// A playing pipeline, set to NULL and freed when it goes.
class Playing {
public:
	explicit Playing(const std::string &launch)
	{
		gst_init(nullptr, nullptr);
		GError *error = nullptr;
		pipeline_ = gst_parse_launch(launch.c_str(), &error);
		if (error) {
			ADD_FAILURE() << error->message;
			g_clear_error(&error);
		}
		sink_ = gst_bin_get_by_name(GST_BIN(pipeline_), "sink");
		state_ = gst_element_set_state(pipeline_, GST_STATE_PLAYING);
		if (state_ == GST_STATE_CHANGE_ASYNC)
			state_ = gst_element_get_state(pipeline_, nullptr, nullptr,
						       std::chrono::nanoseconds(kTimeout).count());
	}
	~Playing()
	{
		stop();
		gst_object_unref(sink_);
		gst_object_unref(pipeline_);
	}

	GstStateChangeReturn state() const { return state_; }
	GstElement *sink() const { return sink_; }
	void stop() { gst_element_set_state(pipeline_, GST_STATE_NULL); }

	/// The first error posted, or empty.
	std::string error() { return test::bus_error(pipeline_); }

	uint64_t uint64(const char *name)
	{
		guint64 value = 0;
		g_object_get(sink_, name, &value, nullptr);
		return value;
	}

private:
	GstElement *pipeline_ = nullptr;
	GstElement *sink_ = nullptr;
	GstStateChangeReturn state_ = GST_STATE_CHANGE_FAILURE;
};

TEST(ZcapHttpSink, ServesEveryByteOfLiveFramesToRawAndMatroskaClients)
{
	test::TempDir dir;
	const std::string reference = reference_frame(dir);
	ASSERT_EQ(reference.size(), kFrameSize);

	Playing playing(
		fmt::format("{} is-live=true ! {} ! zcaphttpsink name=sink", kSource, kCaps));
	ASSERT_NE(playing.state(), GST_STATE_CHANGE_FAILURE) << playing.error();
	guint port = 0;
	g_object_get(playing.sink(), "port", &port, nullptr);
	ASSERT_NE(port, 0u);

	// The port is where the server listens: a client of /live.raw there
	// gets whole frames, every byte as videotestsrc made it.
	test::Connection raw{uint16_t(port)};
	ASSERT_TRUE(raw.send(test::get_request("/live.raw")));
	std::string head = raw.read_head();
	ASSERT_EQ(test::status_of(head), 200) << head;
	constexpr unsigned kRawFrames = 30;
	std::string payload(kFrameSize, '\0');
	uint64_t last_sequence = 0;
	for (unsigned i = 0; i < kRawFrames; ++i) {
		RawFrameHeader h;
		ASSERT_TRUE(raw.read_exact(reinterpret_cast<std::byte *>(&h), sizeof(h), {}))
			<< "frame " << i << ": " << raw.error();
		ASSERT_EQ(h.magic, RawFrameHeader::kMagic);
		EXPECT_EQ(h.fourcc, pixfmt::YUYV);
		EXPECT_EQ(h.width, kWidth);
		EXPECT_EQ(h.height, kHeight);
		ASSERT_EQ(h.payload_size, kFrameSize);
		if (i) {
			EXPECT_GT(h.sequence, last_sequence);
		}
		last_sequence = h.sequence;
		ASSERT_TRUE(raw.read_exact(reinterpret_cast<std::byte *>(payload.data()),
					   payload.size(), {}));
		auto [at, _] = std::mismatch(payload.begin(), payload.end(), reference.begin());
		ASSERT_TRUE(at == payload.end()) << "frame " << i << " (sequence " << h.sequence
						 << ") differs from byte " << at - payload.begin();
	}

	// FFmpeg decodes the live Matroska stream: the same frame each time.
	const std::string url = fmt::format("http://127.0.0.1:{}/live.mkv", port);
	std::filesystem::path file = dir / "reference.raw";
	std::vector<std::string> expected = test::frame_md5s(
		fmt::format("-f rawvideo -pixel_format yuyv422 -video_size {}x{} -i '{}'", kWidth,
			    kHeight, file.string()));
	ASSERT_EQ(expected.size(), 1u);
	std::vector<std::string> md5s = test::frame_md5s(fmt::format("-i {} -frames:v 10", url));
	EXPECT_EQ(md5s, std::vector<std::string>(10, expected[0]));

	// And ffprobe reads frames from it.
	std::string probe = test::run_command(fmt::format(
		"ffprobe -v error -read_intervals %+#15 -count_frames -select_streams v:0 "
		"-show_entries stream=codec_name,width,height,nb_read_frames -of "
		"default=nw=1 {}",
		url));
	EXPECT_NE(probe.find("width=320"), std::string::npos) << probe;
	EXPECT_NE(probe.find("height=240"), std::string::npos) << probe;
	size_t at = probe.find("nb_read_frames=");
	ASSERT_NE(at, std::string::npos) << probe;
	EXPECT_GE(std::stoul(probe.substr(at + std::strlen("nb_read_frames="))), 10u) << probe;

	EXPECT_GE(playing.uint64("frames"), kRawFrames);
	EXPECT_EQ(playing.error(), "");
	playing.stop();
	g_object_get(playing.sink(), "port", &port, nullptr);
	EXPECT_EQ(port, 0u) << "still listening after stop";
}

TEST(ZcapHttpSink, BadListenAddressIsAClearError)
{
	Playing playing(fmt::format("videotestsrc is-live=true ! {} ! zcaphttpsink name=sink "
				    "listen=nowhere:port",
				    kCaps));
	EXPECT_EQ(playing.state(), GST_STATE_CHANGE_FAILURE);
	std::string error = playing.error();
	EXPECT_NE(error.find("invalid listen address 'nowhere:port'"), std::string::npos) << error;
}

TEST(ZcapHttpSink, InspectShowsTheDocumentedProperties)
{
	int status = -1;
	std::string out = test::run_command("gst-inspect-1.0 zcaphttpsink 2>&1", &status);
	ASSERT_EQ(status, 0) << out;
	for (const char *text : {"listen", "[ADDR:]PORT", "port", "The port the server listens on",
				 "net-path", "auto", "copy", "zerocopy", "sendfile", "max-clients",
				 "stall-timeout", "frames", "dropped", "bytes-copied", "io-path"})
		EXPECT_NE(out.find(text), std::string::npos) << text << " missing in\n" << out;
}

} // namespace
