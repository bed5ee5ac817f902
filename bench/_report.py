"""Write one benchmark's section into BENCHMARKS.md (between its markers), keeping the other sections."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

# benchmarks measure a machine that has embedded nothing yet: no sentence embedding kept from an earlier run
# (a script that measures the kept embeddings names its own cache file)
os.environ.setdefault("KOODARI_EMBEDDING_CACHE", "off")

from koodari import app as actions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "BENCHMARKS.md"
HEADER = (
    "# koodari benchmarks\n\nEach section is written by the script named in it; re-run it to refresh the numbers.\n"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, {platform.system()}"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def seed_study(path: Path, analysed: str | None):
    """A fresh study of the seed corpus at ``path``, or a copy of ``analysed`` (a seed study whose texts are
    already analysed: the same data without the cold-cache analysis)."""
    if analysed:
        with actions.open_study(analysed) as source:
            source.copy_to(path)
    else:
        actions.create_study(path, actions.DEMO_CORPUS)
    return actions.open_study(path)


def write_section(name: str, body: str) -> None:
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = REPORT.read_text(encoding="utf-8") if REPORT.exists() else HEADER
    command = "python " + " ".join([f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    section = (f"{start}\n{body.strip()}\n\n_Command: `{command}` · machine: {machine()} · commit {commit()}_\n{end}")
    if start in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    REPORT.write_text(text, encoding="utf-8")
