"""The terminal side of `koodari review`: keys in, rich screens out. All decisions go through ReviewSession."""

from __future__ import annotations

import os
import sys
import termios
import tty
from contextlib import AbstractContextManager

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from koodari.errors import KoodariError
from koodari.review import Progress, ReviewSession
from koodari.review_tree import merge_or_move

HELP = """\
[bold]Enter[/] accept suggestion 1 · [bold]1–9[/] pick a suggestion · [bold]/[/] search the tree ·
[bold]n[/] new subcategory · [bold]r[/] write a reduction for this unit · [bold]+[/] keep the unit open for
another code · [bold]m[/] merge or move this unit's category in the tree · [bold]s[/] skip ·
[bold]u[/] undo the last decision · [bold]?[/] help · [bold]q[/] quit
(every decision is already saved; the next review resumes at the first uncoded unit)"""
PROMPT = ("[dim]Enter accept · 1-9 pick · / search · n new · r reduction · + more · m merge/move · s skip · u undo ·"
          " ? help · q quit[/]")


class Keys(AbstractContextManager):
    """Single keys from a terminal (cbreak mode, so Ctrl-C still interrupts); line input when asked.

    Without a terminal (a pipe), each line is one key: an empty line is Enter.
    """

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdin
        try:
            self.fd: int | None = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
            self.fd = None
        self.tty = self.fd is not None and os.isatty(self.fd)
        self._saved = None

    def __enter__(self) -> Keys:
        if self.tty:
            self._saved = termios.tcgetattr(self.fd)
            self._keys_mode()
        return self

    def _keys_mode(self) -> None:
        """cbreak, and Ctrl-C read as a key (no signal): a quit that is handled like `q`, never mid-write."""
        tty.setcbreak(self.fd, termios.TCSADRAIN)  # TCSADRAIN: never drop keys typed ahead
        mode = termios.tcgetattr(self.fd)
        mode[3] &= ~termios.ISIG
        termios.tcsetattr(self.fd, termios.TCSADRAIN, mode)

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def key(self) -> str:
        if not self.tty:
            line = self.stream.readline()
            if not line:
                return "eof"
            line = line.rstrip("\n")
            return "enter" if line == "" else line[0]
        ch = os.read(self.fd, 1).decode("utf-8", "replace")
        if ch == "":
            return "eof"
        if ch in ("\r", "\n"):
            return "enter"
        if ch == "\x04":
            return "eof"
        if ch == "\x03":
            return "interrupt"
        if ch == "\x1b":  # an escape sequence (arrow keys...): ignore the rest of it
            os.read(self.fd, 8)
            return "escape"
        return ch

    def line(self, prompt: str, prefill: str = "") -> str | None:
        """A line of text (the terminal back in its normal mode, with the draft prefilled)."""
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        try:
            if not self.tty:
                sys.stdout.write(prompt)
                sys.stdout.flush()
                line = self.stream.readline()
                return None if not line else (line.rstrip("\n") or prefill)
            if not prefill:
                sys.stdout.write(prompt)
                sys.stdout.flush()
                return self._read_line()
            try:
                import readline

                readline.set_startup_hook(lambda: readline.insert_text(prefill))
            except ImportError:  # pragma: no cover - readline exists on Linux and macOS
                readline = None
            try:
                return input(prompt)
            except EOFError:
                return None
            finally:
                if readline is not None:
                    readline.set_startup_hook()
        finally:
            if self._saved is not None:
                self._keys_mode()

    def _read_line(self) -> str | None:
        """A line straight from the terminal (cooked mode), byte by byte so no typed-ahead key is buffered away."""
        data = b""
        while not data.endswith(b"\n"):
            ch = os.read(self.fd, 1)
            if not ch:
                return None if not data else data.decode("utf-8", "replace")
            data += ch
        return data[:-1].decode("utf-8", "replace").rstrip("\r")


