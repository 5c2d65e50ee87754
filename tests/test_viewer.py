"""``viewsynth view``: the server reaches only the output folder, seeks video, binds 127.0.0.1;
the page plays the walkthrough in the vendored 360 viewer (headless Chromium, when installed)."""

from __future__ import annotations

import http.client
import io
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from viewsynth import frames
from viewsynth.pipelines.cli import main as cli
from viewsynth.viewer import STATIC, ViewerError, ViewerServer, byte_range

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def served(tmp_path):
    """An output folder with a few files, a secret beside it, and its server on a free port."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"segments": []}')
    (out / "walkthrough.mp4").write_bytes(bytes(range(256)) * 40)
    (out / "sub").mkdir()
    (out / "sub" / "notes.txt").write_text("inside")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.txt").write_text("SECRET")
    (out / "link.txt").symlink_to(secret)
    (out / "dirlink").symlink_to(tmp_path / "elsewhere")
    (out / "inlink.txt").symlink_to(out / "sub" / "notes.txt")
    with ViewerServer(out).start() as server:
        yield server, tmp_path


def get(server, path, headers=None, method="GET"):
    """A raw request (http.client sends the path as written, no normalising)."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def test_binds_loopback_on_a_free_port(served):
    server, _ = served
    assert server.server_address[0] == "127.0.0.1"
    assert server.socket.getsockname()[0] == "127.0.0.1"
    assert server.server_address[1] > 0
    assert server.url == f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/sub%2f%2e%2e%2f%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/link.txt",  # a symlink inside pointing out
        "/dirlink/x.txt",  # through a symlinked folder pointing out
        "/_viewsynth/../server.py",  # out of the static folder
        "/_viewsynth/%2e%2e/server.py",
        "/%ff%fe",
        "/sub",  # folders are not listed
        "/missing.json",
    ],
)
def test_nothing_outside_the_folder_is_reached(served, path):
    server, tmp_path = served
    resp, body = get(server, path)
    assert resp.status in (403, 404), (path, resp.status)
    assert b"SECRET" not in body and b"def " not in body
    assert str(tmp_path).encode() not in body and b"secret" not in body


def test_files_inside_and_symlinks_within_are_served(served):
    server, _ = served
    resp, body = get(server, "/sub/notes.txt")
    assert resp.status == 200 and body == b"inside"
    resp, body = get(server, "/inlink.txt")
    assert resp.status == 200 and body == b"inside"


def test_range_requests_give_206_and_the_right_bytes(served):
    server, _ = served
    data = bytes(range(256)) * 40
    resp, body = get(server, "/walkthrough.mp4")
    assert resp.status == 200 and body == data
    assert resp.getheader("Accept-Ranges") == "bytes"
    assert resp.getheader("Content-Type") == "video/mp4"
    resp, body = get(server, "/walkthrough.mp4", {"Range": "bytes=300-309"})
    assert resp.status == 206 and body == data[300:310]
    assert resp.getheader("Content-Range") == f"bytes 300-309/{len(data)}"
    assert resp.getheader("Content-Length") == "10"
    resp, body = get(server, "/walkthrough.mp4", {"Range": "bytes=10000-"})
    assert resp.status == 206 and body == data[10000:]
    resp, body = get(server, "/walkthrough.mp4", {"Range": "bytes=-7"})
    assert resp.status == 206 and body == data[-7:]
    resp, body = get(server, "/walkthrough.mp4", {"Range": f"bytes={len(data)}-"})
    assert resp.status == 416 and resp.getheader("Content-Range") == f"bytes */{len(data)}"
    resp, body = get(server, "/walkthrough.mp4", {"Range": "bytes=0-3"}, method="HEAD")
    assert resp.status == 206 and body == b"" and resp.getheader("Content-Length") == "4"


def test_byte_range_forms():
    assert byte_range(None, 100) is None
    assert byte_range("bytes=0-0", 100) == (0, 0)
    assert byte_range("bytes=90-200", 100) == (90, 99)
    assert byte_range("bytes=-200", 100) == (0, 99)
    assert byte_range("bytes=5-2", 100) is False
    assert byte_range("bytes=0-1,5-6", 100) is None  # several ranges: the whole file
    assert byte_range("items=0-1", 100) is None


