"""The one lazy loader: a module bound at the top of its importer, imported on first use.

The core modules that pull in scikit-learn, SciPy and statsmodels take seconds to import; through this
loader `koodari --help`, `init`, `import`, `tree` and `export` start without them. (torch and stanza load
later still, inside the NLP pipeline, when a text is first analysed.)

The binding is a stand-in, not a module in ``sys.modules``: code that walks ``sys.modules`` and reads each
module's attributes (``inspect.getmodule``, which importing torch runs hundreds of times) would otherwise import
every lazily bound module, and with them scikit-learn, in a process that never uses them (`koodari analyse`
paid about a second of CPU for that).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any


class Deferred:
    """A module by name, imported at its first attribute use; reads, writes and deletes go to the module."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_module", None)

    def _load(self) -> ModuleType:
        module = object.__getattribute__(self, "_module")
        if module is None:
            module = importlib.import_module(object.__getattribute__(self, "_name"))  # thread-safe (import lock)
            object.__setattr__(self, "_module", module)
        return module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(self._load(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._load(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._load())

    def __repr__(self) -> str:
        name = object.__getattribute__(self, "_name")
        state = "imported" if object.__getattribute__(self, "_module") is not None else "not imported yet"
        return f"<module {name!r} ({state}, koodari.lazy)>"


def load(name: str) -> ModuleType:
    """The module ``name``: the loaded one when it is, else a stand-in that imports it at its first attribute use."""
    if name in sys.modules:
        return sys.modules[name]
    if importlib.util.find_spec(name) is None:  # a typo fails here, at the binding, not at first use
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    return Deferred(name)  # type: ignore[return-value]
