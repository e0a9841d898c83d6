"""Built-in datasets: the bundled default, the registry, and the downloader against a server on 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedrec import DataError, DatasetError, list_datasets, load_dataset
from embedrec.data.datasets import REGISTRY, DatasetInfo, fetch

ZIPPED = ("u.data", "u.item", "u.user", "u.genre", "u1.base", "u1.test")


@pytest.fixture(scope="module")
def served(ml100k_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An ml-100k.zip (GroupLens layout, built from the shared copy) served over HTTP on 127.0.0.1."""
    root = tmp_path_factory.mktemp("www")
    archive = root / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ZIPPED:
            zf.write(ml100k_dir / name, f"ml-100k/{name}")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    _wait_for_port(port)
    yield f"http://127.0.0.1:{port}", archive
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


def _wait_for_port(port: int, deadline_s: float = 10.0) -> None:
    """Poll until the server accepts connections, failing after a deadline (no fixed sleeps)."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > end:
                raise
            threading.Event().wait(0.01)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _local_info(url: str, archive: Path) -> DatasetInfo:
    data = archive.read_bytes()
    return DatasetInfo(
        "ml-100k-local", 100_000, 943, 1_682, "test copy", f"{url}/ml-100k.zip",
        hashlib.sha256(data).hexdigest(), len(data),
    )  # fmt: skip


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_bundled_default_loads_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDREC_MIRROR", f"http://127.0.0.1:{_closed_port()}")  # any download would fail
    data = load_dataset("movielens-small", data_dir=tmp_path)
    assert repr(data) == "<Interactions 610 users × 9,724 items × 100,836 ratings>"
    assert data.item_meta.iloc[data.item_ids.index(1)]["title"] == "Toy Story (1995)"
    assert not any(tmp_path.iterdir())


def test_bundled_licence_is_shipped() -> None:
    from embedrec.data.datasets import BUNDLED

    assert "GroupLens" in (BUNDLED / "movielens-small" / "README.txt").read_text()


def test_registry_pins_every_download() -> None:
    infos = {d.name: d for d in list_datasets()}
    assert list(infos) == ["movielens-small", "ml-100k", "ml-1m", "ml-10m", "ml-25m", "ml-32m"]
    assert infos["movielens-small"].cached and infos["movielens-small"].url is None
    for name, info in REGISTRY.items():
        if name != "movielens-small":
            assert info.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
            assert re.fullmatch(r"[0-9a-f]{64}", info.sha256 or "") and info.size and info.size > 10**6
    assert (infos["ml-100k"].n_users, infos["ml-100k"].n_items, infos["ml-100k"].n_ratings) == (
        943,
        1682,
        100_000,
    )


def test_download_verify_extract_then_cached(served: tuple[str, Path], tmp_path: Path) -> None:
    url, archive = served
    info = _local_info(url, archive)
    folder = fetch(info, data_dir=tmp_path, progress=False)
    assert folder == tmp_path / "ml-100k-local" and (folder / "u.data").is_file()  # top folder unwrapped
    assert (tmp_path / "ml-100k-local.zip").read_bytes() == archive.read_bytes()
    assert leftovers(tmp_path) == []
    data = load_dataset(folder)
    assert (data.n_users, data.n_items, len(data)) == (943, 1682, 100_000)
    broken = replace(info, url=f"http://127.0.0.1:{_closed_port()}/ml-100k.zip")
    assert fetch(broken, data_dir=tmp_path, progress=False) == folder  # cached: no network needed


def test_registered_name_through_a_mirror_checks_the_sha256(
    served: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = served
    monkeypatch.setenv("EMBEDREC_MIRROR", url)  # our zip is not GroupLens' byte for byte
    with pytest.raises(DatasetError, match="does not match the published ml-100k zip.*nothing was kept"):
        load_dataset("ml-100k", data_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
    assert not next(d for d in list_datasets(tmp_path) if d.name == "ml-100k").cached


def test_offline_says_where_to_put_the_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDREC_MIRROR", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(DatasetError) as info:
        load_dataset("ml-1m", data_dir=tmp_path, progress=False)
    message = str(info.value)
    assert "could not download ml-1m" in message and str(tmp_path / "ml-1m.zip") in message
    assert REGISTRY["ml-1m"].sha256 in message and leftovers(tmp_path) == []


def test_http_error_is_a_dataset_error(served: tuple[str, Path], tmp_path: Path) -> None:
    url, archive = served
    missing = replace(_local_info(url, archive), url=f"{url}/no-such.zip")
    with pytest.raises(DatasetError, match="404"):
        fetch(missing, data_dir=tmp_path, progress=False)
    assert leftovers(tmp_path) == []


def test_zip_put_by_hand_is_verified_and_used(served: tuple[str, Path], tmp_path: Path) -> None:
    url, archive = served
    info = replace(_local_info(url, archive), url=f"http://127.0.0.1:{_closed_port()}/x.zip")
    shutil.copy(archive, tmp_path / "ml-100k-local.zip")
    assert (fetch(info, data_dir=tmp_path, download=False) / "u.item").is_file()


def test_truncated_zip_put_by_hand_is_refused(served: tuple[str, Path], tmp_path: Path) -> None:
    url, archive = served
    info = _local_info(url, archive)
    (tmp_path / "ml-100k-local.zip").write_bytes(archive.read_bytes()[:1000])
    with pytest.raises(DatasetError, match="truncated, corrupt.*delete it"):
        fetch(info, data_dir=tmp_path, download=False)
    assert not (tmp_path / "ml-100k-local").exists()
    unpinned = replace(info, sha256=None, size=None)  # even unpinned, a broken zip is not half-extracted
    with pytest.raises(DataError, match="cannot extract"):
        fetch(unpinned, data_dir=tmp_path, download=False)
    assert not (tmp_path / "ml-100k-local").exists() and leftovers(tmp_path) == []


def test_download_false_when_not_cached(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="download=False"):
        load_dataset("ml-25m", data_dir=tmp_path, download=False)


def test_env_var_sets_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from embedrec.data.datasets import data_home

    monkeypatch.setenv("EMBEDREC_DATA", str(tmp_path))
    assert data_home() == tmp_path and data_home(tmp_path / "x") == tmp_path / "x"


def test_paths_and_unknown_names(ml100k_dir: Path, tmp_path: Path) -> None:
    assert len(load_dataset(ml100k_dir / "u1.test")) == 20_000
    with pytest.raises(DatasetError, match="unknown dataset 'ml-7m'.*movielens-small"):
        load_dataset("ml-7m", data_dir=tmp_path)


# -- CLI -------------------------------------------------------------------------------------------


def cli_run(*args: str) -> str:
    from embedrec.cli.main import cli

    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    return result.output


def test_cli_datasets_table(tmp_path: Path) -> None:
    out = cli_run("datasets", "--data-dir", str(tmp_path))
    assert "movielens-small" in out and "bundled" in out and "25,000,095" in out and "ml-32m" in out


def test_cli_info_movielens_small() -> None:
    out = cli_run("info", "movielens-small")
    for expected in ("610", "9,724", "100,836", "density", "1996-03-29 to 2018-09-24", "per user", "26.6%"):
        assert expected in out, expected
