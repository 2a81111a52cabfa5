#!/usr/bin/env bash
# zcap record where io_uring is refused, as in a container: every recording
# case again under tests/no_io_uring (EPERM, then ENOSYS).
# Usage: no_io_uring_cli_test.sh ZCAP VERIFY_RAW NO_IO_URING
set -uo pipefail

zcap=$1
verify_raw=$2
no_io_uring=$3
work=$(mktemp -d "${ZCAP_TEST_DIR:-/var/tmp}/zcap-nouring-XXXXXX")
trap 'rm -rf "$work"' EXIT
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"

probe_frames() { ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }

for refusal in eperm enosys; do
	jail=("$no_io_uring" "$refusal")

	# The demo's own command, and raw at a size that is not whole blocks.
	if "${jail[@]}" "$zcap" record -q -o "$work/demo.mkv" --force --duration 2s >"$work/demo.out" 2>&1; then
		pass "$refusal: the demo's recording (mkv)"
	else
		fail "$refusal: the demo's recording (mkv): $(cat "$work/demo.out")"
	fi
	check "$refusal: ffprobe reads the demo's file" test "$(probe_frames "$work/demo.mkv")" -gt 0
	if "${jail[@]}" "$zcap" record -q -o "$work/odd.raw" --force --size 642x362 --fps max -n 20 \
		>"$work/odd.out" 2>&1; then
		pass "$refusal: raw 642x362"
	else
		fail "$refusal: raw 642x362: $(cat "$work/odd.out")"
	fi
	check "$refusal: raw 642x362: every byte matches the pattern" \
		bash -c "'$verify_raw' '$work/odd.raw' YUYV 642x362 | grep -qx 'frames 20 first 0 last 19'"
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
