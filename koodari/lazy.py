"""The one lazy loader: a module bound at the top of its importer, executed on first use.

The core modules that pull in scikit-learn, SciPy and statsmodels take seconds to import; through this
loader `koodari --help`, `init`, `import`, `tree` and `export` start without them. (torch and stanza load
later still, inside the NLP pipeline, when a text is first analysed.)
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def load(name: str) -> ModuleType:
    """The module ``name``: the loaded one when it is, else one whose code runs at its first attribute use."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
