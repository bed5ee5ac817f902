"""The web app's guards, as ASGI middleware: an access token (when listening beyond loopback), CSRF on every
state-changing request, and an error page instead of a traceback."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSRF_COOKIE = "koodari_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def needs_token(host: str) -> bool:
    """Listening anywhere but loopback requires the access token."""
    return host not in LOOPBACK


def page(status: int, title: str, message: str) -> HTMLResponse:
    """A minimal page for refusals that happen before the templates (no user text in it but escaped)."""
    body = (f"<!doctype html><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")
    return HTMLResponse(body, status_code=status)


class TokenMiddleware:
    """Every request needs the token: `?token=` once (then a cookie, and a redirect to the same address
    without it), or the cookie."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token
        self.cookie = "koodari_token_" + hashlib.sha256(token.encode()).hexdigest()[:8]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token")
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            url = URL(scope=scope).replace(query=urlencode(rest))
            response: Response = RedirectResponse(url.path + (f"?{url.query}" if url.query else ""), 303)
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="lax")  # lax: a link opens it
            await response(scope, receive, send)
            return
        cookie = request.cookies.get(self.cookie, "")
        if not hmac.compare_digest(cookie.encode(), self.token.encode()):
            await page(403, "Token required", "Open the address koodari printed when it started "
                       "(it ends with ?token=…).")(scope, receive, send)
            return
        await self.app(scope, receive, send)


class CSRFMiddleware:
    """Double-submit CSRF protection: a random cookie, echoed by every state-changing request in the
    `X-CSRF-Token` header or the `csrf` form field; a cross-origin `Origin` is refused as well.

    The token is put on ``request.state.csrf`` for the templates."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = cookie is None or len(cookie) < 20
        token = new_token() if fresh else cookie
        scope.setdefault("state", {})["csrf"] = token
        if scope["method"] not in SAFE_METHODS:
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            if fresh or not self._valid(request, token, body):
                await page(403, "Refused", "This request did not carry the page's security token (CSRF). "
                           "Reload the page and try again.")(scope, receive, send)
                return
            sent = False

            async def replay() -> dict:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            receive = replay

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if fresh:
                    headers.append((b"set-cookie", f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                                    .encode()))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    @staticmethod
    def _valid(request: Request, token: str, body: bytes) -> bool:
        origin = request.headers.get("origin")
        if origin and origin != "null":
            host = request.headers.get("host", "")
            if origin.split("://", 1)[-1] != host:
                return False
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            given = (parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD) or [None])[0]
        return given is not None and hmac.compare_digest(given.encode(), token.encode())


class ErrorPageMiddleware:
    """An unexpected error becomes a plain page ("every decision made so far is saved") and one line on the
    server's terminal, never a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # the last resort: the researcher sees a page, not a traceback
            print(f"koodari serve: error on {scope.get('path')}: {type(exc).__name__}: {exc}", file=sys.stderr)
            if not started:
                await page(500, "Something went wrong",
                           "Every decision made so far is saved. Reload the page to go on.")(scope, receive, send)
