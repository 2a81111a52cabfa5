#!/usr/bin/env bash
# zcap's network server behind a real NIC driver. run-in-guest boots a guest
# with two virtio-net NICs: one on a host tap device with a vnet header
# (scatter-gather and checksum offloads, as a real NIC has) and one on
# QEMU's user networking (no vnet header: no scatter-gather). In it zcap
# stream (guest_nic_test.sh) serves the pattern at 25 fps, once for each
# --net-path, and clients here on the host read it through the NICs:
#   over the tap: /live.mkv to the stream's end, /live.raw for 50 frames as
#     fast as they come, and /live.raw for 10 frames at 2 MB/s (the camera
#     makes 3.8 MB/s);
#   over user networking: /live.mkv and /live.raw for 50 frames.
# Every byte of every frame is checked (soak_client, verify_raw): a frame
# the kernel still held when its buffer was refilled would show. The
# guest's --stats-json must say, per client: the path (tap: the one asked
# for, auto: zerocopy; user: copy, the log naming the device), the bytes
# copied (tap: not all; user: every one, counted), and every frame a
# client missed counted as dropped. Then zcap record serves vivid with
# --net-path sendfile: every frame a client got over the tap must be a frame
# of that run's recording (see below).
# Usage: nic_test.sh RUN_IN_GUEST ZCAP SCATTER_GATHER GUEST_SCRIPT SOAK_CLIENT VERIFY_RAW
set -uo pipefail

run_in_guest=$1 zcap=$2 scatter_gather=$3 guest_script=$4 soak_client=$5 verify_raw=$6
paths="sendfile zc auto"
fast_frames=50
slow_frames=10
slow_rate=2000000
# Phase k listens on port + 2k and stops on port + 2k + 1; the same ports on
# the host's 127.0.0.1 are forwarded to them over user networking, so they
# must be free here: below the ephemeral range (32768 up), none in use.
ports=$((2 * $(wc -w <<<"$paths")))
for ((i = 0; i < 1000; i++)); do
	port=$((20000 + ($$ + i * 7) % 2000 * ports))
	in_use=$(ss -Htan | awk -v lo=$port -v hi=$((port + ports)) \
		'{ n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p < hi) print p }')
	[[ -n $in_use ]] || break
done
work=$(mktemp -d "${ZCAP_TEST_DIR:-/var/tmp}/zcap-nic-XXXXXX")
vm=""
trap '[[ -n $vm ]] && kill "$vm" 2>/dev/null && wait "$vm"; rm -rf "$work"' EXIT
# shellcheck source=../cli_lib.sh
source "$(dirname "$0")/../cli_lib.sh"

vm_args=(--nic tap --nic user --timeout 400 --file "$zcap" --file "$scatter_gather"
	--env "ZCAP_NIC_PATHS=$paths" --env "ZCAP_NIC_PORT=$port"
	--env "ZCAP_NIC_VIVID_PORT=$((port + ports))")
for ((k = 0; k < ports; k++)); do
	vm_args+=(--hostfwd "$((port + k)):$((port + k))")
done
"$run_in_guest" "${vm_args[@]}" -- "$guest_script" >"$work/console" 2>&1 &
vm=$!

# Waits for console line PATTERN (grep -E) and prints it; fails when the
# guest ended without it.
await() {
	local line
	while :; do
		line=$(grep -aE -m1 "$1" "$work/console") && { echo "$line"; return 0; }
		kill -0 "$vm" 2>/dev/null || break
		sleep 0.2
	done
	line=$(grep -aE -m1 "$1" "$work/console") && { echo "$line"; return 0; }
	echo "the guest ended before '$1'; its console:" >&2
	tail -n 30 "$work/console" | sed 's/^/  | /' >&2
	return 1
}

# "run-in-guest: nic tap DEV: host A, guest B"
tap_line=$(await 'run-in-guest: nic tap .*guest') || exit 1
tap_host=$(sed 's/.*host \([0-9.]*\),.*/\1/' <<<"$tap_line")
tap_guest=${tap_line##* }
for want in "tap on" "user off"; do
	dev=$(await "zcap-vm: --nic ${want% *}: " | awk '{ print $4 }') || exit 1
	sg=$(await "^ZCAP-NIC-SG $dev ") || exit 1
	check "${want% *}: the guest's $dev has scatter-gather ${want#* } (${sg#ZCAP-NIC-SG })" \
		grep -q "scatter-gather ${want#* }\$" <<<"$sg"
done

# Tells the guest to go on: connects to its port $1 (nc -l) and closes.
stop() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/$tap_guest/$1") 2>/dev/null && return
		sleep 0.2
	done
}

