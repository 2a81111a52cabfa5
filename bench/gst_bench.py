"""GStreamer benchmark: zcap's elements against GStreamer's own file writers.

Writes the same volume of 1920x1080 YUY2 frames (600 by default, 2.32 GiB)
with these pipelines, in one run:

  zcapsrc ! zcapfilesink    zcap's pattern source (is-live=false) into
                            zcapfilesink, raw and Matroska
  vts ! zcapfilesink        videotestsrc filling the buffers of the pool
                            zcapfilesink proposes, raw and Matroska
  vts ! filesink            videotestsrc into filesink (raw)
  vts ! matroskamux         videotestsrc through matroskamux into filesink
  vts ! fakesink            diagnostic, no file: what videotestsrc costs
  zcapsrc ! fakesink        diagnostic, no file: what zcapsrc costs

Measured as disk_bench.py measures (its helpers are used): from just before
the pipeline's process starts until a sync() after it exits, the whole
machine's busy CPU from /proc/stat over that span, the page cache dropped
before each run, a quiet machine waited for, the median of --repeat
interleaved runs. Every pipeline runs in the same process, gst_run.py (Debian's
python3 with PyGObject), which reads zcapfilesink's bytes-copied and io-path
at EOS, so every row pays the same start-up.

Prints the table and the ratios of zcap's rows to GStreamer's, and writes
gst_bench.txt and gst_bench.json to --out. Nothing is asserted but the
output: the exit status is 0 unless a pipeline fails, writes the wrong size,
writes a Matroska file ffprobe does not read back whole, or zcapfilesink
counts a frame short or dropped.
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

from disk_bench import (DEFAULT_FRAMES, FRAME_BYTES, FRAME_HEIGHT, FRAME_WIDTH, GB, GIB,
                        MAX_ATTEMPTS, MIN_VOLUME, MKV_SLACK_FIXED, QUIET_CORES, BenchError, Row,
                        Run, background_cores, busy_cpu_s, check_free_space, drop_caches,
                        other_processes_cpu_s, per_run_lines, spread, verify_mkv,
                        wait_for_quiet)

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "gst_run.py"
# The interpreter python3-gi installs for; a pyenv or venv python3 may lack it.
GI_PYTHON = "/usr/bin/python3"

# The frames' caps. zcapsrc's pattern is drawn once per buffer and then only
# moves a box and a stamp; videotestsrc paints every buffer whole, and
# pattern=black is the cheapest of its patterns to paint (the fakesink rows
# show each source's own cost).
RAW_CAPS = f"video/x-raw,format=YUY2,width={FRAME_WIDTH},height={FRAME_HEIGHT}"
VTS_CAPS = f"{RAW_CAPS},framerate=30/1"
VTS_PATTERN = "black"
# A sanity bound on what a Matroska file may hold beyond the payload (each
# file is also decoded whole by ffprobe). Looser than disk_bench.py's one
# block a frame: zcapfilesink's files, like zcap record's, hold about 1.5
# blocks a frame more (6,145 bytes measured), which the table shows.
MKV_SLACK_PER_FRAME = 4 * 4096

ZCAP_RAW, ZCAP_MKV = "zcapsrc ! zcapfilesink", "zcapsrc ! zcapfilesink mkv"
POOL_RAW, POOL_MKV = "vts ! zcapfilesink", "vts ! zcapfilesink mkv"
GST_RAW, GST_MKV = "vts ! filesink", "vts ! matroskamux"
VTS_ONLY, ZCAPSRC_ONLY = "vts ! fakesink", "zcapsrc ! fakesink"


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    pipeline: Callable[[Path], str]  # output file -> pipeline, its sink named "sink"
    suffix: str | None  # of the output file; None: the pipeline writes none
    zcap_sink: bool  # zcapfilesink: its counters are checked and reported
    volume: int  # payload bytes: what the throughput and CPU per GiB count
    slack: int = 0  # bytes the file may hold beyond the payload (a container's)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugin-dir", type=Path, default=REPO_ROOT / "build" / "gst",
                        help="where libgstzcap.so is (default: %(default)s)")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"),
                        help="where every pipeline writes (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help=f"{FRAME_BYTES}-byte frames per run (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per pipeline; the median is reported (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench-results",
                        help="where the table and JSON go (default: %(default)s)")
    parser.add_argument("--no-diagnostics", action="store_true",
                        help="leave out the fakesink rows")
    parser.add_argument("--quick", action="store_true",
                        help=f"allow less than {MIN_VOLUME // GIB} GiB, for a smoke run")
    args = parser.parse_args()
    if args.frames < 1 or args.repeat < 1:
        parser.error("--frames and --repeat must be at least 1")
    if args.frames * FRAME_BYTES < MIN_VOLUME and not args.quick:
        parser.error(f"{args.frames} frames are less than {MIN_VOLUME // GIB} GiB; "
                     f"use at least {math.ceil(MIN_VOLUME / FRAME_BYTES)} or --quick")
    return args


def make_cases(frames: int, diagnostics: bool) -> list[Case]:
    volume = frames * FRAME_BYTES
    mkv_slack = frames * MKV_SLACK_PER_FRAME + MKV_SLACK_FIXED
    zcapsrc = f"zcapsrc is-live=false num-buffers={frames} ! {RAW_CAPS}"
    vts = f"videotestsrc pattern={VTS_PATTERN} num-buffers={frames} ! {VTS_CAPS}"

    def zcap_sink(container: str) -> Callable[[Path], str]:
        return lambda out: f"zcapfilesink name=sink location={out} container={container}"

    def case(name: str, source: str, sink: Callable[[Path], str], suffix: str | None,
             zcap: bool) -> Case:
        return Case(name, lambda out: f"{source} ! {sink(out)}", suffix, zcap, volume,
                    mkv_slack if suffix == ".mkv" else 0)

    cases = [
        case(ZCAP_RAW, zcapsrc, zcap_sink("raw"), ".raw", True),
        case(ZCAP_MKV, zcapsrc, zcap_sink("mkv"), ".mkv", True),
        case(POOL_RAW, vts, zcap_sink("raw"), ".raw", True),
        case(POOL_MKV, vts, zcap_sink("mkv"), ".mkv", True),
        case(GST_RAW, vts, lambda out: f"filesink name=sink location={out}", ".raw", False),
        case(GST_MKV, vts, lambda out: f"matroskamux ! filesink name=sink location={out}",
             ".mkv", False),
    ]
    if diagnostics:
        fakesink = lambda _out: "fakesink name=sink"  # noqa: E731
        cases += [case(VTS_ONLY, vts, fakesink, None, False),
                  case(ZCAPSRC_ONLY, zcapsrc, fakesink, None, False)]
    return cases


def runner_env(plugin_dir: Path, registry: Path) -> dict[str, str]:
    """The environment every pipeline runs in: zcap's plugin from the build
    tree, a registry of this benchmark's own (built before the runs)."""
    return os.environ | {"GST_PLUGIN_PATH": str(plugin_dir), "GST_REGISTRY": str(registry)}


