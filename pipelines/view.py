"""``viewsynth view``: look at an output folder in the browser.

    viewsynth view OUT [--port N] [--no-open] [--host H]

Serves OUT (a walkthrough's output folder, or a root of them) on http://127.0.0.1:PORT/ and opens
the page: the 360 walkthrough in a 360 viewer, the flat one beside it, the frame's position and
heading. Only files inside OUT are served. Ctrl-C stops it (exit 130).
"""

from __future__ import annotations

import argparse
import signal
import sys
import webbrowser
from pathlib import Path

from viewsynth.errors import ViewsynthError
from viewsynth.pipelines.options import Parser, integer, user_path
from viewsynth.viewer import DEFAULT_HOST, ViewerServer

DEFAULT_PORT = 8360


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="viewsynth view", description=__doc__.split("\n\n")[0])
    p.add_argument("output", type=user_path, help="output folder of viewsynth interpolate")
    p.add_argument(
        "--port",
        type=integer(0, 65535),
        help=f"port (default {DEFAULT_PORT}, or a free one when it is taken; 0: any free one)",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only)",
    )
    p.add_argument("--no-open", action="store_true", help="print the URL, do not open a browser")
    return p


def make_server(out: Path, host: str, port: int | None) -> ViewerServer:
    if not (out / "manifest.json").is_file() and not (out / "summary.json").is_file():
        if not out.exists():
            raise ViewsynthError(f"{out}: no such folder")
        if not out.is_dir():
            raise ViewsynthError(f"{out}: a file; give the output folder of viewsynth interpolate")
        raise ViewsynthError(f"{out}: no manifest.json or summary.json (not an output folder)")
    if port is not None:
        return ViewerServer(out, host, port)
    try:
        return ViewerServer(out, host, DEFAULT_PORT)
    except ViewsynthError:
        return ViewerServer(out, host, 0)  # the usual port is taken: any free one


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    server = make_server(args.output, args.host, args.port)
    # Ctrl-C stops the server even when this process was started with SIGINT ignored (as a
    # background job of a script, or from a test runner's worker), which Python would inherit.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        print(
            f"viewsynth view: serving {args.output} at {server.url}  (Ctrl-C to stop)", flush=True
        )
        if not args.no_open:
            webbrowser.open(server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        print("viewsynth view: stopped", file=sys.stderr)
        return 130
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
