// SPDX-License-Identifier: LGPL-2.1-or-later
// Smoke test that runs inside the QEMU guest of tests/vm/run-in-guest:
// checks that the guest really offers what the V4L2/DRM/O_DIRECT tests need.
//   - vivid capture nodes, queried and streamed through libv4l2 (MMAP)
//   - a multi-planar vivid node, streamed with the MPLANE API
//   - vgem: dumb buffer, PRIME export to a DMA-BUF, mmap of that DMA-BUF
//   - O_DIRECT on the ext4 scratch disk that is the working directory
// Run it with: tests/vm/run-in-guest -- <build>/tests/vm/vm_guest_smoke_test

#include <gtest/gtest.h>

#include <fcntl.h>
#include <glob.h>
#include <libv4l2.h>
#include <linux/dma-buf.h>
#include <linux/magic.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xf86drm.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr uint32_t kWidth = 640;
constexpr uint32_t kHeight = 480;
constexpr int kFrames = 3;

std::string errno_text()
{
	return std::string(std::strerror(errno)) + " (errno " + std::to_string(errno) + ")";
}

class Fd {
public:
	Fd() = default;
	explicit Fd(int fd) : fd_(fd) {}
	Fd(const Fd &) = delete;
	Fd &operator=(const Fd &) = delete;
	Fd(Fd &&o) noexcept : fd_(o.release()) {}
	~Fd()
	{
		if (fd_ >= 0)
			::close(fd_);
	}
	int get() const { return fd_; }
	int release()
	{
		int f = fd_;
		fd_ = -1;
		return f;
	}

private:
	int fd_ = -1;
};

// The V4L2 entry points: either straight syscalls or libv4l2's wrappers.
struct V4l2Api {
	const char *name;
	int (*ioctl)(int, unsigned long, void *);
	void *(*mmap)(void *, size_t, int, int, int, int64_t);
	int (*munmap)(void *, size_t);
	int (*close)(int);
};

int raw_ioctl(int fd, unsigned long req, void *arg)
{
	return ::ioctl(fd, req, arg);
}
void *raw_mmap(void *a, size_t l, int p, int f, int fd, int64_t o)
{
	return ::mmap(a, l, p, f, fd, o);
}
int lib_ioctl(int fd, unsigned long req, void *arg)
{
	return v4l2_ioctl(fd, req, arg);
}

const V4l2Api kRaw{"raw ioctl", raw_ioctl, raw_mmap, ::munmap, ::close};
const V4l2Api kLibv4l2{"libv4l2", lib_ioctl, v4l2_mmap, v4l2_munmap, v4l2_close};

// An open V4L2 node, closed through the API it was opened with.
class V4l2Node {
public:
	V4l2Node(const std::string &path, const V4l2Api &api) : api_(api)
	{
		int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			error_ = "open " + path + ": " + errno_text();
			return;
		}
		if (&api == &kLibv4l2) {
			int lfd = v4l2_fd_open(fd, V4L2_DISABLE_CONVERSION);
			if (lfd < 0) {
				error_ = "v4l2_fd_open " + path + ": " + errno_text();
				::close(fd);
				return;
			}
			fd = lfd;
		}
		fd_ = fd;
	}
	V4l2Node(const V4l2Node &) = delete;
	V4l2Node &operator=(const V4l2Node &) = delete;
	~V4l2Node()
	{
		if (fd_ >= 0)
			api_.close(fd_);
	}
	bool ok() const { return fd_ >= 0; }
	const std::string &error() const { return error_; }
	int fd() const { return fd_; }
	int ioctl(unsigned long req, void *arg) const { return api_.ioctl(fd_, req, arg); }
	const V4l2Api &api() const { return api_; }

private:
	const V4l2Api &api_;
	int fd_ = -1;
	std::string error_;
};

std::vector<std::string> video_nodes()
{
	std::vector<std::string> out;
	glob_t g{};
	if (::glob("/dev/video*", 0, nullptr, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; ++i)
			out.emplace_back(g.gl_pathv[i]);
	}
	::globfree(&g);
	return out;
}

