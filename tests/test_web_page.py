"""The web page in headless Chromium against a real server: keyboard only, ARIA state, a phone's screen,
and the map's fit (highlighted points and labels inside the frame, the tooltip across projections)."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest

from embedrec.web import create_app

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def live_url(small_model, serve) -> str:
    return serve(create_app(small_model, map_methods=["pca"]))


def open_page(browser, url: str, viewport: dict, ratings: list[dict] | None = None):
    """A fresh page (own storage) that may reach only `url`, with `ratings` already saved in the browser.

    Console errors and requests elsewhere are collected in page.problems, for the test to check at the end.
    """
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(str(e)))

    def only_local(route) -> None:
        if route.request.url.startswith((url, "data:")):
            route.continue_()
        else:
            page.problems.append(f"outside request: {route.request.url}")
            route.abort()

    page.route("**/*", only_local)
    if ratings is not None:
        health = httpx.get(url + "health").json()
        key = f"embedrec-ratings:{health['model']}:{health['n_items']}"
        page.add_init_script(f"localStorage.setItem({json.dumps(key)}, {json.dumps(json.dumps(ratings))})")
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", state="attached")
    page.wait_for_selector("#results .card")
    return page


def layout(page) -> dict:
    """What the map component says it drew: highlighted points, label boxes, focused and hovered point."""
    return json.loads(page.get_attribute("#map", "data-layout"))


def active(page, prop: str) -> str | None:
    return page.evaluate(f"document.activeElement && document.activeElement.{prop}")


def tab_to(page, selector: str, limit: int = 150) -> None:
    """Press Tab until the element matching `selector` has the focus (a keyboard user's only way there)."""
    for _ in range(limit):
        if page.evaluate(f"document.activeElement.matches({json.dumps(selector)})"):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"{selector} not reached with {limit} presses of Tab")


def inside(layout_: dict, margin: float = 0.0) -> list[str]:
    """Highlighted points (with their marker) and labels that reach outside the canvas."""
    w, h = layout_["width"], layout_["height"]
    out = [
        f"point {p['id']} at ({p['x']}, {p['y']})"
        for p in layout_["points"]
        if not (margin + p["r"] <= p["x"] <= w - margin - p["r"])
        or not (margin + p["r"] <= p["y"] <= h - margin - p["r"])
    ]
    out += [
        f"label {b['text']!r} {b['x0'], b['y0'], b['x1'], b['y1']}"
        for b in layout_["labels"]
        if not (0 <= b["x0"] < b["x1"] <= w and 0 <= b["y0"] < b["y1"] <= h)
    ]
    return out


def test_keyboard_only_journey(browser, live_url) -> None:
    page = open_page(browser, live_url, DESKTOP)
    tab_to(page, "#q")
    q = page.locator("#q")
    assert q.get_attribute("role") == "combobox" and q.get_attribute("aria-expanded") == "false"
    assert (
        q.get_attribute("aria-controls") == "suggest" and page.get_attribute("#suggest", "role") == "listbox"
    )

    page.keyboard.type("toy story")
    page.wait_for_selector("#suggest[aria-busy='false']:not([hidden]) [role='option']")
    options = page.locator("#suggest [role='option']")
    page.keyboard.press("ArrowDown")
    first_id = options.nth(0).get_attribute("id")
    assert q.get_attribute("aria-activedescendant") == first_id
    assert options.nth(0).get_attribute("aria-selected") == "true"
    page.keyboard.press("ArrowDown")
    assert q.get_attribute("aria-activedescendant") == options.nth(1).get_attribute("id")
    assert options.nth(0).get_attribute("aria-selected") == "false"
    page.keyboard.press("ArrowUp")
    assert q.get_attribute("aria-activedescendant") == first_id
    assert active(page, "id") == "q"  # the focus never leaves the input
    picked = options.nth(0).locator(".option-label").inner_text()
    page.keyboard.press("Enter")
    assert q.get_attribute("aria-expanded") == "false" and q.get_attribute("aria-activedescendant") is None
    page.wait_for_selector("#results-title:has-text('toy story')")
    assert page.locator("#results .card .title").first.inner_text() == picked
    page.wait_for_function("document.getElementById('announce').textContent.includes('for toy story')")

    # rate three movies from the results with the star sliders: End = 5 stars, a digit, arrow steps
    rated = []

    def final(response) -> bool:  # the request made once all three ratings are in
        body = response.request.post_data_json if response.request.method == "POST" else None
        return body is not None and sorted(r["rating"] for r in body["ratings"]) == [3.5, 4, 5]

    with page.expect_response(final):
        for keys in (["End"], ["4"], ["ArrowRight"] * 7):
            tab_to(page, f"#results .stars[role='slider']:not({','.join(rated) or '#none'})")
            rated.append(f"[data-item='{active(page, 'dataset.item')}']")
            for key in keys:
                page.keyboard.press(key)
    sliders = [page.locator(f"#results .stars{r}") for r in rated]
    assert [s.get_attribute("aria-valuenow") for s in sliders] == ["5", "4", "3.5"]
    assert sliders[2].get_attribute("aria-valuetext") == "3.5 stars"
    page.wait_for_selector("#recs[aria-busy='false']", state="attached")
    assert page.locator("#recs .card").count() == 12 and page.locator("#rated li").count() == 3
    assert "12 recommendations" in page.inner_text("#announce")
    assert "Because you liked" in page.locator("#recs .card").first.inner_text()

    # the map: the focus starts on one of your movies; arrows move in their direction, Enter selects
    page.wait_for_selector("#map[data-method='pca']")
    tab_to(page, "#map canvas", limit=200)
    start = layout(page)["focused"]
    rated_ids = {r.split("'")[1] for r in rated}
    assert start["id"] in rated_ids
    live = page.locator("#map .emap-live")
    assert "your ratings" in live.inner_text()
    page.keyboard.press("ArrowRight")
    right = layout(page)["focused"]
    assert right["id"] != start["id"] and right["x"] > start["x"]
    assert live.inner_text() != "" and page.get_attribute("#map .emap-tip", "data-id") == right["id"]
    page.keyboard.press("ArrowDown")
    down = layout(page)["focused"]
    assert down["y"] > right["y"]
    page.keyboard.press("Enter")
    page.wait_for_selector("#similar-panel:not([hidden]) #similar .card")
    assert page.locator("#similar .card").count() == 10
    chosen = [p for p in layout(page)["points"] if p["layer"] == "chosen movie"]
    assert [p["id"] for p in chosen] == [down["id"]]
    assert {p["layer"] for p in layout(page)["points"]} >= {"more like this", "recommended", "your ratings"}
    assert active(page, "tagName") == "CANVAS"  # selecting from the map keeps the keyboard there
    page.keyboard.press("Escape")
    page.wait_for_selector("#similar-panel", state="hidden")
    assert layout(page)["focused"] is None
    assert not page.problems, page.problems
    page.context.close()


