"""The search page in a real headless browser, against a live uvicorn server."""

from __future__ import annotations

import csv
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from search.config import SearchSettings, Settings
from tests.conftest import SAMPLE_CATALOG
from tests.hygiene_catalog import build_hygiene_catalog

QUERIES = SAMPLE_CATALOG.parent / "queries"
IMAGES = "/v1/images/"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As the project's machines need: no background networking (the network is closed), no sandbox
# (tests run as root).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def browser_page() -> Iterator[Any]:
    """A page in headless Debian chromium (skips where playwright or chromium is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (scripts/test.sh installs Debian's)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page()
        browser.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def live_server(api_settings: Settings) -> Iterator[str]:
    with serving(api_settings) as url:
        yield url


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """A live uvicorn server on `settings` in a thread: its URL; stopped on the way out."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_live_uvicorn_serves_the_api(live_server: str) -> None:
    assert httpx.get(f"{live_server}/v1/ready").json()["ready"]
    with (QUERIES / "Zucchini.jpg").open("rb") as image:
        response = httpx.post(
            f"{live_server}/v1/search",
            files={"image": ("z.jpg", image, "image/jpeg")},
            data={"k": "2"},
            timeout=30,
        )
    assert response.json()["results"][0]["sku"] == "Zucchini"


@pytest.mark.slow  # drives chromium
def test_search_page_in_a_browser(live_server: str, tmp_path: Path) -> None:
    with browser_page() as page:
        images: list[Any] = []
        page.on(
            "response", lambda response: images.append(response) if IMAGES in response.url else None
        )
        page.goto(live_server)
        assert page.title() == "Facet: visual search"

        page.set_input_files("#photo", str(QUERIES / "Banana.jpg"))
        page.wait_for_selector(".card")
        titles = page.locator(".card .title").all_inner_texts()
        assert titles[0] == "Banana" and len(titles) == 12
        assert page.locator("#status").inner_text().endswith("ms")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.card img')]"
            ".every(img => img.complete && img.naturalWidth > 0)"
        )
        assert "score" in page.locator(".card .score").first.inner_text()

        # The tiles are thumbnails (WebP: chromium accepts it), fewer bytes than the originals,
        # which are not loaded at all until a tile is opened.
        tiles = page.eval_on_selector_all(".card img", "imgs => imgs.map(img => img.currentSrc)")
        assert len(tiles) == 12 and all("size=256" in src for src in tiles), tiles
        loaded = {response.url: response for response in images}
        assert set(tiles) <= set(loaded) and all("size=" in url for url in loaded)
        assert {loaded[src].header_value("content-type") for src in tiles} == {"image/webp"}
        tile_bytes = sum(len(loaded[src].body()) for src in tiles)
        originals = [httpx.get(src.replace("&size=256", "")) for src in tiles]
        assert all(original.status_code == 200 for original in originals)
        original_bytes = sum(len(original.content) for original in originals)
        assert tile_bytes < original_bytes * 0.8, (tile_bytes, original_bytes)

        # Opening a tile shows its original.
        page.locator(".card .zoom").first.click()
        viewer = page.locator("#viewer-image")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=viewer.element_handle()
        )
        opened = viewer.evaluate("img => img.currentSrc")
        assert "size=" not in opened and opened == tiles[0].replace("&size=256", "")
        assert viewer.evaluate("img => img.naturalWidth") == 198  # the catalogue's own size
        page.keyboard.press("Escape")
        page.wait_for_function("() => !document.getElementById('viewer').open")

        # A filter re-runs the search on the same photo.
        page.select_option("select[name=category]", "Apple")
        with SAMPLE_CATALOG.open(encoding="utf-8") as handle:
            apples = [row["sku"] for row in csv.DictReader(handle) if row["category"] == "Apple"]
        page.wait_for_function(
            "apples => [...document.querySelectorAll('.card .pick')]"
            ".every(card => apples.includes(card.dataset.sku))",
            arg=apples,
        )
        page.select_option("select[name=category]", "")
        page.wait_for_function(
            "() => document.querySelector('.card .title').textContent === 'Banana'"
        )

        # Clicking a result shows its similar items, without itself.
        page.locator(".card .pick").first.click()
        page.wait_for_function(
            "() => document.getElementById('results-title').textContent.startsWith('Similar to')"
        )
        skus = page.eval_on_selector_all(".card .pick", "nodes => nodes.map(n => n.dataset.sku)")
        assert skus and "Banana" not in skus

        # A file that is not an image is reported, not crashed on.
        not_image = tmp_path / "notes.txt"
        not_image.write_text("hello")
        page.set_input_files("#photo", str(not_image))
        page.wait_for_selector("#status.error")
        assert "Search failed" in page.locator("#status").inner_text()


