"""The exported quiz page in a real headless browser: Chromium driven over the Chrome DevTools protocol
(websocket-client), clicking through a whole quiz with mouse events, downloading the answers file and pooling it.

Skips, saying why, only where no Chromium is installed (`make env` installs it with apt-get where it can).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch

from realfake.dcgan.quiz import answer_files, export_html, make_items, pool_answers, quiz_key

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=(
    "no Chromium on this machine and it could not be installed here (`make env` runs apt-get install chromium "
    "where apt-get exists and it is allowed to)"))


class Browser:
    """A headless Chromium and one page, over the DevTools protocol (one websocket, flattened sessions)."""

    def __init__(self, profile: Path, downloads: Path):
        import websocket
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url, started = None, time.monotonic()
        while url is None and time.monotonic() - started < 60:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self.process.returncode}")
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            url = found.group(1) if found else None
        if url is None:
            raise RuntimeError("chromium did not open its DevTools port within 60 s")
        self.socket = websocket.create_connection(url, timeout=30)
        self.next_id, self.events = 0, []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads), eventsEnabled=True)
        self.call("Page.enable", session=True)

    def call(self, method: str, session: bool = False, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30, **where) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method and all(event["params"].get(k) == v for k, v in where.items()):
                    self.events.remove(event)
                    return event["params"]
            self.socket.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(f"no {method} {where} within {timeout} s")

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the centre of the element."""
        box = self.js(f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                      f" return [r.x + r.width / 2, r.y + r.height / 2, r.width, r.height]; }})()")
        assert box[2] > 0 and box[3] > 0, f"{selector} is not visible"
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", session=True, type=kind, x=box[0], y=box[1], button="left",
                      clickCount=1 if kind != "mouseMoved" else 0)

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def test_a_person_clicks_through_the_page_and_the_download_is_pooled(tmp_path):
    real = torch.randint(0, 256, (40, 1, 28, 28), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    fake = torch.randint(0, 256, (40, 1, 28, 28), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    items = make_items(real, fake, n=12, seed=5)
    page = export_html(items, tmp_path / "quiz.html", quiz="page-test")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser = Browser(tmp_path / "profile", downloads)
    try:
        browser.call("Page.navigate", session=True, url=page.resolve().as_uri())
        browser.wait_event("Page.loadEventFired")
        browser.click("#who")
        browser.call("Input.insertText", session=True, text="Tess")
        key, expected = quiz_key(items), 0
        for k in range(len(items)):
            shown = browser.js("document.getElementById('digit').dataset.item")
            assert shown == items[k].id                               # the seeded order of the export
            says_generated = k % 3 != 0                               # a fixed pattern of answers
            expected += says_generated == key[shown]
            browser.click("#generated" if says_generated else "#real")
            if k + 1 < len(items):
                assert browser.js("document.getElementById('score').textContent") == \
                    f"So far {expected} of {k + 1} right."            # the running score
        assert f"You got {expected} of {len(items)} right" in browser.js("document.getElementById('result').textContent")
        browser.click("#download")
        done = browser.wait_event("Browser.downloadProgress", timeout=30, state="completed")
        assert done["state"] == "completed"
    finally:
        browser.close()
    files = answer_files(downloads)
    assert len(files) == 1 and files[0].name.startswith("quiz-answers-page-test-")
    answers = json.loads(files[0].read_text())
    assert answers["who"] == "Tess" and len(answers["answers"]) == len(items)
    pooled = pool_answers(files, key, "page-test")
    assert pooled["problems"] == [] and pooled["pooled"]["n"] == len(items)
    assert pooled["pooled"]["correct"] == expected and pooled["people"]["Tess"]["correct"] == expected