def test_enter_on_a_stale_list_searches_the_typed_text(browser, live_url) -> None:
    page = open_page(browser, live_url, DESKTOP)
    page.focus("#q")
    page.keyboard.type("toy")
    page.wait_for_selector("#suggest[aria-busy='false']:not([hidden]) [role='option']")
    held = []  # the suggestions for the longer text are slow to come
    page.route(lambda url: "limit=8" in url and "story" in url, lambda route: held.append(route))
    page.keyboard.type(" story 2")
    assert page.get_attribute("#suggest", "aria-busy") == "true"
    page.keyboard.press("ArrowDown")  # no option of the list made for "toy" becomes active
    assert page.get_attribute("#q", "aria-activedescendant") is None
    page.keyboard.press("Enter")
    page.wait_for_selector("#results-title:has-text('toy story 2')")
    assert page.locator("#suggest").is_hidden()
    assert page.locator("#results .card .title").first.inner_text() == "Toy Story 2 (1999)"
    for route in held:
        with page.expect_request_finished(lambda r: "limit=8" in r.url):
            route.continue_()
    page.wait_for_function("true")  # a round trip after the last answer arrived
    assert page.locator("#suggest").is_hidden()  # late answers do not reopen it
    page.context.close()


def test_busy_state_and_errors_reach_the_live_regions(browser, live_url) -> None:
    page = open_page(browser, live_url, DESKTOP)
    assert page.get_attribute("#busy", "role") == "status" and page.get_attribute("#alert", "role") == "alert"
    held = []
    page.route("**/recommendations", lambda route: held.append(route))  # answered below, when the test says
    page.locator("#results .stars").first.focus()
    page.keyboard.press("End")
    page.wait_for_selector("#recs[aria-busy='true']", state="attached")
    assert "Updating your recommendations" in page.inner_text("#busy")
    page.wait_for_function("true")  # a round trip, in which Playwright hands over the held request
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_selector("#recs[aria-busy='false']", state="attached")
    page.wait_for_function("document.getElementById('busy').textContent === ''")
    assert page.locator("#recs .card").count() == 12
    page.unroute("**/recommendations")

    # a rating of a movie this model does not know (saved by an older model): the server's reason shows
    gone = json.dumps([{"id": 987654321, "title": "Gone", "rating": 4}])
    page.evaluate(f"localStorage.setItem(Object.keys(localStorage)[0], {json.dumps(gone)})")
    page.reload()
    page.wait_for_function("document.getElementById('alert').textContent.includes('987654321')")
    assert page.inner_text("#alert").startswith("Updating your recommendations failed:")
    page.context.close()


