"""The Tree page of `koodari serve` changes the tree (rename, merge, move, split, retire, undo) through
koodari.treeops, with Starlette's test client; each change is checked with `koodari tree` / `koodari history`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from koodari.nlp.pipeline import FinnishPipeline
from koodari.store import Study
from koodari.web.app import create_app
from koodari.web.workspace import Workspace
from tests.conftest import fingerprint
from tests.webserver import copy_study, make_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_study(tmp_path_factory.mktemp("web-tree"))


@pytest.fixture(scope="module")
def pipeline() -> FinnishPipeline:
    return FinnishPipeline()


@pytest.fixture
def study(template, tmp_path) -> Path:
    return copy_study(template, tmp_path / "web.koodari")


@pytest.fixture
def client(study, pipeline):
    ws = Workspace(study, "anna", pipeline)
    yield TestClient(create_app(ws), base_url="http://127.0.0.1")
    ws.close()


def category(study: Path, name: str) -> int:
    with Study.open(study) as s:
        return next(c.id for c in s.categories() if c.name == name)


def change(client: TestClient, action: str, **fields) -> httpx.Response:
    page = client.get("/tree", params={"edit": fields.get("category", "")}).text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    seen = re.search(r'name="seen" value="(\d+)"', page).group(1)
    return client.post("/tree/change", data={"csrf": token, "seen": seen, "action": action,
                                             **{k: str(v) for k, v in fields.items()}})


def tree_csv(cli, study: Path) -> list[list[str]]:
    result = cli("tree", study, "--format", "csv")
    assert result.exit_code == 0, result.output
    return [line.split(",")[1:4] for line in result.output.splitlines()[1:]]


def message(page: str) -> str:
    return re.search(r'id="tree-message">(.*?)</p>', page, re.S).group(1)


def suggested(client: TestClient) -> list[str]:
    return re.findall(r'<td class="path">(.*?)</td>', client.get("/review").text)


def test_each_tree_change_from_the_tree_page(client, study, cli):
    page = change(client, "rename", category=category(study, "kiire"), name="kiireen tuntu")
    assert page.status_code == 200 and "change 1: renamed T1/työssä jaksaminen/työn kuormitus/kiire" in page.text
    assert ["kiireen tuntu", "työn kuormitus", "työssä jaksaminen"] in tree_csv(cli, study)
    assert re.search(r'<td><a class="cat" [^>]*>kiireen tuntu</a></td>', page.text)  # the table shows the change
    change(client, "merge", category=category(study, "asiakkaiden määrä"), target="kiireen tuntu")  # a short name
    table = tree_csv(cli, study)
    assert not any(r[0] == "asiakkaiden määrä" for r in table)
    out = cli("tree", study, "--format", "csv").output
    assert "T1,kiireen tuntu,työn kuormitus,työssä jaksaminen,2," in out  # the codings followed the merge
    change(client, "move", category=category(study, "esimiehen tuki"), target="T1/työssä jaksaminen/työn kuormitus")
    assert ["esimiehen tuki", "työn kuormitus", "työssä jaksaminen"] in tree_csv(cli, study)
    change(client, "move", category=category(study, "asiakkaan voimavarat"), target="työssä jaksaminen")
    assert ["asiakkaan motivointi", "asiakkaan voimavarat", "työssä jaksaminen"] in tree_csv(cli, study)
    page = change(client, "split", category=category(study, "työkavereiden tuki"), names="apu, neuvot")
    assert "split T1/työssä jaksaminen/työyhteisön tuki/työkavereiden tuki into apu, neuvot" in page.text
    table = tree_csv(cli, study)
    assert ["apu", "työyhteisön tuki", "työssä jaksaminen"] in table and ["neuvot", "työyhteisön tuki",
                                                                           "työssä jaksaminen"] in table
    change(client, "retire", category=category(study, "asiakkaan kannustaminen"))
    assert ["asiakkaan kannustaminen (retired)", "asiakkaan voimavarat", "työssä jaksaminen"] in tree_csv(cli, study)

    page = client.get("/tree").text  # the recent changes: who, when, what, before → after
    recent = page[page.index('id="tree-changes"'):page.index("</table>", page.index('id="tree-changes"'))]
    assert recent.count("<td>anna</td>") == 6
    assert "kiire under työn kuormitus → kiireen tuntu under työn kuormitus" in recent
    assert "asiakkaiden määrä under työn kuormitus → asiakkaiden määrä under työn kuormitus, merged into" \
           " kiireen tuntu" in recent
    assert "asiakkaan voimavarat under asiakastyö → asiakkaan voimavarat under työssä jaksaminen" in recent
    undo = re.search(r'name="undoes" value="(\d+)"', page).group(1)
    assert undo == "6"
    page = change(client, "undo", undoes=undo)
    assert "undid change 6 (retired" in message(page.text)
    assert ["asiakkaan kannustaminen", "asiakkaan voimavarat", "työssä jaksaminen"] in tree_csv(cli, study)
    history = json.loads(cli("history", study, "--tree", "--json").output)
    assert [(h["action"], h["who"]) for h in history] == [
        ("rename", "anna"), ("merge", "anna"), ("move", "anna"), ("move", "anna"), ("split", "anna"),
        ("retire", "anna"), ("undo", "anna")]


def test_review_suggests_from_the_changed_tree(client, study, cli):
    assert any(p.startswith("kiire →") for p in suggested(client))
    change(client, "retire", category=category(study, "kiire"))
    paths = suggested(client)
    assert paths and not any(p.startswith("kiire →") for p in paths)  # a retired category is never suggested
    # a change made elsewhere (the CLI, another coder) reaches the review page too
    assert cli("tree", study, "merge", "asiakkaiden määrä", "INTO", "esimiehen tuki", "--coder", "ben").exit_code == 0
    paths = suggested(client)
    assert paths and not any("asiakkaiden määrä" in p for p in paths)
    assert not any(p.startswith("kiire →") for p in paths)


def test_errors_are_one_line_and_change_nothing(client, study, cli):
    assert cli("tree", study, "rename", "esimiehen tuki", "kiire").exit_code == 0  # 'kiire' now at two places
    kiire, upper = category(study, "asiakkaiden määrä"), category(study, "työn kuormitus")
    seen_before = re.search(r'name="seen" value="(\d+)"', client.get(f"/tree?edit={kiire}").text).group(1)
    assert cli("tree", study, "rename", "asiakkaiden määrä", "määrä", "--coder", "ben").exit_code == 0
    before = fingerprint(study)
    cases = [
        ({"action": "merge", "category": upper, "target": "T1/työssä jaksaminen/työn kuormitus"}, "into itself"),
        ({"action": "merge", "category": upper, "target": "T1/työssä jaksaminen/työn kuormitus/kiire"},
         "own descendant"),
        ({"action": "rename", "category": category(study, "määrä"), "name": "kiire"}, "already exists"),
        ({"action": "merge", "category": category(study, "määrä"), "target": "kiire"}, "ambiguous"),
        ({"action": "move", "category": category(study, "määrä"), "target": "no such upper"}, "no upper category"),
        ({"action": "split", "category": category(study, "määrä"), "names": "yksi"}, "two or more"),
    ]
    for fields, expected in cases:
        response = change(client, **fields)
        assert response.status_code == 400 and expected in message(response.text), (fields, response.text[:300])
        assert "\n" not in message(response.text) and 'class="message error"' in response.text
        assert 'id="editor"' in response.text  # the category's forms stay open to try again
    # a stale page: the category was renamed by ben after anna's page was drawn
    page = client.get("/tree").text
    token = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/tree?edit={kiire}").text).group(1)
    stale = client.post("/tree/change", data={"csrf": token, "seen": seen_before, "action": "retire",
                                              "category": str(kiire)})
    assert stale.status_code == 409 and "the tree changed meanwhile: ben made change 2" in message(stale.text)
    assert fingerprint(study) == before
    offered = re.search(r'name="undoes" value="(\d+)"', page).group(1)
    assert cli("tree", study, "retire", "työkavereiden tuki", "--coder", "ben").exit_code == 0
    before = fingerprint(study)
    stale_undo = client.post("/tree/change", data={"csrf": token, "action": "undo", "undoes": offered})
    assert stale_undo.status_code == 409 and "the last change is now 3 by ben" in message(stale_undo.text)
    assert client.post("/tree/change", data={"csrf": token, "action": "retire", "category": "99999"}).status_code == 404
    assert client.get("/tree?edit=99999").status_code == 404 and client.get("/tree?edit=x").status_code == 404
    assert fingerprint(study) == before


def test_a_category_named_script_is_shown_as_text(client, study):
    kiire = category(study, "kiire")
    page = change(client, "rename", category=kiire, name="<script>").text
    assert "<script>" not in page.replace('<script src="/static/htmx.min.js" defer></script>', "").replace(
        '<script src="/static/koodari.js" defer></script>', "")
    assert "&lt;script&gt;" in page and "kiire under työn kuormitus → &lt;script&gt; under työn kuormitus" in page
    for path in (f"/tree?edit={kiire}", f"/tree?edit={category(study, 'asiakkaiden määrä')}", "/review"):
        text = client.get(path).text
        assert "<script>" not in re.sub(r'<script src="/static/[\w.]+" defer></script>', "", text), path
    refused = change(client, "rename", category=category(study, "asiakkaiden määrä"), name="<script>")
    assert "&#39;&lt;script&gt;&#39; already exists" in message(refused.text)
