#!/usr/bin/env bash
# End-to-end tests of `zcap inspect`: zcap's own recordings, finished and
# killed, files from FFmpeg and GStreamer cross-checked with ffprobe, raw
# recordings, and input that is no recording at all.
# Usage: inspect_cli_test.sh ZCAP
set -uo pipefail

zcap=$1
work=$(mktemp -d "${ZCAP_TEST_DIR:-/var/tmp}/zcap-inspect-XXXXXX")
trap 'rm -rf "$work"' EXIT
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"

# json FILE EXPR: prints EXPR evaluated on the JSON zcap inspect prints for FILE.
json() {
	"$zcap" inspect --json "$1" | python3 -c "import json, sys; s = json.load(sys.stdin); print($2)"
}

# The frames ffprobe decodes from a file's first video stream.
ffprobe_frames() {
	ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames \
		-of csv=p=0 "$1"
}

# A failure: exit status STATUS and exactly one line on stderr containing PATTERN.
expect_error() {
	local name=$1 want=$2 pattern=$3
	shift 3
	local err status
	err=$("$zcap" inspect "$@" 2>&1 >/dev/null)
	status=$?
	if [[ $status -eq $want && $(wc -l <<<"$err") -eq 1 && $err == *"$pattern"* ]]; then
		pass "$name"
	else
		fail "$name (status $status, stderr: $err)"
	fi
}

# A clean recording.
"$zcap" record -q -o "$work/a.mkv" -n 30 --size 320x240
check "zcap recording: 30 frames, finished" \
	test "$(json "$work/a.mkv" "s['frames'], s['finished'], s['trailing_bytes']")" = "30 True 0"
check "zcap recording: the track" test "$(json "$work/a.mkv" \
	"(lambda t: (t['codec_id'], t['width'], t['height'], t['colour_space'], round(t['fps'])))(s['tracks'][0])")" \
	= "('V_UNCOMPRESSED', 320, 240, 'YUY2', 30)"
check "zcap recording: 1 s long, no gaps" \
	test "$(json "$work/a.mkv" "round(s['duration_ms']), round(s['info_duration_ms']), s['gaps']['count']")" \
	= "1000 1000 0"
check "text output says finished" bash -c "'$zcap' inspect '$work/a.mkv' | grep -qx 'finished cleanly: Segment size known, Cues present, Duration present'"
check "text output counts frames" bash -c "'$zcap' inspect '$work/a.mkv' | grep -qx 'frames: 30 (30 SimpleBlocks)'"

# A recording killed mid-way, once it holds 11 frames however long a loaded
# machine takes (a minute at most: no hang): unknown sizes, no Cues,
# preallocated zeros.
"$zcap" record -q -o "$work/k.mkv" --size 640x480 -t 120s &
pid=$!
for _ in $(seq 600); do
	(($(json "$work/k.mkv" "s['frames']" 2>/dev/null || echo 0) > 10)) && break
	sleep 0.1
done
kill -9 $pid
wait $pid 2>/dev/null
wait_for_last_writes "$work/k.mkv"
frames=$(json "$work/k.mkv" "s['frames']")
probed=$(ffprobe_frames "$work/k.mkv" 2>/dev/null)
check "killed recording: $frames frames, as ffprobe counts ($probed)" \
	test -n "$frames" -a "$frames" = "$probed" -a "${frames:-0}" -gt 10
check "killed recording: not finished" test "$(json "$work/k.mkv" \
	"s['finished'], s['segment_size_known'], s['cues'], s['info_duration_ms']")" = "False False False None"
check "killed recording: says it was interrupted" bash -c "'$zcap' inspect '$work/k.mkv' | grep -qx 'not finished cleanly (recording was interrupted): $frames complete frames'"
check "killed recording: what follows the last frame is zeros" test "$(json "$work/k.mkv" \
	"s['elements_end'] + s['trailing_bytes'] == $(stat -c %s "$work/k.mkv") and s['trailing_zeros']")" = True

# Cut short like a partial copy: the frames before the cut still count.
head -c $(($(stat -c %s "$work/a.mkv") / 2)) "$work/a.mkv" >"$work/half.mkv"
check "half a file: some frames, not finished" test "$(json "$work/half.mkv" \
	"0 < s['frames'] < 30, s['finished'], s['cut_short'] is not None")" = "True False True"

