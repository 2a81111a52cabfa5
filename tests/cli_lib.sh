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
