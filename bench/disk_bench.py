"""Disk benchmark: zcap against GStreamer's filesink and fio's O_DIRECT limit.

Writes the same volume of 1920x1080 YUYV frames with zcap (direct, direct
with io_uring refused as containers refuse it, and --buffered), with `gst-launch-1.0 fakesrc ! filesink`, and with fio using
O_DIRECT (the limit of the disk), all into one directory, in one run. The
same frames also go into Matroska files, with zcap (`-o FILE.mkv`), with
GStreamer's matroskamux and with `ffmpeg -c copy` from a raw file in tmpfs;
each is checked with ffprobe after its timed run. Each
run is timed from just before the tool starts until a final sync() returns,
and its CPU time is the whole machine's busy time from /proc/stat over that
span: a buffered writer's own process time hides the copy into the page cache
and the writeback that kernel threads do after it exits.

Two more fio runs document the limit: one writes a single block, to measure
fio's own start-up (the "fio net" row is fio less it), and one writes from
memory that starts off a page boundary, which O_DIRECT handles far more
slowly here (why zcap stages such frames in aligned memory).

Prints a table and zcap's ratios to fio and GStreamer, and writes the table,
a JSON record and a gnuplot PNG chart to --out. Targets are reported, not
asserted: the exit status is 0 unless a tool fails, writes the wrong size or
writes a Matroska file ffprobe does not read back whole.
"""

import argparse
import contextlib
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
from typing import Callable, Iterator

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
# zcap stages bulks that start off a page boundary because O_DIRECT from such
# memory is far slower here; one fio row measures that with its buffers this
# far past a page boundary (fio's iomem_align offsets from page alignment).
FIO_OFF_PAGE_BYTES = 2048
# At about 50 MB/s the full volume would take nearly a minute a run, long
# enough on a shared machine to be disturbed; 512 MiB shows the rate as well.
FIO_OFF_PAGE_VOLUME = 512 << 20
# fio spends about 0.5 s and 0.35 CPU s here around its writes (clock
# calibration, random-filled buffers, polling for its job), which makes the
# disk's limit look a fifth or more lower than it is. A one-block fio run
# measures that; fio's run less it is the limit net of fio's start-up.
FIO_START_VOLUME = FIO_BLOCK

TARGET_THROUGHPUT_VS_FIO = 0.95  # at least this share of the disk's limit
TARGET_CPU_VS_FIO = 1.2  # at most this multiple of direct I/O's floor
TARGET_CPU_VS_GST = 0.33  # at most this share of a buffered filesink

# /proc/stat "cpu" columns: user nice system idle iowait irq softirq steal
# guest guest_nice. Busy time leaves out idle and iowait (waiting is not
# work) and guest/guest_nice (already counted in user/nice).
BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PF_KTHREAD = 0x00200000  # /proc/PID/stat flags bit of a kernel thread

# Whole-machine CPU counts whatever else runs (other builds and tests on a
# shared machine), so each run waits for the machine to be quiet and is
# repeated if other work ran right after it or, in user processes, during it.
# Idle here is about 0.01 cores.
PROBE_S = 1.0  # one sample of the background load
QUIET_CORES = 0.05  # at most this much other work, in cores
QUIET_WAIT_S = 120  # wait this long for quiet, then run anyway (and say so)
MAX_ATTEMPTS = 3  # runs of one repeat before the least disturbed is kept

FREE_SPACE_HEADROOM = 1.1  # one file at a time, plus 10% for the fs itself

# Matroska files hold the payload plus headers and padding; anything past
# this is a wrong file. zcap starts every payload on a 4096-byte block and
# writes it from the frame's own pages, so a frame costs one block before its
# payload (a Void, then the Cluster header where one starts, then the
# SimpleBlock header, ending where the payload starts) and the Void from the
# payload's end to the next block (under a block: 2048 bytes for 1920x1080
# YUYV, 1012.5 blocks). Measured: 6144 bytes a frame at 1920x1080 and 4096 at
# 1280x720, plus 40 bytes a file. GStreamer and ffmpeg add a few dozen bytes
# a frame.
ZCAP_BLOCK = 4096
MKV_SLACK_PER_FRAME = 2 * ZCAP_BLOCK
MKV_SLACK_FIXED = 1 << 20  # EBML header, Tracks, Cues
# The caps matroskamux gets: rawvideoparse turns fakesrc's unlabelled
# buffers into these frames (timestamps from the frame rate) without copying.
GST_RAW_FORMAT, GST_FRAMERATE = "yuy2", "30/1"
FFMPEG_PIX_FMT = "yuyv422"  # ffprobe's name for YUYV
# The target for zcap's Matroska copies (each frame's tail under a block).
TARGET_MKV_COPIED_SHARE = 0.001