def progress_line(p: Progress, version: int) -> str:
    parts = [f"coded {p.coded}/{p.total}"]
    if p.accept_rate is not None:
        parts.append(f"first suggestion accepted {p.accept_rate:.0%}")
    if p.seconds_per_unit is not None:
        parts.append(f"{p.seconds_per_unit:.1f} s/unit")
        eta = p.eta_seconds or 0
        parts.append(f"≈{eta / 60:.0f} min left" if eta >= 60 else f"≈{eta:.0f} s left")
    parts.append(f"model v{version}")
    return " · ".join(parts)


def render(console: Console, session: ReviewSession, unit_id: int, message: str = "") -> None:
    view = session.view(unit_id)
    suggestions = session.suggestions(unit_id)
    context = Text()
    for speaker, text in view.before:
        context.append(f"{speaker or '?'}: {text}\n", style="dim")
    context.append(f"{view.speaker or '?'}: ", style="bold")
    context.append(view.text + "\n", style="bold")
    for speaker, text in view.after:
        context.append(f"{speaker or '?'}: {text}\n", style="dim")
    details = Text()
    if view.normalised and view.normalised != view.text:
        details.append("normalised: ", style="dim")
        details.append(view.normalised + "\n", style="italic")
    if view.codes:
        details.append("your codes: ", style="green")
        details.append("; ".join(" → ".join(p or "–" for p in path) for path in view.codes) + "\n", style="green")
    if session.pending_reduction:
        details.append(f"reduction: {session.pending_reduction}\n", style="cyan")
    table = Table("#", "p", "subcategory → upper → combining", "why", expand=True)
    for i, s in enumerate(suggestions, 1):
        table.add_row(str(i), f"{s.probability:.2f}", " → ".join(p or "–" for p in s.path), s.reason)
    flag = "  [yellow]possibly a new category (n)[/]" if suggestions and suggestions[0].new else ""
    title = f"unit {view.id} · {view.speaker or '?'} · {view.question or view.theme or 'no question'}{flag}"
    console.clear()
    console.print(progress_line(session.progress(), session.suggester.version), style="dim", highlight=False)
    console.print(Panel(Group(context, details), title=title, title_align="left"))
    console.print(table)
    if message:
        console.print(message)
    console.print(PROMPT)


def run_review(session: ReviewSession, console: Console, keys: Keys) -> None:
    """The review loop: one unit at a time until the queue is empty or the coder quits."""
    message = ""
    unit = session.next_unit()
    while unit is not None:
        if session.needs_question(unit):
            answer = ask_question(session, unit, console, keys)
            if answer == "quit":
                break
            if answer == "skip":
                session.skip(unit)
                unit = session.next_unit()
                continue
            message = answer
        render(console, session, unit, message)
        message = ""
        key = keys.key()
        if key == "interrupt":
            raise KeyboardInterrupt  # koodari's CLI reports it: everything decided so far is saved
        if key in ("q", "eof"):
            break
        try:
            moved = handle(key, session, unit, console, keys)
        except KoodariError as exc:
            message = f"[red]{exc}[/]"
            continue
        if isinstance(moved, str):  # a message: the same unit stays on screen
            message = moved
            continue
        if moved is not None:  # undo: back to the unit it was about
            unit = moved
            continue
        if key in ("enter", "/", "n", "s", "u") or key.isdigit():
            if session.keep_open and key not in ("s", "u"):
                session.keep_open = False
                message = "[green]coded; the unit stays open for another code (s: next unit)[/]"
                continue
            unit = session.next_unit()
    progress = session.progress()
    console.print(f"saved: {progress.coded}/{progress.total} units coded by {session.coder}"
                  + (" — all done" if unit is None else "; `koodari review` resumes at the first uncoded unit"),
                  highlight=False)


