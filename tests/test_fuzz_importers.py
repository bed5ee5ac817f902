"""Property-based tests of every importer (hypothesis): any input either imports or is refused with a
KoodariError, never another exception, and a refused input leaves the study's dump unchanged.

Small runs here (tens of examples per importer, in-process); bench/fuzz.py runs ten thousand each.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzzing import IMPORTERS, Harness

EXAMPLES = 60


@pytest.mark.parametrize("importer", list(IMPORTERS))
def test_importer_imports_or_refuses_in_one_line(importer, tmp_path_factory):
    harness = Harness(tmp_path_factory.mktemp("fuzz"))
    strategy = IMPORTERS[importer][1]

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(strategy)
    def check(named_input):
        name, data = named_input
        harness.check(importer, name, data)

    try:
        check()
    finally:
        harness.close()