ZCAP, ZCAP_BUFFERED, GST = "zcap", "zcap --buffered", "gst filesink"
# zcap under tests/no_io_uring (EPERM, as Docker's default seccomp profile):
# O_DIRECT through Linux AIO.
ZCAP_NO_URING = "zcap w/o io_uring"
# Its targets against the zcap row of the same run.
TARGET_NO_URING_THROUGHPUT = 0.8  # at least this share of io_uring's GB/s
TARGET_NO_URING_CPU = 1.5  # at most this multiple of io_uring's CPU s/GiB
ZCAP_MKV, GST_MKV, FFMPEG_MKV = "zcap mkv", "gst matroskamux", "ffmpeg -c copy"
FIO, FIO_OFF_PAGE = "fio O_DIRECT", "fio off-page"
FIO_START, FIO_NET = "fio 1 block", "fio net"  # the limit: FIO less FIO_START


class BenchError(Exception):
    """A tool failed to run or wrote the wrong volume."""


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Path, Path], list[str]]  # (output file, stats file) -> command
    volume: int  # payload bytes: what the throughput and CPU per GiB count
    # (stats file, output file bytes) -> (copied bytes, I/O path)
    inspect: Callable[[Path, int], tuple[int, str]]
    suffix: str = ".raw"  # of the output file: zcap and ffmpeg pick the container by it
    slack: int = 0  # bytes the file may hold beyond the payload (a container's)
    # Checks the output file after the timed run; raises BenchError.
    verify: Callable[[Path], None] | None = None


@dataclasses.dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    copied_bytes: int
    io_path: str
    background_cores: float  # the most other work seen before, during or after it
    file_bytes: int  # the output file's size: the payload plus a container's bytes
    # Other users' processes' CPU over the run: on a shared machine, cpu_s less
    # this is the tool's own CPU with the kernel's work for it (and the kernel
    # threads' work for others, which is far smaller than their processes').
    others_cpu_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class Row:
    tool: str
    volume: int
    wall_s: float
    cpu_s: float
    copied_bytes: int
    io_path: str
    file_bytes: int
    cpu_less_others_s: float = 0.0  # median of cpu_s less others_cpu_s

    @property
    def gib(self) -> float:
        return self.volume / GIB

    @property
    def gb_per_s(self) -> float:
        return self.volume / GB / self.wall_s

    @property
    def cpu_per_gib(self) -> float:
        return self.cpu_s / self.gib

    @property
    def cpu_less_others_per_gib(self) -> float:
        return self.cpu_less_others_s / self.gib


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zcap", type=Path, default=REPO_ROOT / "build" / "zcap",
                        help="zcap binary (default: %(default)s)")
    parser.add_argument("--no-io-uring", type=Path,
                        default=REPO_ROOT / "build" / "no_io_uring",
                        help="tests/no_io_uring binary (default: %(default)s)")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"),
                        help="where every tool writes (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help=f"{FRAME_BYTES}-byte frames per run (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per tool; the median is reported (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench-results",
                        help="where the table, JSON and chart go (default: %(default)s)")
    parser.add_argument("--ffmpeg-input-dir", type=Path, default=Path("/dev/shm"),
                        help="where the raw file ffmpeg reads is made, outside the "
                             "disk measured (default: %(default)s, tmpfs)")
    parser.add_argument("--quick", action="store_true",
                        help=f"allow less than {MIN_VOLUME // GIB} GiB, for a smoke run")
    parser.add_argument("--only", action="append", metavar="TOOL",
                        help="run only this row (repeatable), e.g. --only zcap "
                             f"--only '{ZCAP_NO_URING}'; ratios need their rows")
    parser.add_argument("--quiet-wait", type=float, default=QUIET_WAIT_S,
                        help="seconds to wait for a quiet machine before each run "
                             "(default: %(default)s; 0 on a machine that is never quiet)")
    args = parser.parse_args()
    if args.only and FIO_NET in args.only:
        args.only.append(FIO_START)  # fio net is fio less its start-up run
    if args.frames < 1 or args.repeat < 1:
        parser.error("--frames and --repeat must be at least 1")
    if args.frames * FRAME_BYTES < MIN_VOLUME and not args.quick:
        parser.error(f"{args.frames} frames are less than {MIN_VOLUME // GIB} GiB; "
                     f"use at least {math.ceil(MIN_VOLUME / FRAME_BYTES)} or --quick")
    return args


def check_free_space(directory: Path, needed: float) -> None:
    fs = os.statvfs(directory)
    if fs.f_bavail * fs.f_frsize < needed:
        raise BenchError(f"{directory} has less than {needed / GB:.1f} GB free")


def check_setup(args: argparse.Namespace, largest_file: int) -> None:
    if not os.access(args.zcap, os.X_OK):
        raise BenchError(f"{args.zcap} is not executable (build it: ninja -C build)")
    if not os.access(args.no_io_uring, os.X_OK):
        raise BenchError(f"{args.no_io_uring} is not executable (build it: ninja -C build)")
    for tool in ("gst-launch-1.0", "gst-inspect-1.0", "fio", "gnuplot", "ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed")
    for element in ("rawvideoparse", "matroskamux"):
        if subprocess.run(["gst-inspect-1.0", "--exists", element]).returncode != 0:
            raise BenchError(f"GStreamer has no {element} element")
    check_free_space(args.dir, largest_file * FREE_SPACE_HEADROOM)
    check_free_space(args.ffmpeg_input_dir, args.frames * FRAME_BYTES)
    if os.geteuid() != 0:
        print("warning: not root, so the page cache is not dropped between runs",
              file=sys.stderr)


def zcap_stats(stats: Path, frames: int) -> tuple[int, str]:
    record = json.loads(stats.read_text())
    sink = record["sinks"][0]
    if not record["ok"] or sink["frames"] != frames or sink["dropped"] != 0:
        raise BenchError(f"zcap recorded {sink['frames']} of {frames} frames "
                         f"({sink['dropped']} dropped): {record['error'] or sink['error']}")
    return sink["copied_bytes"], sink["io_path"]


def verify_mkv(path: Path, frames: int) -> None:
    """ffprobe decodes every frame: the file must hold them all, and nothing else
    may be wrong with it."""
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames",
         "-of", "json", str(path)], capture_output=True, text=True)
    if proc.returncode != 0 or proc.stderr.strip():
        raise BenchError(f"ffprobe {path.name}: {proc.stderr.strip() or proc.returncode}")
    streams = json.loads(proc.stdout)["streams"]
    expected = {"codec_name": "rawvideo", "pix_fmt": FFMPEG_PIX_FMT, "width": FRAME_WIDTH,
                "height": FRAME_HEIGHT, "nb_read_frames": str(frames)}
    if len(streams) != 1 or streams[0] != expected:
        raise BenchError(f"ffprobe {path.name}: {streams}, expected {expected}")


