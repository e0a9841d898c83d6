"""Maps for the web app, computed off the event loop, once per method, without one blocking another.

t-SNE and UMAP take tens of seconds on a first request and hold the GIL for long stretches (numba's
first compile, Python loops), so they run in a separate process: the server's event loop and request
threads keep answering while one is computed. At most `max_heavy` such processes run at once; a
further request waits for a slot. PCA is milliseconds of NumPy and runs in a thread of its own, so it
never waits behind a slow map. Each method has one future: concurrent requests for the same map share
one computation, and the JSON (and its gzip form) is kept for every later request. A failed map is
forgotten so the next request tries again.
"""

from __future__ import annotations

import gzip
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from embedrec.data.embeddings import EmbeddingTable
from embedrec.show.projection import Projection, project_table

CHEAP = frozenset({"pca"})  # methods computed in a thread of the server process
MAX_HEAVY = 1  # t-SNE/UMAP processes at once by default: each keeps a core busy for its whole run


@dataclass(frozen=True)
class MapBody:
    """One map's JSON, and the same bytes gzipped for clients that accept it."""

    json: bytes
    gzip: bytes


class MapJobs:
    """Per-method map futures over `project(method) -> Projection` and `encode(method, projection)`.

    `table()` gives the embedding table to project; `encode` turns a projection into the response JSON.
    """

    def __init__(
        self,
        methods: list[str],
        table: Callable[[], EmbeddingTable],
        max_rows: Callable[[str], int | None],
        encode: Callable[[str, Projection], bytes],
        *,
        max_heavy: int = MAX_HEAVY,
    ) -> None:
        self.methods = list(methods)
        self._table = table
        self._max_rows = max_rows
        self._encode = encode
        self._futures: dict[str, Future[MapBody]] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, int(max_heavy)))
        # one thread per method: a map never queues behind another method's
        self._threads = ThreadPoolExecutor(max_workers=max(1, len(self.methods)), thread_name_prefix="map")
        self._children: set[multiprocessing.process.BaseProcess] = set()
        self._closed = False

    def get(self, method: str) -> Future[MapBody]:
        """The future of a method's map, started on the first request (or after a failure)."""
        with self._lock:
            fut = self._futures.get(method)
            if fut is None or (fut.done() and (fut.cancelled() or fut.exception() is not None)):
                if self._closed:
                    raise RuntimeError("the map jobs are shut down")
                fut = self._threads.submit(self._compute, method)
                self._futures[method] = fut
            return fut

    def _compute(self, method: str) -> MapBody:
        table, rows = self._table(), self._max_rows(method)
        if method in CHEAP:
            proj = project_table(table, method, max_rows=rows, seed=0)
        else:
            with self._slots:
                proj = self._in_child(table, method, rows)
        body = self._encode(method, proj)
        return MapBody(body, gzip.compress(body, compresslevel=6))

    def _in_child(self, table: EmbeddingTable, method: str, rows: int | None) -> Projection:
        """`project_table` in a fresh process (spawned: no copy of this one's threads or locks)."""
        ctx = multiprocessing.get_context("spawn")
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_child, args=(sender, table, method, rows), daemon=True, name=f"map-{method}"
        )
        with self._lock:
            if self._closed:
                raise RuntimeError("the map jobs are shut down")
            self._children.add(proc)
        try:
            proc.start()
            sender.close()
            try:
                status, value = receiver.recv()
            except EOFError:
                proc.join()
                raise RuntimeError(f"the {method} map process exited with code {proc.exitcode}") from None
            proc.join()
        finally:
            receiver.close()
            with self._lock:
                self._children.discard(proc)
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        """Stop: running map processes are terminated, queued maps cancelled."""
        with self._lock:
            self._closed = True
            children = list(self._children)
        for proc in children:
            proc.terminate()
        self._threads.shutdown(wait=False, cancel_futures=True)


def _child(sender: Connection, table: EmbeddingTable, method: str, rows: int | None) -> None:
    """Runs in the map process: send back ("ok", projection) or ("error", exception)."""
    try:
        result: tuple[str, Any] = ("ok", project_table(table, method, max_rows=rows, seed=0))
    except Exception as exc:  # noqa: BLE001 - handed to the server, which raises it for the request
        result = ("error", exc)
    try:
        sender.send(result)
    except Exception as exc:  # noqa: BLE001 - an exception that does not pickle: send its text
        sender.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        sender.close()
