"""Soak test: several coders review one study at once while another process retrains and exports, and a
random process is killed with SIGKILL every few seconds and restarted.

Each coder is a real `koodari review` in a pseudo-terminal, driven with random keys (Enter, 2, 3, s, u).
A decision counts as *confirmed* when the next screen shows it (the unit moved on, no error message); the
driver then appends it to that coder's own log file (fsync'd). At the end every confirmed decision must be in
the study, `PRAGMA integrity_check` must say ok, and no coder's screen may have used a model version that saw
another coder's review codes. Results go to BENCHMARKS.md.

    python bench/soak.py [--minutes 5] [--coders 4] [--kill-every 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._report import write_section  # noqa: E402

KOODARI = str(Path(sys.executable).with_name("koodari"))
KEYS = ["\r"] * 5 + ["2", "3", "s", "u"]
ACTION = {"\r": "accept", "2": "pick", "3": "pick", "s": "skip", "u": "undo"}
REFUSED = re.compile(r"no suggestion number|nothing to undo")


def build_study(folder: Path) -> Path:
    """The seed corpus, and two interviews made of its quotes (one transcript per research question)."""
    study = folder / "soak.koodari"
    subprocess.run([KOODARI, "init", str(study), "--corpus", "kainuu-2012"], check=True, capture_output=True)
    quotes = [json.loads(line) for line in (ROOT / "corpora/kainuu-2012/quotes.jsonl").read_text().splitlines()]
    by_question: dict[str, list[dict]] = collections.defaultdict(list)
    for q in quotes:
        if q.get("question"):
            by_question[q["question"]].append(q)
    for round_ in (1, 2):
        for code, items in sorted(by_question.items()):
            lines = ["H: Kertoisitko tästä?"]
            for q in (items if round_ == 1 else list(reversed(items))):
                text = q["text"] if round_ == 1 else " ".join(reversed(q["text"].split(". ")))
                lines.append(f"{q['speaker'] or 'V'}: {text}")
            path = folder / f"haastattelu-{code}-{round_}.txt"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            subprocess.run([KOODARI, "import", str(study), str(path), "--question", code], check=True,
                           capture_output=True)
    subprocess.run([KOODARI, "train", str(study), "--folds", "0"], check=True, capture_output=True)
    return study


class Coder:
    """One `koodari review` in a pseudo-terminal, restarted whenever it dies."""

    def __init__(self, name: str, study: Path, log: Path, rng: random.Random) -> None:
        self.name, self.study, self.log, self.rng = name, study, log, rng
        self.child: pexpect.spawn | None = None
        self.until = 0.0
        self.confirmed = 0
        self.restarts = 0
        self.lock = threading.Lock()

    def start(self) -> None:
        env = {**os.environ, "COLUMNS": "160", "LINES": "60", "TERM": "xterm"}
        self.child = pexpect.spawn(KOODARI, ["review", str(self.study), "--coder", self.name, "--retrain-every", "5"],
                                   env=env, encoding="utf-8", timeout=240, dimensions=(60, 160))

    def pid(self) -> int | None:
        return self.child.pid if self.child is not None and self.child.isalive() else None

    def screen(self) -> tuple[str, str]:
        """Wait for the next screen; returns (unit shown, text between the unit and the key prompt)."""
        assert self.child is not None
        timeout = max(10.0, self.until - time.monotonic() + 30)  # a slow screen may finish after the end
        self.child.expect(r"coded \d+/\d+", timeout=timeout)
        self.child.expect(r"unit (\d+) ·", timeout=timeout)
        unit = self.child.match.group(1)
        self.child.expect("q quit", timeout=timeout)
        return unit, self.child.before

    def run(self, until: float) -> None:
        self.until = until
        with self.log.open("a", encoding="utf-8") as log:
            while time.monotonic() < until:
                try:
                    if self.child is None or not self.child.isalive():
                        if self.child is not None:
                            self.restarts += 1
                        self.start()
                    unit, _ = self.screen()
                    while time.monotonic() < until:
                        key = self.rng.choice(KEYS)
                        self.child.send(key)
                        next_unit, message = self.screen()
                        if REFUSED.search(message):
                            continue
                        log.write(json.dumps({"unit": int(unit), "action": ACTION[key], "key": key}) + "\n")
                        log.flush()
                        os.fsync(log.fileno())
                        self.confirmed += 1
                        unit = next_unit
                except (pexpect.EOF, pexpect.TIMEOUT, OSError):
                    time.sleep(0.2)  # killed (or the queue ran out): start again
        if self.child is not None and self.child.isalive():
            self.child.kill(signal.SIGKILL)


class Trainer:
    """Retrains and exports in a loop, in its own process group."""

    LOOP = ('while true; do "$K" train "$S" --folds 0 >/dev/null 2>&1; '
            '"$K" export "$S" csv "$D/units.csv" --force >/dev/null 2>&1; '
            '"$K" export "$S" qdpx "$D/study.qdpx" --force >/dev/null 2>&1; echo done >> "$D/trainer.log"; done')

    def __init__(self, study: Path, folder: Path) -> None:
        self.study, self.folder, self.proc, self.restarts = study, folder, None, 0

    def start(self) -> None:
        env = {**os.environ, "K": KOODARI, "S": str(self.study), "D": str(self.folder)}
        self.proc = subprocess.Popen(["bash", "-c", self.LOOP], env=env, start_new_session=True)

    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def iterations(self) -> int:
        log = self.folder / "trainer.log"
        return len(log.read_text().splitlines()) if log.exists() else 0


def verify(study: Path, logs: dict[str, Path]) -> dict:
    conn = sqlite3.connect(study)
    conn.row_factory = sqlite3.Row
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    missing: dict[str, int] = {}
    confirmed: dict[str, int] = {}
    for coder, log in logs.items():
        logged = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        confirmed[coder] = len(logged)
        rows = conn.execute("SELECT segment_id, action FROM decisions WHERE coder = ?", (coder,)).fetchall()
        stored = collections.Counter((r["action"], r["segment_id"] if r["action"] != "undo" else None) for r in rows)
        wanted = collections.Counter((e["action"], e["unit"] if e["action"] != "undo" else None) for e in logged)
        for key, count in wanted.items():
            if stored[key] < count:
                missing[coder] = missing.get(coder, 0) + count - stored[key]
    versions = {r["id"]: json.loads(r["training"]) for r in conn.execute("SELECT id, training FROM model_versions")}
    leaks = 0
    for r in conn.execute("SELECT DISTINCT coder, model_version_id FROM decisions WHERE model_version_id IS NOT NULL"):
        seen = set(versions[r["model_version_id"]].get("review_coders", [])) - {r["coder"]}
        leaks += bool(seen)
    decisions = conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
    conn.close()
    return {"integrity": integrity, "confirmed": confirmed, "missing": missing, "blind_leaks": leaks,
            "decisions_in_study": decisions, "model_versions": len(versions)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--coders", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-report", action="store_true", help="print, do not write BENCHMARKS.md")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="koodari-soak-"))
    started = time.monotonic()
    study = build_study(folder)
    setup = time.monotonic() - started
    logs = {f"coder{i + 1}": folder / f"coder{i + 1}.log" for i in range(args.coders)}
    coders = [Coder(name, study, log, random.Random(rng.random())) for name, log in logs.items()]
    trainer = Trainer(study, folder)
    trainer.start()
    until = time.monotonic() + args.minutes * 60
    threads = [threading.Thread(target=c.run, args=(until,), daemon=True) for c in coders]
    for t in threads:
        t.start()
    kills: collections.Counter[str] = collections.Counter()
    while time.monotonic() < until - 1:
        time.sleep(min(args.kill_every, max(0.0, until - time.monotonic() - 1)))
        if time.monotonic() >= until - 1:
            break
        victim = rng.choice([*coders, trainer])
        if isinstance(victim, Trainer):
            victim.kill()
            victim.restarts += 1
            victim.start()
            kills["trainer"] += 1
        elif victim.pid() is not None:
            os.kill(victim.pid(), signal.SIGKILL)
            kills[victim.name] += 1
    for t in threads:
        t.join(timeout=300)
    trainer.kill()
    result = verify(study, logs)
    result.update({"minutes": args.minutes, "coders": args.coders, "kills": dict(kills),
                   "coder_restarts": {c.name: c.restarts for c in coders},
                   "trainer_iterations": trainer.iterations(), "setup_seconds": round(setup, 1), "folder": str(folder)})
    print(json.dumps(result, indent=2))
    # a run that confirmed nothing, or killed nothing, proves nothing: it fails too
    ok = (result["integrity"] == "ok" and not result["missing"] and result["blind_leaks"] == 0
          and all(result["confirmed"].values()) and sum(kills.values()) > 0)
    if not args.no_report:
        lines = [
            "## Soak: concurrent coders, a retraining exporter, and SIGKILL",
            "",
            f"{args.coders} `koodari review` processes in pseudo-terminals, random keys (Enter, 2, 3, s, u) for "
            f"{args.minutes:g} minutes on one study (the seed corpus + two interviews made of its quotes), "
            "retraining every 5 decisions in the background; a fifth process runs `train` and "
            f"`export csv|qdpx` in a loop; every {args.kill_every:g} s a random one of the five is killed with "
            "SIGKILL and restarted.",
            "",
            "| check | result |",
            "|---|---|",
            "| decisions confirmed on screen (per coder) | "
            f"{', '.join(f'{k}: {v}' for k, v in result['confirmed'].items())} |",
            f"| confirmed decisions missing from the study | {sum(result['missing'].values())} |",
            f"| decisions in the study | {result['decisions_in_study']} |",
            f"| kills (SIGKILL) | {sum(kills.values())} ({', '.join(f'{k}: {v}' for k, v in sorted(kills.items()))}) |",
            f"| trainer/exporter loops completed | {result['trainer_iterations']} |",
            f"| model versions made | {result['model_versions']} |",
            f"| decisions made with a model that saw another coder's review codes | {result['blind_leaks']} |",
            f"| `PRAGMA integrity_check` | {result['integrity']} |",
            "",
            f"**{'PASS' if ok else 'FAIL'}**. The machine's two cores were shared by all processes, so the number of "
            "decisions per minute says little about speed; the checks are what this benchmark is for.",
        ]
        write_section("soak", "\n".join(lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
