"""`koodari serve` with Starlette's test client (and two real servers): security, escaping, 404s, blind coders,
the review keys through ReviewSession, and the transcript, tree, agreement and model pages."""

from __future__ import annotations

import re
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from koodari.nlp.pipeline import FinnishPipeline
from koodari.web.app import create_app
from koodari.web.workspace import Workspace
from tests.conftest import fingerprint
from tests.webserver import Server, copy_study, make_study

pytestmark = pytest.mark.slow
BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_study(tmp_path_factory.mktemp("web"))


@pytest.fixture
def study(template, tmp_path) -> Path:
    return copy_study(template, tmp_path / "web.koodari")


@pytest.fixture(scope="module")
def pipeline() -> FinnishPipeline:
    return FinnishPipeline()


@pytest.fixture
def open_client(study, pipeline):
    """open_client(coder, **create_app options) -> a TestClient on a workspace of the study."""
    workspaces = []

    def make(coder: str = "anna", **options) -> TestClient:
        ws = Workspace(study, coder, pipeline)
        workspaces.append(ws)
        return TestClient(create_app(ws, **options), base_url=BASE)

    yield make
    for ws in workspaces:
        ws.close()


def csrf(client: TestClient) -> str:
    page = client.get("/review")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def unit_on(html: str) -> str:
    return re.search(r'id="panel" data-unit="(\w+)"', html).group(1)


def act(client: TestClient, token: str, unit: str | int, action: str, **fields) -> httpx.Response:
    return client.post("/review/act", data={"csrf": token, "unit": str(unit), "action": action, **fields},
                       headers={"HX-Request": "true"})


