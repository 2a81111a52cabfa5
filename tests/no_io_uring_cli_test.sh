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

# What a recording reports of itself: path, frames, copies, why not io_uring.
stats() { python3 -c "import json, sys; s = json.load(open(sys.argv[1]))['sinks'][0]; print(s['io_path'], s['frames'], s['copied_bytes'], s['io_uring_refusal'])" "$1"; }

check "enosys: the summary says why io_uring was not used" \
	bash -c "'$no_io_uring' enosys '$zcap' record -o '$work/w.raw' --force -n 3 2>&1 | grep -q 'not io_uring: io_uring refused (ENOSYS'"

# Raw and Matroska at sizes of whole blocks and not: aio+O_DIRECT, every
# byte right, and no copy but the seams the io_uring path copies too.
for size in 640x480 1280x720 1920x1080 642x362; do
	for ext in raw mkv; do
		name="eperm: $size $ext"
		"$zcap" record -q -o "$work/ref.$ext" --force --size "$size" --fps max -n 20 \
			--disk-path uring --stats-json "$work/ref.json"
		if ! "$no_io_uring" eperm "$zcap" record -q -o "$work/t.$ext" --force --size "$size" \
			--fps max -n 20 --stats-json "$work/t.json" >"$work/t.out" 2>&1; then
			fail "$name: records: $(cat "$work/t.out")"
			continue
		fi
		read -r path frames copied refusal <<<"$(stats "$work/t.json")"
		read -r _ _ ref_copied _ <<<"$(stats "$work/ref.json")"
		check "$name: aio+O_DIRECT, 20 frames, said why (got $path $frames $refusal)" \
			test "$path" = aio+O_DIRECT -a "$frames" = 20 -a "${refusal%%:*}" = "io_uring refused (EPERM"
		check "$name: copies only the seams io_uring copies ($copied, io_uring $ref_copied)" \
			test "$copied" = "$ref_copied"
		if [[ $size == 640x480 || $size == 1280x720 ]]; then
			check "$name: frames of whole blocks: nothing copied" test "$copied" = 0
		fi
		if [[ $ext == raw ]]; then
			check "$name: every byte matches the pattern" \
				bash -c "'$verify_raw' '$work/t.raw' YUYV $size | grep -qx 'frames 20 first 0 last 19'"
		else
			check "$name: ffprobe counts 20 frames" test "$(probe_frames "$work/t.mkv")" = 20
			ffmpeg -v fatal -y -i "$work/t.mkv" -c copy -f rawvideo "$work/t.yuv"
			check "$name: every byte of the frames FFmpeg reads matches the pattern" \
				bash -c "'$verify_raw' '$work/t.yuv' YUYV $size | grep -q '^frames 20 '"
		fi
	done
done

# The syscalls: Linux AIO direct writes (io_submit) carry the frames; no io_uring_enter and
# no frame-sized write.
strace -f -qq -e trace=io_uring_setup,io_uring_enter,io_submit,write,pwrite64,pwritev,pwritev2 \
	-o "$work/strace.txt" "$no_io_uring" eperm "$zcap" record -q -o "$work/s.mkv" --force \
	--size 640x480 --fps max -n 30
check "strace: io_submit writes carry the frames" \
	bash -c "grep -Eq 'io_submit\\(.*IOCB_CMD_PWRITE.*aio_nbytes=614400' '$work/strace.txt'"
check "strace: io_uring was refused and never entered" \
	bash -c "grep -q 'io_uring_setup(.*EPERM' '$work/strace.txt' && ! grep -q 'io_uring_enter(' '$work/strace.txt'"
check "strace: no frame-sized write() or pwrite()" \
	bash -c "! grep -E '(write|pwrite64|pwritev2?)\\([0-9]+, .*= ([0-9]{5,})$' '$work/strace.txt'"

# SIGKILL mid-recording leaves a file that plays the frames before the kill.
"$no_io_uring" eperm "$zcap" record -q -o "$work/k.mkv" --force --size 640x480 --fps 30 &
pid=$!
before=0
for _ in $(seq 200); do
	before=$(probe_frames "$work/k.mkv" 2>/dev/null)
	[[ ${before:-0} -gt 0 ]] && break
	sleep 0.1
done
kill -KILL $pid
wait $pid 2>/dev/null
wait_for_last_writes "$work/k.mkv"
killed=$(probe_frames "$work/k.mkv" 2>/dev/null)
check "SIGKILL: the file plays every frame it showed before ($killed >= ${before:-0} > 0)" \
	test "${killed:-0}" -ge "${before:-0}" -a "${before:-0}" -gt 0

# zcap stream needs no io_uring.
"$no_io_uring" eperm "$zcap" stream --listen 127.0.0.1:0 --size 320x240 --fps 30 -t 4s >"$work/serve.out" 2>&1 &
server=$!
for _ in $(seq 50); do grep -q "^serving" "$work/serve.out" && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*/live.mkv' "$work/serve.out")
live=$(timeout 10 ffprobe -v error -count_frames -read_intervals %+1 -show_entries stream=nb_read_frames -of csv=p=0 "$url")
wait $server
check "zcap stream serves under the filter (ffprobe read ${live:-0} frames)" test "${live:-0}" -gt 0

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
