"""A local HTTP server for one output folder and the viewer page, and nothing else.

``/`` is the viewer page; ``/_viewsynth/...`` are its static files (the page, its script and the
vendored 360 viewer); every other path names a file inside the output folder. A request reaches a
file only when the path, decoded once, has no ``..`` or ``.`` part, no backslash or NUL, and its
real path (symlinks resolved) lies inside the real path of the folder it was asked of; anything
else is 403 or 404 with a body that names no path. Folders are not listed. Files are sent whole
(200) or as one byte range (206, as browsers ask for when they seek a video). When bound to a
loopback address, requests naming another host are refused (403): a web page elsewhere cannot
reach the server through a DNS name that points at 127.0.0.1.
"""

from __future__ import annotations

import http.server
import ipaddress
import logging
import os
import re
import socket
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

from viewsynth.errors import ViewsynthError

log = logging.getLogger("viewsynth.viewer")

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/_viewsynth/"
PAGE = "index.html"
DEFAULT_HOST = "127.0.0.1"

MIME = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".json": "application/json",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".gpx": "application/gpx+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CHUNK = 1 << 16


class ViewerError(ViewsynthError):
    """The folder to serve is missing, or the address cannot be bound."""


def mime_type(path: Path) -> str:
    return MIME.get(path.suffix.lower(), "application/octet-stream")


def confined(root: Path, url_path: str) -> Path | None:
    """The regular file ``url_path`` (a URL path, still percent-encoded) names inside ``root``.

    ``None`` when it names nothing there: a ``..`` or ``.`` part (also percent-encoded), a
    backslash or NUL, a folder, a missing file, or a symlink whose target lies outside ``root``.
    ``root`` must be a real path (resolved).
    """
    try:
        decoded = unquote(url_path, errors="strict")
    except UnicodeDecodeError:
        return None
    if "\\" in decoded or "\0" in decoded:
        return None
    parts = [p for p in decoded.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        return None
    try:
        real = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not real.is_relative_to(root) or not real.is_file():
        return None
    return real


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """``(first, last)`` inclusive for a ``Range`` header; ``None``: send the whole file;
    ``False``: the range cannot be satisfied (416). Only single byte ranges are honoured; any
    other form is ignored (the whole file), as HTTP allows."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return False
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return False
    return start, end


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ViewerServer
    server_version = "viewsynth-view"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)

    def _refuse(self, code: int) -> None:
        text = {403: "forbidden", 404: "not found", 416: "range not satisfiable"}.get(code, "")
        body = f"{code} {text}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _host_allowed(self) -> bool:
        if not self.server.loopback_only:
            return True
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        return _is_loopback(name)

    def _serve(self, body: bool) -> None:
        if not self._host_allowed():
            self._refuse(403)
            return
        raw = urlsplit(self.path).path
        if raw in ("/", ""):
            target = confined(self.server.static, PAGE)
        elif raw.startswith(PREFIX):
            target = confined(self.server.static, raw[len(PREFIX) :])
        else:
            target = confined(self.server.root, raw)
        if target is None:
            # Traversal and missing files look the same from outside: nothing leaks.
            self._refuse(403 if _traversal(raw) else 404)
            return
        self._send_file(target, body)

    def _send_file(self, path: Path, body: bool) -> None:
        try:
            handle = path.open("rb")
        except OSError:
            self._refuse(404)
            return
        with handle:
            size = os.fstat(handle.fileno()).st_size
            span = byte_range(self.headers.get("Range"), size)
            if span is False:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if span is None:
                first, last = 0, size - 1
                self.send_response(200)
            else:
                first, last = span
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            length = max(0, last - first + 1)
            self.send_header("Content-Type", mime_type(path))
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if not body or length == 0:
                return
            handle.seek(first)
            try:
                _copy(handle, self.wfile, length)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser dropped a video request it no longer needs


def _traversal(raw: str) -> bool:
    try:
        decoded = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return True
    return "\\" in decoded or "\0" in decoded or any(p in (".", "..") for p in decoded.split("/"))


def _copy(src, dst, length: int) -> None:
    left = length
    while left > 0:
        chunk = src.read(min(_CHUNK, left))
        if not chunk:
            break
        dst.write(chunk)
        left -= len(chunk)


class ViewerServer(http.server.ThreadingHTTPServer):
    """Serves ``root`` (an output folder) and the viewer page at ``host:port``.

    ``port=0`` takes a free port; :attr:`url` is the page's address. Use :meth:`serve_forever`
    (blocks) or :meth:`start` (a daemon thread) and :meth:`close`; also a context manager.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path, host: str = DEFAULT_HOST, port: int = 0) -> None:
        root = Path(root)
        if not root.is_dir():
            raise ViewerError(f"{root}: no such folder to view")
        self.root = root.resolve()
        self.static = STATIC
        self.loopback_only = _is_loopback(host)
        if ":" in host:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((host, port), _Handler)
        except OSError as err:
            raise ViewerError(
                f"{host}:{port}: cannot listen there ({err.strerror or err})"
            ) from None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/"

    def start(self) -> ViewerServer:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __enter__(self) -> ViewerServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
