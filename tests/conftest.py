"""Shared fixtures: real data from the shared data folder beside the repository."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ml100k_dir(shared_data: Path) -> Path:
    return shared_data / "ml-100k"


@pytest.fixture(scope="session")
def ml_small_dir(shared_data: Path) -> Path:
    return shared_data / "ml-latest-small"


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    """Headless system Chromium driven by Playwright (it cannot download a browser of its own)."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (CI installs it: apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def small_model():
    """A DotBias fitted in a few seconds on the bundled movielens-small data (shared by many tests)."""
    import embedrec

    data = embedrec.load_dataset("movielens-small")
    return embedrec.DotBias(n_factors=32, epochs=5, batch_size=4096, lr=0.02, verbose=False).fit(data)


@pytest.fixture(scope="session")
def small_model_dir(small_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`small_model` saved to a temporary model directory."""
    return small_model.save(tmp_path_factory.mktemp("models") / "small")


@pytest.fixture(scope="session")
def serve():
    """Serve apps on real uvicorn servers in threads: `serve(app)` gives the base URL once /health answers."""
    uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed")
    httpx = pytest.importorskip("httpx", reason="httpx is not installed")
    running = []

    def start(app) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # poll, never sleep a fixed time
            try:
                if httpx.get(url + "health", timeout=1.0).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"{url} did not answer within 30 s")

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=10)


def rewrite(
    folder: Path,
    arrays_fn: Callable[[dict[str, np.ndarray]], None] | None = None,
    meta_fn: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Change a saved model's arrays and/or model.json, recomputing the weights' checksum and name."""
    from safetensors.numpy import load, save

    meta = json.loads((folder / "model.json").read_text())
    weights = folder / meta["weights_file"]
    arrays = dict(load(weights.read_bytes()))
    if arrays_fn is not None:
        arrays_fn(arrays)
    blob = save(arrays)
    digest = hashlib.sha256(blob).hexdigest()
    weights.unlink()
    meta["weights_file"], meta["weights_sha256"] = f"weights-{digest[:16]}.safetensors", digest
    (folder / meta["weights_file"]).write_bytes(blob)
    if meta_fn is not None:
        meta_fn(meta)
    (folder / "model.json").write_text(json.dumps(meta))


@pytest.fixture(scope="session")
def tamper() -> Callable[..., None]:
    """`tamper(folder, arrays_fn=None, meta_fn=None)`: damage a saved model as an attacker would, with
    its checksum recomputed so that only validation can catch it."""
    return rewrite