def check_setup(args: argparse.Namespace, env: dict[str, str], largest_file: int) -> None:
    if not (args.plugin_dir / "libgstzcap.so").is_file():
        raise BenchError(f"no {args.plugin_dir}/libgstzcap.so (build it: ninja -C build)")
    for tool in ("gst-inspect-1.0", "ffprobe", GI_PYTHON):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed")
    probe = subprocess.run([GI_PYTHON, "-c", "import gi; gi.require_version('Gst', '1.0')"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise BenchError(f"{GI_PYTHON} has no GStreamer bindings (python3-gi, "
                         f"gir1.2-gstreamer-1.0): {probe.stderr.strip()}")
    # Also builds the registry, so that no run pays for scanning plugins.
    # --exists alone also wants the plugin's version to be GStreamer's.
    for element in ("zcapsrc", "zcapfilesink", "videotestsrc", "matroskamux", "filesink"):
        if subprocess.run(["gst-inspect-1.0", "--exists", "--atleast-version=0.0.0", element],
                          env=env).returncode != 0:
            raise BenchError(f"GStreamer has no {element} element")
    check_free_space(args.dir, largest_file * 1.1)
    if os.geteuid() != 0:
        print("warning: not root, so the page cache is not dropped between runs",
              file=sys.stderr)


def inspect(case: Case, counters: dict, file_bytes: int, frames: int) -> tuple[int, str]:
    """The copied bytes and I/O path of a run: zcapfilesink's own counters
    (which must show every frame written, none dropped); every byte for a
    write() through the page cache; none without a file."""
    if case.zcap_sink:
        if counters.get("frames") != frames or counters.get("dropped") != 0:
            raise BenchError(f"{case.name}: zcapfilesink wrote {counters.get('frames')} of "
                             f"{frames} frames ({counters.get('dropped')} dropped)")
        return counters["bytes-copied"], counters["io-path"]
    if case.suffix is None:
        return 0, "none (fakesink)"
    return file_bytes, "write() via page cache"


def measure(case: Case, out: Path, counters_file: Path, env: dict[str, str],
            frames: int) -> Run:
    """One run: from a clean, synced state to durable data (disk_bench.py's
    measure(), for a pipeline in gst_run.py, with or without a file)."""
    out.unlink(missing_ok=True)
    counters_file.unlink(missing_ok=True)
    os.sync()
    drop_caches()
    background = wait_for_quiet()
    others_before = other_processes_cpu_s()
    cpu_before = busy_cpu_s()
    start = time.monotonic()
    try:
        proc = subprocess.run([GI_PYTHON, str(RUNNER), case.pipeline(out), str(counters_file)],
                              capture_output=True, text=True, env=env)
        os.sync()
        wall_s = time.monotonic() - start
        cpu_s = busy_cpu_s() - cpu_before
        others_during = (other_processes_cpu_s() - others_before) / wall_s
        after = background_cores()  # before any check, which is work of ours
        if proc.returncode != 0:
            raise BenchError(f"{case.name} exited {proc.returncode}: {proc.stderr.strip()}")
        size = 0
        if case.suffix is not None:
            size = out.stat().st_size
            if not case.volume <= size <= case.volume + case.slack:
                raise BenchError(f"{case.name} wrote {size} bytes, expected {case.volume}"
                                 + (f" to {case.volume + case.slack}" if case.slack else ""))
        copied, io_path = inspect(case, json.loads(counters_file.read_text()), size, frames)
        if case.suffix == ".mkv":
            verify_mkv(out, frames)
    finally:
        out.unlink(missing_ok=True)
    return Run(wall_s, cpu_s, copied, io_path, max(background, others_during, after), size)


def run_all(cases: list[Case], args: argparse.Namespace,
            env: dict[str, str], tmp: Path) -> dict[str, list[Run]]:
    """Runs the pipelines in turn, --repeat times; each run is retried up to
    MAX_ATTEMPTS times while other work disturbs it, keeping the quietest."""
    runs: dict[str, list[Run]] = {case.name: [] for case in cases}
    counters_file = tmp / "counters.json"
    for i in range(1, args.repeat + 1):
        for case in cases:
            out = args.dir / f"gst_bench.{os.getpid()}{case.suffix or '.none'}"
            attempts = []
            for attempt in range(1, MAX_ATTEMPTS + 1):
                run = measure(case, out, counters_file, env, args.frames)
                attempts.append(run)
                if run.background_cores <= QUIET_CORES:
                    break
                print(f"  {case.name}: {run.background_cores:.2f} cores of other work "
                      f"around attempt {attempt} of {MAX_ATTEMPTS}", file=sys.stderr)
            run = min(attempts, key=lambda r: r.background_cores)
            runs[case.name].append(run)
            print(f"[{i}/{args.repeat}] {case.name:26} {run.wall_s:6.2f} s "
                  f"{run.cpu_s:6.2f} CPU s {case.volume / GB / run.wall_s:6.2f} GB/s "
                  f"(background {run.background_cores:.2f} cores)", file=sys.stderr)
    return runs


def median_rows(cases: list[Case], runs: dict[str, list[Run]]) -> dict[str, Row]:
    """Each metric's median over the repeats (an actual run's value when odd)."""
    return {case.name: Row(case.name, case.volume,
                           statistics.median(r.wall_s for r in runs[case.name]),
                           statistics.median(r.cpu_s for r in runs[case.name]),
                           int(statistics.median(r.copied_bytes for r in runs[case.name])),
                           runs[case.name][0].io_path,
                           int(statistics.median(r.file_bytes for r in runs[case.name])))
            for case in cases}


@dataclasses.dataclass(frozen=True)
class Ratio:
    what: str
    throughput: float  # zcap's row / the other's: higher is better
    cpu: float  # zcap's CPU s/GiB / the other's: lower is better


def ratios(rows: dict[str, Row]) -> list[Ratio]:
    pairs = [(ZCAP_RAW, GST_RAW), (ZCAP_MKV, GST_MKV), (POOL_RAW, GST_RAW), (POOL_MKV, GST_MKV),
             (ZCAP_MKV, ZCAP_RAW), (POOL_RAW, ZCAP_RAW)]
    return [Ratio(f"{a} / {b}", rows[a].gb_per_s / rows[b].gb_per_s,
                  rows[a].cpu_per_gib / rows[b].cpu_per_gib) for a, b in pairs]


def format_report(rows: dict[str, Row], runs: dict[str, list[Run]],
                  args: argparse.Namespace) -> str:
    header = (f"{'pipeline':26} | {'GiB':>5} | {'wall s':>6} | {'GB/s':>5} | {'GB/s range':>11} | "
              f"{'CPU s/GiB':>9} | {'CPU range':>11} | {'file - payload':>14} | "
              f"{'copied bytes':>20} | I/O path")
    lines = [f"GStreamer benchmark: {args.frames} frames {FRAME_WIDTH}x{FRAME_HEIGHT} YUY2 "
             f"({FRAME_BYTES} bytes each), median of {args.repeat}, in {args.dir}",
             "wall s: start to durable data (incl. final sync); CPU: whole machine "
             "(/proc/stat user+nice+system+irq+softirq+steal) over the same span",
             f"vts = videotestsrc pattern={VTS_PATTERN}; every pipeline runs in gst_run.py; "
             "Matroska files were checked with ffprobe -count_frames",
             "ranges: lowest-highest of the runs", "", header, "-" * len(header)]
    for row in rows.values():
        tool_runs = runs[row.tool]
        file_extra = f"{row.file_bytes - row.volume:,}" if row.file_bytes else "no file"
        lines.append(
            f"{row.tool:26} | {row.gib:5.2f} | {row.wall_s:6.2f} | {row.gb_per_s:5.2f} | "
            f"{spread([row.volume / GB / r.wall_s for r in tool_runs]):>11} | "
            f"{row.cpu_per_gib:9.2f} | {spread([r.cpu_s / row.gib for r in tool_runs]):>11} | "
            f"{file_extra:>14} | {row.copied_bytes:>14,} {row.copied_bytes / row.volume:4.0%} | "
            f"{row.io_path}")
    lines += ["", "ratios (throughput: higher is better; CPU s/GiB: lower is better):"]
    lines += [f"  {r.what:52} throughput {r.throughput:5.2f}  CPU {r.cpu:5.2f}"
              for r in ratios(rows)]
    lines += per_run_lines(runs, 26)
    return "\n".join(lines) + "\n"


def report_json(rows: dict[str, Row], runs: dict[str, list[Run]],
                args: argparse.Namespace) -> dict:
    return {
        "frames": args.frames, "frame_bytes": FRAME_BYTES, "repeat": args.repeat,
        "dir": str(args.dir), "videotestsrc_pattern": VTS_PATTERN,
        "median": [dataclasses.asdict(row) | {"gb_per_s": row.gb_per_s,
                                              "cpu_s_per_gib": row.cpu_per_gib}
                   for row in rows.values()],
        "runs": {name: [dataclasses.asdict(r) for r in tool_runs]
                 for name, tool_runs in runs.items()},
        "ratios": [dataclasses.asdict(r) for r in ratios(rows)],
    }


def main() -> int:
    args = parse_args()
    cases = make_cases(args.frames, not args.no_diagnostics)
    with tempfile.TemporaryDirectory() as tmp:
        env = runner_env(args.plugin_dir.resolve(), Path(tmp) / "registry.bin")
        try:
            check_setup(args, env, max(case.volume + case.slack for case in cases))
            runs = run_all(cases, args, env, Path(tmp))
        except BenchError as error:
            print(f"gst_bench: {error}", file=sys.stderr)
            return 1
    rows = median_rows(cases, runs)
    args.out.mkdir(parents=True, exist_ok=True)
    table = format_report(rows, runs, args)
    (args.out / "gst_bench.txt").write_text(table)
    (args.out / "gst_bench.json").write_text(
        json.dumps(report_json(rows, runs, args), indent=2) + "\n")
    print(table, end="")
    print(f"wrote {args.out}/gst_bench.{{txt,json}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
