"""Start `koodari serve` in a subprocess on a free loopback port and wait for its address (tests and bench)."""

from __future__ import annotations

import re
import selectors
import subprocess
import sys
import time
from pathlib import Path

from tests.studies import build_study, copy_study  # noqa: F401  (re-exported for the web tests)

KOODARI = str(Path(sys.executable).with_name("koodari"))  # the console script of this venv
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


class Server:
    def __init__(self, study: Path, coder: str, *extra: str, timeout: float = 180) -> None:
        self.proc = subprocess.Popen([KOODARI, "serve", str(study), "--coder", coder, "--port", "0", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output = ""
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if selector.select(timeout=1):
                line = self.proc.stdout.readline()
                if not line:
                    break
                self.output += line
                found = re.search(r"at (http://\S+)", line)
                if found:
                    self.url = found.group(1)
                    self.base = re.match(r"http://[^/]+", self.url).group(0)
                    selector.close()
                    return
        self.stop()
        raise RuntimeError(f"koodari serve did not start:\n{self.output}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rest = self.proc.stdout.read() if self.proc.stdout else ""
        self.output += rest or ""
        return self.output


def make_study(folder: Path) -> Path:
    """The small study of the review tests: six reductions, one transcript of five units, a model, analyses."""
    return build_study(folder)
