"""The exported HTML map: neighbours against a dense reference, the inlined modules (the same files the web
app serves), and the page itself in headless Chromium: mouse, keyboard only, a phone's screen, the fit."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from embedrec.data.embeddings import EmbeddingTable
from embedrec.data.idmap import IdMap
from embedrec.show.assets import STATIC, inline_import_map, module_closure
from embedrec.show.mapview import map_html, nearest_neighbors, write_html
from embedrec.show.projection import project_table

HOSTILE = "</script><b>bold</b> <!-- Film (2001)"  # a title that must stay text


@pytest.fixture(scope="module")
def table() -> EmbeddingTable:
    rng = np.random.default_rng(3)
    n = 300
    meta = pd.DataFrame({"title": [f"Film {i}" for i in range(n)], "year": 2000.0,
                         "genres": ["Drama|War", "Comedy", "Action|Drama"] * (n // 3)})  # fmt: skip
    meta.loc[7, "title"] = "Toy Story (1995)"
    meta.loc[8, "title"] = HOSTILE
    return EmbeddingTable(rng.normal(size=(n, 6)).astype(np.float32), IdMap(np.arange(n)), meta=meta,
                          counts=rng.integers(1, 100, n), name="test item factors")  # fmt: skip


@pytest.fixture(scope="module")
def map_file(table: EmbeddingTable, tmp_path_factory: pytest.TempPathFactory):
    return write_html(table, project_table(table), tmp_path_factory.mktemp("map") / "map.html", n_neighbors=5)


def test_neighbours_match_cdist(table: EmbeddingTable) -> None:
    idx, sims = nearest_neighbors(table.vectors, np.arange(20), 5)
    d = cdist(table.vectors[:20], table.vectors, "cosine")
    d[np.arange(20), np.arange(20)] = np.inf
    np.testing.assert_array_equal(idx, np.argsort(d, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(sims, 1 - np.sort(d, axis=1)[:, :5], atol=1e-5)


def test_the_page_inlines_the_shared_modules(table: EmbeddingTable) -> None:
    order = module_closure("mapview.js")
    assert order[-1] == "mapview.js"
    assert {"map.js", "legend.js", "shapes.js", "combobox.js", "dom.js"} <= set(order)
    assert order.index("dom.js") < order.index("map.js")  # dependencies first
    assert order.index("shapes.js") < order.index("legend.js")
    imports = json.loads(inline_import_map("mapview.js"))["imports"]
    for name in order:  # byte for byte the files the web app serves under /assets/
        encoded = imports[f"embedrec/{name}"].removeprefix("data:text/javascript;base64,")
        assert base64.b64decode(encoded).decode() == (STATIC / name).read_text(encoding="utf-8")
    page = map_html(table, project_table(table))
    assert "<h1" in page and "embedrec/mapview.js" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert page.count("</script>") == 3  # the import map, the data, the entry module: no title ends one early


def test_web_app_serves_the_same_map_module(small_model) -> None:
    from fastapi.testclient import TestClient

    from embedrec.web import create_app

    client = TestClient(create_app(small_model, map_methods=["pca"]))
    for name in module_closure("app.js"):
        assert client.get(f"/assets/{name}").text == (STATIC / name).read_text(encoding="utf-8"), name
    assert "map.js" in module_closure("app.js") and "map.js" in module_closure("mapview.js")


def open_map(browser, map_file, viewport: dict):
    page = browser.new_page(viewport=viewport)
    page.problems = []
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(str(e)))

    def offline(route) -> None:  # a file that needs no network: anything but itself and data: URLs fails
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            page.problems.append(f"outside request: {route.request.url}")
            route.abort()

    page.route("**/*", offline)
    page.goto(map_file.as_uri())
    page.wait_for_selector("body[data-ready='1']", state="attached")
    return page


def layout(page) -> dict:
    return json.loads(page.get_attribute("#map", "data-layout"))


def outside(drawn: dict) -> list[str]:
    """Highlighted points (with their marker) and labels that reach outside the canvas."""
    w, h = drawn["width"], drawn["height"]
    points = [
        p for p in drawn["points"] if not (p["r"] <= p["x"] <= w - p["r"] and p["r"] <= p["y"] <= h - p["r"])
    ]
    labels = [b for b in drawn["labels"] if not (0 <= b["x0"] < b["x1"] <= w and 0 <= b["y0"] < b["y1"] <= h)]
    return [p["id"] for p in points] + [b["text"] for b in labels]


def test_page_search_hover_click(browser, map_file) -> None:
    page = open_map(browser, map_file, {"width": 1200, "height": 800})
    page.fill("#search", "toy story")
    page.wait_for_selector("#matches[aria-busy='false']:not([hidden]) [role='option']")
    assert page.inner_text("#match-count") == "1 match"
    [match] = [p for p in layout(page)["points"] if p["layer"] == "search matches"]
    assert match["id"] == "7"
    box = page.locator("#map canvas").bounding_box()
    page.mouse.move(box["x"] + match["x"], box["y"] + match["y"])
    assert page.inner_text("#map .emap-tip .emap-tip-title") == "Toy Story (1995)"
    page.mouse.click(box["x"] + match["x"], box["y"] + match["y"])
    assert page.inner_text("#selected") == "Toy Story (1995)"
    assert page.locator("#neighbours li").count() == 5
    first = page.locator("#neighbours button").first
    name = first.inner_text()
    first.click()
    assert page.inner_text("#selected") == name

    page.fill("#search", "script")  # a hostile title is found and shown as text
    page.wait_for_selector("#matches[aria-busy='false']:not([hidden]) [role='option']")
    assert page.locator("#matches .option-label").first.inner_text() == HOSTILE
    assert not page.problems, page.problems
    page.close()


def test_keyboard_only(browser, map_file) -> None:
    page = open_map(browser, map_file, {"width": 1200, "height": 800})
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "search":
            break
        page.keyboard.press("Tab")
    search = page.locator("#search")
    assert search.get_attribute("role") == "combobox"
    page.keyboard.type("toy")
    page.wait_for_selector("#matches[aria-busy='false']:not([hidden]) [role='option']")
    page.keyboard.press("ArrowDown")
    option = page.locator("#matches [role='option']").first
    assert search.get_attribute("aria-activedescendant") == option.get_attribute("id")
    page.keyboard.press("Enter")
    assert page.inner_text("#selected") == "Toy Story (1995)" and page.locator("#neighbours li").count() == 5
    assert "Toy Story (1995): nearest 5" in page.inner_text("#announce")

    page.keyboard.press("Shift+Tab")  # back through the zoom buttons to the map
    for _ in range(5):
        if page.evaluate("document.activeElement.tagName") == "CANVAS":
            break
        page.keyboard.press("Shift+Tab")
    start = layout(page)["focused"]
    assert start["id"] == "7"  # the keyboard starts on the chosen point
    page.keyboard.press("ArrowLeft")
    left = layout(page)["focused"]
    assert left["x"] < start["x"]
    label = page.evaluate(f"JSON.parse(document.getElementById('data').textContent).label[{left['id']}]")
    assert page.locator("#map .emap-live").inner_text().startswith(label)
    page.keyboard.press("Enter")
    assert page.evaluate("document.getElementById('selected').textContent") != "Toy Story (1995)"
    chosen = [p["id"] for p in layout(page)["points"] if p["layer"] == "chosen point"]
    assert chosen == [left["id"]]
    page.keyboard.press("Escape")
    assert page.locator("#details").is_hidden()
    assert not page.problems, page.problems
    page.close()


def test_phone_width_stacks_the_panel_under_a_full_width_map(browser, map_file) -> None:
    page = open_map(browser, map_file, {"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    canvas = page.locator("#map canvas").bounding_box()
    assert canvas["width"] == 390 and canvas["height"] >= 300, canvas
    assert page.locator("#panel").bounding_box()["y"] >= canvas["y"] + canvas["height"]
    page.close()


def test_the_fit_keeps_an_outlier_and_its_neighbours_in_the_frame(browser, table, map_file) -> None:
    coords = np.asarray(project_table(table).coords)
    page = open_map(browser, map_file, {"width": 390, "height": 844})
    for row in (int(np.argmin(coords[:, 0])), int(np.argmax(coords[:, 0])), int(np.argmax(coords[:, 1]))):
        page.fill("#search", table.labels()[row])
        page.wait_for_selector("#matches[aria-busy='false']:not([hidden]) [role='option']")
        page.press("#search", "Enter")  # the first match is chosen
        drawn = layout(page)
        assert [p["id"] for p in drawn["points"] if p["layer"] == "chosen point"] == [str(row)]
        assert len([p for p in drawn["points"] if p["layer"] == "nearest neighbours"]) == 5
        assert not outside(drawn), drawn
        assert str(row) in {b["id"] for b in drawn["labels"]}
    assert not page.problems, page.problems
    page.close()