@contextlib.contextmanager
def raw_input_file(path: Path, frames: int) -> Iterator[Path]:
    """The raw frames ffmpeg reads, written before the runs and kept in tmpfs,
    so that reading them costs CPU (a copy) but no disk time."""
    frame = bytes(range(256)) * (FRAME_BYTES // 256)
    try:
        with open(path, "wb") as raw:
            for _ in range(frames):
                raw.write(frame)
        yield path
    finally:
        path.unlink(missing_ok=True)


def make_cases(zcap: Path, no_io_uring: Path, frames: int, ffmpeg_input: Path) -> list[Case]:
    volume = frames * FRAME_BYTES
    fio_volume = math.ceil(volume / FIO_BLOCK) * FIO_BLOCK
    mkv_slack = frames * MKV_SLACK_PER_FRAME + MKV_SLACK_FIXED

    def zcap_argv(*extra: str) -> Callable[[Path, Path], list[str]]:
        return lambda out, stats: [
            str(zcap), "record", "-q", "-o", str(out), "--source", "pattern",
            "--size", f"{FRAME_WIDTH}x{FRAME_HEIGHT}", "--format", "YUYV",
            "--fps", "max", "--policy", "block", "--frames", str(frames),
            "--stats-json", str(stats), *extra]

    def zcap_inspect(stats: Path, _file_bytes: int) -> tuple[int, str]:
        return zcap_stats(stats, frames)

    def page_cache_inspect(_stats: Path, file_bytes: int) -> tuple[int, str]:
        return file_bytes, "write() via page cache"  # write() copies every byte

    def ffmpeg_inspect(_stats: Path, file_bytes: int) -> tuple[int, str]:
        # The kernel's copies: read() of the input, write() of the file. ffmpeg
        # also writes the file in 256 KiB pieces from its own buffers, a copy
        # in user space that is not counted here.
        return volume + file_bytes, "read() from tmpfs, write() via page cache"

    def fakesrc() -> list[str]:
        # sizetype=fixed: every buffer is sizemax bytes; filltype=nothing: no
        # fill cost, so only the write path is measured.
        return ["gst-launch-1.0", "-q", "fakesrc", f"num-buffers={frames}",
                "sizetype=fixed", f"sizemax={FRAME_BYTES}", "filltype=nothing"]

    def gst_argv(out: Path, _stats: Path) -> list[str]:
        return [*fakesrc(), "!", "filesink", f"location={out}"]

    def gst_mkv_argv(out: Path, _stats: Path) -> list[str]:
        # fakesrc's buffers carry no caps and byte offsets for timestamps, which
        # matroskamux refuses; rawvideoparse labels each as one video frame with
        # a timestamp and passes the same memory on (no copy).
        return [*fakesrc(), "!", "rawvideoparse", "use-sink-caps=false",
                f"format={GST_RAW_FORMAT}", f"width={FRAME_WIDTH}", f"height={FRAME_HEIGHT}",
                f"framerate={GST_FRAMERATE}", "!", "matroskamux", "!", "filesink",
                f"location={out}"]

    def ffmpeg_argv(out: Path, _stats: Path) -> list[str]:
        return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                "-f", "rawvideo", "-pixel_format", FFMPEG_PIX_FMT,
                "-video_size", f"{FRAME_WIDTH}x{FRAME_HEIGHT}", "-framerate", "30",
                "-i", str(ffmpeg_input), "-c", "copy", "-y", str(out)]

    def mkv_case(name: str, argv: Callable[[Path, Path], list[str]],
                 inspect: Callable[[Path, int], tuple[int, str]]) -> Case:
        return Case(name, argv, volume, inspect, suffix=".mkv", slack=mkv_slack,
                    verify=lambda out: verify_mkv(out, frames))

    def fio_argv(size: int, mem_offset: int) -> Callable[[Path, Path], list[str]]:
        return lambda out, _stats: [
            "fio", "--name=limit", f"--filename={out}", "--rw=write",
            f"--bs={FIO_BLOCK}", f"--size={size}", "--direct=1",
            "--ioengine=io_uring", f"--iodepth={FIO_IODEPTH}",
            f"--iomem_align={mem_offset}", "--fallocate=native", "--end_fsync=1",
            "--output=/dev/null"]

    def fio_inspect(_stats: Path, _file_bytes: int) -> tuple[int, str]:
        return 0, "io_uring+O_DIRECT"

    return [
        Case(ZCAP, zcap_argv(), volume, zcap_inspect),
        mkv_case(ZCAP_MKV, zcap_argv(), zcap_inspect),
        Case(ZCAP_NO_URING, lambda out, stats: [str(no_io_uring), "eperm",
                                                *zcap_argv()(out, stats)],
             volume, zcap_inspect),
        Case(ZCAP_BUFFERED, zcap_argv("--buffered"), volume, zcap_inspect),
        Case(GST, gst_argv, volume, page_cache_inspect),
        mkv_case(GST_MKV, gst_mkv_argv, page_cache_inspect),
        mkv_case(FFMPEG_MKV, ffmpeg_argv, ffmpeg_inspect),
        Case(FIO, fio_argv(fio_volume, 0), fio_volume, fio_inspect),
        Case(FIO_START, fio_argv(FIO_START_VOLUME, 0), FIO_START_VOLUME, fio_inspect),
        Case(FIO_OFF_PAGE, fio_argv(FIO_OFF_PAGE_VOLUME, FIO_OFF_PAGE_BYTES),
             FIO_OFF_PAGE_VOLUME,
             lambda _stats, _size: (0, f"io_uring+O_DIRECT, memory {FIO_OFF_PAGE_BYTES} B off page")),
    ]