k=0
for path in $paths; do
	p=$((port + 2 * k))
	k=$((k + 1))
	await "^ZCAP-NIC-SERVING $path " >/dev/null || exit 1
	echo "# $path: serving after ${SECONDS}s"
	curl -s --max-time 300 -o "$work/$path-tap.mkv" "http://$tap_guest:$p/live.mkv" &
	tap_mkv=$!
	curl -s --max-time 300 -o "$work/$path-user.mkv" "http://127.0.0.1:$p/live.mkv" &
	user_mkv=$!
	# The raw clients once the Matroska streams have begun.
	for f in "$work/$path-tap.mkv" "$work/$path-user.mkv"; do
		until [[ -s $f ]] || ! kill -0 $tap_mkv $user_mkv 2>/dev/null; do sleep 0.1; done
	done
	"$soak_client" --host "$tap_guest" --frames $slow_frames --rate $slow_rate "$p" \
		>"$work/$path-tap-slow" &
	raws=($!)
	"$soak_client" --host "$tap_guest" --frames $fast_frames "$p" >"$work/$path-tap-fast" &
	raws+=($!)
	"$soak_client" --host 127.0.0.1 --frames $fast_frames "$p" >"$work/$path-user-fast" &
	raws+=($!)
	wait "${raws[@]}"
	# Stop the guest's server: its /live.mkv streams end.
	stop $((p + 1))
	wait $tap_mkv $user_mkv
	stats=$(await "^ZCAP-NIC-STATS $path ") || exit 1
	log=$(await "^ZCAP-NIC-LOG $path ") || exit 1
	cut -d' ' -f4- <<<"$stats" >"$work/$path.stats"
	check "$path: zcap stream exits 0 ($(cut -d' ' -f3 <<<"$stats"); log: ${log#ZCAP-NIC-LOG "$path"})" \
		test "$(cut -d' ' -f3 <<<"$stats")" = 0
	for client in tap-fast tap-slow user-fast; do
		frames=$fast_frames
		[[ $client != *slow ]] || frames=$slow_frames
		check "$path $client: $frames /live.raw frames, every one right ($(cat "$work/$path-$client"))" \
			grep -q "\"frames\": $frames, .*\"error\": \"\", \"ended\": \"\"}" "$work/$path-$client"
	done
	for nic in tap user; do
		mkv_check=$("$verify_raw" "$work/$path-$nic.mkv" YUYV 320x240 2>&1)
		check "$path $nic-mkv: every /live.mkv frame right ($mkv_check)" \
			grep -q '^frames [1-9]' <<<"$mkv_check"
	done
	check "$path: the log says the user NIC has no scatter-gather" \
		grep -q "has no scatter-gather" <<<"$log"
	# What the server says of each client.
	python3 - "$path" "$work" "$tap_host" >"$work/$path.verdicts" <<'PY'
import json, sys
path, work, tap_host = sys.argv[1:4]
stats = json.load(open(f"{work}/{path}.stats"))
source_dropped = stats["source"]["dropped"]
clients = stats["clients"]
print(f"{'OK' if len(clients) == 5 else 'FAIL'} the server lists 5 clients: "
      + ", ".join(f"{c['peer']} {c['target']}" for c in clients))
for name in ("tap-fast", "tap-slow", "tap-mkv", "user-fast", "user-mkv"):
    nic, kind = name.split("-")
    target = "/live.mkv" if kind == "mkv" else "/live.raw"
    got = None if kind == "mkv" else json.load(open(f"{work}/{path}-{name}"))
    # Over the tap the server knows a raw client by its address and port;
    # the other clients are one per target from the tap's host address or
    # from QEMU's 10.0.2.2 (user networking).
    found = [c for c in clients if c["target"] == target and
             (c["peer"] == got["peer"] if nic == "tap" and got else
              c["peer"].startswith((tap_host if nic == "tap" else "10.0.2.2") + ":"))]
    if len(found) != 1:
        print(f"FAIL {name}: the server lists it {len(found)} times")
        continue
    c = found[0]
    want = {"sendfile": "sendfile", "zc": "zerocopy", "auto": "zerocopy"}[path] if nic == "tap" else "copy"
    print(f"{'OK' if c['net_path'] == want else 'FAIL'} {name}: path {c['net_path']}, want {want}")
    if nic == "user":
        # send() copies every byte; a client fallen behind has the rest of a
        # frame copied aside first (counted too).
        ok = c["copied_bytes"] >= c["bytes"] > 0
        print(f"{'OK' if ok else 'FAIL'} {name}: every byte counted as copied "
              f"({c['copied_bytes']} copied, {c['bytes']} sent)")
    else:
        # Its first frame finds nothing of it in the kernel and goes by the
        # path; a later one goes by send() (counted) while the guest has not
        # yet seen the one before acknowledged or completed (timing: shown).
        ok = c["copied_bytes"] < c["bytes"]
        print(f"{'OK' if ok else 'FAIL'} {name}: not every byte copied ({c['copied_bytes']} "
              f"copied, {c['bytes']} sent in {c['frames']} frames, {c['dropped']} dropped)")
    if got is not None:
        ok = got["missing"] <= c["dropped"] + source_dropped
        print(f"{'OK' if ok else 'FAIL'} {name}: its {got['missing']} missed frames are counted "
              f"({c['dropped']} dropped for it, {source_dropped} by the source)")
