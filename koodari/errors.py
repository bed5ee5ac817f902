"""Errors that reach the user as one line: the file and what is wrong with it."""

from __future__ import annotations

from pathlib import Path


class KoodariError(Exception):
    """A user-facing error; ``str()`` is a single line naming the file when there is one."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.message = " ".join(str(message).split())
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        return f"{self.path}: {self.message}"


def reason(exc: BaseException) -> str:
    """Why EXC happened, for a one-line message: an OS error's own words in lower case, else the error's text."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)
