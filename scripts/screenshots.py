#!/usr/bin/env python3
"""Screenshots of the Sim connection form as Airflow 2.11 and 3.3 show it, and of a paused Sim run's
Required Action in Airflow 3.3: ``make screenshots``.

For each Airflow line (one per major line) this starts that line's real web server from its locked
venv (``.venvs/af-<line>``) on a free loopback port, with a throwaway ``AIRFLOW_HOME``, opens the
"add connection" form in headless Chromium, picks connection type "Sim" the way a person does, and
saves ``docs/connection-form-airflow-<line>.png``. On 3.3 it also starts the Sim emulator and a DAG
whose Sim run pauses for a person (``airflow dags test`` beside the api-server), and saves the task's
Required Action page as ``docs/required-action-airflow-3.3.png``.

What it needs, it installs: Debian's ``chromium`` (``apt-get``, when ``/usr/bin/chromium`` is
missing) and the ``playwright`` Python package in a throwaway venv under /tmp, never in the locked
venvs. Playwright drives the system Chromium; it never downloads a browser of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LINES = ("2.11", "3.3")
CHROMIUM = Path("/usr/bin/chromium")
DRIVER_VENV = Path(os.environ.get("SIM_SCREENSHOTS_VENV", "/tmp/airflow-provider-sim-screenshots-venv"))
DRIVER_REQUIREMENTS = ("playwright>=1.45,<2", "pillow>=10")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # plus a fresh --user-data-dir per browser, which Playwright passes from user_data_dir
VIEWPORT = {"width": 1280, "height": 1600}
STEP_TIMEOUT_MS = 60_000
CAPTURE_TIMEOUT_S = 900


def log(message: str) -> None:
    print(f"screenshots: {message}", flush=True)


# -- outside the driver venv: install what is missing, then run the capture inside it -------------------
def ensure_chromium() -> None:
    if CHROMIUM.exists():
        return
    log("installing Debian's chromium (apt-get)")
    if os.geteuid() != 0:
        sys.exit("screenshots: /usr/bin/chromium is missing; run as root or: apt-get install -y chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, env=env, timeout=1200)


def driver_python() -> Path:
    """The throwaway venv's python, with playwright installed (created on first use)."""
    python = DRIVER_VENV / "bin" / "python"
    probe = [python, "-c", "import playwright.sync_api, PIL.Image"]
    has_driver = python.exists() and subprocess.run(probe, capture_output=True, timeout=60).returncode == 0
    if not has_driver:
        log(f"installing {', '.join(DRIVER_REQUIREMENTS)} into {DRIVER_VENV} (no browser download)")
        shutil.rmtree(DRIVER_VENV, ignore_errors=True)
        venv.create(DRIVER_VENV, with_pip=True, clear=True)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *DRIVER_REQUIREMENTS],
            check=True,
            timeout=900,
        )
    return python


