"""01_baseline in a real JupyterLab, driven by a real browser: Run All, no errors, the alpha slider moves its image.

JupyterLab runs from this venv on a free 127.0.0.1 port with a random token and temporary Jupyter folders, on a
temporary copy of notebooks/01_baseline.ipynb set to the smoke profile with `interactive = True`. Debian's Chromium
(`apt-get install chromium`; .ci/run installs it) runs headless under Playwright (`pip install -r
requirements-lab.txt`); nothing is downloaded at run time (never `playwright install`). The screenshot of the moved
slider goes to the test's temporary folder; with RASTLIB_LAB_SCREENSHOT=1 it also replaces the committed
results/lab/01_baseline_slider.png (shown in the README), so that `make test` never modifies the repository.
"""
import base64
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "01_baseline.ipynb"
SCREENSHOT = ROOT / "results" / "lab" / "01_baseline_slider.png"
UPDATE_SCREENSHOT = os.environ.get("RASTLIB_LAB_SCREENSHOT") == "1"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUN_TIMEOUT_S = 1200   # Run All of the smoke profile: about 1-2 min on 2 busy cores; generous for slower machines
SLIDER_TIMEOUT_S = 60  # one move of the slider: blend + decode in the kernel (well under a second at 64²)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base, token, path, method="GET"):
    request = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def _smoke_copy(folder, work):
    """A copy of 01_baseline with the smoke parameters papermill would inject (as tests/test_notebooks.py) and
    interactive = True, without the committed outputs and widget state."""
    from papermill.parameterize import parameterize_notebook
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb = parameterize_notebook(nb, {"profile": "smoke", "runs_dir": str(work / "runs"),
                                    "out_dir": str(work / "results" / "01_baseline"), "interactive": True},
                               kernel_name="python3", language="python")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("papermill", None)
    for key in ("widgets", "papermill"):
        nb.metadata.pop(key, None)
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / NOTEBOOK.name)


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a smoke copy of 01_baseline: (base URL, token); always stopped afterwards, kernels first."""
    pytest.importorskip("jupyterlab", reason="JupyterLab is missing: pip install -r requirements-lab.txt")
    notebooks, jupyter = tmp_path / "notebooks", tmp_path / "jupyter"
    _smoke_copy(notebooks, tmp_path)
    # No news or update toasts (they would need the internet and cover the screenshot).
    settings = jupyter / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(jupyter / "config"), "JUPYTER_DATA_DIR": str(jupyter / "data"),
           "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"), "IPYTHONDIR": str(tmp_path / "ipython"),
           "JUPYTER_PLATFORM_DIRS": "0"}
    port, token = _free_port(), secrets.token_hex(24)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={notebooks}", "--LabApp.extension_manager=readonly",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log_path = tmp_path / "jupyterlab.log"
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                _api(base, token, "/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(1)
        yield base, token, log_path
    finally:
        try:
            for kernel in _api(base, token, "/api/kernels"):
                _api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # the group this test started (start_new_session)
            server.wait(timeout=30)


@pytest.fixture
def browser_page(tmp_path):
    """A page of a headless Debian Chromium with a fresh profile."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright is missing: pip install -r requirements-lab.txt")
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is missing ({CHROMIUM}): apt-get install chromium (as root; .ci/run does it)")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


# The state of the notebook in the page: code cells, their prompts, error/stderr outputs, the slider's image.
STATE_JS = """() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  const prompts = cells.map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '');
  const stderr = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
    .filter(o => o.dataset.mimeType === 'application/vnd.jupyter.stderr')
    .map(o => o.textContent);
  const img = document.querySelector('.jp-Notebook img.widget-image');
  const readout = document.querySelector('.jp-Notebook .widget-slider .widget-readout');
  return {prompts, stderr, imageSrc: img ? img.getAttribute('src') : null,
          readout: readout ? readout.textContent.trim() : null};
}"""

IMAGE_BYTES_JS = """async () => {
  const img = document.querySelector('.jp-Notebook img.widget-image');
  const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let s = ''; for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}"""


def _wait(page, what, predicate, timeout_s, log_path):
    deadline = time.monotonic() + timeout_s
    while True:
        state = page.evaluate(STATE_JS)
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; page state: {state}\n"
                                 f"JupyterLab log:\n{log_path.read_text()[-3000:]}")
        page.wait_for_timeout(1000)