def test_phone_layout(browser, live_url) -> None:
    page = open_page(browser, live_url, PHONE, ratings=[{"id": 1, "title": "Toy Story (1995)", "rating": 5}])
    page.wait_for_function("document.querySelectorAll('#recs .card').length > 0")
    page.wait_for_selector("#map[data-method='pca']")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    header = page.locator("header").bounding_box()
    assert header["height"] <= 56, header  # one line: the tagline used to stack it ~210 px tall
    brand, api = page.locator("header h1").bounding_box(), page.locator("header .api").bounding_box()
    assert abs((brand["y"] + brand["height"] / 2) - (api["y"] + api["height"] / 2)) < 6
    top = {s: page.locator(s).bounding_box()["y"] for s in ("#q", "#rated", "#recs", "#results")}
    assert top["#q"] < top["#rated"] < top["#recs"] < top["#results"], top
    canvas = page.locator("#map canvas").bounding_box()
    assert canvas["x"] == 0 and canvas["width"] == PHONE["width"], canvas
    assert not inside(layout(page)), layout(page)
    assert not page.problems, page.problems
    page.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_map_fits_the_outermost_highlighted_points(browser, live_url, viewport) -> None:
    points = httpx.get(live_url + "map", params={"method": "pca"}).json()
    x, y = np.array(points["x"]), np.array(points["y"])
    rows = {int(np.argmin(x)), int(np.argmax(x)), int(np.argmin(y)), int(np.argmax(y))}
    ratings = [{"id": points["ids"][i], "title": points["titles"][i], "rating": 5} for i in rows]
    page = open_page(browser, live_url, viewport, ratings=ratings)
    page.wait_for_selector("#map[data-method='pca']")
    page.wait_for_function("document.querySelectorAll('#recs .card').length === 12")
    drawn = layout(page)
    mine = {p["id"] for p in drawn["points"] if p["layer"] == "your ratings"}
    assert mine == {str(r["id"]) for r in ratings}
    assert not inside(drawn, margin=4), drawn
    assert {b["id"] for b in drawn["labels"]} & mine  # labelled, and every label whole
    page.context.close()


@pytest.fixture(scope="module")
def two_projections_url(serve) -> str:
    """A model of the 300 most-rated movies, small enough for t-SNE in seconds, served with PCA and t-SNE."""
    import embedrec
    from embedrec.data.interactions import Interactions

    data = embedrec.load_dataset("movielens-small", progress=False)
    df = data.to_dataframe()
    top = df["item"].value_counts().index[:300]
    meta = data.item_meta.set_index(pd.Index(data.item_ids.raw_ids))
    small = Interactions.from_dataframe(df[df["item"].isin(top)], item_meta=meta, scale=data.scale)
    model = embedrec.DotBias(n_factors=16, epochs=5, batch_size=4096, lr=0.02, verbose=False).fit(small)
    return serve(create_app(model, map_methods=["pca", "tsne"]))


@pytest.mark.slow  # t-SNE of 300 points: about 4 s
def test_tooltip_follows_the_projection(browser, two_projections_url) -> None:
    page = open_page(browser, two_projections_url, DESKTOP)
    page.wait_for_selector("#map[data-method='pca']")
    canvas = page.locator("#map canvas")
    box = canvas.bounding_box()
    canvas.focus()
    before = layout(page)["focused"]
    tip = page.locator("#map .emap-tip")
    assert tip.get_attribute("data-id") == before["id"]
    mouse = (box["x"] + before["x"], box["y"] + before["y"])
    page.mouse.move(*mouse)
    assert layout(page)["hovered"]["id"] == before["id"]
    title = tip.locator(".emap-tip-title").inner_text()

    page.select_option("#method", "tsne")
    page.wait_for_selector("#map[data-method='tsne']", timeout=60_000)
    after = layout(page)
    hovered = after["hovered"]
    if hovered is None:  # nothing under the still mouse any more: no tooltip, least of all the old one
        assert tip.is_hidden()
    else:  # the tooltip names whatever is under the mouse now
        assert np.hypot(hovered["x"] + box["x"] - mouse[0], hovered["y"] + box["y"] - mouse[1]) <= 10
        assert tip.get_attribute("data-id") == hovered["id"]
    moved = after["focused"]  # the keyboard focus stays on the same movie, at its new place
    assert moved["id"] == before["id"] and (moved["x"], moved["y"]) != (before["x"], before["y"])

    page.mouse.move(box["x"] - 50, box["y"] - 50)  # off the map: the focused movie's tooltip comes back
    canvas.focus()
    assert tip.get_attribute("data-id") == before["id"]
    assert tip.locator(".emap-tip-title").inner_text() == title
    t = tip.bounding_box()
    px, py = box["x"] + moved["x"], box["y"] + moved["y"]
    dx, dy = max(t["x"] - px, 0, px - t["x"] - t["width"]), max(t["y"] - py, 0, py - t["y"] - t["height"])
    gap = np.hypot(dx, dy)
    assert gap <= 30, (t, px, py)  # beside the point where it is now
    assert not page.problems, page.problems
    page.context.close()


def test_a_model_without_item_vectors_offers_no_map_and_no_more_like_this(browser, serve) -> None:
    import embedrec

    model = embedrec.BiasBaseline().fit(embedrec.load_dataset("movielens-small", progress=False))
    url = serve(create_app(model))
    page = open_page(browser, url, DESKTOP, ratings=[{"id": 1, "title": "Toy Story (1995)", "rating": 5}])
    page.wait_for_function("document.querySelectorAll('#recs .card').length === 12")
    assert page.inner_text("#map .emap-status") == "this server offers no map"
    assert page.locator(".card .more").count() == 0 and page.locator("#method option").count() == 0
    assert not page.problems, page.problems
    page.context.close()
