"""What the web pages show, and the review flow behind them: one study and one coder, fixed at start.

Every decision goes through ``ReviewSession`` (the same rules as `koodari review`); this module only keeps
the flow between decisions that the terminal keeps in its loop (which unit is on screen, a message).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from koodari import app as actions
from koodari.errors import KoodariError
from koodari.nlp.pipeline import FinnishPipeline
from koodari.review import CODING_ACTIONS, ReviewSession
from koodari.store import LEVELS, Study
from koodari.web import charts

ACTIONS = ("accept", "pick", "search", "new", "reduction", "plus", "skip", "undo")


class NotFound(Exception):
    """A unit, category or document that the study does not have (a 404 page)."""


@dataclass
class Screen:
    """The review panel: a unit with its suggestions, or the end of the queue."""

    unit: int | None
    message: str = ""
    error: bool = False
    recoding: bool = False


@dataclass
class Workspace:
    """The study file and the coder's review session of one `koodari serve`."""

    path: Path
    coder: str
    pipeline: FinnishPipeline | None = None
    retrain_every: int = 20
    study: Study = field(init=False)
    session: ReviewSession = field(init=False)

    def __post_init__(self) -> None:
        self.study = actions.open_study(self.path)
        try:
            self.session = actions.review_session(self.study, self.coder, retrain_every=self.retrain_every,
                                                  nlp=self.pipeline)
        except BaseException:
            self.study.close()
            raise
        self.current: int | None = None
        self.pinned = False  # the current unit stays on screen although coded (+, undo, recoding)
        self.recoding = False
        self.flash = ""
        self.tree_flash = ""  # the Tree page's message after a change
        self.tree_seen = self.study.last_tree_event_id()  # a tree change since: suggestions from the new tree

    def close(self) -> None:
        self.study.close()

    # -- lookups (a missing one is a 404) ------------------------------------------------------

    def unit(self, unit_id: Any) -> int:
        """A unit the review may code (a participant's unit of this study)."""
        try:
            seg = self.study.segment(int(unit_id))
        except (KoodariError, TypeError, ValueError):
            raise NotFound(f"no unit {unit_id!s:.40}") from None
        if seg.is_interviewer:
            raise NotFound(f"unit {seg.id} is the interviewer's turn, not an analysis unit")
        return int(seg.id)

    def category(self, category_id: Any) -> int:
        try:
            return self.study.category(int(category_id)).id
        except (KoodariError, TypeError, ValueError):
            raise NotFound(f"no category {category_id!s:.40}") from None

    def document(self, document_id: Any) -> Any:
        try:
            row = self.study.document(int(document_id))
        except (TypeError, ValueError):
            row = None
        if row is None:
            raise NotFound(f"no document {document_id!s:.40}")
        return row

    # -- the review flow -----------------------------------------------------------------------

    def screen(self, unit: int | None = None, recode: bool = False) -> Screen:
        """What the review page shows now: a unit asked for, the pinned one, or the next in the queue."""
        if unit is not None:
            self.current, self.pinned = unit, True
            self.recoding = recode and bool(self.session.view(unit).codes)
        elif self.current is None or not (self.pinned or self.current in self.session.uncoded()):
            self.current, self.pinned, self.recoding = self.session.next_unit(), False, False
        message, self.flash = self.flash, ""
        return Screen(self.current, message, recoding=self.recoding)

    def act(self, unit: int | None, action: str, form: dict[str, str]) -> Screen:
        """Apply one key (or click) to a unit, as `koodari review` does; returns the next screen.
        Only undo may come without a unit (after the last one)."""
        if action not in ACTIONS or (unit is None and action != "undo"):
            raise NotFound(f"no action {action!s:.40}")
        session = self.session
        self.current = unit
        try:
            if action in CODING_ACTIONS:
                with self.study.transaction():
                    if self.recoding:
                        session.retract(unit)  # recoding replaces this coder's codes of the unit
                    self._code(unit, action, form)
                if session.keep_open:
                    session.keep_open = False
                    self.pinned = True
                    self.recoding = False
                    return self._say("coded; the unit stays open for another code (s: next unit)")
                self.current, self.pinned, self.recoding = session.next_unit(), False, False
            elif action == "reduction":
                text = form.get("text", "").strip()
                session.pending_reduction = text or None
                self.pinned = True
                return self._say("the reduction goes with the next code of this unit" if text else "no reduction")
            elif action == "plus":
                session.keep_open = True
                self.pinned = True
                return self._say("the next code keeps this unit open for another one")
            elif action == "skip":
                session.skip(unit)
                self.current, self.pinned, self.recoding = session.next_unit(), False, False
            elif action == "undo":
                undone = session.undo()
                if undone is None:
                    self.pinned = True
                    return self._say("nothing to undo")
                self.current, self.pinned, self.recoding = undone, True, False
        except KoodariError as exc:
            self.pinned = True
            return Screen(unit, str(exc), error=True, recoding=self.recoding)
        return Screen(self.current)

    def _code(self, unit: int, action: str, form: dict[str, str]) -> None:
        if action in ("accept", "pick"):
            rank = form.get("rank", "1")
            if not rank.isdigit():
                raise KoodariError(f"no suggestion number {rank[:20]}")
            self.session.accept(unit, int(rank))
        elif action == "search":
            self.session.code(unit, self.category(form.get("category")), "search")
        elif action == "new":
            name = form.get("name", "").strip()
            if not name:
                raise KoodariError("no new category: give the subcategory a name")
            upper = form.get("upper_other", "").strip() or form.get("upper", "").strip() or None
            together = [int(key.removeprefix("together_")) for key, value in form.items()
                        if key.startswith("together_") and key.removeprefix("together_").isdigit() and value]
            self.session.new_subcategory(unit, name, upper, together)

    def _say(self, message: str) -> Screen:
        return Screen(self.current, message, recoding=self.recoding)

    def panel(self, screen: Screen) -> dict[str, Any]:
        """The template context of the review panel."""
        session = self.session
        if self.study.last_tree_event_id() != self.tree_seen:  # changed on the Tree page or by another coder
            self.tree_seen = self.study.last_tree_event_id()
            session.tree_changed()
        progress = session.progress()
        context: dict[str, Any] = {"screen": screen, "progress": progress, "version": session.suggester.version,
                                   "coder": session.coder, "pending": session.pending_reduction,
                                   "keep_open": session.keep_open}
        if screen.unit is not None:
            context["view"] = session.view(screen.unit)
            context["suggestions"] = session.suggestions(screen.unit)
        return context

    def prefetch(self) -> None:
        """Compute the suggestions of the unit after the one on screen while the coder reads (ReviewSession
        caches them), so that the next key shows the next unit at once."""
        if self.current is None:
            return
        upcoming = [u for u in self.session.uncoded() if u != self.current and u not in self.session.skipped]
        if upcoming and self.session.order == "document":
            self.session.suggestions(upcoming[0])

    def warm(self) -> None:
        """Before the address is printed: the first unit's page, and the next unit's suggestions."""
        self.panel(self.screen())
        self.prefetch()

    def uppers(self, unit: int) -> list:
        """Upper categories suggested for a new subcategory of this unit."""
        suggester = self.session.suggester
        return suggester.suggest_docs([self.session.analysis(unit)], [self.session.view(unit).question_id],
                                      level="upper", top=5)[0]

    # -- transcript ------------------------------------------------------------------------------

    def transcript(self, document: Any, speaker: str, theme: str, category: Any) -> dict[str, Any]:
        docs = self.study.documents()
        if not docs:
            return {"documents": [], "document": None}
        doc = self.document(document) if document not in (None, "") else docs[0]
        wanted = self.category(category) if category not in (None, "") else None
        tree = actions.tree_as_of(self.study, None)[1]
        codes: dict[int, list[dict]] = {}
        for row in self.study.document_codings(doc.id, self.coder):
            cid = row.category_id
            codes.setdefault(row.segment_id, []).append({
                "category_id": cid, "path": " → ".join(p or "–" for p in tree.path(cid)), "coder": row.coder,
                "version": row.model_version_id, "colour": charts.colour(tree.ancestor(cid, "upper") or cid),
                "ids": {cid, *(tree.ancestor(cid, lv) for lv in LEVELS)}})
        segments = self.study.segments(doc.id)
        turns = []
        for seg in segments:
            coded = codes.get(seg.id, [])
            shown = ((not speaker or seg.speaker == speaker) and (not theme or seg.theme == theme)
                     and (wanted is None or any(wanted in c["ids"] for c in coded)))
            turns.append({"seg": seg, "codes": coded, "shown": shown})
        used = sorted({c["category_id"] for cs in codes.values() for c in cs},
                      key=lambda c: [p or "" for p in tree.path(c)])
        return {
            "documents": docs, "document": doc, "turns": turns,
            "speakers": sorted({s.speaker for s in segments if s.speaker}),
            "themes": list(dict.fromkeys(s.theme for s in segments if s.theme)),
            "categories": [(c, " → ".join(p or "–" for p in tree.path(c)),
                            charts.colour(tree.ancestor(c, "upper") or c)) for c in used],
            "filters": {"speaker": speaker, "theme": theme, "category": wanted},
        }

    # -- tree ------------------------------------------------------------------------------------

    def tree(self, question: str | None) -> list[dict[str, Any]]:
        tables: list[dict[str, Any]] = []
        for row in actions.tree(self.study, question or None).rows:
            if not tables or tables[-1]["code"] != row.question:
                tables.append({"code": row.question, "text": row.question_text, "rows": []})
            combining = self.study.category(row.upper_id).parent_id if row.upper_id is not None else None
            tables[-1]["rows"].append({"row": row, "category_id": row.sub_id or row.upper_id,
                                       "sub_id": row.sub_id, "upper_id": row.upper_id, "combining_id": combining})
        return tables

    def quotes(self, category: Any) -> tuple[list[str | None], list]:
        cid = self.category(category)
        return self.study.path_of(cid), self.study.category_quotes(cid, self.coder)

    # -- agreement and model ---------------------------------------------------------------------

    def coders(self) -> list[str]:
        return self.study.active_coders()

    def agreement(self, coders: list[str], level: str, a: str | None, b: str | None) -> dict[str, Any]:
        if level not in LEVELS:
            raise NotFound(f"no level {level!s:.20}")
        levels = actions.agreement_by_level(self.study, coders or None)
        result = levels[level]
        out: dict[str, Any] = {"levels": levels, "level": level, "result": result}
        if "error" in result:
            return out
        out["bars"] = charts.bar_chart([(" → ".join(p for p in row["path"] if p), row["agreement"], row["uses"])
                                        for row in result["per_category"]])
        pair = [c for c in (a, b) if c] if a and b and a != b else result["coders"][:2]
        if len(pair) == 2 and all(c in result["coders"] for c in pair):
            out["pair"] = pair
            out["heat"] = charts.heat_map(actions.code_pairs(self.study, pair, level), pair[0], pair[1])
        return out

    def models(self) -> dict[str, Any]:
        versions = []
        for record in self.study.model_versions():
            versions.append({"version": record.id, "created_at": record.created_at, "kind": record.kind,
                             "examples": record.training.get("examples"), "metrics": record.metrics})
        series: dict[str, list[float | None]] = {
            "top-1": [v["metrics"].get("top1") for v in versions],
            "top-3": [v["metrics"].get("top3") for v in versions],
            "κ": [v["metrics"].get("kappa") for v in versions],
        }
        coders = Counter(c for v in versions for c in v["metrics"].get("agreement_with_coders", {}))
        for coder in sorted(coders):
            series[f"κ vs {coder}"] = [v["metrics"].get("agreement_with_coders", {}).get(coder, {}).get("kappa")
                                       for v in versions]
        chart = charts.line_chart([(f"v{v['version']}", v["created_at"][5:16].replace("T", " ")) for v in versions],
                                  series) if versions else None
        return {"versions": versions, "chart": chart, "current": self.session.suggester.version}
