# Shared by the CLI test scripts (sourced, after they set $zcap): counters,
# checks, and the check that bad arguments are refused the same way.

passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() { # check NAME COMMAND...: passes when the command succeeds
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

# A bad invocation: exit status 2 and exactly one line on stderr naming the problem.
expect_usage_error() {
	local name=$1 pattern=$2
	shift 2
	local err status
	err=$("$zcap" "$@" 2>&1 >/dev/null)
	status=$?
	if [[ $status -eq 2 && $(wc -l <<<"$err") -eq 1 && $err == *"$pattern"* ]]; then
		pass "$name"
	else
		fail "$name (status $status, stderr: $err)"
	fi
}

# wait_for_last_writes FILE: waits until nothing but this shell holds FILE
# open. A writer killed with SIGKILL is reaped before the writes it had in
# flight land (io_uring finishes them on a kernel worker), and those writes
# hold the file open until they have: a write lease (F_SETLEASE) is granted
# only then. Tries every 10 ms, at most a minute.
wait_for_last_writes() {
	python3 - "$1" <<'PY'
import fcntl, os, sys, time
F_SETLEASE, F_GETLEASE, F_WRLCK, F_UNLCK = 1024, 1025, 1, 2
fd = os.open(sys.argv[1], os.O_RDONLY)
for _ in range(6000):
    try:
        fcntl.fcntl(fd, F_SETLEASE, F_WRLCK)
        fcntl.fcntl(fd, F_SETLEASE, F_UNLCK)
        sys.exit(0)
    except BlockingIOError:
        time.sleep(0.01)
sys.exit(f"{sys.argv[1]} is still open elsewhere after a minute")
PY
}
