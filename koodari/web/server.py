"""`koodari serve`: open the study, bind the port, print the address, run uvicorn until Ctrl-C."""

from __future__ import annotations

import getpass
import socket
import sys
import threading
import webbrowser
from pathlib import Path

from koodari.errors import KoodariError
from koodari.store import check_study_file
from koodari.web.app import create_app
from koodari.web.security import needs_token, new_token
from koodari.web.workspace import Workspace


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed (a port in use is a one-line error)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise KoodariError(f"cannot listen on {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise KoodariError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(study: Path, coder: str, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False,
          retrain_every: int = 20) -> None:
    import uvicorn  # only `serve` needs the server

    path = study.resolve()
    check_study_file(path)  # the study is fixed here, once; no request names a file
    coder = coder.strip() or getpass.getuser()
    sock = bind(host, port)
    try:
        print(f"koodari: loading {path.name} for coder {coder} (models and suggestions)…", flush=True)
        workspace = Workspace(path, coder, retrain_every=retrain_every)
        workspace.warm()
        token = new_token() if needs_token(host) else None
        allowed = ["127.0.0.1", "localhost"] if host in ("127.0.0.1", "localhost") else None  # DNS rebinding
        app = create_app(workspace, token=token, allowed_hosts=allowed)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}/review" + (f"?token={token}" if token else "")
        print(f"koodari serves {path.name} for coder {coder} at {url}", flush=True)
        if token:
            print("every request needs this token (open the address above once; a cookie keeps it)", flush=True)
        print("Ctrl-C stops the server; every decision is saved as it is made.", flush=True)
        if open_browser:
            threading.Timer(0.5, webbrowser.open, args=(url,)).start()
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        server.run(sockets=[sock])
    finally:
        sock.close()
    workspace.close()
    print("koodari: stopped; every decision is saved.", file=sys.stderr, flush=True)