def busy_cpu_s() -> float:
    with open("/proc/stat") as stat:
        columns = stat.readline().split()[1:]  # the aggregate "cpu" line
    return sum(int(columns[i]) for i in BUSY_COLUMNS) / CLOCK_TICKS


def background_cores() -> float:
    before = busy_cpu_s()
    time.sleep(PROBE_S)
    return (busy_cpu_s() - before) / PROBE_S


def other_processes_cpu_s() -> float:
    """CPU time of every user process but this one, reaped children included.

    The difference over a run is what other users' processes did meanwhile:
    a process that exits moves its time into its parent's children's time,
    so a sum after less a sum before counts only the time spent in between.
    Kernel threads are left out: they do this benchmark's writeback too.
    """
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after the ")" that ends the command name start at field 3
            # (state): flags is field 9, utime stime cutime cstime 14 to 17.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process exited meanwhile
            continue
        if int(stat.parent.name) != os.getpid() and not int(fields[6]) & PF_KTHREAD:
            total += sum(int(field) for field in fields[11:15]) / CLOCK_TICKS
    return total


def wait_for_quiet(wait_s: float) -> float:
    """The background load once it is quiet, or when waiting is over."""
    deadline = time.monotonic() + wait_s
    load = background_cores()
    while load > QUIET_CORES and time.monotonic() < deadline:
        load = background_cores()
    return load


def drop_caches() -> None:
    if os.geteuid() == 0:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def measure(case: Case, out: Path, stats: Path, quiet_wait_s: float) -> Run:
    """One run: from a clean, synced state to durable data."""
    out.unlink(missing_ok=True)
    stats.unlink(missing_ok=True)  # never read a previous run's statistics
    os.sync()
    drop_caches()
    background = wait_for_quiet(quiet_wait_s)
    others_before = other_processes_cpu_s()
    cpu_before = busy_cpu_s()
    start = time.monotonic()
    try:
        proc = subprocess.run(case.argv(out, stats), capture_output=True, text=True)
        os.sync()
        wall_s = time.monotonic() - start
        cpu_s = busy_cpu_s() - cpu_before
        others_cpu_s = other_processes_cpu_s() - others_before
        others_during = others_cpu_s / wall_s
        after = background_cores()  # before any check, which is work of ours
        if proc.returncode != 0:
            raise BenchError(f"{case.name} exited {proc.returncode}: {proc.stderr.strip()}")
        size = out.stat().st_size
        if not case.volume <= size <= case.volume + case.slack:
            raise BenchError(f"{case.name} wrote {size} bytes, expected {case.volume}"
                             + (f" to {case.volume + case.slack}" if case.slack else ""))
        copied, io_path = case.inspect(stats, size)
        if case.verify:
            case.verify(out)
    finally:
        out.unlink(missing_ok=True)
    return Run(wall_s, cpu_s, copied, io_path, max(background, others_during, after), size,
               others_cpu_s)


