#!/usr/bin/env bash
# End-to-end tests of the zcap command: real files, real signals, the syscalls
# it really makes (strace) and a third-party reader (ffprobe).
# Usage: cli_test.sh ZCAP VERIFY_RAW
set -uo pipefail

zcap=$1
verify_raw=$2
work=$(mktemp -d "${ZCAP_TEST_DIR:-/var/tmp}/zcap-cli-XXXXXX")
trap 'rm -rf "$work"' EXIT
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"

expect_usage_error "no command" "no command given"
expect_usage_error "unknown command" "unknown command 'frobnicate'" frobnicate
expect_usage_error "no output" "no output file" record --frames 3
expect_usage_error "unknown option" "unknown option '--bogus'" record -o "$work/x.raw" --bogus
expect_usage_error "missing value" "needs a value" record -o
expect_usage_error "bad size" "invalid size '12by4'" record -o "$work/x.raw" --size 12by4
expect_usage_error "zero size" "invalid size '0x480'" record -o "$work/x.raw" --size 0x480
expect_usage_error "bad format" "unknown format 'H2645'" record -o "$work/x.raw" -f H2645
expect_usage_error "pattern cannot make a camera format" "the built-in pattern cannot make H264" \
	record -o "$work/x.raw" -s pattern -f H264
expect_usage_error "odd width for YUYV" "even width" record -o "$work/x.raw" --size 641x480
expect_usage_error "bad fps" "invalid frame rate 'fast'" record -o "$work/x.raw" --fps fast
expect_usage_error "bad duration" "invalid duration '10 parsecs'" record -o "$work/x.raw" -t "10 parsecs"
expect_usage_error "duration under a nanosecond" "invalid duration '1e-10s'" record -o "$work/x.raw" -t 1e-10s
expect_usage_error "zero frames" "invalid frame count '0'" record -o "$work/x.raw" -n 0
expect_usage_error "frames and duration" "cannot be combined" record -o "$work/x.raw" -n 3 -t 1s
expect_usage_error "bad policy" "invalid policy" record -o "$work/x.raw" --policy maybe
check "a missing device is a clear failure" bash -c "\"$zcap\" record -o \"$work/x.raw\" -s /dev/video9 2>&1 | grep -q \"cannot open /dev/video9\""
check "-d names the device too" bash -c "\"$zcap\" record -o \"$work/x.raw\" -d /dev/video9 2>&1 | grep -q \"cannot open /dev/video9\""
check "no file left by bad arguments" test ! -e "$work/x.raw"

check "help documents the options" bash -c "'$zcap' record --help | grep -q -- '--queue-depth'"

# A recording: every byte checked, zero copies for block-sized frames.
out="$work/a.raw"
if "$zcap" record -o "$out" --size 640x480 -f YUYV --fps max -n 60 --stats-json "$work/a.json" \
	>"$work/a.out" 2>"$work/a.err"; then
	pass "records 60 frames"
else
	fail "records 60 frames: $(cat "$work/a.err")"
fi
check "every byte matches the pattern" bash -c "'$verify_raw' '$out' YUYV 640x480 | grep -qx 'frames 60 first 0 last 59'"
check "summary says where and what" grep -q "recorded 60 frames (640x480 YUYV" "$work/a.out"
check "summary names the source" grep -q "source: built-in pattern" "$work/a.out"
check "stats: direct I/O, nothing copied" python3 - "$work/a.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
sink = s["sinks"][0]
assert s["ok"] and sink["frames"] == 60 and sink["copied_bytes"] == 0, s
assert "O_DIRECT" in sink["io_path"], sink
PY
# Formats typed as a user types them (no trailing spaces, aliases), every byte checked.
for f in Y16 I420 BGR24 BA81; do
	if "$zcap" record -q -o "$work/$f.raw" --size 64x48 -f "$f" --fps max -n 3 2>"$work/$f.err"; then
		check "-f $f: every byte matches the pattern" bash -c "'$verify_raw' '$work/$f.raw' '$f' 64x48 | grep -qx 'frames 3 first 0 last 2'"
	else
		fail "-f $f records: $(cat "$work/$f.err")"
	fi
done
check "zcap formats lists names -f takes" bash -c "'$zcap' formats | grep -q '^Y16 (GRAY16) .*FFmpeg (gray16le)'"
check "ffprobe counts 60 frames" bash -c "[ \"\$(ffprobe -v error -f rawvideo -pixel_format yuyv422 -video_size 640x480 -count_frames -show_entries stream=nb_read_frames -of csv=p=0 '$out')\" = 60 ]"

# The syscalls: frame data goes through io_uring, never write()/pwrite() of frame size.
if command -v strace >/dev/null; then
	strace -f -qq -e trace=io_uring_setup,io_uring_enter,write,pwrite64,pwritev,pwritev2 \
		-o "$work/strace.txt" "$zcap" record -q -o "$work/s.raw" --size 640x480 --fps max -n 30
	check "io_uring carries the writes" grep -q "io_uring_enter" "$work/strace.txt"
	check "no frame goes through write() or pwrite()" \
		bash -c "! grep -E '(write|pwrite64|pwritev2?)\\([0-9]+, .*= (6144|[0-9]{5,})$' '$work/strace.txt'"