def _wait_idle(base, token, timeout_s, what, log_path=None):
    """Until every kernel of the server is idle (the REST API's execution_state).

    A 5xx answer is asked again until the deadline: while a kernel starts, jupyter_server lists it before it has
    set its `execution_state` and `last_activity` (MappingKernelManager.start_kernel), and GET /api/kernels then
    answers 500 (an AttributeError in kernel_model), which on a slow machine lasts long enough to be seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            kernels = _api(base, token, "/api/kernels")
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise
            kernels = f"HTTP {error.code} from /api/kernels"
        else:
            if kernels and all(k["execution_state"] == "idle" for k in kernels):
                return
        log = f"\nJupyterLab log:\n{log_path.read_text()[-3000:]}" if log_path else ""
        assert time.monotonic() < deadline, f"{what}: kernels not idle after {timeout_s} s: {kernels}{log}"
        time.sleep(0.25)


def _errors(state):
    return [text for text in state["stderr"] if re.search(r"Traceback|Error", text)]


def test_run_all_in_jupyterlab_and_the_alpha_slider_changes_its_image(browser_page, lab, tmp_path):
    # browser_page first: without Chromium or Playwright the test skips before JupyterLab starts.
    base, token, log_path = lab
    page = browser_page
    page.set_default_timeout(120_000)
    started = time.monotonic()
    try:
        page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}&reset", wait_until="domcontentloaded")
        page.locator(".jp-Notebook .jp-CodeCell").first.wait_for()
        # Wait for the kernel (python3 = this venv's Python, which imports rastlib) to be up and idle.
        _wait_idle(base, token, 180, "kernel start", log_path)

        page.get_by_role("menuitem", name=re.compile(r"^Run$")).click()
        page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()

        def finished(state):
            done = all(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"])
            return _errors(state) or (state["prompts"] and done and state["imageSrc"])
        state = _wait(page, "Run All to finish with the slider shown", finished, RUN_TIMEOUT_S, log_path)
        run_s = time.monotonic() - started
        assert not _errors(state), "a cell failed:\n" + "\n".join(_errors(state))
        _wait_idle(base, token, 60, "after Run All", log_path)
        assert state["readout"] == "1.00", state

        # Move the slider: drag its handle left along the track (keys as a fallback), as a user would.
        before_src, before_bytes = state["imageSrc"], page.evaluate(IMAGE_BYTES_JS)
        handle = page.locator(".jp-Notebook .widget-slider .noUi-handle").first
        track = page.locator(".jp-Notebook .widget-slider .noUi-target").first
        handle.scroll_into_view_if_needed()
        h, t = handle.bounding_box(), track.bounding_box()
        moved = time.monotonic()
        page.mouse.move(h["x"] + h["width"] / 2, h["y"] + h["height"] / 2)
        page.mouse.down()
        page.mouse.move(t["x"] + 0.4 * t["width"], h["y"] + h["height"] / 2, steps=12)
        page.mouse.up()
        if page.evaluate(STATE_JS)["readout"] == "1.00":
            handle.focus()
            for _ in range(8):
                page.keyboard.press("ArrowLeft")
        state = _wait(page, "the slider's image to change", lambda s: s["imageSrc"] != before_src
                      and s["readout"] != "1.00", SLIDER_TIMEOUT_S, log_path)
        # The kernel renders each value the slider passes; wait until it has caught up with the last one.
        _wait_idle(base, token, SLIDER_TIMEOUT_S, "after the slider moved", log_path)
        update_s = time.monotonic() - moved
        page.wait_for_timeout(500)
        state = page.evaluate(STATE_JS)
        alpha = float(state["readout"])
        assert 0.0 <= alpha < 1.0, state
        assert page.evaluate(IMAGE_BYTES_JS) != before_bytes, "the image's src changed but not its pixels"
        assert base64.b64decode(page.evaluate(IMAGE_BYTES_JS))[:8] == b"\x89PNG\r\n\x1a\n"
        assert not _errors(state), "the slider raised:\n" + "\n".join(_errors(state))

        page.locator(".jp-Notebook .widget-slider").first.evaluate("e => e.closest('.jp-Cell').scrollIntoView()")
        page.wait_for_timeout(500)
        shot = SCREENSHOT if UPDATE_SCREENSHOT else tmp_path / SCREENSHOT.name
        page.screenshot(path=str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot
        print(f"\nRun All {run_s:.0f} s; slider 1.00 → {alpha:.2f}, image updated (kernel idle) after {update_s:.1f} s")
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"))
        print(f"failure screenshot: {tmp_path / 'failure.png'}")
        raise


def test_wait_idle_asks_again_after_a_server_error_and_stops_on_a_client_error():
    """_wait_idle (above) outlasts the 500s a starting kernel causes, and does not retry a 4xx (a wrong token)."""
    import http.server
    import threading
    answers = [500, 500, 200]

    class Kernels(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            code = answers.pop(0) if answers else 403
            body = json.dumps([{"execution_state": "idle"}]).encode() if code == 200 else b""
            self.send_response(code)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Kernels)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        _wait_idle(base, "token", 30, "kernel start")
        assert answers == []
        with pytest.raises(urllib.error.HTTPError, match="403"):
            _wait_idle(base, "token", 30, "kernel start")
    finally:
        server.shutdown()
