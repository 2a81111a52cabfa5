#!/usr/bin/env bash
# zcap record with several cameras: the per-source syntax, one multi-track
# Matroska file, a file per camera (%C), a camera that fails alone, the
# per-camera report, and SIGKILL of a multi-track recording.
# Usage: multi_cli_test.sh ZCAP VERIFY_RAW
set -uo pipefail

zcap=$1
verify_raw=$2
work=$(mktemp -d "${ZCAP_TEST_DIR:-/var/tmp}/zcap-multi-cli-XXXXXX")
trap 'rm -rf "$work"' EXIT
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"

expect_usage_error "several cameras need .mkv or %C" "with %C in the name" \
	record -d pattern -d pattern -o "$work/x.raw" -n 3
expect_usage_error "segments need a file per camera" "put %C in the name" \
	record -d pattern -d pattern -o "$work/x.mkv" --segment 1s
expect_usage_error "unknown source option" "unknown source option 'speed=2'" \
	record -d pattern,speed=2 -d pattern -o "$work/x.mkv"
expect_usage_error "bad per-source size" "invalid size" \
	record -d pattern,size=big -d pattern -o "$work/x.mkv"
expect_usage_error "serving several is refused" "serving several sources" \
	record -d pattern -d pattern -o "$work/x.mkv" --serve 0
expect_usage_error "per-source pattern format checked" "cannot be 33x8" \
	record -d pattern,format=NV12,size=33x8 -d pattern -o "$work/x.mkv"
touch "$work/taken2.raw"
expect_usage_error "a camera's file exists" "taken2.raw exists; use --force" \
	record -d pattern -d pattern -o "$work/taken%C.raw" -n 3
check "no file left by bad arguments" test "$(ls "$work")" = "taken2.raw"
check "help documents the per-source syntax" \
	bash -c "'$zcap' record --help | grep -q -- 'SOURCE\[,size=WxH\]\[,format=F\]\[,fps=N\]\[,io=MODE\]'"

# Three cameras of different sizes and formats into one file, 30 frames each.
rig=(record -d pattern,size=640x480 -d pattern,size=320x240,format=NV12
	-d pattern,format=GREY --size 160x120 --fps 30 --policy block -n 30)
if "$zcap" "${rig[@]}" -o "$work/rig.mkv" --stats-json "$work/rig.json" >"$work/rig.out" 2>&1; then
	pass "records three cameras into one file"
else
	fail "records three cameras into one file: $(cat "$work/rig.out")"
fi
counts=$(ffprobe -v error -count_frames -select_streams v -show_entries \
	stream=width,nb_read_frames -of csv=p=0 "$work/rig.mkv" | tr '\n' ' ')
check "ffprobe: 3 streams of 30 frames (got $counts)" test "$counts" = "640,30 320,30 160,30 "
check "zcap inspect lists every track with its frames" bash -c "
	'$zcap' inspect '$work/rig.mkv' >'$work/inspect.out' &&
	grep -q '^track 1: video, V_UNCOMPRESSED, 640x480, ColourSpace YUY2, 30 fps: 30 frames' '$work/inspect.out' &&
	grep -q '^track 2: video, V_UNCOMPRESSED, 320x240, ColourSpace NV12, 30 fps: 30 frames' '$work/inspect.out' &&
	grep -q '^track 3: video, V_UNCOMPRESSED, 160x120, ColourSpace Y800, 30 fps: 30 frames' '$work/inspect.out' &&
	grep -q 'finished cleanly' '$work/inspect.out'"
check "the report gives each camera its comebacks (none without --reconnect)" python3 -c "
import json
cameras = json.load(open('$work/rig.json'))['cameras']
assert [(c['reconnects'], c['offline_ms'], c['frames_missed']) for c in cameras] == [(0, 0, 0)] * 3, cameras"
check "help documents --reconnect" bash -c "'$zcap' record --help | grep -q -- '--reconnect '"
# Every frame of every track is the pattern: FFmpeg's frame MD5s of each
# stream equal those of a one-camera raw recording of the same frames (a
# camera's first recorded frame follows the ones it made before every camera
# ran: frames_before_start in the report).
for spec in "0 640x480 YUYV yuyv422" "1 320x240 NV12 nv12" "2 160x120 GREY gray"; do
	read -r stream size fourcc pix <<<"$spec"
	skip=$(python3 -c "import json; print(json.load(open('$work/rig.json'))['cameras'][$stream]['frames_before_start'])")
	"$zcap" record -q -s pattern --size "$size" -f "$fourcc" --policy block --fps max \
		-n $((skip + 30)) -o "$work/one-$stream.raw"
	check "track $((stream + 1)): the one-camera raw recording is the pattern" bash -c \
		"'$verify_raw' '$work/one-$stream.raw' $fourcc $size | grep -qx 'frames $((skip + 30)) first 0 last $((skip + 29))'"
	want=$(ffmpeg -v error -f rawvideo -pixel_format "$pix" -video_size "$size" \
		-i "$work/one-$stream.raw" -f framemd5 - | grep -v '^#' | awk -F, '{print $6}' |
		tail -n 30)
	got=$(ffmpeg -v error -i "$work/rig.mkv" -map "0:v:$stream" -f framemd5 - |
		grep -v '^#' | awk -F, '{print $6}')
	check "track $((stream + 1)): every frame equals the pattern's" \
		test -n "$want" -a "$want" = "$got"