PY
	while read -r verdict what; do
		check "$path $what" test "$verdict" = OK
	done <"$work/$path.verdicts"
done

# vivid: zcap record -d /dev/video0 --serve --net-path sendfile. Its frames
# cannot be told from their bytes, but they differ (the count of different
# pictures is printed), so every frame a client got over the tap must be,
# byte for byte, a frame of the recording the same run made, in order.
vivid_port=$((port + ports))
vivid_frames=30
await "^ZCAP-NIC-SERVING vivid " >/dev/null || exit 1
curl -s --max-time 300 -o "$work/vivid.live" "http://$tap_guest:$vivid_port/live.raw" &
live=$!
until (($(stat -c %s "$work/vivid.live" 2>/dev/null || echo 0) >= vivid_frames * (40 + 115200))) ||
	! kill -0 $live 2>/dev/null; do
	sleep 0.1
done
stop $((vivid_port + 1))
wait $live
stats=$(await "^ZCAP-NIC-STATS vivid ") || exit 1
log=$(await "^ZCAP-NIC-LOG vivid ") || exit 1
check "vivid: zcap record exits 0 ($(cut -d' ' -f3 <<<"$stats"); log: ${log#ZCAP-NIC-LOG vivid})" \
	test "$(cut -d' ' -f3 <<<"$stats")" = 0
cut -d' ' -f4- <<<"$stats" >"$work/vivid.stats"
await "^ZCAP-NIC-RECORDING vivid " >/dev/null || exit 1
curl -s --max-time 120 -o "$work/vivid.raw" "http://$tap_guest:$((vivid_port + 2))/vivid.raw"
stop $((vivid_port + 3))
python3 - "$work" "$vivid_frames" >"$work/vivid.verdicts" <<'PY'
import hashlib, json, struct, sys
work, want = sys.argv[1], int(sys.argv[2])
size = 320 * 180 * 2
recorded = open(f"{work}/vivid.raw", "rb").read()
frames = {}  # a frame's SHA-1: its indexes in the recording
for i in range(len(recorded) // size):
    frames.setdefault(hashlib.sha1(recorded[i * size:(i + 1) * size]).digest(), []).append(i)
stats = json.load(open(f"{work}/vivid.stats"))
written = next(s["frames"] for s in stats["sinks"] if not s["description"].startswith("HTTP"))
n = len(recorded) // size
print(f"{'OK' if n == written and len(recorded) % size == 0 else 'FAIL'} "
      f"the recording holds the {written} frames written ({n})")
print(f"{'OK' if len(frames) > 1 else 'FAIL'} its pictures differ ({len(frames)} different)")
live = open(f"{work}/vivid.live", "rb").read()
offset, got, error = 0, [], ""
while offset + 40 <= len(live) and not error:
    magic, header, seq, _, fourcc, w, h, payload = struct.unpack_from("<IIQQIIII", live, offset)
    if (magic, header, w, h, payload) != (0x3146435A, 40, 320, 180, size):
        error = f"a wrong header after {len(got)} frames"
    elif offset + 40 + size <= len(live):
        at = [i for i in frames.get(hashlib.sha1(live[offset + 40:offset + 40 + size]).digest(), [])
              if not got or i > got[-1]]
        if not at:
            error = f"frame {seq} is no frame of the recording after the last one matched"
        else:
            got.append(at[0])
    offset += 40 + size
print(f"{'OK' if not error and len(got) >= want else 'FAIL'} every one of the {len(got)} "
      f"/live.raw frames is a frame of the recording, in order{': ' + error if error else ''}")
clients = [c for c in stats["clients"] if c["target"] == "/live.raw"]
c = clients[0] if len(clients) == 1 else {"net_path": None, "copied_bytes": 0, "bytes": 0}
print(f"{'OK' if c['net_path'] == 'sendfile' else 'FAIL'} the client's path: {c['net_path']}")
print(f"{'OK' if c['copied_bytes'] < c['bytes'] else 'FAIL'} not every byte copied "
      f"({c['copied_bytes']} copied, {c['bytes']} sent)")
PY
while read -r verdict what; do
	check "vivid: $what" test "$verdict" = OK
done <"$work/vivid.verdicts"

wait $vm
status=$?
vm=""
check "the guest run ends well (status $status)" test $status = 0
grep -a 'run-in-guest: guest exit status' "$work/console"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