// The device_caps of a node (capabilities when the driver has none).
uint32_t node_caps(const v4l2_capability &cap)
{
	return (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
}

// The first vivid node whose raw (kernel-reported) caps contain `want` and
// none of `exclude`; empty if there is none.
std::string find_vivid_node(uint32_t want, uint32_t exclude)
{
	for (const auto &path : video_nodes()) {
		V4l2Node node(path, kRaw);
		v4l2_capability cap{};
		if (!node.ok() || node.ioctl(VIDIOC_QUERYCAP, &cap) != 0)
			continue;
		uint32_t caps = node_caps(cap);
		if (std::strcmp(reinterpret_cast<const char *>(cap.driver), "vivid") == 0 &&
		    (caps & want) == want && (caps & exclude) == 0)
			return path;
	}
	return {};
}

// True when libv4l2 will load its mplane plugin, which presents
// multi-planar-only devices as single-planar ones (and hides the MPLANE caps).
bool libv4l_mplane_plugin_present()
{
	glob_t g{};
	bool found = ::glob("/usr/lib/*/libv4l/plugins/libv4l-mplane.so", 0, nullptr, &g) == 0 &&
		     g.gl_pathc > 0;
	::globfree(&g);
	return found;
}

void print_caps(const std::string &path, const char *via, const v4l2_capability &cap)
{
	std::printf("%s via %s: driver=%s card=%s bus=%s caps=0x%08x device_caps=0x%08x\n",
		    path.c_str(), via, reinterpret_cast<const char *>(cap.driver),
		    reinterpret_cast<const char *>(cap.card),
		    reinterpret_cast<const char *>(cap.bus_info), cap.capabilities,
		    cap.device_caps);
}

// Streams kFrames frames of 640x480 YUYV with MMAP buffers and checks them.
void capture_mmap(const std::string &path, const V4l2Api &api, bool mplane)
{
	SCOPED_TRACE(path + " via " + api.name + (mplane ? ", MPLANE API" : ", single-planar API"));
	V4l2Node node(path, api);
	ASSERT_TRUE(node.ok()) << node.error();
	const auto type = mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE;

	v4l2_format fmt{};
	fmt.type = type;
	if (mplane) {
		fmt.fmt.pix_mp.width = kWidth;
		fmt.fmt.pix_mp.height = kHeight;
		fmt.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_YUYV;
		fmt.fmt.pix_mp.field = V4L2_FIELD_NONE;
		fmt.fmt.pix_mp.num_planes = 1;
	} else {
		fmt.fmt.pix.width = kWidth;
		fmt.fmt.pix.height = kHeight;
		fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
		fmt.fmt.pix.field = V4L2_FIELD_NONE;
	}
	ASSERT_EQ(node.ioctl(VIDIOC_S_FMT, &fmt), 0) << "S_FMT: " << errno_text();
	uint32_t sizeimage = 0;
	if (mplane) {
		ASSERT_EQ(fmt.fmt.pix_mp.width, kWidth);
		ASSERT_EQ(fmt.fmt.pix_mp.height, kHeight);
		ASSERT_EQ(fmt.fmt.pix_mp.pixelformat, V4L2_PIX_FMT_YUYV);
		ASSERT_EQ(fmt.fmt.pix_mp.num_planes, 1u);
		sizeimage = fmt.fmt.pix_mp.plane_fmt[0].sizeimage;
	} else {
		ASSERT_EQ(fmt.fmt.pix.width, kWidth);
		ASSERT_EQ(fmt.fmt.pix.height, kHeight);
		ASSERT_EQ(fmt.fmt.pix.pixelformat, V4L2_PIX_FMT_YUYV);
		sizeimage = fmt.fmt.pix.sizeimage;
	}
	ASSERT_EQ(sizeimage, kWidth * kHeight * 2);

	// vivid's webcam input defaults to a low frame rate; ask for more to
	// keep the test short (not an error if the driver keeps its own).
	v4l2_streamparm parm{};
	parm.type = type;
	parm.parm.capture.timeperframe = {1, 30};
	if (node.ioctl(VIDIOC_S_PARM, &parm) == 0)
		std::printf("%s: frame interval %u/%u s\n", path.c_str(),
			    parm.parm.capture.timeperframe.numerator,
			    parm.parm.capture.timeperframe.denominator);

	v4l2_requestbuffers req{};
	req.count = 4;
	req.type = type;
	req.memory = V4L2_MEMORY_MMAP;
	ASSERT_EQ(node.ioctl(VIDIOC_REQBUFS, &req), 0) << "REQBUFS: " << errno_text();
	ASSERT_GE(req.count, 2u);

	struct Mapping {
		void *addr = MAP_FAILED;
		size_t length = 0;
	};
	std::vector<Mapping> maps(req.count);
	auto unmap_all = [&] {
		for (auto &m : maps) {
			if (m.addr != MAP_FAILED)
				api.munmap(m.addr, m.length);
			m.addr = MAP_FAILED;
		}
	};
	struct Unmapper {
		decltype(unmap_all) &f;
		~Unmapper() { f(); }
	} unmapper{unmap_all};

	auto make_buf = [&](uint32_t index, v4l2_buffer &buf, v4l2_plane &plane) {
		buf = {};
		plane = {};
		buf.type = type;
		buf.memory = V4L2_MEMORY_MMAP;
		buf.index = index;
		if (mplane) {
			buf.m.planes = &plane;
			buf.length = 1;
		}
	};

	for (uint32_t i = 0; i < req.count; ++i) {
		v4l2_buffer buf;
		v4l2_plane plane;
		make_buf(i, buf, plane);
		ASSERT_EQ(node.ioctl(VIDIOC_QUERYBUF, &buf), 0)
			<< "QUERYBUF " << i << ": " << errno_text();
		size_t length = mplane ? plane.length : buf.length;
		int64_t offset = mplane ? plane.m.mem_offset : buf.m.offset;
		ASSERT_GE(length, sizeimage);
		maps[i].addr = api.mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED,
					node.fd(), offset);
		ASSERT_NE(maps[i].addr, MAP_FAILED) << "mmap buffer " << i << ": " << errno_text();
		maps[i].length = length;
		std::memset(maps[i].addr, 0, length);
		ASSERT_EQ(node.ioctl(VIDIOC_QBUF, &buf), 0) << "QBUF " << i << ": " << errno_text();
	}

	int stream_type = type;
	ASSERT_EQ(node.ioctl(VIDIOC_STREAMON, &stream_type), 0) << "STREAMON: " << errno_text();
	uint32_t last_sequence = 0;
	uint64_t last_ts_us = 0;
	for (int n = 0; n < kFrames; ++n) {
		pollfd pfd{node.fd(), POLLIN, 0};
		int pr = ::poll(&pfd, 1, 10000);
		ASSERT_EQ(pr, 1) << "poll for frame " << n << ": "
				 << (pr == 0 ? "timed out after 10 s" : errno_text());
		ASSERT_TRUE(pfd.revents & POLLIN) << "revents 0x" << std::hex << pfd.revents;

		v4l2_buffer buf;
		v4l2_plane plane;
		make_buf(0, buf, plane);
		ASSERT_EQ(node.ioctl(VIDIOC_DQBUF, &buf), 0) << "DQBUF: " << errno_text();
		ASSERT_LT(buf.index, req.count);
		uint32_t bytesused = mplane ? plane.bytesused : buf.bytesused;
		EXPECT_EQ(bytesused, sizeimage) << "frame " << n;
		EXPECT_FALSE(buf.flags & V4L2_BUF_FLAG_ERROR) << "frame " << n;
		uint64_t ts_us = uint64_t(buf.timestamp.tv_sec) * 1000000 + buf.timestamp.tv_usec;
		if (n > 0) {
			EXPECT_GT(buf.sequence, last_sequence) << "frame " << n;
			EXPECT_GT(ts_us, last_ts_us) << "frame " << n;
		}
		last_sequence = buf.sequence;
		last_ts_us = ts_us;

		// vivid draws a test pattern: the frame must not be the zeros we
		// filled the buffer with.
		const auto *p = static_cast<const uint8_t *>(maps[buf.index].addr);
		size_t nonzero = 0;
		for (size_t i = 0; i < sizeimage; i += 64)
			nonzero += p[i] != 0;
		EXPECT_GT(nonzero, 0u) << "frame " << n << " is all zeros";
		std::printf("%s: frame %d: buffer %u, seq %u, %u bytes, ts %llu us\n", path.c_str(),
			    n, buf.index, buf.sequence, bytesused,
			    static_cast<unsigned long long>(ts_us));
		std::memset(maps[buf.index].addr, 0, maps[buf.index].length);
		ASSERT_EQ(node.ioctl(VIDIOC_QBUF, &buf), 0) << "re-QBUF: " << errno_text();
	}
	ASSERT_EQ(node.ioctl(VIDIOC_STREAMOFF, &stream_type), 0) << "STREAMOFF: " << errno_text();
	unmap_all();
	req.count = 0;
	ASSERT_EQ(node.ioctl(VIDIOC_REQBUFS, &req), 0) << "REQBUFS 0: " << errno_text();
}