done
# One timeline: each stream's first timestamp within 2 frame periods (66.7 ms).
firsts=$(ffprobe -v error -show_entries packet=stream_index,pts_time -of csv=p=0 \
	"$work/rig.mkv" | awk -F, '!seen[$1]++ {print $2}' | tr '\n' ' ')
check "first frames of all tracks within 2 frame periods ($firsts)" python3 -c "
t = [float(x) for x in '$firsts'.split()]
assert len(t) == 3 and min(t) == 0 and max(t) <= 0.0667, t"
check "the report has each camera's numbers" python3 -c "
import json
r = json.load(open('$work/rig.json'))
assert r['ok'] and r['time_zero_ns'] > 0, r
cams = r['cameras']
assert [c['frames'] for c in cams] == [30, 30, 30], cams
assert [c['track'] for c in cams] == [1, 2, 3], cams
assert all(c['dropped'] == 0 and c['copied_bytes'] == 0 for c in cams), cams
assert min(c['start_offset_ms'] for c in cams) == 0, cams
assert all(c['from_first_camera_ms']['frames'] == 30 for c in cams), cams
assert cams[0]['from_first_camera_ms']['max'] == 0, cams"
check "the summary has a line per camera" bash -c "
	grep -q 'recorded 90 frames of 3 cameras' '$work/rig.out' &&
	grep -c 'from camera 1.s frames: median' '$work/rig.out' | grep -qx 3"

# A file per camera; camera 2 does not exist: the others record, exit 1.
"$zcap" record -q -d pattern -d /dev/video-missing -d pattern,format=UYVY --size 320x240 \
	--policy block -n 20 -o "$work/cam%C.raw" --stats-json "$work/cams.json" 2>"$work/cams.err"
status=$?
check "a missing camera fails the run (status $status)" test "$status" -eq 1
check "one line says which camera failed" bash -c "
	grep -c . '$work/cams.err' | grep -qx 1 &&
	grep -q 'camera 2 (/dev/video-missing): cannot open /dev/video-missing' '$work/cams.err'"
# Every byte is the pattern, 20 frames in a row (from the first each made
# once every camera ran).
check "camera 1 recorded every frame" bash -c \
	"'$verify_raw' '$work/cam1.raw' YUYV 320x240 | awk '\$2 == 20 && \$6 == \$4 + 19 {ok = 1} END {exit !ok}'"
check "camera 3 recorded every frame" bash -c \
	"'$verify_raw' '$work/cam3.raw' UYVY 320x240 | awk '\$2 == 20 && \$6 == \$4 + 19 {ok = 1} END {exit !ok}'"
check "no file for the missing camera" test ! -e "$work/cam2.raw"
check "the report names the failed camera" python3 -c "
import json
r = json.load(open('$work/cams.json'))
c = r['cameras']
assert not r['ok'] and c[1]['error'].startswith('cannot open'), r
assert c[0]['files'] == ['$work/cam1.raw'] and c[2]['frames'] == 20, c"

# Segments per camera, with --max-files.
if "$zcap" record -q -d pattern -d pattern --size 320x240 --fps 100 --policy block -n 35 \
	--segment 100ms --max-files 3 -o "$work/seg%C-%N.mkv" 2>"$work/seg.err"; then
	pass "records segments per camera"
else
	fail "records segments per camera: $(cat "$work/seg.err")"
fi
check "each camera kept its newest 3 segments" bash -c "
	test \"\$(cd '$work' && ls seg1-*.mkv | tr '\n' ' ')\" = 'seg1-2.mkv seg1-3.mkv seg1-4.mkv ' &&
	test \"\$(cd '$work' && ls seg2-*.mkv | tr '\n' ' ')\" = 'seg2-2.mkv seg2-3.mkv seg2-4.mkv '"

# SIGKILL of a two-camera recording: every complete frame of both tracks
# is readable, and FFmpeg and zcap inspect agree on the counts.
"$zcap" record -q -d pattern,size=320x240 -d pattern,size=640x480,format=NV12 -t 60s \
	-o "$work/killed.mkv" &
pid=$!
for _ in $(seq 100); do [[ -s $work/killed.mkv ]] && break; sleep 0.1; done
sleep 1.5
kill -KILL "$pid"
wait "$pid" 2>/dev/null
wait_for_last_writes "$work/killed.mkv"
inspected=$("$zcap" inspect --json "$work/killed.mkv")
probed=$(ffprobe -v error -count_frames -select_streams v -show_entries stream=nb_read_frames \
	-of csv=p=0 "$work/killed.mkv" 2>/dev/null | tr '\n' ' ')
check "killed: zcap inspect and ffprobe count the same frames per track ($probed)" python3 -c "
import json
r = json.loads('''$inspected''')
counts = [t['frames'] for t in r['tracks']]
assert len(counts) == 2 and min(counts) > 0 and not r['finished'], r
assert ' '.join(map(str, counts)) + ' ' == '$probed', (counts, '$probed')"

echo "passed $passed, failed $failed"
[[ $failed -eq 0 ]]
