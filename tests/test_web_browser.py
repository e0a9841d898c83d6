"""The web app served by a real uvicorn on 127.0.0.1: a visitor's session in headless Chromium, concurrent
clients, and the `embedrec serve` command."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from embedrec.web import create_app

OUTPUT = Path(__file__).resolve().parents[1] / "test-output"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, deadline_s: float, proc: subprocess.Popen | None = None) -> None:
    """Poll GET /health until it answers, failing after `deadline_s` seconds (or if the process died)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            if httpx.get(url + "health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"{url} did not answer within {deadline_s} s")


@pytest.fixture(scope="module")
def live_url(small_model, serve) -> str:
    return serve(create_app(small_model, map_methods=["pca"]))


def test_concurrent_clients_get_the_same_answers(live_url) -> None:
    bodies = [
        {"ratings": [{"item": i, "rating": 4.5}, {"item": "fargo", "rating": 2}], "n": 20} for i in (1, 2, 3)
    ]
    with httpx.Client(base_url=live_url, timeout=30) as client:
        expected = [client.post("recommendations", json=b).json() for b in bodies]

        def ask(k: int) -> tuple[int, dict]:
            r = client.post("recommendations", json=bodies[k % 3])
            return k, r.json()

        with ThreadPoolExecutor(max_workers=16) as pool:
            for k, got in pool.map(ask, range(48)):
                assert got == expected[k % 3]


def rate(card, stars: float) -> None:
    """Click the star widget of a card: the right half of star k gives k, the left half k - 0.5."""
    k = int(-(-stars // 1))
    box = card.locator(".star").nth(k - 1).bounding_box()
    x = box["x"] + box["width"] * (0.25 if stars % 1 else 0.75)
    card.page.mouse.click(x, box["y"] + box["height"] / 2)


def test_a_visitor_rates_three_movies_and_explores(browser, live_url) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    outside: list[str] = []

    def only_local(route) -> None:  # the page must work offline: nothing but this server is reachable
        if route.request.url.startswith(live_url) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(live_url)
    page.wait_for_selector("#results .card")

    page.fill("#q", "toy story")
    page.wait_for_selector("#suggest li:has-text('Toy Story (1995)')")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results-title:has-text('toy story')")
    cards = page.locator("#results .card")
    assert cards.first.locator(".title").inner_text().startswith("Toy Story")
    rate(cards.nth(0), 5)
    rate(cards.nth(1), 4.5)
    page.fill("#q", "matrix")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results-title:has-text('matrix')")
    rate(page.locator("#results .card").first, 4)

    page.wait_for_function("document.querySelectorAll('#recs .card').length === 12")
    assert page.locator("#rated li").count() == 3
    assert "4.5★" in page.locator("#rated").inner_text()
    recs = page.locator("#recs .card")
    assert "Because you liked" in recs.first.inner_text()
    rec_title = recs.first.locator(".title").inner_text()

    recs.first.locator(".more").click()
    page.wait_for_selector("#similar .card")
    assert page.locator("#similar-title").inner_text() == rec_title
    assert page.locator("#similar .card").count() == 10

    page.wait_for_selector("#map[data-method='pca']")
    box = page.locator("#map canvas").bounding_box()
    tooltip = page.locator("#map .emap-tip")
    for dx in range(0, 200, 4):  # sweep from the dense centre until a dot is under the cursor
        page.mouse.move(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2)
        if tooltip.is_visible():
            break
    assert tooltip.is_visible() and "rating" in tooltip.inner_text()

    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "web-page.png"))

    page.reload()  # ratings live in the browser: a reload keeps them and the recommendations come back
    page.wait_for_function("document.querySelectorAll('#recs .card').length === 12")
    assert page.locator("#rated li").count() == 3
    assert not problems, problems
    assert not outside, outside
    page.close()


def test_serve_command_serves_a_saved_model(small_model_dir) -> None:
    port = free_port()
    cmd = [sys.executable, "-c", "from embedrec.cli.main import app; app()", "serve", str(small_model_dir)]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_up(url, 60, proc)
        assert httpx.get(url + "health").json()["model"] == "DotBias"
        assert "embedrec" in httpx.get(url).text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert f"127.0.0.1:{port}" in proc.stdout.read()