// --- V4L2 -------------------------------------------------------------------

TEST(GuestV4l2, Video0IsVividThroughLibv4l2)
{
	struct stat st {};
	ASSERT_EQ(::stat("/dev/video0", &st), 0) << "/dev/video0: " << errno_text();
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(major(st.st_rdev), 81u) << "not a V4L2 (major 81) device";

	V4l2Node node("/dev/video0", kLibv4l2);
	ASSERT_TRUE(node.ok()) << node.error();
	v4l2_capability cap{};
	ASSERT_EQ(node.ioctl(VIDIOC_QUERYCAP, &cap), 0) << "QUERYCAP: " << errno_text();
	print_caps("/dev/video0", "libv4l2", cap);
	EXPECT_STREQ(reinterpret_cast<const char *>(cap.driver), "vivid");
	EXPECT_TRUE(node_caps(cap) & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE));
	EXPECT_TRUE(node_caps(cap) & V4L2_CAP_STREAMING);
}

TEST(GuestV4l2, HasSingleAndMultiPlanarCaptureNodes)
{
	for (const auto &path : video_nodes()) {
		V4l2Node node(path, kRaw);
		v4l2_capability cap{};
		if (node.ok() && node.ioctl(VIDIOC_QUERYCAP, &cap) == 0)
			print_caps(path, "ioctl", cap);
	}
	EXPECT_NE(find_vivid_node(V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING,
				  V4L2_CAP_VIDEO_CAPTURE_MPLANE),
		  "")
		<< "no single-planar vivid capture node (vivid multiplanar=1)";
	EXPECT_NE(find_vivid_node(V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_STREAMING,
				  V4L2_CAP_VIDEO_CAPTURE),
		  "")
		<< "no multi-planar vivid capture node (vivid multiplanar=2)";
}