def measure_quietly(case: Case, out: Path, stats: Path, quiet_wait_s: float) -> Run:
    """A run with the machine quiet around it if one can be had, else the
    quietest of MAX_ATTEMPTS."""
    attempts = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        run = measure(case, out, stats, quiet_wait_s)
        if run.background_cores <= QUIET_CORES:
            return run
        attempts.append(run)
        print(f"  {case.name}: {run.background_cores:.2f} cores of other work around "
              f"attempt {attempt} of {MAX_ATTEMPTS}", file=sys.stderr)
    return min(attempts, key=lambda run: run.background_cores)


def run_all(cases: list[Case], directory: Path, repeat: int,
            quiet_wait_s: float) -> dict[str, list[Run]]:
    """Runs the tools in turn, repeat times, so slow drifts hit all of them."""
    runs: dict[str, list[Run]] = {case.name: [] for case in cases}
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        for i in range(1, repeat + 1):
            for case in cases:
                out = directory / f"disk_bench.{os.getpid()}{case.suffix}"
                run = measure_quietly(case, out, stats, quiet_wait_s)
                runs[case.name].append(run)
                print(f"[{i}/{repeat}] {case.name:16} {run.wall_s:6.2f} s "
                      f"{run.cpu_s:6.2f} CPU s ({run.cpu_s - run.others_cpu_s:.2f} less others) "
                      f"{case.volume / GB / run.wall_s:6.2f} GB/s "
                      f"(background {run.background_cores:.2f} cores)", file=sys.stderr)
    return runs


def median_row(case: Case, runs: list[Run]) -> Row:
    """Each metric's median over the repeats (an actual run's value when odd)."""
    return Row(case.name, case.volume,
               statistics.median(r.wall_s for r in runs),
               statistics.median(r.cpu_s for r in runs),
               int(statistics.median(r.copied_bytes for r in runs)),
               runs[0].io_path,
               int(statistics.median(r.file_bytes for r in runs)),
               statistics.median(r.cpu_s - r.others_cpu_s for r in runs))


def table_rows(cases: list[Case], runs: dict[str, list[Run]]) -> dict[str, Row]:
    """The median rows, with fio's start-up replaced by fio's net row."""
    medians = {case.name: median_row(case, runs[case.name]) for case in cases}
    start = medians.pop(FIO_START, None)
    rows = {}
    for name, row in medians.items():
        rows[name] = row
        if name == FIO and start:
            rows[FIO_NET] = Row(FIO_NET, row.volume - start.volume, row.wall_s - start.wall_s,
                                row.cpu_s - start.cpu_s, 0,
                                f"{FIO} less {FIO_START} (its start-up)",
                                row.file_bytes - start.file_bytes,
                                row.cpu_less_others_s - start.cpu_less_others_s)
    return rows


@dataclasses.dataclass(frozen=True)
class Ratio:
    what: str
    as_run: float  # against fio as run, start-up included: the reading
    net: float  # against fio net of its start-up: the stricter reading
    comparison: str  # ">=" or "<="
    target: float

    def passes(self, ratio: float) -> bool:
        return ratio >= self.target if self.comparison == ">=" else ratio <= self.target

    def verdict(self, ratio: float) -> str:
        return "PASS" if self.passes(ratio) else "MISS"


def ratios(rows: dict[str, Row]) -> list[Ratio]:
    zcap, fio, fio_net, gst = rows[ZCAP], rows[FIO], rows[FIO_NET], rows[GST]
    gst_cpu = zcap.cpu_per_gib / gst.cpu_per_gib
    return [
        Ratio("throughput vs fio", zcap.gb_per_s / fio.gb_per_s,
              zcap.gb_per_s / fio_net.gb_per_s, ">=", TARGET_THROUGHPUT_VS_FIO),
        Ratio("CPU/GiB vs fio", zcap.cpu_per_gib / fio.cpu_per_gib,
              zcap.cpu_per_gib / fio_net.cpu_per_gib, "<=", TARGET_CPU_VS_FIO),
        Ratio("CPU/GiB vs gst", gst_cpu, gst_cpu, "<=", TARGET_CPU_VS_GST),
    ]


@dataclasses.dataclass(frozen=True)
class MkvRatio:
    """zcap's Matroska row against another row, or a share of its payload."""
    what: str
    value: float
    target: float | None = None  # at most this, where there is one
    percent: bool = False

    def passes(self) -> bool:
        return self.target is None or self.value <= self.target

    def text(self) -> str:
        value = f"{self.value:.3%}" if self.percent else f"{self.value:.2f}"
        if self.target is None:
            return value
        target = f"{self.target:.1%}" if self.percent else f"{self.target}"
        return f"{value}  target <= {target}: {'PASS' if self.passes() else 'MISS'}"


