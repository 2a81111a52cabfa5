// SPDX-License-Identifier: LGPL-2.1-or-later
// Runs a command the way a container runs it: io_uring_setup, io_uring_enter
// and io_uring_register fail, with EPERM (Docker >= 25's default seccomp
// profile, containerd 2's RuntimeDefault, kernel.io_uring_disabled=2) or
// ENOSYS (Podman's default profile).
//
//   no_io_uring eperm|enosys COMMAND [ARG...]
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace {

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
#error "no_io_uring: add this architecture's AUDIT_ARCH"
#endif

int usage()
{
	std::fprintf(stderr, "usage: no_io_uring eperm|enosys COMMAND [ARG...]\n");
	return 2;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	std::string_view how = argv[1];
	if (how != "eperm" && how != "enosys")
		return usage();
	const uint32_t deny = SECCOMP_RET_ERRNO | (how == "eperm" ? EPERM : ENOSYS);

	// Another architecture's system call numbers mean other calls: kill.
	sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, deny),
	};
	sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		std::fprintf(stderr, "no_io_uring: PR_SET_NO_NEW_PRIVS: %s\n",
			     std::strerror(errno));
		return 125;
	}
	if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) < 0) {
		std::fprintf(stderr, "no_io_uring: seccomp: %s\n", std::strerror(errno));
		return 125;
	}
	execvp(argv[2], argv + 2);
	std::fprintf(stderr, "no_io_uring: %s: %s\n", argv[2], std::strerror(errno));
	return 127;
}
