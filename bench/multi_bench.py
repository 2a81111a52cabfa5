"""Several cameras: one zcap process against N zcap processes and N GStreamer
pipelines, N = 1, 2, 4, 8 pattern cameras at 1920x1080 YUYV, 30 fps (live).

  zcap 1 process    zcap record -d pattern (N times) -o cam%C.raw: one process,
                    a thread and an io_uring file per camera
  zcap N processes  N x zcap record -s pattern -o camI.raw
  gst N processes   N x gst-launch-1.0 videotestsrc is-live=true pattern=black
                    ! filesink (pattern=black: videotestsrc's cheapest)

Each run records --seconds of every camera, from a synced state until a
sync() after the last process exits. CPU is the whole machine's busy time
from /proc/stat (kernel writeback included) less what other users'
processes used meanwhile (disk_bench.other_processes_cpu_s), per camera-hour
of video; and the CPU time of the recording processes alone (their rusage:
io_uring workers included, the kernel's writeback of page-cache writes not),
which other work on a shared machine does not disturb. Drops: zcap's counted drops (device and queue, from --stats-json);
for GStreamer the frames short of N x 30 x seconds in the files. The
machine may be shared: the other work seen is printed with each run.

Writes multi_bench.txt, multi_bench.json and multi_bench.png to --out.
"""

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from disk_bench import (FRAME_BYTES, FRAME_HEIGHT, FRAME_WIDTH, busy_cpu_s,
                        check_free_space, other_processes_cpu_s)

REPO_ROOT = Path(__file__).resolve().parent.parent
FPS = 30
CAMERAS = (1, 2, 4, 8)
TOOLS = ("zcap 1 process", "zcap N processes", "gst N processes")
SECONDS_PER_HOUR = 3600

GNUPLOT_SCRIPT = """\
set terminal pngcairo size 900,500
set output '{png}'
set title '{title}'
set xlabel 'cameras (1920x1080 YUYV, 30 fps)'
set ylabel 'CPU seconds per camera-hour'
set logscale x 2
set xtics (1, 2, 4, 8)
set xrange [0.8:10]
set key top left
set grid ytics
plot for [col=2:4] '{data}' using 1:col with linespoints lw 2 title columnhead(col)
"""


@dataclasses.dataclass
class Run:
    tool: str
    cameras: int
    wall_s: float
    cpu_s: float
    others_cores: float
    process_cpu_s: float
    frames: int
    dropped: int

    def cpu_per_camera_hour(self, seconds: float) -> float:
        return self.cpu_s / (self.cameras * seconds / SECONDS_PER_HOUR)

    def process_cpu_per_camera_hour(self, seconds: float) -> float:
        return self.process_cpu_s / (self.cameras * seconds / SECONDS_PER_HOUR)


def commands(tool: str, cameras: int, seconds: float, zcap: Path, work: Path) -> list[list[str]]:
    size = f"{FRAME_WIDTH}x{FRAME_HEIGHT}"
    common = ["-q", "--size", size, "-f", "YUYV", "--fps", str(FPS), "-t", f"{seconds}s"]
    if tool == "zcap 1 process":
        sources = [arg for _ in range(cameras) for arg in ("-d", "pattern")]
        return [[str(zcap), "record", *sources, *common, "-o", str(work / "cam%C.raw"),
                 "--stats-json", str(work / "stats-all.json")]]
    if tool == "zcap N processes":
        return [[str(zcap), "record", "-s", "pattern", *common, "-o", str(work / f"cam{i}.raw"),
                 "--stats-json", str(work / f"stats-{i}.json")] for i in range(1, cameras + 1)]
    caps = f"video/x-raw,format=YUY2,width={FRAME_WIDTH},height={FRAME_HEIGHT},framerate={FPS}/1"
    return [["gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "pattern=black",
             f"num-buffers={int(FPS * seconds)}", "!", caps, "!", "filesink",
             f"location={work / f'cam{i}.raw'}"] for i in range(1, cameras + 1)]