def test_mime_types_and_the_page(served):
    server, _ = served
    resp, body = get(server, "/manifest.json")
    assert resp.getheader("Content-Type") == "application/json"
    resp, page = get(server, "/")
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/html")
    resp, _ = get(server, "/_viewsynth/viewer.js")
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/javascript")
    # Every module of the import map is served from here, and nothing names another host.
    imports = json.loads(re.search(rb'type="importmap">(.*?)</script>', page, re.S).group(1))
    for url in imports["imports"].values():
        resp, _ = get(server, url)
        assert resp.status == 200, url
        assert resp.getheader("Content-Type").startswith("text/javascript")
    for name in ("index.html", "viewer.js", "viewer.css"):
        assert not re.search(r"https?://", (STATIC / name).read_text()), name


def test_a_page_elsewhere_cannot_reach_it_by_a_dns_name(served):
    server, _ = served
    resp, _ = get(server, "/manifest.json", {"Host": "attacker.example:80"})
    assert resp.status == 403
    resp, _ = get(server, "/manifest.json", {"Host": "localhost"})
    assert resp.status == 200


def test_the_vendored_viewer_carries_its_licences_and_versions():
    vendor = STATIC / "vendor"
    versions = (vendor / "VERSIONS").read_text()
    for package in ("core", "video-plugin", "equirectangular-video-adapter"):
        folder = vendor / "photo-sphere-viewer" / package
        assert "MIT License" in (folder / "LICENSE").read_text()
        banner = (folder / "index.module.js").read_text()[:300]
        version = re.search(r"(\d+\.\d+\.\d+)", banner).group(1)
        assert f"@photo-sphere-viewer/{package} {version}" in versions
    assert "MIT License" in (vendor / "three" / "LICENSE").read_text()
    revision = re.search(r'="(\d+)"', (vendor / "three" / "three.core.min.js").read_text()[:2000])
    assert revision and f"three 0.{revision.group(1)}." in versions
    size = sum(p.stat().st_size for p in vendor.rglob("*") if p.is_file())
    assert size < 1_500_000


