"""The dashboard in Debian's chromium (Playwright): log in, the runs list, a run page with its
waterfall, the approvals page; approve a pending call with a click; the run then completes;
the overview's cost and latency charts and the memory browser.
Real `tether serve` and `tether worker` processes on 127.0.0.1. Each page's screenshot is
saved and checked non-blank (decoded by the browser itself: distinct colours counted on a
canvas)."""

from __future__ import annotations

import base64
import json
import shutil
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.governance.test_approvals_durable import AGENT
from tests.governance.test_approvals_durable import stop as stop_process
from tests.service.test_e2e import create_key, free_port, wait_ready
from tests.test_durable import Env

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
COUNT_COLOURS = """async (src) => {
  const img = new Image(); img.src = src; await img.decode();
  const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data; const seen = new Set();
  for (let i = 0; i < d.length; i += 16) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return seen.size;
}"""


def shot(page: Page, checker: Page, path: Path) -> int:
    """Save a screenshot; returns how many distinct colours it has (``checker`` decodes it)."""
    data = page.screenshot(path=str(path), full_page=True)
    src = "data:image/png;base64," + base64.b64encode(data).decode()
    return int(checker.evaluate(COUNT_COLOURS, src))


def test_approve_a_pending_call_in_the_dashboard(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "wiper.yaml").write_text(AGENT)
    env = Env(
        tmp_path,
        TETHER_POLICIES=str(tmp_path / "policies"),
        TETHER_TEST_SEEN=str(tmp_path / "seen"),
    )
    scopes = ["runs:read", "runs:write", "approvals:read", "approvals:decide", "memory:read"]
    key = create_key(env, "alice", scopes)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = env.spawn("serve", "--port", str(port), "--agents", str(tmp_path / "agents"))
    worker = env.spawn("worker", "--executor-id", "w1")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        wait_ready(base, lambda: server.poll() is None)
        import httpx

        headers = {"Authorization": f"Bearer {key}"}
        created = httpx.post(
            f"{base}/v1/runs", json={"agent": "wiper", "goal": "wipe duplicates"}, headers=headers
        )
        run_id = created.json()["run_id"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/v1/approvals", headers=headers).json() == []:
            assert time.monotonic() < deadline, "the run never asked for approval"
            time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1200, "height": 800})
            page, checker = context.new_page(), context.new_page()
            page.goto(f"{base}/")
            assert page.url.endswith("/login")
            page.fill("input[name=key]", key)
            page.click("#login")
            page.wait_for_selector("#runs")
            assert run_id in page.inner_text("#runs")
            assert shot(page, checker, shots / "runs.png") > 5
            page.click(f"text={run_id}")
            page.wait_for_selector("#waterfall rect")
            assert page.inner_text("#status") == "paused"
            assert page.locator("#waterfall rect").count() >= 1
            assert shot(page, checker, shots / "run.png") > 5
            page.goto(f"{base}/approvals")
            card = page.locator(".approval").first
            assert (
                "wipe" in card.inner_text() and "record 0 duplicates record 1" in card.inner_text()
            )
            assert shot(page, checker, shots / "approvals.png") > 5
            card.locator("button[value=approve]").click()
            page.wait_for_selector("#empty")
            deadline = time.monotonic() + 60
            while True:
                page.goto(f"{base}/runs/{run_id}")
                if page.inner_text("#status") == "succeeded":
                    break
                assert time.monotonic() < deadline, page.inner_text("#status")
                time.sleep(0.5)
            assert shot(page, checker, shots / "run-done.png") > 5
            page.fill("#rate input[name=tags]", "good, fast")
            page.click("#rate button[value=up]")
            page.wait_for_selector("#rate div")
            assert "dashboard:alice: up good, fast" in page.inner_text("#rate")
            page.click("header >> text=overview")
            page.wait_for_selector("#cost-agent rect")
            assert page.locator("#latency-runs polyline").count() == 1
            assert "model" in (page.text_content("#latency-p95") or "")
            assert shot(page, checker, shots / "overview.png") > 5
            page.click("header >> text=memory")
            page.wait_for_selector("#items")
            assert page.locator("#forget").count() == 0  # no memory:forget scope
            assert shot(page, checker, shots / "memory.png") > 5
            browser.close()
    finally:
        stop_process(env, worker)
        server.terminate()
        server.wait(timeout=30)
    assert env.lines("effects") == ["wiped 0"]
    decided = [e for e in env.events(run_id) if e["kind"] == "approval_decided"]
    assert len(decided) == 1 and "dashboard:alice" in json.dumps(decided[0])
    names = ("runs.png", "run.png", "approvals.png", "overview.png", "memory.png")
    assert all((shots / n).stat().st_size > 5000 for n in names)
