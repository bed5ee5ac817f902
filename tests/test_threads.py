"""koodari sets its CPU threads before torch starts its pool (two processes otherwise fight over the cores)."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = "import koodari, torch; print(torch.get_num_threads())"


def threads(**env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                               "OPENBLAS_NUM_THREADS", "KOODARI_THREADS")}
    out = subprocess.run([sys.executable, "-c", CHECK], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip())


def test_one_thread_per_process_by_default():
    assert threads() == 1


def test_koodari_threads_overrides_and_user_omp_setting_is_respected():
    assert threads(KOODARI_THREADS="2") == 2
    assert threads(OMP_NUM_THREADS="2") == 2