def count(tool: str, cameras: int, seconds: float, work: Path) -> tuple[int, int]:
    """Frames written and frames lost."""
    if tool.startswith("zcap"):
        frames = dropped = 0
        for stats in work.glob("stats-*.json"):
            report = json.loads(stats.read_text())
            if "cameras" in report:
                for camera in report["cameras"]:
                    frames += camera["frames"]
                    dropped += camera["dropped"]
            else:
                frames += report["sinks"][0]["frames"]
                dropped += report["source"]["dropped"] + report["sinks"][0]["dropped"]
        return frames, dropped
    frames = sum(f.stat().st_size // FRAME_BYTES for f in work.glob("cam*.raw"))
    return frames, cameras * int(FPS * seconds) - frames


def measure(tool: str, cameras: int, seconds: float, zcap: Path, directory: Path) -> Run:
    work = Path(tempfile.mkdtemp(prefix="multi-bench-", dir=directory))
    try:
        os.sync()
        others_before = other_processes_cpu_s()
        cpu_before = busy_cpu_s()
        children_before = os.times()
        start = time.monotonic()
        procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for argv in commands(tool, cameras, seconds, zcap, work)]
        errors = [p.communicate()[1] for p in procs]
        os.sync()
        wall_s = time.monotonic() - start
        others = other_processes_cpu_s() - others_before
        cpu_s = busy_cpu_s() - cpu_before - others
        children = os.times()
        process_cpu_s = (children.children_user + children.children_system
                         - children_before.children_user - children_before.children_system)
        for proc, err in zip(procs, errors):
            if proc.returncode != 0:
                raise SystemExit(f"{tool} x{cameras} exited {proc.returncode}: {err.strip()}")
        frames, dropped = count(tool, cameras, seconds, work)
        return Run(tool, cameras, wall_s, cpu_s, others / wall_s, process_cpu_s, frames, dropped)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zcap", type=Path, default=REPO_ROOT / "build" / "zcap")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    args = parser.parse_args()
    check_free_space(args.dir, max(CAMERAS) * FPS * args.seconds * FRAME_BYTES * 1.1)

    runs: list[Run] = []
    for cameras in CAMERAS:
        for tool in TOOLS:  # interleaved, so drifts hit every tool
            run = measure(tool, cameras, args.seconds, args.zcap, args.dir)
            runs.append(run)
            print(f"{cameras} x {tool:17} {run.cpu_per_camera_hour(args.seconds):8.1f} / "
                  f"{run.process_cpu_per_camera_hour(args.seconds):6.1f} CPU s per camera-hour "
                  f"(machine / processes), {run.frames} frames, {run.dropped} dropped "
                  f"(other work {run.others_cores:.2f} cores)", file=sys.stderr)

    def cpu(tool: str, cameras: int) -> float:
        """The recording processes' CPU: whole-machine figures are only
        meaningful on a quiet machine (see the 'other' column)."""
        return next(r for r in runs if r.tool == tool and r.cameras == cameras) \
            .process_cpu_per_camera_hour(args.seconds)

    lines = [f"{args.seconds:g} s of N pattern cameras, {FRAME_WIDTH}x{FRAME_HEIGHT} YUYV at "
             f"{FPS} fps; CPU s per camera-hour: whole machine less other users' processes, "
             f"and the recording processes' own; drops; other users' load in cores",
             f"{'N':>2}  {'tool':17} {'machine':>9} {'process':>8} {'frames':>7} {'dropped':>8} "
             f"{'other':>6}"]
    for run in runs:
        lines.append(f"{run.cameras:>2}  {run.tool:17} {run.cpu_per_camera_hour(args.seconds):9.1f} "
                     f"{run.process_cpu_per_camera_hour(args.seconds):8.1f} "
                     f"{run.frames:7} {run.dropped:8} {run.others_cores:6.2f}")
    lines.append("ratios of process CPU (one zcap process against):")
    for cameras in CAMERAS:
        one = cpu("zcap 1 process", cameras)
        lines.append(f"  N={cameras}: {one / cpu('zcap N processes', cameras):.2f}x N zcap "
                     f"processes, {one / cpu('gst N processes', cameras):.2f}x N GStreamer")
    report = "\n".join(lines) + "\n"
    print(report, end="")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "multi_bench.txt").write_text(report)
    (args.out / "multi_bench.json").write_text(json.dumps(
        {"seconds": args.seconds, "fps": FPS, "width": FRAME_WIDTH, "height": FRAME_HEIGHT,
         "runs": [dataclasses.asdict(r) | {
             "cpu_s_per_camera_hour": r.cpu_per_camera_hour(args.seconds),
             "process_cpu_s_per_camera_hour": r.process_cpu_per_camera_hour(args.seconds)}
             for r in runs]},
        indent=2) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cpu.dat"
        data.write_text('N "zcap, 1 process" "zcap, N processes" "GStreamer, N processes"\n' +
                        "".join(f"{n} " + " ".join(f"{cpu(t, n):.1f}" for t in TOOLS) + "\n"
                                for n in CAMERAS))
        subprocess.run(["gnuplot"], check=True, text=True, input=GNUPLOT_SCRIPT.format(
            png=args.out / "multi_bench.png", data=data,
            title=f"CPU of the recording processes per camera-hour, {args.seconds:g} s runs"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
