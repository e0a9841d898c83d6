"""CLI verb `serve`: the web page and HTTP API for a saved model, on loopback unless told otherwise."""

from __future__ import annotations

import gc
import ipaddress
import threading
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import platformdirs
import typer
import uvicorn
from rich.console import Console

from embedrec.data.embeddings import EmbeddingTable
from embedrec.errors import ParameterError
from embedrec.models.persist import META, read_meta
from embedrec.web.app import MAX_THREADS, create_app
from embedrec.web.limits import MAX_BODY
from embedrec.web.words import create_words_app

WORD_MODELS = ("Word2Vec", "TextClassifier")  # saved models served as word vectors

console = Console()


def serve_model(
    model: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    open_browser: bool = False,
    max_body: int = MAX_BODY,
    threads: int = MAX_THREADS,
) -> None:
    """Build the app for a model (or model directory) and serve it with uvicorn until Ctrl+C.

    A model the app cannot serve (one that cannot recommend or fold in new users) is refused here, with
    an UnsupportedQueryError the CLI prints as one line, before anything listens.
    """
    if not 0 <= port <= 65535:
        raise ParameterError(f"port must be 0..65535, got {port}")
    if max_body < 1 or threads < 1:
        raise ParameterError(f"--max-body and --threads must be positive, got {max_body} and {threads}")
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if _is_words(model):  # word vectors: the map of words, word search and neighbours
        app = create_words_app(model)
        what = f"{app.state.service.table.name} ({len(app.state.service.table):,} words)"
    else:
        app = create_app(model, max_body=max_body, max_threads=threads)
        service = app.state.service
        counts = f"{len(service.item_ids):,} items, {len(service.user_ids):,} users"
        what = f"{type(service.model).__name__} ({counts})"
    console.print(f"Serving {what} at [bold]{url}[/]  (API docs at {url}docs; Ctrl+C stops)")
    if not _is_loopback(host):
        console.print(f"[yellow]warning:[/] listening on {host}: other machines can reach this server")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    settle_heap()
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _is_words(model: Any) -> bool:
    """A vectors file or a saved model of word vectors (Word2Vec, TextClassifier): not a recommender."""
    if isinstance(model, EmbeddingTable):
        return True
    if not isinstance(model, str | Path):
        return False
    path = Path(model)
    if path.is_file():
        return True
    meta = read_meta(path) if (path / META).is_file() else {}
    return meta.get("model_type") in WORD_MODELS


def demo_model_dir(out: Path | None = None) -> Path:
    """Where `embedrec demo --serve` keeps its model: `out` if given, else the user's data folder."""
    if out is not None:
        return Path(out)
    return Path(platformdirs.user_data_dir("embedrec")) / "demo-model"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(cli: typer.Typer) -> None:
    """Add the `serve` verb to the CLI."""

    @cli.command()
    def serve(
        model_dir: Annotated[
            Path,
            typer.Argument(help="A saved model directory (`embedrec train`, `word2vec`) or a vectors file."),
        ],
        host: Annotated[
            str, typer.Option(help="Address to listen on; 0.0.0.0 exposes it to the network.")
        ] = ("127.0.0.1"),
        port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8000,
        open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
        max_body: Annotated[
            int, typer.Option(help="Largest request body accepted, in bytes (larger: 413).", min=1)
        ] = MAX_BODY,
        threads: Annotated[
            int, typer.Option(help="Requests computed at once; the rest queue (not the event loop).", min=1)
        ] = MAX_THREADS,
    ) -> None:
        """Serve the web page (search, rate, recommendations, map) and the HTTP API for a model."""
        serve_model(model_dir, host, port, open_browser=open_browser, max_body=max_body, threads=threads)


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(cli)


def settle_heap() -> None:
    """Take what lives as long as the server (the model, its title index, the imported libraries) out of
    the cyclic collector's sight: otherwise every full collection walks it all, a pause of ~150 ms of
    CPU with the GIL held that stalls every request in flight and makes the latency tail."""
    gc.collect()
    gc.freeze()