# FFmpeg: Motion-JPEG and raw video, finished and streamed.
ffmpeg -v error -f lavfi -i testsrc=d=1:s=160x120:r=25 -c:v mjpeg "$work/m.mkv"
ffmpeg -v error -f lavfi -i testsrc=d=1:s=160x120:r=25 -c:v rawvideo -pix_fmt yuyv422 "$work/r.mkv"
ffmpeg -v error -f lavfi -i testsrc=d=2:s=160x120:r=25 -c:v mjpeg -f matroska - >"$work/p.mkv"
for f in m r p; do
	got=$(json "$work/$f.mkv" "s['frames']")
	want=$(ffprobe_frames "$work/$f.mkv")
	check "ffmpeg $f.mkv: $got frames, as ffprobe counts ($want)" test -n "$got" -a "$got" = "$want"
done
check "ffmpeg mjpeg: the track" test "$(json "$work/m.mkv" \
	"(lambda t: (t['codec_id'], t['width'], t['height'], t['fps']))(s['tracks'][0]), s['finished']")" \
	= "('V_MJPEG', 160, 120, 25.0) True"
check "ffmpeg rawvideo: ColourSpace" test "$(json "$work/r.mkv" "s['tracks'][0]['colour_space']")" = "YUY2"
check "ffmpeg to a pipe: no Cues, not finished" \
	test "$(json "$work/p.mkv" "s['cues'], s['finished']")" = "False False"

# GStreamer's matroskamux.
if command -v gst-launch-1.0 >/dev/null; then
	gst-launch-1.0 -q videotestsrc num-buffers=20 ! video/x-raw,width=160,height=120,framerate=10/1 \
		! jpegenc ! matroskamux ! filesink location="$work/g.mkv"
	check "matroskamux: 20 frames, finished" \
		test "$(json "$work/g.mkv" "s['frames'], s['finished']")" = "20 True"
else
	fail "gst-launch-1.0 is missing (scripts/setup installs it)"
fi

# Raw recordings: counted with --format and --size.
"$zcap" record -q -o "$work/x.raw" -n 7 --size 320x240
head -c 1000000 "$work/x.raw" >"$work/y.raw"
check "raw: 7 whole frames" test "$("$zcap" inspect --json -f YUYV --size 320x240 "$work/x.raw" |
	python3 -c 'import json, sys; s = json.load(sys.stdin); print(s["frames"], s["trailing_bytes"])')" = "7 0"
check "raw: a trailing partial frame" bash -c "'$zcap' inspect --format YUYV --size 320x240 '$work/y.raw' | grep -qx 'trailing partial frame: 78400 bytes (the recording was interrupted)'"
expect_error "raw without options says which to give" 1 "give --format FOURCC --size WxH" "$work/x.raw"

# Input that is no recording: one line, status 1.
head -c 100000 /dev/urandom >"$work/random.bin"
: >"$work/empty.mkv"
echo "not a video" >"$work/text.mkv"
expect_error "random bytes" 1 "random.bin: not a Matroska file (no EBML header)" "$work/random.bin"
expect_error "empty file" 1 "empty.mkv: not a Matroska file (it is empty)" "$work/empty.mkv"
expect_error "text file" 1 "text.mkv: not a Matroska file (no EBML header)" "$work/text.mkv"
expect_error "nonexistent path" 1 "nope.mkv: No such file or directory" "$work/nope.mkv"
expect_error "a directory" 1 "not a regular file" "$work"
# The first Cluster's size field broken: no valid size starts with a zero byte.
python3 - "$work/a.mkv" "$work/bad.mkv" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
at = data.index(b"\x1f\x43\xb6\x75")
data[at + 4] = 0
open(sys.argv[2], "wb").write(data)
PY
expect_error "a broken element names its offset" 1 "invalid Matroska at offset" "$work/bad.mkv"

# Bad arguments: one line, status 2.
expect_error "no file" 2 "no file given"
expect_error "two files" 2 "unexpected argument" "$work/a.mkv" "$work/m.mkv"
expect_error "unknown option" 2 "unknown option '--bogus'" --bogus "$work/a.mkv"
expect_error "missing value" 2 "needs a value" "$work/x.raw" --size
expect_error "format without size" 2 "needs both --format FOURCC and --size WxH" -f YUYV "$work/x.raw"
expect_error "unknown format" 2 "unknown format 'H264'" -f H264 --size 64x64 "$work/x.raw"
expect_error "bad size" 2 "invalid size '12by4'" -f YUYV --size 12by4 "$work/x.raw"
expect_error "raw options on a Matroska file" 2 "is a Matroska file" -f YUYV --size 320x240 "$work/a.mkv"
check "help documents --json" bash -c "'$zcap' inspect --help | grep -q -- '--json'"
check "zcap help lists inspect" bash -c "'$zcap' --help | grep -q '^  inspect '"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
