"""Nightly-sized property-based run of every importer (hypothesis), figures to BENCHMARKS.md.

    python bench/fuzz.py [--examples 10000] [--folder /dev/shm/koodari-fuzz]

For each importer (transcripts as .txt/.docx/.vtt/.srt bytes, the reductions CSV, REFI-QDA .qdpx and
.qdc) hypothesis generates ``--examples`` inputs with the strategies of tests/fuzzing.py and imports each
in-process into a real study file. The property: the input imports, or is refused with a KoodariError
in one line, and a refused input leaves the study's dump unchanged; any other outcome is a failure,
recorded (type, message, the input saved beside the study) and the run goes on. The same property runs
in the test suite with a few dozen examples per importer (tests/test_fuzz_importers.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from bench._report import write_section  # noqa: E402
from tests.fuzzing import IMPORTERS, Harness  # noqa: E402


def run(importer: str, examples: int, folder: Path) -> dict:
    harness = Harness(folder / importer.replace(" ", "-"))
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    failures: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(IMPORTERS[importer][1])
    def check(named_input):
        name, data = named_input
        try:
            outcome = harness.check(importer, name, data)
        except Exception as exc:  # the property failed: keep the input, go on
            outcomes["failed"] += 1
            saved = harness.folder / f"failure-{len(failures)}-{name}"
            saved.write_bytes(data)
            failures.append(f"{type(exc).__name__}: {str(exc)[:200]} ({saved}) "
                            + traceback.format_exc().strip().splitlines()[-3].strip())
            harness.reset()
            return
        if outcome.accepted:
            outcomes["imported"] += 1
        else:
            outcomes["refused"] += 1
            reasons[outcome.reason or ""] += 1

    start, cpu = time.perf_counter(), time.process_time()
    try:
        check()
    finally:
        harness.close()
    return {"importer": importer, "examples": sum(outcomes.values()), "seconds": time.perf_counter() - start,
            "cpu": time.process_time() - cpu, "outcomes": outcomes, "reasons": reasons, "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="examples per importer")
    parser.add_argument("--folder", type=Path, default=None, help="where the studies live (tmpfs is quickest)")
    parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument("--jobs", type=int, default=2, help="importers fuzzed at once, one process each")
    args = parser.parse_args()
    shm = Path("/dev/shm")
    folder = args.folder or Path(tempfile.mkdtemp(prefix="koodari-fuzz-", dir=shm if shm.is_dir() else None))
    total = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:  # each importer in a process of its own
        futures = {importer: pool.submit(run, importer, args.examples, folder) for importer in IMPORTERS}
        results = []
        for importer, future in futures.items():
            result = future.result()
            results.append(result)
            print(f"{importer}: {result['examples']} examples in {result['seconds']:.0f} s ({result['cpu']:.0f} s"
                  f" CPU), {dict(result['outcomes'])}", flush=True)
            for failure in result["failures"][:5]:
                print("  FAILED", failure, flush=True)
    total, total_cpu = time.perf_counter() - total, sum(r["cpu"] for r in results)
    if args.folder is None and not any(r["failures"] for r in results):
        shutil.rmtree(folder, ignore_errors=True)  # failing inputs are kept for a look
    lines = ["## Importer fuzzing (hypothesis)", "",
             f"{args.examples:,} generated inputs per importer, each imported in-process into a real study file"
             f" ({args.jobs} importers at a time, one process each)"
             " (the strategies of `tests/fuzzing.py`: mostly well-formed files, often damaged at the byte level)."
             " Property: imported, or refused with a one-line KoodariError and the study's dump unchanged.", "",
             "| importer | examples | imported | refused | failures | wall time | CPU time |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        o = r["outcomes"]
        lines.append(f"| {r['importer']} | {r['examples']:,} | {o['imported']:,} | {o['refused']:,} | {o['failed']} |"
                     f" {r['seconds']:.0f} s | {r['cpu']:.0f} s |")
    lines += ["", f"Total: {total:.0f} s wall ({total / 60:.1f} min), {total_cpu:.0f} s CPU"
              f" ({total_cpu / 60:.1f} min; the machine's load average at the end: {os.getloadavg()[0]:.1f}).", "",
              "Most frequent refusals, by reason (names and numbers taken out):", ""]
    for r in results:
        top = ", ".join(f"{reason} ({n})" for reason, n in r["reasons"].most_common(6))
        lines.append(f"* {r['importer']}: {top}")
    failures = [f for r in results for f in r["failures"]]
    lines += ["", "Failures: " + ("none." if not failures else f"{len(failures)}:")]
    lines += [f"* {f}" for f in failures[:10]]
    lines += ["", "Found by earlier runs, fixed, each with a test in `tests/test_untrusted_input.py`: XML declaring an"
              " unknown or multi-byte encoding (a `LookupError`/`ValueError` traceback;"
              " `test_xml_declaring_an_unknown_or_wrong_encoding`), a zip entry name flagged UTF-8 that is not"
              " (a `UnicodeDecodeError` from zipfile; `test_zip_entry_name_that_is_not_the_utf8_it_claims`)."]
    print("\n".join(lines))
    if not args.no_report:
        write_section("fuzz", "\n".join(lines))


if __name__ == "__main__":
    main()