def rows(study: Path, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(study)
    out = [tuple(r) for r in conn.execute(sql, args)]
    conn.close()
    return out


def codes(study: Path, coder: str = "anna") -> list[tuple]:
    return rows(study, "SELECT r.segment_id, c.name, r.reduction FROM reductions r JOIN categories c ON"
                       " c.id = r.category_id WHERE r.coder = ? AND r.retracted_by IS NULL ORDER BY r.id", coder)


# -- security -----------------------------------------------------------------------------------


def test_every_post_is_refused_without_the_csrf_token(open_client, study):
    client = open_client()
    token = csrf(client)
    unit = unit_on(client.get("/review").text)
    before = fingerprint(study)
    posts = [r.path for r in client.app.routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    assert "/review/act" in posts  # every POST route (tree editing adds its own) is checked below
    for path in posts:
        form = {"unit": unit, "action": "accept", "rank": "1"}
        assert client.post(path, data=form).status_code == 403  # no token at all
        assert client.post(path, data={**form, "csrf": "x" * 32}).status_code == 403  # a wrong one
        assert client.post(path, data=form, headers={"X-CSRF-Token": token[:-1] + "!"}).status_code == 403
        assert client.post(path, data={**form, "csrf": token},  # the right token from another site
                           headers={"Origin": "http://evil.example"}).status_code == 403
        fresh = TestClient(client.app, base_url=BASE)  # a forged form without the cookie
        assert fresh.post(path, data={**form, "csrf": token}).status_code == 403
    assert fingerprint(study) == before  # nothing was recorded
    assert client.post("/review/act", data={"unit": unit, "action": "accept", "rank": "1"},
                       headers={"X-CSRF-Token": token}).status_code in (200, 303)
    assert len(codes(study)) == 1


def test_token_is_required_on_every_request(open_client):
    client = open_client(token="s3cret-token")
    for path in ("/review", "/static/koodari.css", "/static/htmx.min.js", "/tree", "/review?token=wrong"):
        response = client.get(path)
        assert response.status_code == 403 and "Token required" in response.text, path
    response = client.get("/tree?question=&token=s3cret-token", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/tree?question="
    assert "s3cret-token" in response.headers["set-cookie"] and "HttpOnly" in response.headers["set-cookie"]
    assert client.get("/review").status_code == 200  # the cookie carries the token from now on
    assert client.get("/static/koodari.css").status_code == 200


def test_serve_with_host_prints_a_token_and_requires_it(study):
    server = Server(study, "anna", "--host", "127.0.0.2")  # not loopback's 127.0.0.1: a token is needed
    try:
        token = re.search(r"\?token=([\w-]+)", server.url).group(1)
        assert len(token) >= 24
        assert httpx.get(server.base + "/review").status_code == 403
        assert httpx.get(server.base + "/static/htmx.min.js").status_code == 403
        with httpx.Client(base_url=server.base, follow_redirects=True) as browser:
            page = browser.get(f"/review?token={token}")
            assert page.status_code == 200 and 'id="panel"' in page.text
            assert browser.get("/transcript").status_code == 200
    finally:
        output = server.stop()
    assert "Traceback" not in output


def test_two_servers_on_one_study_and_kill_9_loses_nothing(study):
    anna, ben = Server(study, "anna"), Server(study, "ben")  # two coders, two servers, one study file
    try:
        assert "token" not in anna.url
        assert httpx.get(anna.url, headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding
        with httpx.Client(base_url=anna.base) as a, httpx.Client(base_url=ben.base) as b:
            page_a, page_b = a.get("/review").text, b.get("/review").text
            first = unit_on(page_a)
            assert unit_on(page_b) == first
            token_a = re.search(r'name="csrf" value="([^"]+)"', page_a).group(1)
            token_b = re.search(r'name="csrf" value="([^"]+)"', page_b).group(1)
            second = unit_on(act(a, token_a, first, "accept", rank="1").text)
            assert unit_on(b.get("/review").text) == first  # blind: ben's queue is his own
            act(b, token_b, first, "pick", rank="2")
        anna.proc.kill()  # kill -9 right after the decision
        anna.proc.wait()
        assert [c[0] for c in codes(study, "anna")] == [int(first)]
        assert [c[0] for c in codes(study, "ben")] == [int(first)]
        anna = Server(study, "anna")
        assert unit_on(httpx.get(anna.url).text) == second  # resumes at the first uncoded unit
    finally:
        outputs = anna.stop() + ben.stop()
    assert "Traceback" not in outputs


def test_user_text_is_escaped(open_client, study):
    client = open_client()
    token = csrf(client)
    unit = unit_on(client.get("/review").text)
    script = "<script>alert('x')</script>"
    panel = act(client, token, unit, "reduction", text=script).text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in panel and script not in panel
    assert script not in client.get("/review").text
    act(client, token, unit, "accept", rank="1")
    assert codes(study)[0][2] == script  # stored as written, shown as text
    second = unit_on(client.get("/review").text)
    act(client, token, second, "new", name="<img src=x onerror=alert(1)>", upper_other="<b>bold</b>")
    for path in ("/tree", "/transcript", "/review?unit=" + str(second)):
        page = client.get(path).text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page, path
        assert "<b>bold</b>" not in page
    category = rows(study, "SELECT category_id FROM reductions WHERE reduction = ?", script)[0][0]
    quotes = client.get(f"/tree/quotes?category={category}").text
    assert "&lt;script&gt;" in quotes and script not in quotes
    csp = client.get("/review").headers["content-security-policy"]
    assert "script-src 'self'" in csp  # and no inline script could run anyway


def test_unknown_unit_category_or_page_is_a_404_page(open_client, study):
    client = open_client()
    token = csrf(client)
    before = fingerprint(study)
    for path in ("/review?unit=99999", "/review?unit=abc", "/review?unit=1", "/tree/quotes?category=99999",
                 "/tree/quotes?category=", "/transcript?document=99", "/transcript?category=99999",
                 "/tree?question=T99", "/review/search?unit=99999&q=kiire", "/review/new?unit=99999",
                 "/review/reduction?unit=x", "/no/such/page", "/agreement?reveal=1&level=nope"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.text and "Traceback" not in response.text, path
    unit = unit_on(client.get("/review").text)
    for form in ({"unit": "99999", "action": "accept"}, {"unit": unit, "action": "search", "category": "99999"},
                 {"unit": unit, "action": "explode"}):
        response = client.post("/review/act", data={"csrf": token, **form})
        assert response.status_code == 404 and "Traceback" not in response.text
    assert fingerprint(study) == before


def test_an_unexpected_error_is_a_page_not_a_traceback(open_client, study, monkeypatch):
    client = open_client()
    ws = client.app.state.workspace

    def broken() -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ws, "models", broken)
    response = client.get("/model")
    assert response.status_code == 500 and "Every decision made so far is saved" in response.text
    assert "Traceback" not in response.text and "disk on fire" not in response.text
    assert client.get("/review").status_code == 200  # the server goes on


# -- the review keys, through ReviewSession -----------------------------------------------------------


def test_keys_plus_skip_new_reduction_search_and_undo(open_client, study):
    client = open_client()
    token = csrf(client)
    page = client.get("/review").text
    assert 'id="coded">0/5' in page and "Enter" in page and "keep the unit open" in page  # progress, keys
    first = unit_on(page)
    wrong = act(client, token, first, "pick", rank="99").text  # a number with no suggestion: a message
    assert unit_on(wrong) == first and re.search(r'class="message error"[^>]*>no suggestion number 99', wrong)
    assert "keeps this unit open" in act(client, token, first, "plus").text  # +
    panel = act(client, token, first, "accept", rank="1").text  # Enter: the unit stays open
    assert unit_on(panel) == first and "stays open for another code" in panel
    second = unit_on(act(client, token, first, "pick", rank="2").text)  # 2: second code, then the next unit
    assert second != first and [c[0] for c in codes(study)] == [int(first), int(first)]
    third = unit_on(act(client, token, second, "skip").text)  # s
    assert third != second
    uppers = client.get(f"/review/new?unit={third}").text  # n: upper categories suggested
    assert "työn kuormitus" in uppers
    close = [int(u) for u in re.findall(r"uncoded #(\d+):</span>", uppers)]  # n: the closest uncoded units first
    assert close and int(third) not in close and not {u for u, *_ in codes(study)} & set(close)
    fourth = unit_on(act(client, token, third, "new", name="kiireen tunne", upper="työn kuormitus").text)
    assert codes(study)[-1][:2] == (int(third), "kiireen tunne")
    hits = client.get(f"/review/search?unit={fourth}&q=työkavereilta").text  # /: by an inflected form
    category = re.search(r'name="category" value="(\d+)"', hits).group(1)
    assert "työkavereiden tuki" in hits
    participant3 = rows(study, "SELECT id FROM segments WHERE speaker = 'P3'")[0][0]
    draft = client.get(f"/review/reduction?unit={participant3}").text  # r: a draft without fillers
    assert "motivointi" in draft and "tuota" not in draft.lower()
    act(client, token, fourth, "reduction", text="työkaverit tukevat")
    act(client, token, fourth, "search", category=category)
    assert codes(study)[-1] == (int(fourth), "työkavereiden tuki", "työkaverit tukevat")
    undone = act(client, token, fourth, "undo").text  # u: back to the unit, the coding retracted
    assert unit_on(undone) == fourth and codes(study)[-1][0] == int(third)
    progress = re.search(r'id="coded">(\d+)/5', client.get("/review").text).group(1)
    assert progress == "2"
    actions = [r[0] for r in rows(study, "SELECT action FROM decisions WHERE coder = 'anna' ORDER BY id")]
    assert actions == ["accept", "pick", "skip", "new", "search", "undo"]


def test_new_subcategory_codes_the_close_units_the_coder_ticks(open_client, study):
    """n: the close uncoded units are listed with a box each; those ticked are coded with the new subcategory
    too, each its own decision (u undoes the last of them first)."""
    client = open_client()
    token = csrf(client)
    unit = unit_on(client.get("/review").text)
    dialog = client.get(f"/review/new?unit={unit}").text
    close = [int(u) for u in re.findall(r'name="together_(\d+)"', dialog)]
    assert len(close) >= 2
    act(client, token, unit, "new", name="kiireen tunne", upper="työn kuormitus", **{f"together_{close[1]}": "1"})
    assert [(u, name) for u, name, _ in codes(study)] == [(int(unit), "kiireen tunne"), (close[1], "kiireen tunne")]
    assert rows(study, "SELECT segment_id, action FROM decisions WHERE coder = 'anna' ORDER BY id") == [
        (int(unit), "new"), (close[1], "new")]
    act(client, token, unit, "undo")
    assert [u for u, *_ in codes(study)] == [int(unit)]


def test_plain_form_posts_work_without_javascript(open_client, study):
    client = open_client()
    token = csrf(client)
    first = unit_on(client.get("/review").text)
    response = client.post("/review/act", data={"csrf": token, "unit": first, "action": "accept", "rank": "1"},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/review"
    assert unit_on(client.get("/review").text) != first and len(codes(study)) == 1


def test_recode_from_the_transcript_replaces_the_code(open_client, study):
    client = open_client()
    token = csrf(client)
    first = unit_on(client.get("/review").text)
    act(client, token, first, "accept", rank="1")
    old = codes(study)[0][1]
    transcript = client.get("/transcript").text
    assert f'href="/review?unit={first}&amp;recode=1"' in transcript
    page = client.get(f"/review?unit={first}&recode=1").text
    assert unit_on(page) == first and "recoding" in page
    act(client, token, first, "pick", rank="2")
    assert len(codes(study)) == 1 and codes(study)[0][1] != old  # replaced, and the old one kept as retracted
    assert rows(study, "SELECT count(*) FROM reductions WHERE retracted_by IS NOT NULL") == [(1,)]


def test_two_coders_work_blind_on_one_study(open_client, study):
    anna, ben = open_client("anna"), open_client("ben")
    anna_token, ben_token = csrf(anna), csrf(ben)
    first = unit_on(anna.get("/review").text)
    assert unit_on(ben.get("/review").text) == first
    second = unit_on(act(anna, anna_token, first, "accept", rank="1").text)
    assert unit_on(ben.get("/review").text) == first  # ben's queue is his own
    act(ben, ben_token, first, "pick", rank="2")
    act(anna, anna_token, second, "accept", rank="1")
    assert [c[0] for c in codes(study, "anna")] == [int(first), int(second)]
    assert [c[0] for c in codes(study, "ben")] == [int(first)]
    for path in ("/transcript", f"/review?unit={first}", "/tree/quotes?category="
                 + str(rows(study, "SELECT category_id FROM reductions WHERE coder = 'anna'")[0][0])):
        page = ben.get(path).text
        assert "coder: anna" not in page and "anna" not in page.replace("coder <b>ben</b>", ""), path
    assert "coder: anna" in anna.get("/transcript").text
    notice = ben.get("/agreement").text  # agreement shows others' codes only when asked
    assert "finish your review first" in notice and "Krippendorff" not in notice


# -- transcript, tree, agreement, model ---------------------------------------------------------------


def test_transcript_filters(open_client, study):
    client = open_client()
    token = csrf(client)
    first = unit_on(client.get("/review").text)
    act(client, token, first, "accept", rank="1")
    page = client.get("/transcript").text
    coded = re.search(rf'<a class="unit coded" id="u{first}"[^>]*>', page).group(0)
    assert "background-color: #" in coded and "code: " in coded and "coder: anna" in coded and "model v" in coded
    filtered = client.get("/transcript?speaker=P2").text
    p1 = re.findall(r'<p class="turn( filtered)?"><span class="spk">P1:', filtered)
    p2 = re.findall(r'<p class="turn( filtered)?"><span class="spk">P2:', filtered)
    assert p1 and all(p1) and p2 and not any(p2)
    category = rows(study, "SELECT category_id FROM reductions WHERE coder = 'anna'")[0][0]
    by_code = client.get(f"/transcript?category={category}").text
    assert re.search(rf'<p class="turn"><span class="spk">\w+:</span>\s*<a class="unit coded" id="u{first}"', by_code)
    assert len(re.findall(r'<p class="turn">', by_code)) == 1


def test_tree_page_with_quotes_on_demand(open_client, study):
    client = open_client()
    page = client.get("/tree").text
    assert "T1:" in page and "työn kuormitus" in page and 'data-hook="tree-editing"' in page
    row = re.search(r'<tr data-category="(\d+)"[^>]*>\s*<td><a class="cat"[^>]*>kiire</a></td>(.*?)</tr>', page, re.S)
    assert re.findall(r'class="n">(\d+)</td>', row.group(2)) == ["1", "0"]  # reductions, speakers
    quotes = client.get(f"/tree/quotes?category={row.group(1)}").text
    assert "kiire kuormittaa" in quotes
    assert "työn kuormitus" in client.get("/tree?question=T1").text


def test_agreement_and_model_pages_draw_svg(open_client, study, pipeline):
    anna, ben = open_client("anna"), open_client("ben")
    anna_token, ben_token = csrf(anna), csrf(ben)
    for i in range(4):
        unit = unit_on(anna.get("/review").text)
        act(anna, anna_token, unit, "accept", rank="1")
        act(ben, ben_token, unit, "accept" if i % 2 else "pick", rank="1" if i % 2 else "2")
    page = anna.get("/agreement?reveal=1&coder=anna&coder=ben&level=sub").text
    assert "Krippendorff" in page and "Cohen" in page and "α 95% CI" in page
    assert re.search(r"<th>sub</th>\s*<td>4</td>\s*<td>50.0 %</td>", page)
    assert '<svg class="chart bars"' in page and len(re.findall(r'<g class="bar">', page)) >= 2
    heat = page[page.index('<svg class="chart heat"'):]
    assert sum(int(n) for n in re.findall(r'<g class="cell[^"]*">.*?<text[^>]*>(\d+)</text>', heat, re.S)) == 4
    from koodari.store import Study
    from koodari.suggest import train

    with Study.open(study) as s:
        train(s, pipeline, evaluate_folds=2)
        train(s, pipeline, evaluate_folds=2)
    model = anna.get("/model").text
    assert '<svg class="chart lines"' in model and "<polyline" in model and "top-1" in model


# -- the command line ---------------------------------------------------------------------------------------


def test_serve_refuses_a_bad_study_or_a_busy_port(cli, tmp_path, study):
    result = cli("serve", tmp_path / "missing.koodari")
    assert result.exit_code == 1 and "no such study file" in result.output and "Traceback" not in result.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        result = cli("serve", study, "--coder", "anna", "--port", str(busy.getsockname()[1]))
    assert result.exit_code == 1 and "choose another --port" in result.output
