#!/usr/bin/env python3
"""Disk benchmark: zcap against GStreamer's filesink and fio's O_DIRECT limit.

Writes the same volume of 1920x1080 YUYV frames with zcap (direct and
--buffered), with `gst-launch-1.0 fakesrc ! filesink`, and with fio using
O_DIRECT (the limit of the disk), all into one directory, in one run. Each
run is timed from just before the tool starts until a final sync() returns,
and its CPU time is the whole machine's busy time from /proc/stat over that
span: a buffered writer's own process time hides the copy into the page cache
and the writeback that kernel threads do after it exits.

Prints a table and zcap's ratios to fio and GStreamer, and writes the table,
a JSON record and a gnuplot PNG chart to --out. Targets are reported, not
asserted: the exit status is 0 unless a tool fails or writes the wrong size.
"""

import argparse
import dataclasses
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parent.parent

GIB = 1 << 30
GB = 10**9  # throughput in decimal GB/s, as fio and dd report it

# The frame geometry the issue asks for. 4147200 bytes is not a multiple of
# 4096, so zcap copies about every other frame to aligned memory.
FRAME_WIDTH, FRAME_HEIGHT = 1920, 1080
YUYV_BYTES_PER_PIXEL = 2
FRAME_BYTES = FRAME_WIDTH * FRAME_HEIGHT * YUYV_BYTES_PER_PIXEL

DEFAULT_FRAMES = 600  # 2.49 GB, the smallest round count above the minimum
MIN_VOLUME = 2 * GIB  # the minimum: start-up costs stay small next to it

# fio's O_DIRECT writes must be whole 4096-byte blocks; 4 MiB is the nearest
# such size to one frame. Its volume is rounded up to whole blocks.
FIO_BLOCK = 4 << 20
FIO_IODEPTH = 8  # zcap's default --queue-depth: the same writes in flight

TARGET_THROUGHPUT_VS_FIO = 0.95  # at least this share of the disk's limit
TARGET_CPU_VS_FIO = 1.2  # at most this multiple of direct I/O's floor
TARGET_CPU_VS_GST = 0.33  # at most this share of a buffered filesink

# /proc/stat "cpu" columns: user nice system idle iowait irq softirq steal
# guest guest_nice. Busy time leaves out idle and iowait (waiting is not
# work) and guest/guest_nice (already counted in user/nice).
BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Whole-machine CPU counts whatever else runs (other builds and tests on a
# shared machine), so each run waits for the machine to be quiet and is
# repeated if it was not quiet right after. Idle here is about 0.01 cores.
PROBE_S = 1.0  # one sample of the background load
QUIET_CORES = 0.05  # at most this much other work, in cores
QUIET_WAIT_S = 120  # wait this long for quiet, then run anyway (and say so)
MAX_ATTEMPTS = 3  # runs of one repeat before a disturbed one is kept

FREE_SPACE_HEADROOM = 1.1  # one file at a time, plus 10% for the fs itself

ZCAP, ZCAP_BUFFERED, GST, FIO = "zcap", "zcap --buffered", "gst filesink", "fio O_DIRECT"


class BenchError(Exception):
    """A tool failed to run or wrote the wrong volume."""


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Path, Path], list[str]]  # (output file, stats file) -> command
    volume: int  # bytes the output file must hold
    inspect: Callable[[Path], tuple[int, str]]  # stats file -> (copied bytes, I/O path)


@dataclasses.dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    copied_bytes: int
    io_path: str
    background_cores: float


