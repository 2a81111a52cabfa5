#!/bin/sh
# Every capture format vivid offers, on its single- and multi-planar node at
# 640x480, and the formats of ZCAP_VM_ODD_FORMATS also at an odd size (vivid's
# S-Video input, whose scaler takes any size; 4:2:x formats get an even one
# whose chroma lines are odd): zcap's raw recording equals v4l2-ctl
# --stream-to's byte for byte (OSD off, so vivid's frames do not change), with
# at most a block per plane per frame copied; its Matroska recording is a
# finished file of every frame with the table's ColourSpace (FFmpeg's and
# GStreamer's reading of each ColourSpace is checked on the host:
# tests/matroska_formats_test.cpp), or is refused with the line naming
# --container raw. Formats whose planes are in separate buffers (NM12, YM12...)
# are captured as the others, planes back to back as v4l2-ctl writes them,
# but for NM61, whose second plane vivid puts after a header (data_offset),
# which zcap refuses with a line saying so.
# Runs in the guest (busybox sh) with --file zcap --file v4l2-ctl.
# ZCAP_VM_FORMATS="YUYV video1:NM12 ..." (names as v4l2-ctl lists them,
# spaces dropped; NODE:NAME for one node only) limits the run to those; unset,
# every format of both nodes (20-30 min under TCG: each format starts 4
# programs, 1-3 s each). Every format listed and not run is counted and named
# at the end. ZCAP_VM_FRAMES: frames per recording (2).
set -u

zcap=$ZCAP_VM_FILES/zcap
v4l2ctl=$ZCAP_VM_FILES/v4l2-ctl
frames=${ZCAP_VM_FRAMES:-2}
block=4096
failures=0
checks=0
skipped=""
# vivid's inputs: 0 is the webcam (fixed sizes only), 3 HDMI (any size, scaled).
webcam_input=0
any_size_input=3

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { checks=$((checks + 1)); }
now() { cut -d' ' -f1 /proc/uptime; }

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

# What zcap knows of every format, once: "NAME (ALIAS)  N planes [in M buffers]".
"$zcap" formats >known.txt || fail "zcap formats"

# check DEV NAME CODE WIDTH HEIGHT: one format at one size, raw and Matroska.
check() {
	dev=$1 name=$2 code=$3 w=$4 h=$5
	what="$dev $name ${w}x$h"
	rm -f ref.raw zcap.raw zcap.json zcap.mkv zcap.log inspect.json
	t0=$(now)
	"$v4l2ctl" -d $dev --set-fmt-video=width=$w,height=$h,pixelformat=$(fourcc_number "$code") \
		--stream-mmap --stream-count=$frames --stream-to=ref.raw >/dev/null 2>&1 ||
		{ fail "$what: v4l2-ctl cannot capture it"; return; }
	t1=$(now)
	if ! "$zcap" record -q -d $dev -f "$name" --size ${w}x$h -n $frames -o zcap.raw \
		--stats-json zcap.json >zcap.log 2>&1; then
		if grep -q "takes a header only before the first plane" zcap.log; then
			# vivid's NM61: data_offset before its second plane,
			# which only a copy could leave out (README: Formats).
			pass
			echo "refused (a header before a later plane): $what"
		else
			fail "$what: raw: $(cat zcap.log)"
		fi
		return
	fi
	t2=$(now)
	if cmp -s ref.raw zcap.raw; then pass; else
		fail "$what: raw differs from v4l2-ctl's ($(wc -c <zcap.raw) vs $(wc -c <ref.raw) bytes," \
			"$(cmp -l ref.raw zcap.raw | wc -l) differ, the first: $(cmp ref.raw zcap.raw | head -1))"
	fi
	copied=$(sed -n 's/.*"copied_bytes": *\([0-9]*\).*/\1/p' zcap.json | head -1)
	planes=$(grep "^$name[ (]" known.txt | sed -n 's/.* \([0-9]\) plane.*/\1/p' | head -1)
	[ -n "$planes" ] || planes=1
	if [ -n "$copied" ] && [ "$copied" -le $((block * planes * frames)) ]; then pass; else
		fail "$what: copied ${copied:-?} bytes, more than a block per plane per frame"
	fi
	if "$zcap" record -q -d $dev -f "$name" --size ${w}x$h -n $frames -o zcap.mkv >zcap.log 2>&1; then
		"$zcap" inspect --json zcap.mkv >inspect.json 2>&1
		if grep -q "\"frames\": $frames" inspect.json && grep -q '"finished": true' inspect.json; then
			pass
			result=$(sed -n 's/.*"colour_space": \("[^"]*"\|null\).*/\1/p' inspect.json)
		else
			fail "$what: Matroska: $(cat inspect.json)"
		fi
	elif grep -q "no Matroska reader decodes $name frames.*--container raw" zcap.log; then
		pass
		result="refused"
	else
		fail "$what: Matroska: $(cat zcap.log)"
	fi
	t3=$(now)
	echo "$what: raw equal, $copied B copied, Matroska $result" \
		"(s: v4l2-ctl $t0-$t1, zcap raw -$t2, mkv -$t3)"
}

# The size vivid gives CODE when asked for 641x361: odd where the format
# allows it, else the nearest its subsampling takes (642x362: 4:2:x chroma
# lines of an odd width).
odd_size() {
	"$v4l2ctl" -d $1 --try-fmt-video=width=641,height=361,pixelformat=$(fourcc_number "$2") |
		sed -n 's/.*Width\/Height *: *\([0-9]*\)\/\([0-9]*\).*/\1 \2/p'
}

for dev in /dev/video0 /dev/video1; do
	"$v4l2ctl" -d $dev -c osd_text_mode=2 || fail "$dev: cannot turn the OSD off"
	"$v4l2ctl" -d $dev --list-formats | sed -n "s/.*\[[0-9]*\]: '\(.*\)' (.*/\1/p" >formats.txt
	[ -s formats.txt ] || fail "$dev: no formats listed"
	while IFS= read -r code; do
		# The name without spaces, without a process (each costs a
		# second or two under TCG).
		IFS=' '
		set -- $code
		IFS=''
		name="$*"
		unset IFS
		node=${dev#/dev/}
		if [ -n "${ZCAP_VM_FORMATS:-}" ]; then
			case " $ZCAP_VM_FORMATS " in
			*" $name "* | *" $node:$name "*) ;;
			*) skipped="$skipped $node:$name"; continue ;;
			esac
		fi
		check $dev "$name" "$code" 640 480
		case " ${ZCAP_VM_ODD_FORMATS:-} " in
		*" $name "* | *" $node:$name "*)
			"$v4l2ctl" -d $dev -i $any_size_input >/dev/null
			"$v4l2ctl" -d $dev -c osd_text_mode=2
			size=$(odd_size $dev "$code")
			w=${size% *} h=${size#* }
			if [ -n "$size" ] && [ $((w % 2 + h % 2)) -gt 0 -o $((w % 4)) = 2 ]; then
				check $dev "$name" "$code" $w $h
			else
				fail "$dev $name: vivid gives no odd size (641x361 became ${size:-nothing})"
			fi
			"$v4l2ctl" -d $dev -i $webcam_input >/dev/null
			;;
		esac
	done <formats.txt
done
[ -z "$skipped" ] || echo "$(echo $skipped | wc -w) not run (not in ZCAP_VM_FORMATS):$skipped"
echo "$checks checks passed, $failures failed"
[ $failures = 0 ]
