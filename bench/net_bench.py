"""Network benchmark: zcap's HTTP server against tcpserversink and plain send().

Streams 1920x1080 YUYV frames over loopback TCP to 1 and to 8 clients, in one
run, with:

  zcap copy / zc / auto  `zcap stream --source pattern --fps max --net-path X`,
                         clients reading /live.raw
  gst tcpserversink      `gst-launch-1.0 fakesrc ! tcpserversink`
  plain send()           a one-thread epoll loop send()ing a prefilled frame
                         to every client as fast as each socket takes it:
                         what send() on loopback can do here
  plain send() 1MiB      a diagnostic row: the same, at most 1 MiB a send()
                         (zcap's kMaxSend)
  zcap auto --fps 1000   a diagnostic row: the same server with the pattern
                         paced at 1000 fps instead of spinning (see README)

Every client is the same reader: a process doing recv_into() of a
preallocated 8 MiB buffer in a loop (C speed: one system call per up to 8 MiB,
no Python per byte) that only counts bytes. The plain send() row, with the
same readers, shows what they can take.

Each run waits for a quiet machine, starts the server and its clients, lets
them run WARMUP_S, then measures WINDOW_S: the bytes all clients received and
the whole machine's busy CPU time from /proc/stat (as disk_bench.py does; the
kernel's loopback work runs in softirq context and kernel threads, which a
process's own time can miss). zcap is stopped with SIGINT, and its per-client
summary lines (frames, dropped, path) and --stats-json (bytes sent and copied)
are read. Cases run in turn, --repeat times (interleaved); each metric is the
median over the repeats.

Writes net_bench.txt and net_bench.json to --out. Targets are reported, not
asserted: the exit status is 0 unless a tool fails.

The /proc/stat and quiet-machine helpers are the same as disk_bench.py's; they
are kept here so that this script does not depend on that one's internals.
"""

import argparse
import dataclasses
import json
import multiprocessing
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parent.parent

GIB = 1 << 30
GB = 10**9  # throughput in decimal GB/s, as in disk_bench.py

FRAME_WIDTH, FRAME_HEIGHT = 1920, 1080
FRAME_BYTES = FRAME_WIDTH * FRAME_HEIGHT * 2  # YUYV: 4,147,200 bytes
RAW_HEADER_BYTES = 40  # zcap's RawFrameHeader before each frame on /live.raw
RAW_MAGIC = b"ZCF1"  # RawFrameHeader::kMagic, little-endian

CLIENT_COUNTS = (1, 8)
READ_BUFFER = 8 << 20  # each reader's recv_into() buffer
WARMUP_S = 1.0  # after every client received its first bytes
WINDOW_S = 5.0  # the measured span
START_TIMEOUT_S = 10.0  # for a server to listen and every client to receive
STOP_TIMEOUT_S = 15.0

# tcpserversink queues every buffer for every client without limit by
# default; fakesrc makes buffers far faster than a socket takes them. The
# nearest to zcap's queue (the frame being sent and one more, older ones
# dropped): a client more than 2 buffers behind resumes at the newest.
GST_QUEUE = ("units-soft-max=2", "recover-policy=latest")
PACED_FPS = 1000  # zcap's highest paced rate: 4.15 GB/s of frames
ZCAP_MAX_SEND = 1 << 20  # sinks/net/connection.cpp kMaxSend: a payload send()'s limit

TARGET_VS_GST = 1.0  # zcap auto's throughput at least tcpserversink's

# /proc/stat "cpu" columns: user nice system idle iowait irq softirq steal
# guest guest_nice; busy leaves out idle, iowait and guest (already in user).
BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PF_KTHREAD = 0x00200000
PROBE_S = 1.0
QUIET_CORES = 0.05
QUIET_WAIT_S = 120
MAX_ATTEMPTS = 3

ZCAP_COPY, ZCAP_ZC, ZCAP_AUTO = "zcap copy", "zcap zc", "zcap auto"
GST, PLAIN = "gst tcpserversink", "plain send()"
PLAIN_CHUNKED = "plain send() 1MiB"
ZCAP_PACED = f"zcap auto {PACED_FPS}fps"