TEST(GuestV4l2, MultiPlanarNodeThroughLibv4l2)
{
	const std::string path =
		find_vivid_node(V4L2_CAP_VIDEO_CAPTURE_MPLANE, V4L2_CAP_VIDEO_CAPTURE);
	ASSERT_NE(path, "") << "no multi-planar vivid capture node";
	V4l2Node node(path, kLibv4l2);
	ASSERT_TRUE(node.ok()) << node.error();
	v4l2_capability cap{};
	ASSERT_EQ(node.ioctl(VIDIOC_QUERYCAP, &cap), 0) << "QUERYCAP: " << errno_text();
	print_caps(path, "libv4l2", cap);
	EXPECT_STREQ(reinterpret_cast<const char *>(cap.driver), "vivid");
	if (libv4l_mplane_plugin_present()) {
		// libv4l-mplane turns the node into a single-planar one for
		// libv4l2 users: MPLANE is hidden, the single-planar API works.
		std::printf("%s: libv4l-mplane plugin present: libv4l2 presents the node as "
			    "single-planar\n",
			    path.c_str());
		EXPECT_TRUE(node_caps(cap) & V4L2_CAP_VIDEO_CAPTURE);
		EXPECT_FALSE(node_caps(cap) & V4L2_CAP_VIDEO_CAPTURE_MPLANE);
	} else {
		EXPECT_TRUE(node_caps(cap) & V4L2_CAP_VIDEO_CAPTURE_MPLANE);
	}
}

TEST(GuestV4l2, MmapCaptureSinglePlanarThroughLibv4l2)
{
	const std::string path = find_vivid_node(V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING,
						 V4L2_CAP_VIDEO_CAPTURE_MPLANE);
	ASSERT_NE(path, "") << "no single-planar vivid capture node";
	capture_mmap(path, kLibv4l2, false);
}

TEST(GuestV4l2, MmapCaptureMultiPlanarRawIoctl)
{
	const std::string path = find_vivid_node(V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_STREAMING,
						 V4L2_CAP_VIDEO_CAPTURE);
	ASSERT_NE(path, "") << "no multi-planar vivid capture node";
	capture_mmap(path, kRaw, true);
}

TEST(GuestV4l2, MmapCaptureMultiPlanarThroughLibv4l2)
{
	const std::string path = find_vivid_node(V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_STREAMING,
						 V4L2_CAP_VIDEO_CAPTURE);
	ASSERT_NE(path, "") << "no multi-planar vivid capture node";
	// With the plugin, libv4l2 accepts only the single-planar API there.
	capture_mmap(path, kLibv4l2, !libv4l_mplane_plugin_present());
}

