"""The Starlette application of `koodari serve`: pages rendered with Jinja2 (autoescaped), htmx for the review keys.

The study path and the coder are fixed when the app is made; no request names a file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from koodari import __version__
from koodari.errors import KoodariError
from koodari.review_tui import HELP
from koodari.treeops import TreeChangeConflict
from koodari.web import treeedit
from koodari.web.security import CSRFMiddleware, ErrorPageMiddleware, TokenMiddleware
from koodari.web.workspace import NotFound, Workspace

HERE = Path(__file__).resolve().parent
KEYS_HELP = [
    ("Enter", "accept suggestion 1"), ("1–9", "pick a suggestion"), ("/", "search the tree"),
    ("n", "new subcategory"), ("r", "write a reduction for this unit"), ("+", "keep the unit open for another code"),
    ("s", "skip"), ("u", "undo the last decision"), ("?", "this help"), ("Esc", "close a dialog"),
]


def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["path"] = lambda path: " → ".join(p or "–" for p in path)
    env.filters["pct"] = lambda v: f"{v:.0%}" if isinstance(v, int | float) else "–"
    env.filters["num"] = lambda v, d=3: f"{v:.{d}f}" if isinstance(v, int | float) else "–"
    return env


def create_app(workspace: Workspace, token: str | None = None, allowed_hosts: list[str] | None = None) -> Starlette:
    """The app for one workspace. ``token``: required on every request; ``allowed_hosts``: Host headers accepted
    (loopback names when listening on loopback, against DNS rebinding)."""
    env = templates()
    ws = workspace

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.update(request=request, csrf=request.state.csrf, study=ws.path.name, coder=ws.coder,
                       app_version=__version__, nav=name.split(".")[0])
        return HTMLResponse(env.get_template(name).render(**context), status_code=status)

    async def prefetch() -> None:  # after the response is sent, on the event loop: never beside a request
        ws.prefetch()

    def panel(request: Request, screen, started: float | None = None) -> HTMLResponse:
        response = render(request, "panel.html", **ws.panel(screen), keys=KEYS_HELP)
        if started is not None:
            response.headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        response.background = BackgroundTask(prefetch)
        return response

    async def index(request: Request) -> Response:
        return RedirectResponse("/review", 303)

    async def review(request: Request) -> Response:
        unit, recode = request.query_params.get("unit"), request.query_params.get("recode") == "1"
        screen = ws.screen(ws.unit(unit) if unit is not None else None, recode=recode)
        response = render(request, "review.html", **ws.panel(screen), keys=KEYS_HELP, help_text=HELP)
        response.background = BackgroundTask(prefetch)
        return response

    async def act(request: Request) -> Response:
        started = time.perf_counter()
        form = {k: str(v) for k, v in (await request.form()).items()}
        action = form.get("action", "")
        unit = None if action == "undo" and not form.get("unit") else ws.unit(form.get("unit"))
        screen = ws.act(unit, action, form)
        if request.headers.get("hx-request"):
            return panel(request, screen, started)
        ws.flash = screen.message
        return RedirectResponse("/review", 303)

    async def search_form(request: Request) -> Response:
        return render(request, "search.html", unit=ws.unit(request.query_params.get("unit")))

    async def search(request: Request) -> Response:
        unit = ws.unit(request.query_params.get("unit"))
        query = request.query_params.get("q", "")
        hits = ws.session.search(query, ws.session.view(unit).question_id) if query.strip() else []
        return render(request, "hits.html", unit=unit, hits=hits, query=query)

    async def new_form(request: Request) -> Response:
        unit = ws.unit(request.query_params.get("unit"))
        return render(request, "new.html", unit=unit, uppers=ws.uppers(unit), close=ws.session.closest_uncoded(unit))

    async def reduction_form(request: Request) -> Response:
        unit = ws.unit(request.query_params.get("unit"))
        draft = ws.session.pending_reduction or ws.session.draft_reduction(unit)
        return render(request, "reduction.html", unit=unit, draft=draft)

    async def transcript(request: Request) -> Response:
        q = request.query_params
        data = ws.transcript(q.get("document"), q.get("speaker", ""), q.get("theme", ""), q.get("category"))
        return render(request, "transcript.html", **data)

    def tree_page(request: Request, question: str | None, edit: Any, status: int = 200, **extra: Any) -> Response:
        try:
            tables = ws.tree(question)
        except KoodariError:
            raise NotFound(f"no research question {question!s:.40}") from None
        return render(request, "tree.html", status, tables=tables, questions=ws.study.questions(), question=question,
                      **treeedit.context(ws, edit), **extra)

    async def tree(request: Request) -> Response:
        message, ws.tree_flash = ws.tree_flash, ""
        return tree_page(request, request.query_params.get("question") or None, request.query_params.get("edit"),
                         tree_message=message)

    async def tree_change(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        question = form.get("question") or None
        try:
            ws.tree_flash = treeedit.change(ws, form)
        except KoodariError as exc:  # a broken rule or a conflict: one line on the page, the study unchanged
            return tree_page(request, question, form.get("category"), 409 if isinstance(exc, TreeChangeConflict)
                             else 400, tree_message=exc.message, tree_error=True)
        return RedirectResponse("/tree?" + urlencode({"question": question or ""}), 303)

    async def quotes(request: Request) -> Response:
        path, rows = ws.quotes(request.query_params.get("category"))
        return render(request, "quotes.html", path=path, quotes=rows)

    async def agreement_page(request: Request) -> Response:
        q = request.query_params
        coders = [c for c in q.getlist("coder") if c]
        context: dict[str, Any] = {"all_coders": ws.coders(), "chosen": coders, "reveal": q.get("reveal") == "1",
                                   "level": q.get("level", "sub"), "a": q.get("a"), "b": q.get("b")}
        if context["reveal"]:
            context.update(ws.agreement(coders, context["level"], q.get("a"), q.get("b")))
        return render(request, "agreement.html", **context)

    async def model_page(request: Request) -> Response:
        return render(request, "model.html", **ws.models())

    async def not_found(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", 404, title="Not found", message=str(exc) if isinstance(exc, NotFound)
                      else f"nothing at {request.url.path}")

    async def bad_request(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 404:
            return await not_found(request, exc)
        status = exc.status_code if isinstance(exc, HTTPException) else 400
        return render(request, "error.html", status, title="Cannot do that", message=str(getattr(exc, "detail", exc)))

    routes = [
        Route("/", index),
        Route("/review", review),
        Route("/review/act", act, methods=["POST"]),
        Route("/review/search-form", search_form),
        Route("/review/search", search),
        Route("/review/new", new_form),
        Route("/review/reduction", reduction_form),
        Route("/transcript", transcript),
        Route("/tree", tree),
        Route("/tree/quotes", quotes),
        Route("/tree/change", tree_change, methods=["POST"]),
        Route("/agreement", agreement_page),
        Route("/model", model_page),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(ErrorPageMiddleware)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    if token:
        middleware.append(Middleware(TokenMiddleware, token=token))
    middleware.append(Middleware(CSRFMiddleware))
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={NotFound: not_found, HTTPException: bad_request, KoodariError: bad_request})
    app.state.workspace = ws
    return app
