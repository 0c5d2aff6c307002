"""`make lab` starts JupyterLab with its internet features off: no news question, no news feed, no update check.

The test starts the server the way the Makefile does (its ``LAB_FLAGS``, the venv's settings overrides
written by ``make setup``) and asks it what the front end would ask.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "mi-workbook-test"


def _lab_flags() -> list[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    return re.search(r"^LAB_FLAGS := (.*)$", text, re.M).group(1).split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>t</id><updated>2026-01-01T00:00:00Z</updated>
<entry><title>news</title><id>n1</id><updated>2026-01-01T00:00:00Z</updated></entry></feed>"""


class _Feed(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        _Feed.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/atom+xml")
        self.end_headers()
        self.wfile.write(FEED.encode())

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def feed():
    """A news feed on loopback: were the flags missing, the server would read it and pass its news on."""
    server = HTTPServer(("127.0.0.1", 0), _Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    server.shutdown()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, feed):
    overrides = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    if not overrides.exists():
        pytest.fail(f"{overrides} is missing: make setup writes it")
    port = _free_port()
    # The feed comes first: the Makefile's flags, after it, must switch it off.
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", f"--LabApp.news_url={feed}", *_lab_flags(), f"--ServerApp.port={port}",
           "--ServerApp.ip=127.0.0.1", "--ServerApp.open_browser=False", f"--IdentityProvider.token={TOKEN}",
           f"--ServerApp.root_dir={tmp_path_factory.mktemp('lab')}", "--allow-root"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(120):
            try:
                _get(port, "/api/status")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {proc.stderr.read()[-2000:]}")
                time.sleep(0.5)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_news_question_is_answered_and_updates_are_off(lab):
    reply = _get(lab, "/lab/api/settings/@jupyterlab/apputils-extension:notification")
    # The overrides become the schema's defaults; a user's own choice (reply["settings"]) still wins.
    defaults = {name: spec["default"] for name, spec in reply["schema"]["properties"].items()}
    # fetchNews "none" is what makes the front end ask; "true" would fetch the feed.
    assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False


def test_server_fetches_no_news_and_checks_no_updates(lab):
    assert _get(lab, "/lab/api/news") == {"news": []}
    assert _get(lab, "/lab/api/update").get("notification") is None
    assert _Feed.hits == []