class BenchError(Exception):
    """A tool failed to run or a client got the wrong data."""


# --- the machine --------------------------------------------------------------

def busy_cpu_s() -> float:
    with open("/proc/stat") as stat:
        columns = stat.readline().split()[1:]
    return sum(int(columns[i]) for i in BUSY_COLUMNS) / CLOCK_TICKS


def background_cores() -> float:
    before = busy_cpu_s()
    time.sleep(PROBE_S)
    return (busy_cpu_s() - before) / PROBE_S


def wait_for_quiet(wait_s: float) -> float:
    deadline = time.monotonic() + wait_s
    load = background_cores()
    while load > QUIET_CORES and time.monotonic() < deadline:
        load = background_cores()
    return load


def process_cpu_s(pid: int) -> float:
    """utime + stime of a live process, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def other_processes_cpu_s(ours: set[int]) -> float:
    """CPU time of every user process but ours (this one, the server, the
    readers), reaped children included; kernel threads left out (they do
    the loopback work of this benchmark)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) not in ours and not int(fields[6]) & PF_KTHREAD:
            total += sum(int(field) for field in fields[11:15]) / CLOCK_TICKS
    return total


def listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port (without connecting to it,
    which would make a client)."""
    want = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == want and fields[3] == "0A":
            return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the clients --------------------------------------------------------------

def reader(port: int, http: bool, index: int, counters, errors, stop) -> None:
    """One client: counts what it receives until the server ends or stop."""
    try:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.settimeout(1.0)
        buf = bytearray(READ_BUFFER)
        view = memoryview(buf)
        if http:
            sock.sendall(b"GET /live.raw HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head or len(head) < head.find(b"\r\n\r\n") + 8:
                n = sock.recv_into(view)
                if not n:
                    raise ConnectionError("closed before the first frame")
                head += bytes(view[:n])
                counters[index] += n
            end = head.find(b"\r\n\r\n") + 4
            if not head.startswith(b"HTTP/1.1 200") or head[end:end + 4] != RAW_MAGIC:
                errors[index] = 1
                return
        while not stop.value:
            try:
                n = sock.recv_into(view)
            except TimeoutError:
                continue
            if not n:
                break
            counters[index] += n
    except (ConnectionError, TimeoutError, OSError):
        pass  # the server went away: its run is over
    os._exit(0)  # no multiprocessing teardown in the forked child


class Clients:
    def __init__(self, port: int, count: int, http: bool):
        ctx = multiprocessing.get_context("fork")
        self.counters = ctx.RawArray("Q", count)
        self.errors = ctx.RawArray("b", count)
        self.stop = ctx.RawValue("b", 0)
        self.procs = [ctx.Process(target=reader, args=(port, http, i, self.counters,
                                                       self.errors, self.stop),
                                 daemon=True)
                      for i in range(count)]
        for proc in self.procs:
            proc.start()

    def pids(self) -> set[int]:
        return {proc.pid for proc in self.procs}

    def snapshot(self) -> list[int]:
        return list(self.counters)

    def all_receiving(self) -> bool:
        return all(self.counters)

    def check(self) -> None:
        if any(self.errors):
            raise BenchError("a client did not get an HTTP 200 and a ZCF1 frame header")

    def close(self) -> None:
        self.stop.value = 1
        for proc in self.procs:
            proc.join(STOP_TIMEOUT_S)
            if proc.is_alive():
                proc.kill()
                proc.join()


# --- the servers --------------------------------------------------------------

def plain_server(chunk: int) -> None:
    """The plain send() baseline: one thread, epoll, a prefilled frame sent to
    each ready client from where that client is until its socket is full, at
    most chunk bytes a send() (as zcap's server pumps a client)."""
    frame = memoryview(bytes(range(256)) * (FRAME_BYTES // 256))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.setblocking(False)
    sel = selectors.EpollSelector()
    sel.register(listener, selectors.EVENT_READ)
    offsets: dict[socket.socket, int] = {}
    print(f"listening {listener.getsockname()[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        for key, _events in sel.select():
            sock = key.fileobj
            if sock is listener:
                client, _ = listener.accept()
                client.setblocking(False)
                offsets[client] = 0
                sel.register(client, selectors.EVENT_WRITE)
                continue
            try:
                while True:
                    n = sock.send(frame[offsets[sock]:offsets[sock] + chunk])
                    offsets[sock] = (offsets[sock] + n) % FRAME_BYTES
            except BlockingIOError:
                continue
            except OSError:
                sel.unregister(sock)
                del offsets[sock]
                sock.close()


@dataclasses.dataclass
class Server:
    proc: subprocess.Popen
    port: int
    stats: Path | None = None


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    start: Callable[[Path], Server]  # (stats file) -> a listening server
    http: bool  # clients GET /live.raw (zcap) or just read (the others)
    zcap: bool = False


def start_zcap(zcap: Path, net_path: str, fps: str) -> Callable[[Path], Server]:
    def start(stats: Path) -> Server:
        proc = subprocess.Popen(
            [str(zcap), "stream", "--listen", "127.0.0.1:0", "--source", "pattern",
             "--size", f"{FRAME_WIDTH}x{FRAME_HEIGHT}", "--format", "YUYV", "--fps", fps,
             "--net-path", net_path, "--stats-json", str(stats)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = proc.stdout.readline()  # "serving ... at http://127.0.0.1:PORT/live.mkv"
        match = re.search(r"http://[^:]+:(\d+)/", line)
        if not match:
            proc.kill()
            raise BenchError(f"zcap stream did not start: {line}{proc.stderr.read()}")
        return Server(proc, int(match.group(1)), stats)
    return start


def start_gst(_stats: Path) -> Server:
    port = free_port()
    # fakesrc filltype=nothing: buffers of a frame's size that nothing
    # writes, as in disk_bench.py. zcap's pattern source redraws only a box
    # and a stamp in frames it already drew; videotestsrc would paint all
    # 4 MB of every frame and measure its painting, not tcpserversink.
    proc = subprocess.Popen(
        ["gst-launch-1.0", "-q", "fakesrc", "sizetype=fixed", f"sizemax={FRAME_BYTES}",
         "filltype=nothing", "!", "tcpserversink", "host=127.0.0.1", f"port={port}",
         "sync=false", *GST_QUEUE],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not listening(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise BenchError(f"tcpserversink did not listen: {proc.stderr.read()}")
        time.sleep(0.02)
    return Server(proc, port)


def start_plain(chunk: int) -> Callable[[Path], Server]:
    def start(_stats: Path) -> Server:
        proc = subprocess.Popen([sys.executable, __file__, "--plain-server", str(chunk)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        if not line.startswith("listening "):
            proc.kill()
            raise BenchError(f"plain send() server did not start: {proc.stderr.read()}")
        return Server(proc, int(line.split()[1]))
    return start


def make_cases(zcap: Path, diagnostics: bool) -> list[Case]:
    cases = [
        Case(ZCAP_COPY, start_zcap(zcap, "copy", "max"), True, zcap=True),
        Case(ZCAP_ZC, start_zcap(zcap, "zc", "max"), True, zcap=True),
        Case(ZCAP_AUTO, start_zcap(zcap, "auto", "max"), True, zcap=True),
        Case(GST, start_gst, False),
        Case(PLAIN, start_plain(FRAME_BYTES), False),
    ]
    if diagnostics:
        cases += [Case(ZCAP_PACED, start_zcap(zcap, "auto", str(PACED_FPS)), True, zcap=True),
                  Case(PLAIN_CHUNKED, start_plain(ZCAP_MAX_SEND), False)]
    return cases


# --- one run ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Run:
    payload_bytes: int  # received by all clients in the window, framing removed
    window_s: float
    cpu_s: float  # whole machine, over the window
    server_cpu_s: float  # the server process alone, over the window
    client_gb_per_s: list[float]
    background_cores: float
    # zcap's own accounting, whole run (warm-up and stop included):
    client_frames: list[int] = dataclasses.field(default_factory=list)
    client_dropped: list[int] = dataclasses.field(default_factory=list)
    client_paths: list[str] = dataclasses.field(default_factory=list)
    sent_bytes: int = 0
    copied_bytes: int = 0
    source_frames: int = 0

    @property
    def gb_per_s(self) -> float:
        return self.payload_bytes / GB / self.window_s

    @property
    def cpu_per_gib(self) -> float:
        return self.cpu_s / (self.payload_bytes / GIB)

    @property
    def server_cpu_per_gib(self) -> float:
        return self.server_cpu_s / (self.payload_bytes / GIB)


CLIENT_LINE = re.compile(r"^\s+\S+ /live\.raw via (\w+): (\d+) frames, (\d+) dropped, ")


def zcap_accounting(stdout: str, stats: Path, clients: int) -> dict:
    lines = [CLIENT_LINE.match(line) for line in stdout.splitlines()]
    lines = [m for m in lines if m]
    if len(lines) != clients:
        raise BenchError(f"zcap's summary lists {len(lines)} /live.raw clients, "
                         f"expected {clients}:\n{stdout}")
    record = json.loads(stats.read_text())
    sink = record["sinks"][0]
    if not record["ok"]:
        raise BenchError(f"zcap stream failed: {record['error'] or sink['error']}")
    return {"client_paths": [m.group(1) for m in lines],
            "client_frames": [int(m.group(2)) for m in lines],
            "client_dropped": [int(m.group(3)) for m in lines],
            "sent_bytes": sink["bytes"], "copied_bytes": sink["copied_bytes"],
            "source_frames": record["source"]["frames"]}


def stop_server(server: Server, case: Case) -> str:
    """Stops the server; returns its standard output."""
    if server.proc.poll() is not None:
        raise BenchError(f"{case.name} exited early ({server.proc.returncode}): "
                         f"{server.proc.stderr.read().strip()}")
    server.proc.send_signal(signal.SIGTERM if case.name.startswith(PLAIN) else signal.SIGINT)
    try:
        out, err = server.proc.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        out, err = server.proc.communicate()
        raise BenchError(f"{case.name} did not stop within {STOP_TIMEOUT_S:.0f} s")
    if case.zcap and server.proc.returncode != 0:
        raise BenchError(f"{case.name} exited {server.proc.returncode}: {err.strip()}")
    return out


def measure(case: Case, clients: int, tmp: Path, args: argparse.Namespace) -> Run:
    stats = tmp / "stats.json"
    stats.unlink(missing_ok=True)
    background = wait_for_quiet(args.quiet_wait)
    server = case.start(stats)
    readers = None
    try:
        readers = Clients(server.port, clients, case.http)
        ours = {os.getpid(), server.proc.pid} | readers.pids()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not readers.all_receiving():
            readers.check()
            if time.monotonic() > deadline or server.proc.poll() is not None:
                raise BenchError(f"{case.name}: not every client received data")
            time.sleep(0.01)
        time.sleep(WARMUP_S)
        bytes_before, cpu_before = readers.snapshot(), busy_cpu_s()
        server_before, others_before = process_cpu_s(server.proc.pid), other_processes_cpu_s(ours)
        start = time.monotonic()
        time.sleep(args.window)
        bytes_after, cpu_after = readers.snapshot(), busy_cpu_s()
        window_s = time.monotonic() - start
        server_cpu = process_cpu_s(server.proc.pid) - server_before
        others = (other_processes_cpu_s(ours) - others_before) / window_s
        readers.check()
        out = stop_server(server, case)
        readers.close()
        readers = None
    finally:
        if readers:
            readers.close()
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.communicate()
    after = background_cores()
    received = [b - a for a, b in zip(bytes_before, bytes_after)]
    share = FRAME_BYTES / (FRAME_BYTES + RAW_HEADER_BYTES) if case.http else 1.0
    extra = zcap_accounting(out, stats, clients) if case.zcap else {}
    return Run(int(sum(received) * share), window_s, cpu_after - cpu_before, server_cpu,
               [r * share / GB / window_s for r in received],
               max(background, others, after), **extra)


def measure_quietly(case: Case, clients: int, tmp: Path, args: argparse.Namespace) -> Run:
    attempts = []
    for attempt in range(1, args.attempts + 1):
        run = measure(case, clients, tmp, args)
        if run.background_cores <= QUIET_CORES:
            return run
        attempts.append(run)
        print(f"  {case.name} x{clients}: {run.background_cores:.2f} cores of other work "
              f"around attempt {attempt} of {args.attempts}", file=sys.stderr)
    return min(attempts, key=lambda run: run.background_cores)


def run_all(cases: list[Case], args: argparse.Namespace) -> dict[tuple[int, str], list[Run]]:
    runs: dict[tuple[int, str], list[Run]] = {
        (n, case.name): [] for n in CLIENT_COUNTS for case in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1, args.repeat + 1):
            for n in CLIENT_COUNTS:
                for case in cases:
                    run = measure_quietly(case, n, Path(tmp), args)
                    runs[(n, case.name)].append(run)
                    print(f"[{i}/{args.repeat}] x{n} {case.name:18} {run.gb_per_s:5.2f} GB/s "
                          f"{run.cpu_per_gib:5.2f} CPU s/GiB (server {run.server_cpu_per_gib:.2f}) "
                          f"(background {run.background_cores:.2f} cores)", file=sys.stderr)
    return runs


# --- the report ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Row:
    clients: int
    tool: str
    gb_per_s: float
    cpu_per_gib: float
    server_cpu_per_gib: float
    client_gb_per_s_min: float  # of the median run's clients (by throughput)
    client_gb_per_s_max: float
    frames_per_client: float | None  # zcap: frames each client got whole, mean
    dropped_per_client: float | None  # zcap: frames each client missed, mean
    copied_share: float | None  # zcap: copied / sent bytes
    copied_bytes: int | None
    path: str


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.gb_per_s)[(len(runs) - 1) // 2]


def make_row(clients: int, tool: str, runs: list[Run]) -> Row:
    mid = median_run(runs)
    zcap = bool(mid.client_paths)

    def med(values) -> float:
        return statistics.median(values)

    if tool == GST:
        path = "send() (GSocket), fakesrc"
    elif tool == PLAIN:
        path = "send()"
    elif tool == PLAIN_CHUNKED:
        path = f"send() of at most {ZCAP_MAX_SEND} bytes"
    else:
        path = "/".join(sorted(set(mid.client_paths)))
    return Row(clients, tool, med(r.gb_per_s for r in runs), med(r.cpu_per_gib for r in runs),
               med(r.server_cpu_per_gib for r in runs),
               min(mid.client_gb_per_s), max(mid.client_gb_per_s),
               med(statistics.mean(r.client_frames) for r in runs) if zcap else None,
               med(statistics.mean(r.client_dropped) for r in runs) if zcap else None,
               med(r.copied_bytes / r.sent_bytes for r in runs) if zcap else None,
               int(med(r.copied_bytes for r in runs)) if zcap else None, path)


@dataclasses.dataclass(frozen=True)
class Ratio:
    clients: int
    what: str
    throughput: float
    cpu_per_gib: float
    target: float | None = None  # throughput at least this

    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "PASS" if self.throughput >= self.target else "MISS"


def ratios(rows: dict[tuple[int, str], Row]) -> list[Ratio]:
    out = []
    for n in CLIENT_COUNTS:
        def ratio(what: str, a: str, b: str, target: float | None = None) -> Ratio:
            x, y = rows[(n, a)], rows[(n, b)]
            return Ratio(n, what, x.gb_per_s / y.gb_per_s, x.cpu_per_gib / y.cpu_per_gib,
                         target)
        out += [ratio(f"{ZCAP_AUTO} / {GST}", ZCAP_AUTO, GST, TARGET_VS_GST),
                ratio(f"{ZCAP_AUTO} / {PLAIN}", ZCAP_AUTO, PLAIN),
                ratio(f"{ZCAP_ZC} / {ZCAP_COPY}", ZCAP_ZC, ZCAP_COPY)]
        if (n, ZCAP_PACED) in rows:
            out += [ratio(f"{ZCAP_PACED} / {GST}", ZCAP_PACED, GST),
                    ratio(f"{ZCAP_PACED} / {ZCAP_AUTO}", ZCAP_PACED, ZCAP_AUTO),
                    ratio(f"{PLAIN_CHUNKED} / {PLAIN}", PLAIN_CHUNKED, PLAIN)]
    return out


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def optional(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_report(rows: dict[tuple[int, str], Row], runs: dict[tuple[int, str], list[Run]],
                  args: argparse.Namespace) -> str:
    header = (f"{'clients':>7} | {'tool':18} | {'GB/s':>5} | {'GB/s range':>10} | "
              f"{'CPU s/GiB':>9} | {'CPU range':>9} | {'server CPU':>10} | "
              f"{'per client GB/s':>15} | {'frames/cl':>9} | {'dropped/cl':>10} | "
              f"{'copied':>13} | path")
    lines = [
        f"network benchmark: {FRAME_WIDTH}x{FRAME_HEIGHT} YUYV ({FRAME_BYTES} bytes a frame) "
        f"over loopback TCP, median of {args.repeat}, {args.window:g} s measured after "
        f"{WARMUP_S:g} s of warm-up",
        "GB/s: payload received by all clients (zcap's 40-byte frame headers left out); "
        "CPU s/GiB: whole machine (/proc/stat busy) per GiB received; server CPU: the "
        "server process alone, s/GiB",
        f"clients: {READ_BUFFER >> 20} MiB recv_into() loops, one process each; "
        "per client GB/s: slowest-fastest client of the median run",
        "frames/cl, dropped/cl, copied: zcap's own accounting over the whole run "
        "(mean per client; copied bytes and their share of the bytes it sent)",
        f"gst: fakesrc filltype=nothing ! tcpserversink sync=false {' '.join(GST_QUEUE)}",
        "", header, "-" * len(header)]
    for row in rows.values():
        tool_runs = runs[(row.clients, row.tool)]
        copied = (f"{row.copied_bytes / GB:6.1f} GB {row.copied_share:4.0%}"
                  if row.copied_bytes is not None else "all (send)")
        lines.append(
            f"{row.clients:>7} | {row.tool:18} | {row.gb_per_s:5.2f} | "
            f"{spread([r.gb_per_s for r in tool_runs]):>10} | {row.cpu_per_gib:9.2f} | "
            f"{spread([r.cpu_per_gib for r in tool_runs]):>9} | {row.server_cpu_per_gib:10.2f} | "
            f"{row.client_gb_per_s_min:7.2f}-{row.client_gb_per_s_max:<7.2f} | "
            f"{optional(row.frames_per_client, '9.0f'):>9} | "
            f"{optional(row.dropped_per_client, '10.0f'):>10} | {copied:>13} | {row.path}")
    lines += ["", "ratios (throughput, CPU s/GiB); target: zcap auto >= tcpserversink:"]
    for r in ratios(rows):
        lines.append(f"  x{r.clients} {r.what:42} {r.throughput:5.2f}  {r.cpu_per_gib:5.2f}"
                     + (f"   target >= {r.target:g}: {r.verdict()}" if r.target else ""))
    lines += ["", f"per run (GB/s, CPU s/GiB; * more than {QUIET_CORES} cores of other work "
              "around it):"]
    for (n, name), tool_runs in runs.items():
        cells = "  ".join(f"{r.gb_per_s:5.2f} {r.cpu_per_gib:5.2f}"
                          f"{'*' if r.background_cores > QUIET_CORES else ' '}"
                          for r in tool_runs)
        lines.append(f"  x{n} {name:18} {cells}")
    busiest = max(r.background_cores for tool_runs in runs.values() for r in tool_runs)
    if busiest > QUIET_CORES:
        lines.append(f"\nwarning: up to {busiest:.2f} cores of other work ran around a "
                     "kept run; it takes CPU from the clients and server and counts in "
                     "whole-machine CPU")
    return "\n".join(lines) + "\n"


def report_json(rows: dict[tuple[int, str], Row], runs: dict[tuple[int, str], list[Run]],
                args: argparse.Namespace) -> dict:
    return {
        "frame_bytes": FRAME_BYTES, "repeat": args.repeat, "window_s": args.window,
        "warmup_s": WARMUP_S, "read_buffer_bytes": READ_BUFFER,
        "gst_pipeline": f"fakesrc sizetype=fixed sizemax={FRAME_BYTES} filltype=nothing ! "
                        f"tcpserversink sync=false {' '.join(GST_QUEUE)}",
        "median": [dataclasses.asdict(row) for row in rows.values()],
        "runs": {f"x{n} {name}": [dataclasses.asdict(r) | {
                     "gb_per_s": r.gb_per_s, "cpu_s_per_gib": r.cpu_per_gib,
                     "server_cpu_s_per_gib": r.server_cpu_per_gib} for r in tool_runs]
                 for (n, name), tool_runs in runs.items()},
        "ratios": [dataclasses.asdict(r) | {"verdict": r.verdict() or None}
                   for r in ratios(rows)],
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zcap", type=Path, default=REPO_ROOT / "build" / "zcap",
                        help="zcap binary (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per case; the median is reported (default: %(default)s)")
    parser.add_argument("--window", type=float, default=WINDOW_S,
                        help="seconds measured per run (default: %(default)s)")
    parser.add_argument("--quiet-wait", type=float, default=QUIET_WAIT_S,
                        help="seconds to wait for a quiet machine before each run "
                             "(default: %(default)s)")
    parser.add_argument("--attempts", type=int, default=MAX_ATTEMPTS,
                        help="runs of a disturbed case before the quietest is kept "
                             "(default: %(default)s)")
    parser.add_argument("--no-diagnostics", action="store_true",
                        help=f"leave out the diagnostic rows (zcap --fps {PACED_FPS}, "
                             f"plain send() of at most {ZCAP_MAX_SEND >> 20} MiB)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench-results",
                        help="where net_bench.{txt,json} go (default: %(default)s)")
    parser.add_argument("--plain-server", type=int, metavar="CHUNK", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeat < 1 or args.window <= 0 or args.attempts < 1:
        parser.error("--repeat, --window and --attempts must be positive")
    return args


def main() -> int:
    args = parse_args()
    if args.plain_server:
        plain_server(args.plain_server)
        return 0
    if not os.access(args.zcap, os.X_OK):
        print(f"net_bench: {args.zcap} is not executable (build it: ninja -C build)",
              file=sys.stderr)
        return 1
    # A SIGTERM unwinds like an error, so that the running case's server and
    # clients are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    cases = make_cases(args.zcap, not args.no_diagnostics)
    try:
        runs = run_all(cases, args)
    except BenchError as error:
        print(f"net_bench: {error}", file=sys.stderr)
        return 1
    rows = {(n, case.name): make_row(n, case.name, runs[(n, case.name)])
            for n in CLIENT_COUNTS for case in cases}
    args.out.mkdir(parents=True, exist_ok=True)
    table = format_report(rows, runs, args)
    (args.out / "net_bench.txt").write_text(table)
    (args.out / "net_bench.json").write_text(
        json.dumps(report_json(rows, runs, args), indent=2) + "\n")
    print(table, end="")
    print(f"wrote {args.out}/net_bench.{{txt,json}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
