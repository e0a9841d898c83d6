"""Screenshots for the README: the web app on a desktop and on a phone, and the exported HTML map.

    .venv/bin/python benchmarks/screenshots.py [--model DIR] [--out docs]

Trains the default DotBias on the bundled movielens-small (or loads `--model`), serves it on a real
uvicorn, drives headless Chromium through a visitor's session by keyboard, and writes
docs/web-app.png, docs/web-app-phone.png, docs/mapview.png and docs/mapview-phone.png, each reduced to a
256-colour palette so that it stays well under 300 KB.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from PIL import Image
from playwright.sync_api import Page, sync_playwright

import embedrec
from embedrec.query.recommender import Recommender
from embedrec.show.mapview import write_html
from embedrec.show.projection import project_table
from embedrec.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
RATINGS = [("toy story", ["End"]), ("matrix", ["4", "ArrowRight"]), ("amelie", ["End"])]  # keys on the stars


def serve(model: object) -> tuple[str, uvicorn.Server]:
    """The web app on a free loopback port, once /health answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(model), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "health", timeout=1).status_code == 200:
                return url, server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def save(page: Page, path: Path) -> None:
    """The viewport, once no request is running, as a palette PNG (a few hundred KB as full colour, well
    under as 256 colours)."""
    page.wait_for_function("!document.getElementById('busy') || !document.getElementById('busy').textContent")
    page.screenshot(path=str(path))
    Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path}: {path.stat().st_size / 1024:.0f} KB")


def rate_by_keyboard(page: Page) -> None:
    """Search each title with the combobox, pick the first suggestion, rate it on its star slider."""
    for text, keys in RATINGS:
        page.fill("#q", "")
        page.focus("#q")
        page.keyboard.type(text)
        page.wait_for_selector("#suggest[aria-busy='false']:not([hidden]) [role='option']")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#results-title:has-text('{text}')")
        page.locator("#results .stars").first.focus()
        for key in keys:
            page.keyboard.press(key)
    page.wait_for_function("document.querySelectorAll('#recs .card').length === 12")
    page.evaluate("document.activeElement.blur()")


def web_app(browser: object, url: str, out: Path) -> None:
    page = browser.new_page(viewport=DESKTOP, reduced_motion="reduce")  # no scroll still running
    page.goto(url)
    page.wait_for_selector("#map[data-method='pca']")
    rate_by_keyboard(page)
    page.locator("#recs .card .more").first.click()
    page.wait_for_selector("#similar .card")
    page.mouse.move(0, DESKTOP["height"] - 1)  # no hover underline in the picture
    page.locator("#map canvas").focus()  # the keyboard's place on the map: a ring and its tooltip
    page.keyboard.press("ArrowDown")
    page.evaluate("window.scrollTo(0, 0)")
    save(page, out / "web-app.png")

    page.set_viewport_size(PHONE)  # the same page, so the ratings stay in its storage
    page.reload()
    page.wait_for_function("document.querySelectorAll('#recs .card').length === 12")
    save(page, out / "web-app-phone.png")
    page.close()


def map_page(browser: object, path: Path, out: Path) -> None:
    for name, viewport in (("mapview.png", {"width": 1200, "height": 750}), ("mapview-phone.png", PHONE)):
        page = browser.new_page(viewport=viewport)
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']", state="attached")
        page.focus("#search")
        page.keyboard.type("Star Wars")
        page.wait_for_selector("#matches[aria-busy='false']:not([hidden]) [role='option']")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")  # the first suggestion is chosen; the other matches stay ringed
        save(page, out / name)
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a saved model directory (default: train DotBias)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    args = parser.parse_args()
    if args.model is not None:
        model = embedrec.load_model(args.model)
    else:
        model = embedrec.DotBias(verbose=False).fit(embedrec.load_dataset("movielens-small", progress=False))
    url, server = serve(model)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        table = Recommender(model).embeddings("item")
        html = write_html(table, project_table(table, "pca", max_rows=2000), Path(tmp) / "map.html")
        executable = str(CHROMIUM) if CHROMIUM.exists() else None
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            web_app(browser, url, args.out)
            map_page(browser, html, args.out)
        finally:
            browser.close()
            server.should_exit = True


if __name__ == "__main__":
    main()