def airflow_version(line: str) -> str:
    python = ROOT / ".venvs" / f"af-{line}" / "bin" / "python"
    if not python.exists():
        sys.exit(f"screenshots: {python} is missing; run: make env-{line}")
    result = subprocess.run(
        [python, "-c", "from importlib.metadata import version; print(version('apache-airflow'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lines", nargs="*", default=list(LINES), help=f"Airflow lines (default {LINES})")
    parser.add_argument("--capture", action="store_true", help=argparse.SUPPRESS)  # inside the driver venv
    args = parser.parse_args()
    if args.capture:
        return capture(args.lines)
    ensure_chromium()
    for line in args.lines:
        airflow_version(line)
    python = driver_python()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    return subprocess.run(
        [python, __file__, "--capture", *args.lines], env=env, timeout=CAPTURE_TIMEOUT_S, check=False
    ).returncode


# -- inside the driver venv ------------------------------------------------------------------------------
def select_sim_2x(page: Any) -> None:
    """Airflow 2.x: the FAB form's select2 box for the connection type; type "Sim", pick it."""
    page.fill("#conn_id", "sim_default")
    page.click('[aria-labelledby="select2-conn_type-container"]')
    page.keyboard.type("Sim")
    page.locator("li.select2-results__option", has_text=re.compile(r"^Sim$")).click()
    page.get_by_text("API version", exact=True).wait_for()
    page.wait_for_function(
        "document.querySelector('label[for=host]').textContent.trim().startsWith('Base URL')"
    )


def select_sim_3x(page: Any) -> None:
    """Airflow 3.x: the React "Add Connection" dialog; type "Sim" into its connection type combobox."""
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill("sim_default")
    combobox = dialog.get_by_role("combobox")
    combobox.click()
    combobox.type("Sim")
    page.get_by_role("option", name="Sim", exact=True).click()
    dialog.get_by_text("Base URL").first.wait_for()


def shoot_3x(page: Any, target: Path) -> None:
    """The dialog twice, side by side: its accordion opens one section at a time.

    Left: "Standard Fields" (open after choosing the type: Base URL, API key); right: "Extra Fields".
    """
    from PIL import Image

    dialog = page.get_by_role("dialog")
    standard = Image.open(io.BytesIO(dialog.screenshot()))
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    dialog.get_by_text("API version").first.wait_for()
    page.wait_for_timeout(800)  # the accordion's animation
    extra = Image.open(io.BytesIO(dialog.screenshot()))
    gap = 24
    sheet = Image.new(
        "RGB", (standard.width + gap + extra.width, max(standard.height, extra.height)), (228, 231, 236)
    )
    sheet.paste(standard, (0, 0))
    sheet.paste(extra, (standard.width + gap, 0))
    sheet.save(target)


@contextlib.contextmanager
def browser_page(playwright: Any, profile: Path, viewport: dict[str, int]) -> Iterator[Any]:
    """A page of headless system Chromium with a fresh profile (``--user-data-dir``), closed after."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS, viewport=viewport
    )
    try:
        context.set_default_timeout(STEP_TIMEOUT_MS)
        yield context.new_page()
    finally:
        context.close()


def capture_line(playwright: Any, line: str, version: str, workdir: Path) -> Path:
    from tests.ui.airflow_server import make_server

    airflow_bin = ROOT / ".venvs" / f"af-{line}" / "bin" / "airflow"
    server = make_server(airflow_bin, version, workdir)
    command = "api-server" if server.major >= 3 else "webserver"
    log(f"Airflow {version}: starting {command} on {server.base_url}")
    started = time.monotonic()
    server.start()
    log(f"Airflow {version}: up after {time.monotonic() - started:.0f} s")
    try:
        with browser_page(playwright, workdir / "chromium-profile", VIEWPORT) as page:
            start_path = "/connection/add" if server.major < 3 else "/connections"
            page.goto(server.base_url + start_path, wait_until="networkidle")
            (select_sim_3x if server.major >= 3 else select_sim_2x)(page)
            page.wait_for_timeout(1000)  # let the form settle (placeholders, fonts)
            target = DOCS / f"connection-form-airflow-{line}.png"
            if server.major >= 3:
                shoot_3x(page, target)
            else:
                page.screenshot(path=str(target), full_page=True)
        log(f"Airflow {version}: wrote {target.relative_to(ROOT)}")
        return target
    finally:
        server.stop()


REQUIRED_ACTION_DAG = "sim_refund_approval"
REQUIRED_ACTION_BODY = """
SimExecuteWorkflowOperator(task_id="approve_refund", workflow_id="approval",
                           input={"order": "#1042", "customer": "Ada Lovelace", "amount_eur": 129.5,
                                  "reason": "Parcel arrived damaged"},
                           deferrable=True, on_pause="airflow", poll_interval=1,
                           hitl_assignees=[{"id": "admin", "name": "admin"}])
"""


def start_emulator(line: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """The Sim emulator from the line's venv on a free loopback port: (process, base URL, key)."""
    from tests.ui.airflow_server import free_port, http

    port, key = free_port(), "sk-sim-screenshots"
    python = ROOT / ".venvs" / f"af-{line}" / "bin" / "python"
    argv = [str(python), "-m", "airflow_provider_sim.emulator", "--port", str(port), "--api-key", key, "--v2"]
    with (workdir / "emulator.log").open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if http("GET", f"{base_url}/_emulator/health", timeout=2).status == 200:
                return process, base_url, key
        except OSError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"the emulator did not start: {(workdir / 'emulator.log').read_text()[-2000:]}")


def capture_required_action(playwright: Any, line: str, version: str, workdir: Path) -> Path:
    """A paused Sim run's Required Action, as Airflow's UI shows it to the person who answers."""
    from tests.operators import hitl_rest_server as rest
    from tests.ui.airflow_server import make_server

    server = make_server(ROOT / ".venvs" / f"af-{line}" / "bin" / "airflow", version, workdir)
    server.start()
    emulator, sim_url, sim_key = start_emulator(line, workdir)
    dag_test = None
    try:
        rest.use_wal(server)
        source = rest.dag_file(REQUIRED_ACTION_DAG, REQUIRED_ACTION_BODY, shim=False)
        log_path = workdir / "dags-test.log"
        dag_test = rest.start_dag_test(
            server, REQUIRED_ACTION_DAG, source, sim_base_url=sim_url, sim_api_key=sim_key, log=log_path
        )
        run_id, _ = rest.wait_for_required_action(
            server, REQUIRED_ACTION_DAG, "approve_refund", dag_test, log_path
        )
        log(f"Airflow {version}: the Sim run waits for an answer in DAG run {run_id}")
        with browser_page(
            playwright, workdir / "chromium-profile-hitl", {"width": 1400, "height": 1100}
        ) as page:
            task_path = f"/dags/{REQUIRED_ACTION_DAG}/runs/{quote(run_id, safe='')}/tasks/approve_refund"
            path = f"{task_path}/required_actions"
            page.goto(server.base_url + path, wait_until="networkidle")
            page.get_by_text("Resume", exact=True).first.wait_for()
            page.wait_for_timeout(1500)  # fonts and the markdown body
            target = DOCS / f"required-action-airflow-{line}.png"
            page.screenshot(path=str(target), full_page=True)
        log(f"Airflow {version}: wrote {target.relative_to(ROOT)}")
        return target
    finally:
        for process in (dag_test, emulator):
            if process is not None and process.poll() is None:
                process.kill()
        server.stop()


def capture(lines: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    DOCS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        for line in lines:
            with tempfile.TemporaryDirectory(prefix=f"sim-screenshots-{line}-") as tmp:
                capture_line(playwright, line, airflow_version(line), Path(tmp))
            if line == "3.3":
                with tempfile.TemporaryDirectory(prefix=f"sim-screenshots-hitl-{line}-") as tmp:
                    capture_required_action(playwright, line, airflow_version(line), Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