// --- DRM (vgem) ---------------------------------------------------------------

std::string drm_driver_name(int fd)
{
	drmVersionPtr v = drmGetVersion(fd);
	if (!v)
		return "(drmGetVersion failed: " + errno_text() + ")";
	std::string name(v->name, v->name_len);
	std::printf("DRM driver %s %d.%d.%d (%s)\n", name.c_str(), v->version_major,
		    v->version_minor, v->version_patchlevel, v->desc ? v->desc : "");
	drmFreeVersion(v);
	return name;
}

TEST(GuestDrm, RenderNodeIsVgem)
{
	Fd fd(::open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC));
	ASSERT_GE(fd.get(), 0) << "/dev/dri/renderD128: " << errno_text();
	EXPECT_EQ(drm_driver_name(fd.get()), "vgem");
	EXPECT_EQ(drmGetNodeTypeFromFd(fd.get()), DRM_NODE_RENDER);
}

TEST(GuestDrm, DumbBufferPrimeExportAndMmap)
{
	// DRM_IOCTL_MODE_CREATE_DUMB is not allowed on render nodes: use card0.
	Fd card(::open("/dev/dri/card0", O_RDWR | O_CLOEXEC));
	ASSERT_GE(card.get(), 0) << "/dev/dri/card0: " << errno_text();
	ASSERT_EQ(drm_driver_name(card.get()), "vgem");

	drm_mode_create_dumb create{};
	create.width = kWidth;
	create.height = kHeight;
	create.bpp = 32;
	ASSERT_EQ(drmIoctl(card.get(), DRM_IOCTL_MODE_CREATE_DUMB, &create), 0)
		<< "CREATE_DUMB: " << errno_text();
	EXPECT_NE(create.handle, 0u);
	EXPECT_GE(create.pitch, kWidth * 4);
	ASSERT_GE(create.size, uint64_t(create.pitch) * kHeight);
	std::printf("dumb buffer: handle %u, pitch %u, size %llu\n", create.handle, create.pitch,
		    static_cast<unsigned long long>(create.size));
	const size_t size = create.size;

	int dmabuf_fd = -1;
	ASSERT_EQ(drmPrimeHandleToFD(card.get(), create.handle, DRM_CLOEXEC | DRM_RDWR, &dmabuf_fd),
		  0)
		<< "drmPrimeHandleToFD: " << errno_text();
	Fd dmabuf(dmabuf_fd);
	EXPECT_EQ(::lseek(dmabuf.get(), 0, SEEK_END), off_t(size)) << "DMA-BUF size";
	::lseek(dmabuf.get(), 0, SEEK_SET);

	// Write through a mapping of the DMA-BUF ...
	void *map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, dmabuf.get(), 0);
	ASSERT_NE(map, MAP_FAILED) << "mmap DMA-BUF: " << errno_text();
	dma_buf_sync sync{DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW};
	EXPECT_EQ(::ioctl(dmabuf.get(), DMA_BUF_IOCTL_SYNC, &sync), 0)
		<< "DMA_BUF_IOCTL_SYNC start: " << errno_text();
	auto *words = static_cast<uint32_t *>(map);
	for (size_t i = 0; i < size / 4; ++i)
		words[i] = uint32_t(i * 2654435761u);
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
	EXPECT_EQ(::ioctl(dmabuf.get(), DMA_BUF_IOCTL_SYNC, &sync), 0)
		<< "DMA_BUF_IOCTL_SYNC end: " << errno_text();

	// ... and read it back through the dumb buffer's own mapping: same memory.
	drm_mode_map_dumb mreq{};
	mreq.handle = create.handle;
	ASSERT_EQ(drmIoctl(card.get(), DRM_IOCTL_MODE_MAP_DUMB, &mreq), 0)
		<< "MAP_DUMB: " << errno_text();
	void *map2 = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, card.get(), off_t(mreq.offset));
	ASSERT_NE(map2, MAP_FAILED) << "mmap dumb buffer: " << errno_text();
	const auto *words2 = static_cast<const uint32_t *>(map2);
	size_t mismatches = 0;
	for (size_t i = 0; i < size / 4; ++i)
		mismatches += words2[i] != uint32_t(i * 2654435761u);
	EXPECT_EQ(mismatches, 0u) << "the DMA-BUF and the dumb buffer mappings differ";
	::munmap(map2, size);
	::munmap(map, size);

	// The DMA-BUF imports on the render node as well.
	Fd render(::open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC));
	ASSERT_GE(render.get(), 0) << "/dev/dri/renderD128: " << errno_text();
	uint32_t imported = 0;
	EXPECT_EQ(drmPrimeFDToHandle(render.get(), dmabuf.get(), &imported), 0)
		<< "drmPrimeFDToHandle: " << errno_text();
	EXPECT_NE(imported, 0u);
	if (imported)
		drmCloseBufferHandle(render.get(), imported);

	drm_mode_destroy_dumb destroy{create.handle};
	EXPECT_EQ(drmIoctl(card.get(), DRM_IOCTL_MODE_DESTROY_DUMB, &destroy), 0)
		<< "DESTROY_DUMB: " << errno_text();
}