else
	fail "strace is missing (scripts/setup installs it)"
fi

# Never overwrite a recording without --force.
err=$("$zcap" record -o "$out" -n 1 2>&1 >/dev/null)
status=$?
check "refuses to overwrite (status $status: $err)" test $status -eq 2 -a "$(wc -l <<<"$err")" -eq 1
check "the existing recording is intact" bash -c "'$verify_raw' '$out' YUYV 640x480 | grep -q 'frames 60'"
check "--force overwrites" "$zcap" record -q --force -o "$out" --size 640x480 -n 5
check "overwritten file holds the new recording" bash -c "'$verify_raw' '$out' YUYV 640x480 | grep -qx 'frames 5 first 0 last 4'"

# Under umask 000 too, nothing zcap writes is world-writable: a recording,
# segment files, the statistics (zcap makes no directories).
(
	umask 000
	"$zcap" record -q --size 320x240 -n 3 -o "$work/u.mkv" --stats-json "$work/u.json"
	"$zcap" record -q --size 320x240 -n 6 --segment 300kB -o "$work/u.raw"
) >"$work/u.out" 2>&1
check "umask 000: zcap records ($(cat "$work/u.out"))" \
	test -s "$work/u.mkv" -a -s "$work/u.json" -a -s "$work/u-0001.raw" -a -s "$work/u-0003.raw"
writable=$(find "$work/u.mkv" "$work/u.json" "$work"/u-*.raw -perm -o+w 2>&1)
check "umask 000: nothing world-writable (got: ${writable:-none})" test -z "$writable"

# Runtime failures: one line, status 1.
err=$("$zcap" record -o /nonexistent-dir/x.raw -n 1 2>&1 >/dev/null)
status=$?
check "unwritable path fails with one line (status $status: $err)" \
	test $status -eq 1 -a "$(wc -l <<<"$err")" -eq 1
check "...naming the path" grep -q "/nonexistent-dir/x.raw" <<<"$err"

# tmpfs: the counted fallback, said once.
shm=$(mktemp -d /dev/shm/zcap-cli-XXXXXX)
"$zcap" record -o "$shm/b.raw" --size 640x480 -n 20 --fps max --stats-json "$work/b.json" \
	>/dev/null 2>"$work/b.err"
check "tmpfs: warns once" test "$(grep -c 'warning:' "$work/b.err")" -eq 1
check "tmpfs: frames intact" bash -c "'$verify_raw' '$shm/b.raw' YUYV 640x480 | grep -q 'frames 20'"
check "tmpfs: copies counted" python3 -c "
import json; s = json.load(open('$work/b.json'))['sinks'][0]
assert s['io_path'] == 'buffered-write-behind' and s['copied_bytes'] == s['bytes'] == 20 * 614400, s"
rm -rf "$shm"

# SIGINT and SIGTERM mid-recording, once two frames are on disk however
# long a loaded machine takes (a minute at most: no hang): clean finish,
# whole frames only. The file is preallocated with zeros; pattern frames
# have no zero byte.
nv12_frame=$((1920 * 1080 * 3 / 2))
for sig in INT TERM; do
	f="$work/sig-$sig.raw"
	"$zcap" record -q -o "$f" --size 1920x1080 -f NV12 --fps 50 &
	pid=$!
	for _ in $(seq 600); do
		last=$(od -An -tu1 -j $((2 * nv12_frame - 1)) -N1 "$f" 2>/dev/null | tr -d ' ')
		[[ -n $last && $last != 0 ]] && break
		sleep 0.1
	done
	kill -s $sig $pid
	wait $pid
	status=$?
	check "SIG$sig: exits 0 (status $status)" test $status -eq 0
	check "SIG$sig: whole, correct frames" bash -c "'$verify_raw' '$f' NV12 1920x1080 | grep -Eq '^frames ([2-9]|[1-9][0-9]+) first 0'"
done

# --duration is honoured at the frame rate: 20 frames in 1 s, each one on
# disk or counted as dropped (by the source or the sink) on a loaded machine.
"$zcap" record -q -o "$work/d.raw" --size 320x240 --fps 20 -t 1s --stats-json "$work/d.json"
frames=$(( $(stat -c %s "$work/d.raw") / (320 * 240 * 2) ))
dropped=$(python3 -c "import json, sys; s = json.load(open(sys.argv[1])); print(s['source']['dropped'] + s['sinks'][0]['dropped'])" "$work/d.json")
check "1 s at 20 fps gives 20 frames (got $frames on disk, $dropped dropped)" \
	test $((frames + dropped)) -eq 20