def test_view_job_serves_until_ctrl_c(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"segments": []}')
    # started with SIGINT ignored, as a script's background job (or a test worker) starts it:
    # Ctrl-C must still stop it (the shell's trap, not a preexec_fn: no fork beside JAX's threads)
    job = [sys.executable, "-m", "viewsynth.pipelines.cli", "view", str(out), "--no-open"]
    proc = subprocess.Popen(
        ["sh", "-c", 'trap "" INT; exec "$0" "$@"', *job],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert url, line
        conn = http.client.HTTPConnection("127.0.0.1", int(url.group(1)), timeout=5)
        conn.request("GET", "/manifest.json")
        assert conn.getresponse().read() == b'{"segments": []}'
        conn.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
        assert "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_a_taken_port_is_one_line_and_the_default_falls_back_to_a_free_one(served, monkeypatch):
    import viewsynth.pipelines.view as view

    server, _ = served
    taken = server.server_address[1]
    with pytest.raises(ViewerError, match=f"127.0.0.1:{taken}: cannot listen there"):
        ViewerServer(server.root, port=taken)
    monkeypatch.setattr(view, "DEFAULT_PORT", taken)
    other = view.make_server(server.root, "127.0.0.1", None)
    try:
        assert other.server_address[1] not in (0, taken)
    finally:
        other.server_close()
    with pytest.raises(ViewerError):
        view.make_server(server.root, "127.0.0.1", taken)  # a port asked for is not swapped


def test_view_job_refuses_a_folder_that_is_not_an_output(tmp_path, capsys):
    assert cli(["view", str(tmp_path), "--no-open"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "manifest.json" in err and len(err.strip().splitlines()) == 1
    assert cli(["view", str(tmp_path / "nope"), "--no-open"]) == 2


# --- the page in headless Chromium ---------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",  # WebGL on the CPU (SwiftShader), with no GPU
    "--use-angle=swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _walkthrough(tmp_path: Path) -> tuple[Path, list[dict]]:
    """A 17-frame 360 walkthrough between three unlike panoramas, with positions added."""
    cap = tmp_path / "cap"
    cap.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        small = rng.random((4, 8, 3)).astype(np.float32)
        frames.write_image(cap / f"frame_{i:03d}.png", frames.resize(small, 256, 128))
    out = tmp_path / "out"
    args = ["interpolate", str(cap), "-o", str(out), "--method", "linear", "--factor", "8", "-q"]
    args += ["--projection", "equirect"]  # random blobs: their left and right edges do not meet
    assert cli(args) == 0
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    rows = manifest["segments"][0]["frames"]
    for i, row in enumerate(rows):  # synthetic photos have no GPS: give the rows a walk
        row.update(lat=48.1 + i * 1e-5, lon=11.5 + i * 2e-5, heading=(10.0 + 7 * i) % 360)
        if i:  # (the first without an altitude: a source may have none)
            row["alt"] = 500.0 + 0.5 * i
    path.write_text(json.dumps(manifest))
    return out, rows


def _shot(page) -> np.ndarray:
    png = page.locator("#pano canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)


def _shot_when(page, ready, seconds: float = 15.0) -> np.ndarray:
    """A screenshot of the canvas once ``ready(shot)`` holds, or the last one after ``seconds``:
    WebGL on SwiftShader draws late on a loaded machine, so a fixed wait is not enough."""
    deadline = time.monotonic() + seconds
    while True:
        shot = _shot(page)
        if ready(shot) or time.monotonic() > deadline:
            return shot
        page.wait_for_timeout(250)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_page_shows_the_panorama_and_seeking_moves_it(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    out, rows = _walkthrough(tmp_path)
    errors: list[str] = []
    with ViewerServer(out).start() as server, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 500})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(r.url))
            page.goto(server.url)
            page.wait_for_function(
                "window.viewsynthView && window.viewsynthView.ready", timeout=20000
            )
            # Only the canvas counts: hide the viewer's buttons, loader and navbar over it.
            page.add_style_tag(
                content=".psv-container > :not(.psv-canvas-container) {visibility: hidden !important}"
            )
            first = _shot_when(page, lambda shot: shot.std() > 15)
            assert first.std() > 15, "blank canvas"
            assert len(np.unique(first.reshape(-1, 3)[::97], axis=0)) > 20, "one colour"
            assert "frame 1 / 17" in page.inner_text("#frame")
            assert "lat 48.100000" in page.inner_text("#position")
            assert "alt" not in page.inner_text("#position")
            # Seek the flat video: the 360 one follows and the canvas shows another frame.
            page.evaluate("document.getElementById('flat').currentTime = 0.5")
            page.wait_for_function(
                "Math.abs(viewsynthView.pano.currentTime - 0.5) < 0.01", timeout=5000
            )
            page.wait_for_function("!viewsynthView.pano.seeking", timeout=5000)
            second = _shot_when(page, lambda shot: np.abs(first - shot).mean() > 10)
            assert np.abs(first - second).mean() > 10, "seeking did not change the view"
            assert "frame 16 / 17" in page.inner_text("#frame")
            assert f"lat {rows[15]['lat']:.6f}" in page.inner_text("#position")
            assert page.inner_text("#position").endswith(f"alt {rows[15]['alt']:.1f} m")
            assert f"heading {rows[15]['heading']:.1f}" in page.inner_text("#heading")
        finally:
            browser.close()
    assert not errors, errors


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_a_roots_page_asks_only_for_walkthroughs_that_exist(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    one, _ = _walkthrough(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    one.rename(root / "walk")
    rows = [  # as a stopped root run writes them: one walk, a stray, one cut short, one not begun
        {"name": "walk", "status": "done", "outputs": ["walk/manifest.json"]},
        {"name": "notes.txt", "status": "skipped", "outputs": [], "reason": "not a capture"},
        {"name": "b", "status": "interrupted", "outputs": []},
        {"name": "c", "status": "not started", "outputs": []},
    ]
    (root / "summary.json").write_text(json.dumps({"seconds": 1.0, "captures": rows}))
    missing: list[str] = []
    with ViewerServer(root).start() as server, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 500})
            page.on("response", lambda r: r.status >= 400 and missing.append(r.url))
            page.goto(server.url)
            page.wait_for_function(
                "window.viewsynthView && window.viewsynthView.ready", timeout=20000
            )
            assert "frame 1 / 17" in page.inner_text("#frame")
        finally:
            browser.close()
    # (the page first asks for a manifest at the top: a root has none)
    assert [url.split("/", 3)[3] for url in missing] == ["manifest.json"], missing
