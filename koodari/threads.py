"""CPU threads, set deliberately before numpy or torch start their thread pools.

torch starts one busy-waiting intra-op thread per core by default. Two koodari processes on one laptop
(two coders reviewing, or a review while ``koodari train`` runs) then fight over the cores: one
``koodari analyse`` of an 8,000-word interview took 8.1 s alone and 101 s with a second one running,
against 18.8 s each with one thread. koodari therefore runs its numerical libraries on one thread per
process unless told otherwise: ``KOODARI_THREADS=N`` sets N, and an explicit ``OMP_NUM_THREADS`` (or
the library's own variable) set by the user is respected.
"""

from __future__ import annotations

import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def configured_threads() -> int:
    """The number of threads koodari asks for: ``KOODARI_THREADS``, else the user's own thread variable,
    else 1."""
    for name in ("KOODARI_THREADS", *THREAD_VARIABLES):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def configure() -> None:
    """Set the thread variables before numpy or torch is imported (later they would be ignored), and
    set torch's pool size if torch is already loaded."""
    threads = configured_threads()
    for name in THREAD_VARIABLES:
        if "KOODARI_THREADS" in os.environ or name not in os.environ:
            os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