# Matroska: chosen by the name, or by --container; the payload still goes
# through io_uring, and third-party readers count the frames.
expect_usage_error "bad container" "invalid container 'avi'" record -o "$work/x.mkv" --container avi
probe_frames() { ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
if "$zcap" record -o "$work/m.mkv" --size 640x480 -f NV12 --fps max -n 40 --stats-json "$work/m.json" \
	>"$work/m.out" 2>&1; then
	pass ".mkv records"
else
	fail ".mkv records: $(cat "$work/m.out")"
fi
check ".mkv: ffprobe counts 40 NV12 frames" test "$(probe_frames "$work/m.mkv")" = 40
check ".mkv: ffprobe sees a finished file (duration)" \
	bash -c "ffprobe -v error -show_entries format=duration -of csv=p=0 '$work/m.mkv' | grep -qv N/A"
check ".mkv: no byte copied" grep -q '"copied_bytes": 0' "$work/m.json"
check ".mkv: the summary says how to play it" grep -q "play it: ffplay $work/m.mkv" "$work/m.out"
"$zcap" record -q -o "$work/r.mkv" --container raw --size 320x240 -n 5
check "--container raw writes raw frames whatever the name" \
	test "$(stat -c %s "$work/r.mkv")" -eq $((320 * 240 * 2 * 5))
"$zcap" record -q -o "$work/c.bin" --container mkv --size 320x240 -n 5
check "--container mkv writes Matroska whatever the name" test "$(probe_frames "$work/c.bin")" = 5
if command -v strace >/dev/null; then
	strace -f -qq -e trace=write,pwrite64,pwritev,pwritev2 -o "$work/mkv-strace.txt" \
		"$zcap" record -q -o "$work/s.mkv" --size 640x480 --fps max -n 30
	check ".mkv: no frame-sized write() or pwrite(), only the finishing blocks" \
		bash -c "! grep -E '(write|pwrite64|pwritev2?)\\([0-9]+, .*= ([0-9]{5,})$' '$work/mkv-strace.txt'"
fi

# Streaming: zcap stream serves and pushes live Matroska.
expect_usage_error "stream needs a destination" "nowhere to stream" stream --size 320x240
expect_usage_error "stream writes no file" "writes no file" stream -o "$work/x.mkv" --listen 0
expect_usage_error "bad net path" "invalid network path 'fast'" stream --listen 0 --net-path fast
expect_usage_error "bad listen address" "invalid listen address" stream --listen 1.2.3:abc -t 1s
err=$("$zcap" stream --connect 127.0.0.1:1 --size 320x240 -t 2s 2>&1 >/dev/null)
status=$?
check "push to nobody: exit 1, one line (status $status: $err)" \
	bash -c "[[ $status -eq 1 && \$(wc -l <<<'$err') -eq 1 && '$err' == *'Connection refused'* ]]"
port_file="$work/receiver.port"
python3 - "$work/pushed.mkv" "$port_file" <<'PY' &
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
open(sys.argv[2], "w").write(str(server.getsockname()[1]))
server.settimeout(20)
conn, _ = server.accept()
with open(sys.argv[1], "wb") as out:
    while chunk := conn.recv(1 << 20):
        out.write(chunk)
PY
receiver=$!
for _ in $(seq 50); do [[ -s $port_file ]] && break; sleep 0.1; done
"$zcap" stream --connect "127.0.0.1:$(cat "$port_file")" --size 320x240 --fps 30 -t 2s >"$work/push.out" 2>&1
wait $receiver
pushed=$(probe_frames "$work/pushed.mkv")
# On a loaded machine the server's thread may miss a frame: its client
# counts it ("N frames, D dropped"), and so does the summary of the device.
push_dropped=$(grep -o '[0-9]* frames, [0-9]* dropped' "$work/push.out" | awk '{print $3}')
device_dropped=$(grep -o 'device dropped [0-9]*' "$work/push.out" | awk '{print $3}')
check "push: the receiver got a playable stream of 60 frames but those counted as dropped (got $pushed, dropped ${push_dropped:-?} + ${device_dropped:-0})" \
	test "$((pushed + ${push_dropped:-1000} + ${device_dropped:-0}))" = 60
"$zcap" stream --listen 127.0.0.1:0 --size 320x240 --fps 30 -t 4s >"$work/serve.out" 2>&1 &
server=$!
for _ in $(seq 50); do grep -q "^serving" "$work/serve.out" && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*/live.mkv' "$work/serve.out")
live=$(timeout 10 ffprobe -v error -count_frames -read_intervals %+1 -show_entries stream=nb_read_frames -of csv=p=0 "$url")
# A second of the stream's timestamps holds at most 31 frames at 30 fps;
# fewer when a loaded machine dropped some (counted in the summary).
check "serve: ffprobe reads a second of frames from $url (got $live)" test "${live:-0}" -ge 1 -a "${live:-0}" -le 31
wait $server
check "serve: the summary names the client and its path" grep -q "/live.mkv via copy" "$work/serve.out"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
