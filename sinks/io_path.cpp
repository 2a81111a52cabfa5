// SPDX-License-Identifier: LGPL-2.1-or-later
#include <zcap/sink.h>

namespace zcap {

std::string_view io_path_name(IoPath path)
{
	switch (path) {
	case IoPath::none:
		return "none";
	case IoPath::uring_direct_fixed:
		return "io_uring+O_DIRECT+registered-buffers";
	case IoPath::uring_direct:
		return "io_uring+O_DIRECT";
	case IoPath::buffered:
		return "buffered-write-behind";
	}
	return "unknown";
}

} // namespace zcap
