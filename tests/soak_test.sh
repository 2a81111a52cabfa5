#!/usr/bin/env bash
# Soak: zcap record at the pattern's top rate (--fps max: as fast as the disk
# takes frames) for ZCAP_SOAK_SECONDS (600) into a ring of segment files,
# serving the stream, with one client reading /live.raw all along (every
# frame checked by soak_client) and short HTTP connections coming and going.
# zcap's resident memory and descriptors must stay flat, and every frame be
# accounted for: on disk or counted as dropped, received by the client or
# counted as dropped for it; the segment files left must play.
# Usage: soak_test.sh ZCAP SOAK_CLIENT
set -euo pipefail

zcap=$1
soak_client=$2
seconds=${ZCAP_SOAK_SECONDS:-600}
# zcap's default frames, 1280x720 YUYV (1,843,200 bytes): whole 4 KiB
# blocks, written with no copy.
width=1280
height=720
frame=$((width * height * 2))
# A ring of 3 files of 500 MB: 1.5 GB of disk whatever the length of the run,
# a new file every second or so at disk speed (opened, flushed, deleted).
segment=500MB
segment_bytes=500000000
max_files=3
# RSS and descriptors are sampled this often, each time followed by a burst
# of short connections (kBurst in the monitor below).
sample_seconds=5
# The resident memory the second half of the run may hold beyond the most
# the first half held: allocator noise (0.2 MiB measured once warm), below
# what a leak of 100 bytes a connection adds over 30,000 of them.
rss_margin_kib=$((2 * 1024))

