#!/usr/bin/env python3
"""Answers a whole `vox2pix rating export` page in headless Chromium through ChromeDriver (WebDriver HTTP
protocol, standard library only), as a rater would, and writes the CSV the page produced.

    python3 tests/browser/rating_session.py PAGE.html OUT.csv [RATER]

The rater types a name and accepts consent; the Start button must be disabled until both are done. Trial k
(0-based) is answered with candidate k mod n: even trials by clicking the candidate, odd trials by pressing its
number key. The CSV is read from the page's text box and from the file its Download button saves, which must
agree. Prints one JSON line: {"choices": [...], "trials": T, "download": true|false}.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

W3C = "element-6066-11e4-a52e-4f735466cecf"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Driver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.sid = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            out = json.loads(r.read().decode() or "{}")
        return out.get("value")

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.sid}{path}", body)

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[W3C]

    def find_all(self, css):
        return [e[W3C] for e in self.s("POST", "/elements", {"using": "css selector", "value": css})]


def main():
    page, out_csv = os.path.abspath(sys.argv[1]), sys.argv[2]
    rater = sys.argv[3] if len(sys.argv) > 3 else "alice"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    port = free_port()
    downloads = tempfile.mkdtemp(prefix="vox2pix-rating-dl-")
    proc = subprocess.Popen([shutil.which("chromedriver"), f"--port={port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    d = Driver(port)
    try:
        for _ in range(100):
            try:
                if d.call("GET", "/status").get("ready"):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            "prefs": {"download.default_directory": downloads, "download.prompt_for_download": False},
        }}}}
        d.sid = d.call("POST", "/session", caps)["sessionId"]
        d.s("POST", "/url", {"url": "file://" + page})
        start = d.find("#start")
        assert d.s("GET", f"/element/{start}/enabled") is False, "Start must wait for name and consent"
        d.s("POST", f"/element/{d.find('#rater')}/value", {"text": rater})
        assert d.s("GET", f"/element/{start}/enabled") is False, "Start must wait for consent"
        d.s("POST", f"/element/{d.find('#consent')}/click", {})
        assert d.s("GET", f"/element/{start}/enabled") is True, "Start must be enabled after name and consent"
        d.s("POST", f"/element/{start}/click", {})
        choices, k = [], 0
        while True:
            shown = d.s("POST", "/execute/sync", {"script": "return document.querySelector('.screen.on').id", "args": []})
            if shown == "done":
                break
            assert shown == "trial", shown
            progress = d.s("GET", f"/element/{d.find('#progress')}/text")
            assert progress.startswith(f"Trial {k + 1} of "), progress
            cands = d.find_all("button.cand")
            n = len(cands)
            choice = k % n
            if k % 2 == 0 or choice >= 9:
                d.s("POST", f"/element/{cands[choice]}/click", {})
            else:
                key = str(choice + 1)
                d.s("POST", "/actions", {"actions": [{"type": "key", "id": "kb", "actions": [
                    {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]})
                d.s("DELETE", "/actions")
            choices.append(choice)
            k += 1
        text = d.s("GET", f"/element/{d.find('#csv')}/property/value")
        d.s("POST", f"/element/{d.find('#download')}/click", {})
        downloaded = None
        for _ in range(50):
            files = [f for f in os.listdir(downloads) if f.endswith(".csv")]
            if files:
                with open(os.path.join(downloads, files[0])) as f:
                    downloaded = f.read()
                break
            time.sleep(0.1)
        if downloaded is not None:
            assert downloaded == text, "the downloaded CSV differs from the page's text"
        with open(out_csv, "w") as f:
            f.write(text)
        print(json.dumps({"choices": choices, "trials": k, "download": downloaded is not None}))
    finally:
        try:
            if d.sid:
                d.call("DELETE", f"/session/{d.sid}")
        finally:
            proc.terminate()
            shutil.rmtree(downloads, ignore_errors=True)


if __name__ == "__main__":
    main()
