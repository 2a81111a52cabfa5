"""Runs one GStreamer pipeline to EOS and writes its sink's counters as JSON.

    /usr/bin/python3 bench/gst_run.py PIPELINE COUNTERS_JSON

For gst_bench.py, which runs every row through this one process so that all
of them pay the same start-up. PIPELINE (gst-launch-1.0 syntax) names its
sink "sink"; zcap's sinks' read-only counters (frames, dropped, bytes-copied,
io-path) are read at EOS, other sinks give {}. Needs PyGObject and the
GStreamer typelib (Debian: python3-gi, gir1.2-gstreamer-1.0). Exits 1 with
the error on an ERROR message.
"""

import json
import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402 (after require_version)

COUNTERS = ("frames", "dropped", "bytes-copied", "io-path")


def main() -> int:
    pipeline_text, counters_path = sys.argv[1], Path(sys.argv[2])
    Gst.init(None)
    pipeline = Gst.parse_launch(pipeline_text)
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if message.type == Gst.MessageType.ERROR:
        error, debug = message.parse_error()
        print(f"{message.src.get_name()}: {error.message} ({debug})", file=sys.stderr)
        pipeline.set_state(Gst.State.NULL)
        return 1
    counters = {name: sink.get_property(name) for name in COUNTERS
                if sink.find_property(name) is not None}
    pipeline.set_state(Gst.State.NULL)
    counters_path.write_text(json.dumps(counters))
    return 0


if __name__ == "__main__":
    sys.exit(main())
