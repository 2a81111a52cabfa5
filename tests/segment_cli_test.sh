#!/usr/bin/env bash
# The zcap command's segmented recording: bad arguments, file names, the
# summary, --max-files and what ffprobe makes of every segment.
# Usage: segment_cli_test.sh ZCAP
set -uo pipefail

zcap=$1
work=$(mktemp -d "${ZCAP_TEST_DIR:-/var/tmp}/zcap-segment-cli-XXXXXX")
trap 'rm -rf "$work"' EXIT
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"

# Small, paced frames, nothing dropped: 320x240 YUYV is 153,600 bytes.
rec=(record -s pattern --size 320x240 -f YUYV --fps 100 --policy block)
frame=153600

expect_usage_error "--max-files needs --segment" "--max-files needs --segment" \
	"${rec[@]}" -o "$work/x.raw" -n 3 --max-files 2
expect_usage_error "zero files" "invalid file count '0'" \
	"${rec[@]}" -o "$work/x.raw" --segment 1s --max-files 0
expect_usage_error "bad size unit" "invalid segment limit '10XB'" \
	"${rec[@]}" -o "$work/x.raw" --segment 10XB
expect_usage_error "zero size" "invalid segment limit '0MB'" \
	"${rec[@]}" -o "$work/x.raw" --segment 0MB
expect_usage_error "bad time" "invalid segment limit '5 fortnights'" \
	"${rec[@]}" -o "$work/x.raw" --segment "5 fortnights"
expect_usage_error "negative time" "invalid segment limit '-5s'" \
	"${rec[@]}" -o "$work/x.raw" --segment -5s
expect_usage_error "a number without its unit" "with its unit" \
	"${rec[@]}" -o "$work/x.raw" --segment 60
expect_usage_error "missing value" "needs a value" "${rec[@]}" -o "$work/x.raw" --segment
expect_usage_error "bad name pattern" "invalid segment name pattern" \
	"${rec[@]}" -o "$work/x%" --segment 1s
touch "$work/taken-0001.raw"
expect_usage_error "first segment exists" "taken-0001.raw exists; use --force" \
	"${rec[@]}" -o "$work/taken.raw" --segment 1s -n 3
check "no file left by bad arguments" test "$(ls "$work")" = "taken-0001.raw"
check "help documents --segment" bash -c "'$zcap' record --help | grep -q -- '--segment TIME|SIZE'"
check "help documents --max-files" bash -c "'$zcap' record --help | grep -q -- '--max-files N'"
# The bounds are the documented ones (the option's own getopt code once shadowed them: 271).
check "a thousand files allowed" "$zcap" "${rec[@]}" -q -o "$work/k.raw" --segment 1s --max-files 1000 -n 1
expect_usage_error "too many files" "from 1 to 1000000" \
	"${rec[@]}" -o "$work/x.raw" --segment 1s --max-files 1000001
rm -f "$work"/k-*.raw

# By time, Matroska: 35 frames in 100 ms segments are 10 + 10 + 10 + 5.
if "$zcap" "${rec[@]}" -o "$work/t.mkv" --segment 100ms -n 35 >"$work/t.out" 2>"$work/t.err"; then
	pass "records segments by time"
else
	fail "records segments by time: $(cat "$work/t.err")"
fi
counts=""
for f in "$work"/t-000{1,2,3,4}.mkv; do
	counts+="$(ffprobe -v error -count_frames -select_streams v:0 \
		-show_entries stream=nb_read_frames -of csv=p=0 "$f" 2>&1) "
done
check "ffprobe: 10 10 10 5 frames (got $counts)" test "$counts" = "10 10 10 5 "
check "no fifth segment" test ! -e "$work/t-0005.mkv"
check "summary counts the segment files" \
	grep -q "recorded 35 frames (320x240 YUYV, .*) in .* s to 4 segment files: $work/t-0001.mkv ... $work/t-0004.mkv" "$work/t.out"
check "play line names the last segment" grep -q "ffplay $work/t-0004.mkv" "$work/t.out"

# By size, raw, 500 kB: 3 frames a file, never more than the limit.
"$zcap" "${rec[@]}" -q -o "$work/s-%03N.raw" --segment 500kB -n 10 >"$work/s.out" 2>&1
check "by size: 4 files" test "$(ls "$work"/s-*.raw | wc -l)" -eq 4
check "by size: 3, 3, 3 and 1 frames" test "$(stat -c %s "$work"/s-00{1,2,3,4}.raw | tr '\n' ' ')" = \
	"$((3 * frame)) $((3 * frame)) $((3 * frame)) $frame "
check "-q prints nothing" test ! -s "$work/s.out"

# --max-files: the newest 2 of 4 kept, a line per deletion, other files untouched.
touch "$work/m-other.raw"
"$zcap" "${rec[@]}" -o "$work/m.raw" --segment 100ms --max-files 2 -n 35 >"$work/m.out" 2>&1
check "max-files: the last two kept" test "$(cd "$work" && ls m-*)" = "$(printf 'm-0003.raw\nm-0004.raw\nm-other.raw')"
check "max-files: a line per deleted file" test "$(grep -c '^deleted ' "$work/m.out")" -eq 2
check "max-files: the summary says so" grep -q "to 4 segment files, the last 2 kept" "$work/m.out"
check "max-files: the newest frames" test "$(stat -c %s "$work/m-0003.raw" "$work/m-0004.raw" | tr '\n' ' ')" = \
	"$((10 * frame)) $((5 * frame)) "
"$zcap" "${rec[@]}" -q -o "$work/n.raw" --segment 100ms --max-files 1 -n 25 >"$work/n.out" 2>&1
check "max-files -q: nothing printed" test ! -s "$work/n.out"
check "max-files 1: one file left" test "$(cd "$work" && ls n-*)" = "n-0003.raw"

# A later segment file that exists is not overwritten either: the recording
# fails there, the files before it kept.
echo keep >"$work/later-0002.raw"
"$zcap" "${rec[@]}" -q -o "$work/later.raw" --segment 100ms -n 35 >/dev/null 2>"$work/later.err"
status=$?
check "later segment exists: status 1 (got $status)" test $status -eq 1
check "later segment exists: says so" grep -q "later-0002.raw: File exists" "$work/later.err"
check "later segment exists: left as it was" test "$(cat "$work/later-0002.raw")" = keep
check "later segment exists: the first kept" test "$(stat -c %s "$work/later-0001.raw")" -eq $((10 * frame))

# A time pattern that cannot tell 100 ms segments apart: refused, the first kept.
"$zcap" "${rec[@]}" -q -o "$work/c-%H%M%S.raw" --segment 100ms -n 35 >/dev/null 2>"$work/c.err"
status=$?
check "repeated name: status 1 (got $status)" test $status -eq 1
check "repeated name: says why" grep -q "like an earlier one" "$work/c.err"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