def ask_question(session: ReviewSession, unit: int, console: Console, keys: Keys) -> str:
    """Ask which research question the unit's theme (or document) belongs to; the answer is remembered.
    Returns a message for the screen, or "skip" / "quit"."""
    view = session.view(unit)
    console.clear()
    console.print(f"{view.speaker or '?'}: {view.text}", highlight=False)
    where = f"theme '{view.theme}'" if view.theme else "this document (it has no theme lines)"
    console.print(f"[yellow]{where} belongs to no research question yet.[/] Which one?", highlight=False)
    questions = session.study.questions()
    table = Table("#", "code", "research question")
    for i, q in enumerate(questions, 1):
        table.add_row(str(i), q.code, q.text)
    console.print(table)
    while True:
        answer = keys.line("number or code (Enter skips the unit, q quits): ")
        if answer is None or answer.strip().lower() == "q":
            return "quit"
        answer = answer.strip()
        if not answer:
            return "skip"
        if answer.isdigit() and 1 <= int(answer) <= len(questions):
            answer = questions[int(answer) - 1]["code"]
        try:
            linked = session.assign_question(unit, answer)
        except KoodariError as exc:
            console.print(f"[red]{exc}[/]")
            continue
        return f"[green]{where} → {answer} ({linked} units); remembered[/]"


def handle(key: str, session: ReviewSession, unit: int, console: Console, keys: Keys) -> int | str | None:
    """Apply one key. Returns a unit to show next (undo), a message, or None."""
    if key == "enter":
        session.accept(unit, 1)
    elif key.isdigit() and key != "0":
        session.accept(unit, int(key))
    elif key == "/":
        view = session.view(unit)
        query = keys.line("search the tree (name or any form of a word): ")
        if not query:
            return "search cancelled"
        hits = session.search(query, view.question_id)
        if not hits:
            return f"no category matches '{query}'"
        table = Table("#", "subcategory → upper → combining")
        for i, (_, path) in enumerate(hits, 1):
            table.add_row(str(i), " → ".join(p or "–" for p in path))
        console.print(table)
        choice = keys.line("number (Enter cancels): ")
        if not choice or not choice.strip().isdigit() or not 1 <= int(choice) <= len(hits):
            return "search cancelled"
        session.code(unit, hits[int(choice) - 1][0], "search")
    elif key == "n":
        close = session.closest_uncoded(unit)
        for i, (other, text, score) in enumerate(close, 1):
            console.print(f"  [dim]{i}. close ({score:.2f}), uncoded #{other}:[/] {text}", highlight=False)
        name = keys.line("new subcategory name: ")
        if not name or not name.strip():
            return "no new category"
        uppers = session.suggester.suggest_docs([session.analysis(unit)],
                                                [session.view(unit).question_id], level="upper", top=5)[0]
        for i, s in enumerate(uppers, 1):
            console.print(f"  {i}. {s.category} [dim]({s.probability:.2f})[/]", highlight=False)
        answer = keys.line("upper category (number, a new name, or Enter for none): ") or ""
        upper = uppers[int(answer) - 1].category if answer.strip().isdigit() and \
            1 <= int(answer) <= len(uppers) else answer.strip() or None
        together = []
        if close:
            picked = keys.line("code the close units above with it too (their numbers, e.g. 1 3; Enter: none): ") or ""
            together = [close[int(n) - 1][0] for n in picked.replace(",", " ").split()
                        if n.isdigit() and 1 <= int(n) <= len(close)]
        session.new_subcategory(unit, name.strip(), upper, together)
    elif key == "r":
        text = keys.line("reduction: ", prefill=session.draft_reduction(unit))
        if text and text.strip():
            session.pending_reduction = text.strip()
            return "the reduction goes with the next code of this unit"
        return "no reduction"
    elif key == "+":
        session.keep_open = True
        return "the next code keeps this unit open for another one"
    elif key == "s":
        session.skip(unit)
    elif key == "u":
        undone = session.undo()
        return undone if undone is not None else "nothing to undo"
    elif key == "m":
        return merge_or_move(session, unit, console, keys)
    elif key == "?":
        return HELP
    else:
        return f"unknown key {key!r}; ? shows the keys"
    return None
