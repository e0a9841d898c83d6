"""The web app's limits: oversized bodies are 413 before they are read, error details stay one short line,
maps are computed off the event loop (one future per method), and `serve` refuses a model it cannot serve."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="fastapi is not installed")
with warnings.catch_warnings():  # starlette's notice that it would rather drive httpx2 than httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

import uvicorn  # noqa: E402
from test_web_browser import free_port, wait_until_up  # noqa: E402

from embedrec import GlobalMean, ParameterError, load_dataset  # noqa: E402
from embedrec.cli.serve import settle_heap  # noqa: E402
from embedrec.web import create_app  # noqa: E402
from embedrec.web.jobs import MapJobs  # noqa: E402
from embedrec.web.limits import MAX_BODY, MAX_DETAIL, one_line  # noqa: E402

SMALL_LIMIT = 4096


@pytest.fixture(scope="module")
def client(small_model) -> TestClient:
    app = create_app(small_model, map_methods=["pca"], max_body=SMALL_LIMIT)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def visitor(n_ratings: int, title: str = "toy story") -> dict:
    return {"ratings": [{"item": title, "rating": 4.0}] * n_ratings, "n": 3}


# -- request size ---------------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413_with_one_line(client) -> None:
    body = json.dumps(visitor(200)).encode()
    assert len(body) > SMALL_LIMIT
    r = client.post("/recommendations", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.headers["connection"] == "close"
    assert r.json() == {"detail": f"request body too large: {len(body):,} bytes, the limit is 4,096 bytes"}


def test_a_chunked_body_over_the_limit_is_413(client) -> None:
    chunks = [b'{"ratings": [', *[b'{"item": 1, "rating": 4}, '] * 400, b'{"item": 1, "rating": 4}]}']
    r = client.post("/recommendations", content=iter(chunks), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "more than 4,096 bytes" in r.json()["detail"]


def test_a_body_under_the_limit_goes_through(client) -> None:
    chunks = [b'{"ratings": [', b'{"item": 1, "rating": 4}', b"]}"]  # chunked, so no Content-Length
    r = client.post("/recommendations", content=iter(chunks), headers={"content-type": "application/json"})
    assert r.status_code == 200 and len(r.json()["items"]) == 10
    assert client.get("/health").status_code == 200  # a GET has no body to count


def test_the_default_limit_takes_the_largest_valid_request(small_model) -> None:
    """1,000 ratings (the schema's maximum) by 200-character titles fit under the default limit."""
    title = "toy story".ljust(200)
    body = json.dumps(visitor(1000, title)).encode()
    assert len(body) <= MAX_BODY
    with TestClient(create_app(small_model, map_methods=[])) as c:
        r = c.post("/recommendations", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["matched"][0] == {"query": title, "id": 1, "title": "Toy Story (1995)", "how": "exact"}


# -- short details ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"ratings": [{"item": "x" * 200, "rating": "five stars " * 300}]},  # a bad rating: no echo
        {"ratings": [{"item": {"nested": "y" * 3000}, "rating": 4}]},
        {"ratings": [{"item": "toy story", "rating": 11}]},  # our DataError names the title
        {"ratings": [{"item": "z" * 200, "rating": 4}]},  # our TitleError lists candidates
    ],
)
def test_error_details_are_one_short_line(client, body: dict) -> None:
    r = client.post("/recommendations", json=body)
    assert r.status_code in (404, 422), r.text
    detail = r.json()["detail"]
    assert len(detail) <= MAX_DETAIL and "\n" not in detail
    assert "y" * 100 not in detail and "five stars five stars" not in detail


def test_one_line() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    assert one_line("x" * 1000) == "x" * (MAX_DETAIL - 1) + "…"


# -- maps as jobs ------------------------------------------------------------------------------------------
def test_map_jobs_share_one_future_per_method(small_model) -> None:
    from embedrec.query.recommender import Recommender
    from embedrec.web.service import ModelService

    service = ModelService(Recommender(small_model))
    calls: list[str] = []

    def encode(method: str, proj) -> bytes:  # noqa: ANN001
        calls.append(method)
        return service.encode_map(method, proj)

    jobs = MapJobs(["pca"], service.map_table, service.map_rows, encode)
    try:
        futures = [jobs.get("pca") for _ in range(5)]
        body = futures[0].result(timeout=60)
        assert all(f is futures[0] for f in futures) and calls == ["pca"]
        assert json.loads(body.json)["method"] == "pca"
        import gzip

        assert gzip.decompress(body.gzip) == body.json
    finally:
        jobs.close()


@pytest.mark.slow
def test_a_failed_map_raises_our_error_and_is_retried() -> None:
    """t-SNE of four points fails in its worker process with a ParameterError; the next request tries
    again (and fails again) rather than caching the failure."""
    from embedrec import IdMap
    from embedrec.data.embeddings import EmbeddingTable

    table = EmbeddingTable(np.eye(4, dtype=np.float32), IdMap(np.arange(4), "item"), name="four")
    jobs = MapJobs(["tsne"], lambda: table, lambda m: None, lambda m, p: b"{}")
    try:
        first = jobs.get("tsne")
        with pytest.raises(ParameterError, match="at least 5 points"):
            first.result(timeout=120)
        assert jobs.get("tsne") is not first
    finally:
        jobs.close()


@pytest.mark.slow
def test_health_and_pca_answer_while_tsne_is_computed(small_model) -> None:
    """A t-SNE map (3,000 items, tens of seconds) runs in a worker process: /health keeps answering in
    milliseconds and a PCA map asked for afterwards comes back before it."""
    port = free_port()
    config = uvicorn.Config(create_app(small_model, map_methods=["pca", "tsne"]), host="127.0.0.1", port=port)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, 60)
        done: dict[str, float] = {}

        def fetch(method: str) -> None:
            r = httpx.get(url + "map", params={"method": method}, timeout=300)
            assert r.status_code == 200
            done[method] = time.monotonic()

        tsne = threading.Thread(target=fetch, args=("tsne",))
        tsne.start()
        time.sleep(0.5)  # not a wait for the server: the t-SNE request must be in flight first
        fetch("pca")
        latencies = []
        with httpx.Client(timeout=30) as c:
            while tsne.is_alive():
                t0 = time.perf_counter()
                assert c.get(url + "health").status_code == 200
                latencies.append(time.perf_counter() - t0)
                tsne.join(timeout=0.05)
        assert done["pca"] < done["tsne"]
        # 50 ms is the target; on a machine shared with other work a rare answer waits for a core
        assert len(latencies) > 20, latencies
        assert np.median(latencies) < 0.05 and np.percentile(latencies, 95) < 0.1, latencies
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# -- serve ------------------------------------------------------------------------------------------------
def test_serve_refuses_a_model_it_cannot_serve_in_one_line(tmp_path: Path) -> None:
    model_dir = GlobalMean().fit(load_dataset("movielens-small")).save(tmp_path / "mean")
    cmd = [sys.executable, "-c", "from embedrec.cli.main import app; app()", "serve", str(model_dir)]
    proc = subprocess.run([*cmd, "--port", str(free_port())], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "GlobalMean cannot recommend or fold in" in lines[0], proc.stderr
    assert "Serving" not in proc.stdout


def test_settling_the_heap_hides_the_long_lived_objects_from_the_collector() -> None:
    """What `serve` does before it listens: the model and the libraries are frozen, so a full collection
    then walks only what requests allocate, not a 150 ms pause with the GIL held."""
    gc.unfreeze()
    try:
        settle_heap()
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()  # give this test process its collector back
    assert frozen > 10_000, frozen