@dataclasses.dataclass(frozen=True)
class Row:
    tool: str
    volume: int
    wall_s: float
    cpu_s: float
    copied_bytes: int
    io_path: str

    @property
    def gib(self) -> float:
        return self.volume / GIB

    @property
    def gb_per_s(self) -> float:
        return self.volume / GB / self.wall_s

    @property
    def cpu_per_gib(self) -> float:
        return self.cpu_s / self.gib


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zcap", type=Path, default=REPO_ROOT / "build" / "zcap",
                        help="zcap binary (default: %(default)s)")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"),
                        help="where every tool writes (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help=f"{FRAME_BYTES}-byte frames per run (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per tool; the median is reported (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench-results",
                        help="where the table, JSON and chart go (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help=f"allow less than {MIN_VOLUME // GIB} GiB, for a smoke run")
    args = parser.parse_args()
    if args.frames < 1 or args.repeat < 1:
        parser.error("--frames and --repeat must be at least 1")
    if args.frames * FRAME_BYTES < MIN_VOLUME and not args.quick:
        parser.error(f"{args.frames} frames are less than {MIN_VOLUME // GIB} GiB; "
                     f"use at least {math.ceil(MIN_VOLUME / FRAME_BYTES)} or --quick")
    return args


def check_setup(args: argparse.Namespace, volume: int) -> None:
    if not os.access(args.zcap, os.X_OK):
        raise BenchError(f"{args.zcap} is not executable (build it: ninja -C build)")
    for tool in ("gst-launch-1.0", "fio", "gnuplot"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed")
    fs = os.statvfs(args.dir)
    if fs.f_bavail * fs.f_frsize < volume * FREE_SPACE_HEADROOM:
        raise BenchError(f"{args.dir} has less than {volume * FREE_SPACE_HEADROOM / GB:.1f} GB free")
    if os.geteuid() != 0:
        print("warning: not root, so the page cache is not dropped between runs",
              file=sys.stderr)


def zcap_stats(stats: Path) -> tuple[int, str]:
    sink = json.loads(stats.read_text())["sinks"][0]
    return sink["copied_bytes"], sink["io_path"]


def make_cases(zcap: Path, frames: int) -> list[Case]:
    volume = frames * FRAME_BYTES
    fio_volume = math.ceil(volume / FIO_BLOCK) * FIO_BLOCK

    def zcap_argv(*extra: str) -> Callable[[Path, Path], list[str]]:
        return lambda out, stats: [
            str(zcap), "record", "-q", "-o", str(out),
            "--size", f"{FRAME_WIDTH}x{FRAME_HEIGHT}", "-f", "YUYV", "--fps", "max",
            "-n", str(frames), "--stats-json", str(stats), *extra]

    def gst_argv(out: Path, _stats: Path) -> list[str]:
        # sizetype=fixed: every buffer is sizemax bytes; filltype=nothing: no
        # fill cost, so only the write path is measured.
        return ["gst-launch-1.0", "-q", "fakesrc", f"num-buffers={frames}",
                "sizetype=fixed", f"sizemax={FRAME_BYTES}", "filltype=nothing",
                "!", "filesink", f"location={out}"]

    def fio_argv(out: Path, _stats: Path) -> list[str]:
        return ["fio", "--name=limit", f"--filename={out}", "--rw=write",
                f"--bs={FIO_BLOCK}", f"--size={fio_volume}", "--direct=1",
                "--ioengine=io_uring", f"--iodepth={FIO_IODEPTH}",
                "--fallocate=native", "--end_fsync=1", "--output=/dev/null"]

    return [
        Case(ZCAP, zcap_argv(), volume, zcap_stats),
        Case(ZCAP_BUFFERED, zcap_argv("--buffered"), volume, zcap_stats),
        # write() copies every byte into the page cache.
        Case(GST, gst_argv, volume, lambda _stats: (volume, "write() via page cache")),
        Case(FIO, fio_argv, fio_volume, lambda _stats: (0, "io_uring+O_DIRECT")),
    ]


def busy_cpu_s() -> float:
    with open("/proc/stat") as stat:
        columns = stat.readline().split()[1:]  # the aggregate "cpu" line
    return sum(int(columns[i]) for i in BUSY_COLUMNS) / CLOCK_TICKS


def background_cores() -> float:
    before = busy_cpu_s()
    time.sleep(PROBE_S)
    return (busy_cpu_s() - before) / PROBE_S


def wait_for_quiet() -> float:
    """The background load once it is quiet, or when waiting is over."""
    deadline = time.monotonic() + QUIET_WAIT_S
    load = background_cores()
    while load > QUIET_CORES and time.monotonic() < deadline:
        load = background_cores()
    return load


def drop_caches() -> None:
    if os.geteuid() == 0:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def measure(case: Case, out: Path, stats: Path) -> Run:
    """One run: from a clean, synced state to durable data."""
    out.unlink(missing_ok=True)
    stats.unlink(missing_ok=True)  # never read a previous run's statistics
    os.sync()
    drop_caches()
    background = wait_for_quiet()
    cpu_before = busy_cpu_s()
    start = time.monotonic()
    try:
        proc = subprocess.run(case.argv(out, stats), capture_output=True, text=True)
        os.sync()
        wall_s = time.monotonic() - start
        cpu_s = busy_cpu_s() - cpu_before
        if proc.returncode != 0:
            raise BenchError(f"{case.name} exited {proc.returncode}: {proc.stderr.strip()}")
        size = out.stat().st_size
        if size != case.volume:
            raise BenchError(f"{case.name} wrote {size} bytes, expected {case.volume}")
        copied, io_path = case.inspect(stats)
    finally:
        out.unlink(missing_ok=True)
    return Run(wall_s, cpu_s, copied, io_path, max(background, background_cores()))


def measure_quietly(case: Case, out: Path, stats: Path) -> Run:
    """A run with the machine quiet before and after it, if one can be had."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        run = measure(case, out, stats)
        if run.background_cores <= QUIET_CORES:
            break
        print(f"  {case.name}: {run.background_cores:.2f} cores of other work around "
              f"attempt {attempt} of {MAX_ATTEMPTS}", file=sys.stderr)
    return run


def run_all(cases: list[Case], directory: Path, repeat: int) -> dict[str, list[Run]]:
    """Runs the tools in turn, repeat times, so slow drifts hit all of them."""
    runs: dict[str, list[Run]] = {case.name: [] for case in cases}
    out = directory / f"disk_bench.{os.getpid()}.raw"
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        for i in range(1, repeat + 1):
            for case in cases:
                run = measure_quietly(case, out, stats)
                runs[case.name].append(run)
                print(f"[{i}/{repeat}] {case.name:16} {case.volume / GB / run.wall_s:6.2f} GB/s "
                      f"{run.cpu_s / (case.volume / GIB):6.2f} CPU s/GiB "
                      f"(background {run.background_cores:.2f} cores)", file=sys.stderr)
    return runs


def median_row(case: Case, runs: list[Run]) -> Row:
    """Each metric's median over the repeats (an actual run's value when odd)."""
    return Row(case.name, case.volume,
               statistics.median(r.wall_s for r in runs),
               statistics.median(r.cpu_s for r in runs),
               int(statistics.median(r.copied_bytes for r in runs)),
               runs[0].io_path)


def ratios(rows: dict[str, Row]) -> list[tuple[str, float, str, float]]:
    """zcap's ratios: (what, ratio, comparison, target)."""
    zcap, fio, gst = rows[ZCAP], rows[FIO], rows[GST]
    return [
        ("throughput vs fio", zcap.gb_per_s / fio.gb_per_s, ">=", TARGET_THROUGHPUT_VS_FIO),
        ("CPU/GiB vs fio", zcap.cpu_per_gib / fio.cpu_per_gib, "<=", TARGET_CPU_VS_FIO),
        ("CPU/GiB vs gst", zcap.cpu_per_gib / gst.cpu_per_gib, "<=", TARGET_CPU_VS_GST),
    ]


def passes(ratio: float, comparison: str, target: float) -> bool:
    return ratio >= target if comparison == ">=" else ratio <= target


def format_report(rows: dict[str, Row], runs: dict[str, list[Run]],
                  args: argparse.Namespace) -> str:
    header = (f"{'tool':16} | {'GiB':>5} | {'wall s':>6} | {'GB/s':>5} | "
              f"{'CPU s/GiB':>9} | {'copied bytes':>20} | I/O path")
    lines = [f"disk benchmark: {args.frames} frames {FRAME_WIDTH}x{FRAME_HEIGHT} YUYV "
             f"({FRAME_BYTES} bytes each), median of {args.repeat}, in {args.dir}",
             "wall s: start to durable data (incl. final sync); CPU: whole machine "
             "(/proc/stat user+nice+system+irq+softirq+steal) over the same span",
             f"fio: bs={FIO_BLOCK >> 20} MiB, iodepth={FIO_IODEPTH}, volume rounded up "
             "to whole blocks", "", header, "-" * len(header)]
    for row in rows.values():
        share = row.copied_bytes / row.volume
        lines.append(f"{row.tool:16} | {row.gib:5.2f} | {row.wall_s:6.2f} | "
                     f"{row.gb_per_s:5.2f} | {row.cpu_per_gib:9.2f} | "
                     f"{row.copied_bytes:>14,} {share:4.0%} | {row.io_path}")
    lines += ["", "zcap's ratios (targets reported, not asserted):"]
    for what, ratio, comparison, target in ratios(rows):
        verdict = "PASS" if passes(ratio, comparison, target) else "MISS"
        lines.append(f"  {what:18} {ratio:5.2f}  (target {comparison} {target})  {verdict}")
    lines += ["", "per run (GB/s, CPU s/GiB):"]
    for name, tool_runs in runs.items():
        row = rows[name]
        cells = "  ".join(f"{row.volume / GB / r.wall_s:5.2f} {r.cpu_s / row.gib:5.2f}"
                          for r in tool_runs)
        lines.append(f"  {name:16} {cells}")
    busiest = max(r.background_cores for tool_runs in runs.values() for r in tool_runs)
    if busiest > QUIET_CORES:
        lines.append(f"\nwarning: up to {busiest:.2f} cores of other work ran around a "
                     "kept run; whole-machine CPU counts that load too")
    return "\n".join(lines) + "\n"


def report_json(rows: dict[str, Row], runs: dict[str, list[Run]],
                args: argparse.Namespace) -> dict:
    return {
        "frames": args.frames, "frame_bytes": FRAME_BYTES, "repeat": args.repeat,
        "dir": str(args.dir), "fio_block_bytes": FIO_BLOCK, "fio_iodepth": FIO_IODEPTH,
        "median": [dataclasses.asdict(row) | {"gb_per_s": row.gb_per_s,
                                              "cpu_s_per_gib": row.cpu_per_gib}
                   for row in rows.values()],
        "runs": {name: [dataclasses.asdict(r) for r in tool_runs]
                 for name, tool_runs in runs.items()},
        "ratios": [{"what": what, "ratio": ratio, "target": f"{comparison} {target}",
                    "pass": passes(ratio, comparison, target)}
                   for what, ratio, comparison, target in ratios(rows)],
    }


GNUPLOT_SCRIPT = """\
set terminal pngcairo size 1200,560 font "sans,11"
set output "{png}"
set style fill solid 0.8 border -1
set boxwidth 0.6
set xrange [-0.6:{xmax}]
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set grid ytics
set xtics noenhanced
set key below noenhanced
set multiplot layout 1,2 title "{title}" noenhanced
set title "throughput to durable data (GB/s, higher is better)"
plot "{data}" using 0:2:xtic(1) with boxes lc "steelblue" notitle, \\
     "" using 0:2:(sprintf("%.2f", $2)) with labels offset 0,0.7 notitle, \\
     {throughput_target} with lines dt 2 lw 2 lc "red" title "{throughput_label}"
set title "whole-machine CPU (s/GiB, lower is better)"
plot "{data}" using 0:3:xtic(1) with boxes lc "dark-orange" notitle, \\
     "" using 0:3:(sprintf("%.2f", $3)) with labels offset 0,0.7 notitle, \\
     {cpu_target} with lines dt 2 lw 2 lc "red" title "{cpu_label}"
unset multiplot
"""


def draw_chart(rows: dict[str, Row], args: argparse.Namespace, png: Path) -> None:
    """Two bar panels; a dashed line in each marks what zcap must reach."""
    fio, gst = rows[FIO], rows[GST]
    cpu_target = min(TARGET_CPU_VS_FIO * fio.cpu_per_gib, TARGET_CPU_VS_GST * gst.cpu_per_gib)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bars.dat"
        data.write_text("".join(f'"{row.tool}" {row.gb_per_s} {row.cpu_per_gib}\n'
                                for row in rows.values()))
        script = GNUPLOT_SCRIPT.format(
            png=png, data=data, xmax=len(rows) - 0.4,  # half a gap past the last bar
            title=f"{args.frames} x {FRAME_WIDTH}x{FRAME_HEIGHT} YUYV "
                  f"({rows[ZCAP].volume / GIB:.2f} GiB), median of {args.repeat}",
            throughput_target=TARGET_THROUGHPUT_VS_FIO * fio.gb_per_s,
            throughput_label=f"zcap target: {TARGET_THROUGHPUT_VS_FIO} x fio",
            cpu_target=cpu_target,
            cpu_label=f"zcap target: min({TARGET_CPU_VS_FIO} x fio, "
                      f"{TARGET_CPU_VS_GST} x gst)")
        subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main() -> int:
    args = parse_args()
    cases = make_cases(args.zcap, args.frames)
    try:
        check_setup(args, max(case.volume for case in cases))
        runs = run_all(cases, args.dir, args.repeat)
    except BenchError as error:
        print(f"disk_bench: {error}", file=sys.stderr)
        return 1
    rows = {case.name: median_row(case, runs[case.name]) for case in cases}
    args.out.mkdir(parents=True, exist_ok=True)
    table = format_report(rows, runs, args)
    (args.out / "disk_bench.txt").write_text(table)
    (args.out / "disk_bench.json").write_text(
        json.dumps(report_json(rows, runs, args), indent=2) + "\n")
    draw_chart(rows, args, args.out / "disk_bench.png")
    print(table, end="")
    print(f"wrote {args.out}/disk_bench.{{txt,json,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