// --- O_DIRECT on the scratch disk -----------------------------------------------

TEST(GuestDisk, CwdIsExt4OnVirtioDisk)
{
	struct statfs sfs {};
	ASSERT_EQ(::statfs(".", &sfs), 0) << errno_text();
	EXPECT_EQ(sfs.f_type, EXT4_SUPER_MAGIC) << "cwd is not on ext4";
	struct stat cwd {
	}, dev{};
	ASSERT_EQ(::stat(".", &cwd), 0) << errno_text();
	ASSERT_EQ(::stat("/dev/vda", &dev), 0) << "/dev/vda: " << errno_text();
	EXPECT_EQ(cwd.st_dev, dev.st_rdev) << "cwd is not on /dev/vda";
}

TEST(GuestDisk, ODirectWriteAndReadBack1MiB)
{
	constexpr size_t kSize = 1 << 20;
	constexpr size_t kAlign = 4096;
	const char *name = "zcap-vm-odirect.bin";
	Fd fd(::open(name, O_CREAT | O_TRUNC | O_RDWR | O_DIRECT | O_CLOEXEC, 0644));
	ASSERT_GE(fd.get(), 0) << "open O_DIRECT: " << errno_text();
	ASSERT_TRUE(::fcntl(fd.get(), F_GETFL) & O_DIRECT);

	std::unique_ptr<uint8_t, decltype(&std::free)> wbuf(
		static_cast<uint8_t *>(std::aligned_alloc(kAlign, kSize)), &std::free);
	std::unique_ptr<uint8_t, decltype(&std::free)> rbuf(
		static_cast<uint8_t *>(std::aligned_alloc(kAlign, kSize + kAlign)), &std::free);
	ASSERT_TRUE(wbuf && rbuf);
	for (size_t i = 0; i < kSize; ++i)
		wbuf.get()[i] = uint8_t((i * 31) ^ (i >> 12));

	ASSERT_EQ(::pwrite(fd.get(), wbuf.get(), kSize, 0), ssize_t(kSize))
		<< "O_DIRECT pwrite: " << errno_text();
	ASSERT_EQ(::fsync(fd.get()), 0) << errno_text();

	// O_DIRECT is really in effect: a misaligned user buffer is refused.
	errno = 0;
	EXPECT_EQ(::pread(fd.get(), rbuf.get() + 1, kAlign, 0), -1)
		<< "misaligned O_DIRECT read was accepted";
	EXPECT_EQ(errno, EINVAL);

	std::memset(rbuf.get(), 0, kSize);
	ASSERT_EQ(::pread(fd.get(), rbuf.get(), kSize, 0), ssize_t(kSize))
		<< "O_DIRECT pread: " << errno_text();
	EXPECT_EQ(std::memcmp(rbuf.get(), wbuf.get(), kSize), 0) << "O_DIRECT read-back differs";

	// And through the page cache, after dropping it.
	EXPECT_EQ(::posix_fadvise(fd.get(), 0, kSize, POSIX_FADV_DONTNEED), 0);
	Fd buffered(::open(name, O_RDONLY | O_CLOEXEC));
	ASSERT_GE(buffered.get(), 0) << errno_text();
	std::memset(rbuf.get(), 0, kSize);
	ASSERT_EQ(::pread(buffered.get(), rbuf.get(), kSize, 0), ssize_t(kSize)) << errno_text();
	EXPECT_EQ(std::memcmp(rbuf.get(), wbuf.get(), kSize), 0) << "buffered read-back differs";
	EXPECT_EQ(::unlink(name), 0) << errno_text();
}

} // namespace