work=$(mktemp -d "${ZCAP_TEST_DIR:-/var/tmp}/zcap-soak-XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"

echo "soak: $seconds s of zcap record --fps max, a client on /live.raw throughout"
"$zcap" record -s pattern --size "${width}x$height" -f YUYV --fps max -t "${seconds}s" \
	--segment "$segment" --max-files "$max_files" --serve 127.0.0.1:0 \
	--stats-json "$work/stats.json" -o "$work/soak.mkv" >"$work/zcap.out" 2>"$work/zcap.err" &
zcap_pid=$!
pids+=("$zcap_pid")
port=""
for _ in $(seq 100); do
	port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/zcap.out" | cut -d: -f3 || true)
	[[ -n $port ]] && break
	sleep 0.1
done
if [[ -z $port ]]; then
	fail "zcap serves (no port: $(cat "$work/zcap.err"))"
	echo "$passed passed, $failed failed"
	exit 1
fi

"$soak_client" "$port" >"$work/client.json" 2>&1 &
client_pid=$!
pids+=("$client_pid")

# Samples zcap's VmRSS and descriptors every $sample_seconds until a period
# before the end of the run, each followed by a burst of short connections of
# every kind the server answers; writes the samples and the answers that went
# wrong as JSON.
python3 - "$zcap_pid" "$port" "$work" "$sample_seconds" "$seconds" >"$work/monitor.json" <<'PY'
import json, os, socket, sys, time

pid, port, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
period, seconds = float(sys.argv[4]), float(sys.argv[5])
# Short connections a sample: 100 a second, 60,000 over a 600 s run.
kBurst = 500

def rss_kib():
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")

def fds():
    """zcap's descriptors on segment files and their io_uring rings (two of
    each while one file is finished and the next fills), and the others."""
    segments = others = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith(f"{work}/soak-") or target == "anon_inode:[io_uring]":
            segments += 1
        else:
            others += 1
    return others, segments

def ask(request, read_all=True):
    """Sends request, returns the status code (0: none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        if not request:
            return 0
        s.sendall(request.encode())
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
            if not read_all and len(data) >= 1024:
                break
        return int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0

def segment():
    names = sorted(n for n in os.listdir(work) if n.startswith("soak-"))
    return names[0] if names else "none"

def get(target, headers=""):
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n"

kinds = [
    ("HEAD /live.raw", lambda: ask("HEAD /live.raw HTTP/1.1\r\nHost: x\r\n\r\n"), {200}),
    ("GET /recordings/", lambda: ask(get("/recordings/", "Accept: text/plain\r\n")), {200}),
    # The oldest file may be deleted meanwhile: 404 then.
    ("GET a segment, a range", lambda: ask(get(f"/recordings/{segment()}",
                                                "Range: bytes=0-65535\r\n")), {206, 404}),
    ("GET /live.raw, closed amid a frame", lambda: ask(get("/live.raw"), False), {200}),
    ("GET /nothing", lambda: ask(get("/nothing")), {404}),
    ("a connection with no request", lambda: ask(""), {0}),
]
samples, wrong, connections = [], {}, 0
start = time.monotonic()
while True:
    # The first sample a period in: zcap and the client are under way; the
    # last a period before the end: then zcap winds down.
    time.sleep(max(0.0, start + (len(samples) + 1) * period - time.monotonic()))
    if time.monotonic() - start > seconds - period:
        break
    try:
        others, segments = fds()
        sample = {"t": round(time.monotonic() - start, 1), "rss_kib": rss_kib(),
                  "fds": others, "segment_fds": segments}
    except (FileNotFoundError, ProcessLookupError, RuntimeError):
        break  # zcap exited
    samples.append(sample)
    for i in range(kBurst):
        name, call, expected = kinds[i % len(kinds)]
        try:
            status = call()
        except OSError as e:
            status = str(e)
        connections += 1
        if status not in expected:
            wrong[f"{name}: {status}"] = wrong.get(f"{name}: {status}", 0) + 1
json.dump({"samples": samples, "connections": connections, "wrong": wrong}, sys.stdout)
PY

zcap_status=0
wait "$zcap_pid" || zcap_status=$?
client_status=0
wait "$client_pid" || client_status=$?
pids=()
check "zcap exits 0 (got $zcap_status: $(head -c 300 "$work/zcap.err"))" test "$zcap_status" -eq 0
check "the client read to the end with every frame right (status $client_status: $(cat "$work/client.json"))" \
	test "$client_status" -eq 0

# The segment files left: each as many frames for ffprobe as for zcap
# inspect, and finished cleanly.
probe() {
	ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
		-of csv=p=0 "$1" 2>&1
}
for file in "$work"/soak-*.mkv; do
	[[ -e $file ]] || continue
	echo "{\"file\": \"$(basename "$file")\", \"ffprobe\": \"$(probe "$file")\", \"inspect\": $("$zcap" inspect --json "$file")}"
done >"$work/files.jsonl"
segments=$(grep -o 'to [0-9]* segment files' "$work/zcap.out" | awk '{print $2}' || true)

# Every verdict at once, from zcap's statistics, the client's and the
# monitor's, as "ok|name" or "fail|name" lines, and "note|text" to print.
verdicts_status=0
python3 - "$work" "$frame" "$segment_bytes" "$max_files" "${segments:-0}" "$rss_margin_kib" \
	>"$work/verdicts" 2>"$work/verdicts.err" <<'PY' || verdicts_status=$?
import json, sys

work, frame, segment_bytes, max_files, segments, margin = sys.argv[1], *map(int, sys.argv[2:])
stats = json.load(open(f"{work}/stats.json"))
client = json.load(open(f"{work}/client.json"))
monitor = json.load(open(f"{work}/monitor.json"))
files = [json.loads(line) for line in open(f"{work}/files.jsonl")]

def check(ok, name):
    print(f"{'ok' if ok else 'fail'}|{name}")

# Memory: no more in the second half than in the first; descriptors: the
# same number all along.
samples = monitor["samples"]
half = len(samples) // 2
first, second = samples[:half], samples[half:]
rss = [s["rss_kib"] for s in samples]
fds = [s["fds"] for s in samples]
print(f"note|{len(samples)} samples, {monitor['connections']} short connections")
print(f"note|RSS MiB: {' '.join(f'{r / 1024:.1f}' for r in rss)}")
print(f"note|descriptors, segment files and rings aside: {' '.join(map(str, fds))}")
check(len(samples) >= 4, f"sampled zcap {len(samples)} times")
if len(samples) >= 4:
    most_first = max(s["rss_kib"] for s in first)
    most_second = max(s["rss_kib"] for s in second)
    check(most_second <= most_first + margin,
          f"RSS flat: {most_second / 1024:.1f} MiB at most in the second half, "
          f"{most_first / 1024:.1f} in the first (+{margin / 1024:.0f} allowed)")
    check(min(fds) == max(fds),
          f"descriptors flat (segment files and rings aside): {min(fds)}..{max(fds)}")
    segment_fds = max(s["segment_fds"] for s in samples)
    check(segment_fds <= 4, f"at most 2 segment files and their rings open (got {segment_fds})")
check(not monitor["wrong"], f"every short connection answered as expected "
      f"({monitor['connections']}; wrong: {monitor['wrong']})")

# The disk: every frame the source made written or counted as dropped.
source = stats["source"]
disk, server = stats["sinks"]
check(stats["ok"], f"the run succeeded ({stats['error']})")
check(source["dropped"] == 0, f"--fps max: the source waits, drops nothing (got {source['dropped']})")
# The run ends at the first frame made at or past -t's duration (a
# duration counts capture time, Pipeline::run()): that one goes to no sink.
made = source["frames"] - 1
check(made == disk["frames"] + disk["dropped"],
      f"frames made {made} (+1 past -t) = disk frames {disk['frames']} + dropped {disk['dropped']}")
check(disk["copied_bytes"] == 0, f"no byte copied on the way to disk (got {disk['copied_bytes']})")
# The server is offered every frame (its queue blocks; its own drops are
# counted again by each client they cost a frame).
check(server["frames"] == made, f"the server was offered every frame ({server['frames']} of {made})")

# The client: every frame offered while it was attached received whole or
# counted as dropped for it. Sequences run from 0 without a gap (nothing
# dropped at the source); the first it was offered is the first it got.
mine = [c for c in stats.get("clients", []) if c["peer"] == client["peer"]]
check(len(mine) == 1, f"the server lists the client {client['peer']}")
if len(mine) == 1 and client["first"] is not None:
    c = mine[0]
    offered = server["frames"] - client["first"]
    check(c["frames"] == client["frames"],
          f"the server sent {c['frames']} frames whole, the client got {client['frames']}")
    check(c["frames"] + c["dropped"] == offered,
          f"client frames {c['frames']} + dropped {c['dropped']} = the {offered} frames "
          f"offered since it came")
    check(client["missing"] <= c["dropped"],
          f"no frame missing that is not counted ({client['missing']} missing, "
          f"{c['dropped']} dropped)")
    check(c["bytes"] == c["frames"] * frame, f"{c['bytes']} payload bytes for {c['frames']} frames")
    check(c["closed_because"] == "the stream ended", f"the client was served to the end ({c['closed_because']})")
    print(f"note|client: {client['frames']} frames of {offered} "
          f"({100 * client['frames'] / max(offered, 1):.0f}%), {c['dropped']} dropped, "
          f"{c['copied_bytes'] / 1e9:.1f} GB copied")

# The files left: the newest max_files, each playing; all but the last hold
# a full segment of frames, the last what the other segments did not.
per_file = segment_bytes // frame
check(len(files) == min(segments, max_files), f"{len(files)} files left of {segments} segments")
for i, f in enumerate(files):
    expected = per_file if i < len(files) - 1 else disk["frames"] - (segments - 1) * per_file
    inspect = f["inspect"]
    check(f["ffprobe"] == str(inspect["frames"]) == str(expected) and inspect["finished"],
          f"{f['file']}: {f['ffprobe']} frames for ffprobe, {inspect['frames']} for zcap "
          f"inspect, {expected} expected, finished: {inspect['finished']}")
print(f"note|{source['frames']} frames in {stats['elapsed_s']:.0f} s "
      f"({source['frames'] / max(stats['elapsed_s'], 1e-9):.0f} fps, "
      f"{disk['bytes'] / max(stats['elapsed_s'], 1e-9) / 1e6:.0f} MB/s) in {segments} segments")
PY
while IFS='|' read -r verdict name; do
	case $verdict in
	ok) pass "$name" ;;
	note) echo "  $name" ;;
	*) fail "$name" ;;
	esac
done <"$work/verdicts"
check "every check ran ($(tail -1 "$work/verdicts.err"))" test "$verdicts_status" -eq 0

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