def mkv_ratios(rows: dict[str, Row]) -> list[MkvRatio]:
    mkv, raw, gst_mkv = rows[ZCAP_MKV], rows[ZCAP], rows[GST_MKV]
    return [
        MkvRatio(f"throughput {ZCAP_MKV} / {ZCAP}", mkv.gb_per_s / raw.gb_per_s),
        MkvRatio(f"CPU/GiB {ZCAP_MKV} / {ZCAP}", mkv.cpu_per_gib / raw.cpu_per_gib),
        MkvRatio(f"throughput {ZCAP_MKV} / {GST_MKV}", mkv.gb_per_s / gst_mkv.gb_per_s),
        MkvRatio(f"CPU/GiB {ZCAP_MKV} / {GST_MKV}", mkv.cpu_per_gib / gst_mkv.cpu_per_gib),
        MkvRatio(f"{ZCAP_MKV} copied / payload", mkv.copied_bytes / mkv.volume,
                 TARGET_MKV_COPIED_SHARE, percent=True),
    ]


@dataclasses.dataclass(frozen=True)
class NoUringRatio:
    """zcap with io_uring refused against zcap with it, in the same run."""
    what: str
    value: float
    comparison: str  # ">=" or "<="
    target: float
    percent: bool = False

    def passes(self) -> bool:
        return self.value >= self.target if self.comparison == ">=" else self.value <= self.target

    def text(self) -> str:
        value, target = ((f"{self.value:.3%}", f"{self.target:.1%}") if self.percent
                         else (f"{self.value:.2f}", f"{self.target}"))
        return f"{value}  target {self.comparison} {target}: {'PASS' if self.passes() else 'MISS'}"


def no_uring_ratios(rows: dict[str, Row]) -> list[NoUringRatio]:
    jailed, zcap = rows[ZCAP_NO_URING], rows[ZCAP]
    return [
        NoUringRatio(f"throughput {ZCAP_NO_URING} / {ZCAP}", jailed.gb_per_s / zcap.gb_per_s,
                     ">=", TARGET_NO_URING_THROUGHPUT),
        NoUringRatio(f"CPU/GiB {ZCAP_NO_URING} / {ZCAP}",
                     jailed.cpu_per_gib / zcap.cpu_per_gib, "<=", TARGET_NO_URING_CPU),
        NoUringRatio("the same, CPU less other processes'",
                     jailed.cpu_less_others_per_gib / zcap.cpu_less_others_per_gib, "<=",
                     TARGET_NO_URING_CPU),
        NoUringRatio("copied beyond io_uring's seams / payload",
                     (jailed.copied_bytes - zcap.copied_bytes) / jailed.volume, "<=", 0.0,
                     percent=True),
    ]


# The rows each set of ratios compares (with --only, a set may be missing).
RATIO_ROWS = (ZCAP, FIO, FIO_NET, GST)
MKV_RATIO_ROWS = (ZCAP_MKV, ZCAP, GST_MKV)
NO_URING_RATIO_ROWS = (ZCAP_NO_URING, ZCAP)


def has_rows(rows: dict[str, Row], names: tuple[str, ...]) -> bool:
    return all(name in rows for name in names)


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def format_report(rows: dict[str, Row], runs: dict[str, list[Run]],
                  args: argparse.Namespace) -> str:
    header = (f"{'tool':16} | {'GiB':>5} | {'wall s':>6} | {'GB/s':>5} | {'GB/s range':>11} | "
              f"{'CPU s/GiB':>9} | {'CPU range':>11} | {'less others':>11} | "
              f"{'file - payload':>14} | "
              f"{'copied bytes':>20} | I/O path")
    lines = [f"disk benchmark: {args.frames} frames {FRAME_WIDTH}x{FRAME_HEIGHT} YUYV "
             f"({FRAME_BYTES} bytes each), median of {args.repeat}, in {args.dir}",
             "wall s: start to durable data (incl. final sync); CPU: whole machine "
             "(/proc/stat user+nice+system+irq+softirq+steal) over the same span; "
             "less others: less other users' processes' CPU meanwhile (a shared machine)",
             f"fio: bs={FIO_BLOCK >> 20} MiB, iodepth={FIO_IODEPTH}, volume rounded up "
             f"to whole blocks; {FIO_NET} = {FIO} less a one-block run (fio's start-up)",
             "GiB, GB/s and CPU s/GiB count the frames' payload; Matroska files hold "
             "more (file - payload), and each was checked with ffprobe -count_frames",
             "ranges: lowest-highest of the runs", "", header, "-" * len(header)]
    for row in rows.values():
        share = row.copied_bytes / row.volume
        tool_runs = runs.get(row.tool, [])
        rates = spread([row.volume / GB / r.wall_s for r in tool_runs]) if tool_runs else ""
        cpus = spread([r.cpu_s / row.gib for r in tool_runs]) if tool_runs else ""
        lines.append(f"{row.tool:16} | {row.gib:5.2f} | {row.wall_s:6.2f} | "
                     f"{row.gb_per_s:5.2f} | {rates:>11} | {row.cpu_per_gib:9.2f} | "
                     f"{cpus:>11} | {row.cpu_less_others_per_gib:11.3f} | "
                     f"{row.file_bytes - row.volume:>14,} | "
                     f"{row.copied_bytes:>14,} {share:4.0%} | {row.io_path}")
    if has_rows(rows, RATIO_ROWS):
        lines += ["", "zcap's ratios (targets reported, not asserted), against fio as run "
                  f"and against {FIO_NET}:"]
        for ratio in ratios(rows):
            lines.append(f"  {ratio.what:18} target {ratio.comparison} {ratio.target:4}:  "
                         f"{ratio.as_run:5.2f} {ratio.verdict(ratio.as_run)}  "
                         f"{ratio.net:5.2f} {ratio.verdict(ratio.net)}")
    if has_rows(rows, MKV_RATIO_ROWS):
        lines += ["", "Matroska: zcap's file beside its raw file and beside GStreamer's:"]
        lines += [f"  {ratio.what:38} {ratio.text()}" for ratio in mkv_ratios(rows)]
    if has_rows(rows, NO_URING_RATIO_ROWS):
        lines += ["", "Without io_uring (a container's seccomp profile: aio+O_DIRECT), "
                  "against zcap with it:"]
        lines += [f"  {ratio.what:38} {ratio.text()}" for ratio in no_uring_ratios(rows)]
    lines += per_run_lines(runs, 16)
    return "\n".join(lines) + "\n"


