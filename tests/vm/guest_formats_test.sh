#!/bin/sh
# Every capture format vivid offers, on its single- and multi-planar node at
# 640x480: zcap's raw recording equals v4l2-ctl --stream-to's byte for byte
# (OSD off, so vivid's frames do not change), with at most a block per plane
# per frame copied; its Matroska recording is a finished file of every frame
# with the table's ColourSpace (FFmpeg's and GStreamer's reading of each
# ColourSpace is checked on the host: tests/matroska_formats_test.cpp), or is
# refused with the line naming --container raw. Formats whose planes are in
# separate buffers are refused with the line saying so.
# Runs in the guest (busybox sh) with --file zcap --file v4l2-ctl. Under TCG
# a format takes about 40 s: ZCAP_VM_FORMATS="YUYV NV12 ..." (names as
# v4l2-ctl lists them, spaces dropped) limits the run to those; unset, every
# format of both nodes (about 90 minutes under TCG).
set -u

zcap=$ZCAP_VM_FILES/zcap
v4l2ctl=$ZCAP_VM_FILES/v4l2-ctl
frames=2
block=4096
failures=0
checks=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { checks=$((checks + 1)); }

# The V4L2 code of a fourcc as v4l2-ctl prints it ('Y16 ', 'Y16 -BE').
fourcc_number() {
	s=$1 n=0 i=0
	case $s in *-BE) be=1; s=${s%-BE} ;; *) be=0 ;; esac
	while [ $i -lt 4 ]; do
		c=$(printf '%s' "$s" | cut -c$((i + 1)))
		[ -z "$c" ] && c=' '
		n=$((n | $(printf '%d' "'$c") << (8 * i)))
		i=$((i + 1))
	done
	[ $be = 1 ] && n=$((n | 1 << 31))
	echo $n
}

for dev in /dev/video0 /dev/video1; do
	"$v4l2ctl" -d $dev -c osd_text_mode=2 || fail "$dev: cannot turn the OSD off"
	"$v4l2ctl" -d $dev --list-formats | sed -n "s/.*\[[0-9]*\]: '\(.*\)' (.*/\1/p" >formats.txt
	[ -s formats.txt ] || fail "$dev: no formats listed"
	while IFS= read -r code; do
		name=$(printf '%s' "$code" | tr -d ' ')
		what="$dev $name"
		if [ -n "${ZCAP_VM_FORMATS:-}" ]; then
			case " $ZCAP_VM_FORMATS " in *" $name "*) ;; *) continue ;; esac
		fi
		rm -f ref.raw zcap.raw zcap.json zcap.mkv zcap.log
		"$v4l2ctl" -d $dev --set-fmt-video=width=640,height=480,pixelformat=$(fourcc_number "$code") \
			--stream-mmap --stream-count=$frames --stream-to=ref.raw >/dev/null 2>&1 ||
			{ fail "$what: v4l2-ctl cannot capture it"; continue; }
		if "$zcap" formats | grep -q "^$name[ (].* buffers"; then
			# libv4l2 (which zcap opens devices with) cannot open a node
			# left in a multi-buffer format: start from a single-buffer one.
			"$v4l2ctl" -d $dev --set-fmt-video=pixelformat=YUYV
		fi
		if ! "$zcap" record -q -d $dev -f "$name" --size 640x480 -n $frames -o zcap.raw \
			--stats-json zcap.json >zcap.log 2>&1; then
			if grep -q "separate buffers" zcap.log; then
				pass
				echo "refused (planes in separate buffers): $what"
			else
				fail "$what: raw: $(cat zcap.log)"
			fi
			continue
		fi
		if cmp -s ref.raw zcap.raw; then pass; else
			fail "$what: raw differs from v4l2-ctl's ($(wc -c <zcap.raw) vs $(wc -c <ref.raw) bytes)"
		fi
		copied=$(sed -n 's/.*"copied_bytes": *\([0-9]*\).*/\1/p' zcap.json | head -1)
		planes=$("$zcap" formats | grep "^$name[ (]" | sed -n 's/.* \([0-9]\) plane.*/\1/p' | head -1)
		[ -n "$planes" ] || planes=1
		if [ -n "$copied" ] && [ "$copied" -le $((block * planes * frames)) ]; then pass; else
			fail "$what: copied ${copied:-?} bytes, more than a block per plane per frame"
		fi
		if "$zcap" record -q -d $dev -f "$name" --size 640x480 -n $frames -o zcap.mkv >zcap.log 2>&1; then
			"$zcap" inspect --json zcap.mkv >inspect.json 2>&1
			if grep -q "\"frames\": $frames" inspect.json && grep -q '"finished": true' inspect.json; then
				pass
				echo "Matroska: $what: $(sed -n 's/.*"colour_space": \("[^"]*"\|null\).*/\1/p' inspect.json)"
			else
				fail "$what: Matroska: $(cat inspect.json)"
			fi
		elif grep -q "no Matroska reader decodes $name frames.*--container raw" zcap.log; then
			pass
			echo "Matroska refused: $what"
		else
			fail "$what: Matroska: $(cat zcap.log)"
		fi
	done <formats.txt
done
echo "$checks checks passed, $failures failed"
[ $failures = 0 ]