def test_the_page_says_when_there_is_no_close_match(api_settings: Settings) -> None:
    strict = api_settings.model_copy(update={"search": SearchSettings(confident_score=0.99)})
    with serving(strict) as url, browser_page() as page:
        page.goto(url)
        page.set_input_files("#photo", str(QUERIES / "Banana.jpg"))
        page.wait_for_selector(".card")
        heading = page.locator("#results-title").inner_text()
        assert heading == "No close match; here are the nearest"
        assert "uncertain" in (page.locator("#results").get_attribute("class") or "")
        assert page.locator(".card .title").first.inner_text() == "Banana"


def test_words_likes_and_photos_with_words_in_a_browser(live_server: str) -> None:
    with browser_page() as page:
        page.goto(live_server)

        # Words alone.
        page.fill("#words", "oat milk")
        page.click("#words-form button[type=submit]")
        page.wait_for_function(
            "() => document.querySelector('#results-title').textContent.startsWith('Matching')"
        )
        assert page.locator(".card .title").first.inner_text() == "Oatly Oat Milk"

        # Liking a product asks for more like it, never showing the liked one.
        page.locator(".card .like").first.click()
        page.wait_for_function(
            "() => document.querySelector('#results-title').textContent.startsWith('Recommended')"
        )
        shown = page.eval_on_selector_all(".card .pick", "cards => cards.map(c => c.dataset.sku)")
        assert shown and "Oatly-Oat-Milk" not in shown

        # A photo with words: a green apple's photo and "red" put a red apple first.
        page.fill("#words", "red")
        page.set_input_files("#photo", str(QUERIES / "Granny-Smith.jpg"))
        page.wait_for_function(
            "() => document.querySelector('#results-title').textContent !== '' &&"
            " document.querySelector('.card .title')?.textContent === 'Red Delicious'"
        )


def test_the_viewer_shows_a_products_photo_warnings(tmp_path: Path) -> None:
    home, _ = build_hygiene_catalog(tmp_path)
    with serving(Settings(home=home)) as url, browser_page() as page:
        page.goto(url)
        open_first_picture(page, words="BLUR", title="title of BLUR")
        page.wait_for_selector("#viewer-warnings li")
        assert page.locator("#viewer-warnings li").all_inner_texts() == [
            "This photo: fail (blurred)"
        ]
        page.keyboard.press("Escape")
        page.wait_for_function("() => !document.getElementById('viewer').open")

        # A clean product's photo shows none.
        open_first_picture(page, words="P2", title="title of P2")
        page.wait_for_load_state("networkidle")
        assert page.locator("#viewer-warnings").is_hidden()
        assert page.locator("#viewer-warnings li").count() == 0


def open_first_picture(page: Any, *, words: str, title: str) -> None:
    """Search for `words`, wait for `title` to come first and open its picture."""
    page.fill("#words", words)
    page.click("#words-form button")
    page.wait_for_function(
        "title => document.querySelector('.card .title')?.textContent === title", arg=title
    )
    page.locator(".card .zoom").first.click()
    page.wait_for_selector("#viewer[open]")