def per_run_lines(runs: dict[str, list[Run]], width: int) -> list[str]:
    """The end of a report: every run's wall and CPU seconds, names padded
    to @width, and a warning if other work ran around a kept run."""
    lines = ["", "per run (wall s, CPU s):"]
    for name, tool_runs in runs.items():
        cells = "  ".join(f"{r.wall_s:6.2f} {r.cpu_s:5.2f}" for r in tool_runs)
        lines.append(f"  {name:{width}} {cells}")
    busiest = max(r.background_cores for tool_runs in runs.values() for r in tool_runs)
    if busiest > QUIET_CORES:
        lines.append(f"\nwarning: up to {busiest:.2f} cores of other work ran around a "
                     "kept run; whole-machine CPU counts that load too")
    return lines


def report_json(rows: dict[str, Row], runs: dict[str, list[Run]],
                args: argparse.Namespace) -> dict:
    return {
        "frames": args.frames, "frame_bytes": FRAME_BYTES, "repeat": args.repeat,
        "dir": str(args.dir), "fio_block_bytes": FIO_BLOCK, "fio_iodepth": FIO_IODEPTH,
        "fio_off_page_bytes": FIO_OFF_PAGE_BYTES,
        "median": [dataclasses.asdict(row) | {"gb_per_s": row.gb_per_s,
                                              "cpu_s_per_gib": row.cpu_per_gib,
                                              "cpu_less_others_s_per_gib":
                                                  row.cpu_less_others_per_gib}
                   for row in rows.values()],
        "runs": {name: [dataclasses.asdict(r) for r in tool_runs]
                 for name, tool_runs in runs.items()},
        "ratios": [{"what": r.what, "target": f"{r.comparison} {r.target}",
                    "vs_fio_as_run": r.as_run, "pass_as_run": r.passes(r.as_run),
                    "vs_fio_net": r.net, "pass_net": r.passes(r.net)}
                   for r in (ratios(rows) if has_rows(rows, RATIO_ROWS) else [])],
        "matroska_ratios": [dataclasses.asdict(r) | {"pass": r.passes()}
                            for r in (mkv_ratios(rows) if has_rows(rows, MKV_RATIO_ROWS)
                                      else [])],
        "no_io_uring_ratios": [dataclasses.asdict(r) | {"pass": r.passes()}
                               for r in (no_uring_ratios(rows)
                                         if has_rows(rows, NO_URING_RATIO_ROWS) else [])],
    }


GNUPLOT_SCRIPT = """\
set terminal pngcairo size 1900,650 font "sans,11"
set output "{png}"
set style fill solid 0.8 border -1
set boxwidth 0.6
set xrange [-0.6:{xmax}]
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set grid ytics
set xtics noenhanced rotate by -30
set key below noenhanced
set multiplot layout 1,2 title "{title}" noenhanced
set title "throughput to durable data (GB/s, higher is better)"
plot "{data}" using 0:2:xtic(1) with boxes lc "steelblue" notitle, \\
     "" using 0:2:(sprintf("%.2f", $2)) with labels offset 0,0.7 notitle, \\
     {throughput_target} with lines dt 2 lw 2 lc "red" title "{throughput_label}", \\
     {throughput_target_net} with lines dt 3 lw 2 lc "dark-red" title "{throughput_label_net}"
set title "{cpu_title} (s/GiB, lower is better)"
plot "{data}" using 0:{cpu_column}:xtic(1) with boxes lc "dark-orange" notitle, \\
     "" using 0:{cpu_column}:(sprintf("%.3f", ${cpu_column})) with labels offset 0,0.7 notitle, \\
     {cpu_target} with lines dt 2 lw 2 lc "red" title "{cpu_label}", \\
     {cpu_target_net} with lines dt 3 lw 2 lc "dark-red" title "{cpu_label_net}"
unset multiplot
"""


def draw_no_uring_chart(rows: dict[str, Row], args: argparse.Namespace, png: Path) -> None:
    """The chart of an --only run of zcap with and without io_uring: lines
    mark what the row without io_uring must reach against zcap's; CPU less
    other processes' (a shared machine; whole-machine CPU is in the table)."""
    zcap = rows[ZCAP]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bars.dat"
        data.write_text("".join(f'"{row.tool}" {row.gb_per_s} {row.cpu_less_others_per_gib}\n'
                                for row in rows.values()))
        throughput = TARGET_NO_URING_THROUGHPUT * zcap.gb_per_s
        cpu = TARGET_NO_URING_CPU * zcap.cpu_less_others_per_gib
        script = GNUPLOT_SCRIPT.format(
            png=png, data=data, xmax=len(rows) - 0.4,
            title=f"{args.frames} x {FRAME_WIDTH}x{FRAME_HEIGHT} YUYV "
                  f"({zcap.volume / GIB:.2f} GiB), median of {args.repeat}",
            throughput_target=throughput,
            throughput_label=f"{ZCAP_NO_URING} target: {TARGET_NO_URING_THROUGHPUT} x {ZCAP}",
            throughput_target_net=throughput, throughput_label_net="",
            cpu_title="machine CPU less other processes'", cpu_column=3,
            cpu_target=cpu, cpu_label=f"{ZCAP_NO_URING} target: {TARGET_NO_URING_CPU} x {ZCAP}",
            cpu_target_net=cpu, cpu_label_net="")
        subprocess.run(["gnuplot"], input=script.replace(' title ""', " notitle"), text=True,
                       check=True)


def draw_chart(rows: dict[str, Row], args: argparse.Namespace, png: Path) -> None:
    """Two bar panels; lines in each mark what zcap must reach, against fio as
    run (dashed) and against fio net of its start-up (dotted)."""
    if not has_rows(rows, RATIO_ROWS):
        if has_rows(rows, NO_URING_RATIO_ROWS):
            draw_no_uring_chart(rows, args, png)
        return
    fio, fio_net, gst = rows[FIO], rows[FIO_NET], rows[GST]

    def cpu_target(limit: Row) -> float:
        return min(TARGET_CPU_VS_FIO * limit.cpu_per_gib, TARGET_CPU_VS_GST * gst.cpu_per_gib)

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bars.dat"
        data.write_text("".join(f'"{row.tool}" {row.gb_per_s} {row.cpu_per_gib}\n'
                                for row in rows.values()))
        script = GNUPLOT_SCRIPT.format(
            png=png, data=data, xmax=len(rows) - 0.4,  # half a gap past the last bar
            title=f"{args.frames} x {FRAME_WIDTH}x{FRAME_HEIGHT} YUYV "
                  f"({rows[ZCAP].volume / GIB:.2f} GiB), median of {args.repeat}",
            throughput_target=TARGET_THROUGHPUT_VS_FIO * fio.gb_per_s,
            throughput_label=f"zcap target: {TARGET_THROUGHPUT_VS_FIO} x fio as run",
            throughput_target_net=TARGET_THROUGHPUT_VS_FIO * fio_net.gb_per_s,
            throughput_label_net=f"{TARGET_THROUGHPUT_VS_FIO} x {FIO_NET}",
            cpu_title="whole-machine CPU", cpu_column=3,
            cpu_target=cpu_target(fio),
            cpu_label=f"zcap target: min({TARGET_CPU_VS_FIO} x fio as run, "
                      f"{TARGET_CPU_VS_GST} x gst)",
            cpu_target_net=cpu_target(fio_net),
            cpu_label_net=f"min({TARGET_CPU_VS_FIO} x {FIO_NET}, {TARGET_CPU_VS_GST} x gst)")
        subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main() -> int:
    args = parse_args()
    ffmpeg_input = args.ffmpeg_input_dir / f"disk_bench.{os.getpid()}.input.raw"
    cases = make_cases(args.zcap, args.no_io_uring, args.frames, ffmpeg_input)
    if args.only:
        unknown = set(args.only) - {case.name for case in cases}
        if unknown:
            print(f"disk_bench: no row {', '.join(sorted(unknown))}; the rows are "
                  f"{', '.join(case.name for case in cases)}", file=sys.stderr)
            return 2
        cases = [case for case in cases if case.name in args.only]
    try:
        check_setup(args, max(case.volume + case.slack for case in cases))
        with (raw_input_file(ffmpeg_input, args.frames)
              if any(case.name == FFMPEG_MKV for case in cases) else contextlib.nullcontext()):
            runs = run_all(cases, args.dir, args.repeat, args.quiet_wait)
    except BenchError as error:
        print(f"disk_bench: {error}", file=sys.stderr)
        return 1
    rows = table_rows(cases, runs)
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
