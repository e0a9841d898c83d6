"""Load test of the web API on 127.0.0.1: many concurrent visitors asking for recommendations.

    .venv/bin/python benchmarks/bench_web.py            # 50 clients × 30 s, writes BENCHMARKS.md

The server is the real `embedrec serve` command in its own process (one uvicorn worker) on a model trained
on movielens-small; the clients are asyncio tasks in this process, each on its own keep-alive connection
sending POST /recommendations with 3–5 ratings of popular movies (a visitor's first ratings) back to
back. Client and server share the machine's cores, so the figures are a floor for a server with a
machine to itself. Zero errors required.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import git_revision, machine, write_section  # noqa: E402

COMMAND = ".venv/bin/python benchmarks/bench_web.py"


def train_model(path: Path) -> None:
    """The demo-sized model: DotBias, 32 factors, a few epochs on the bundled movielens-small."""
    import embedrec

    data = embedrec.load_dataset("movielens-small")
    model = embedrec.DotBias(n_factors=32, epochs=5, batch_size=4096, lr=0.02, verbose=False).fit(data)
    model.save(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from embedrec.cli.main import app; app()", "serve", str(model_dir)]
    proc = subprocess.Popen([*cmd, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start within 120 s")


def request_bodies(base: str, count: int, seed: int = 0) -> list[dict]:
    """`count` visitors' first ratings: 3–5 of the 300 most rated movies, half-star ratings 2..5."""
    popular = httpx.get(f"{base}/items", params={"limit": 300}).json()["items"]
    rng = np.random.default_rng(seed)
    bodies = []
    for _ in range(count):
        picks = rng.choice(len(popular), size=int(rng.integers(3, 6)), replace=False)
        ratings = [{"item": popular[i]["id"], "rating": float(rng.integers(4, 11)) / 2} for i in picks]
        bodies.append({"ratings": ratings, "n": 10})
    return bodies


async def post_json(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int, path: str, body: bytes
) -> tuple[int, bytes]:
    """One HTTP/1.1 keep-alive POST on an open connection: (status, body)."""
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:"))
    return status, await reader.readexactly(length)


async def load(port: int, bodies: list[dict], clients: int, seconds: float) -> dict:
    """`clients` visitors, each on its own keep-alive connection, posting back to back for `seconds`.

    A bare asyncio HTTP/1.1 client (like wrk) rather than httpx: httpx spends about twice the server's
    CPU per request, and on a shared machine the client would be what is measured.
    """
    payloads = [json.dumps(b).encode() for b in bodies]
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    async def visitor(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(
                        post_json(reader, writer, port, "/recommendations", payloads[i % len(payloads)]), 30
                    )
                    if status != 200 or len(json.loads(body)["items"]) != 10:
                        errors.append(f"{status}: {body[:200]!r}")
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                    errors.append(repr(exc))
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                latencies.append(time.perf_counter() - t0)
                i += clients
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(visitor(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {
        "requests": len(lat),
        "rps": len(lat) / wall,
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "max": float(lat.max()),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a saved model directory (default: train one)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    if not 1 <= args.clients <= 500 or not 0 < args.seconds <= 300:
        raise SystemExit("keep the load bounded: 1..500 clients, at most 300 s")

    env = machine()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            model_dir = Path(tmp) / "model"
            print("training the demo model on movielens-small ...", flush=True)
            train_model(model_dir)
        port = free_port()
        server = start_server(model_dir, port)
        try:
            base = f"http://127.0.0.1:{port}"
            health = httpx.get(f"{base}/health").json()
            bodies = request_bodies(base, 1000)
            asyncio.run(load(port, bodies[:50], 4, 2.0))  # warm up connections and caches
            print(
                f"{args.clients} clients for {args.seconds:g} s against POST /recommendations ...", flush=True
            )
            res = asyncio.run(load(port, bodies, args.clients, args.seconds))
            print("1 client for 5 s (latency without queueing) ...", flush=True)
            alone = asyncio.run(load(port, bodies, 1, 5.0))
        finally:
            server.terminate()
            server.wait(timeout=10)

    markdown = "\n".join(
        [
            "## Web API under load",
            "",
            f"`{COMMAND}` — {args.clients} concurrent clients for {args.seconds:g} s against "
            "`POST /recommendations` (3–5 ratings per visitor, fold-in + top-10 + reasons), one uvicorn "
            f"process serving a {health['model']} ({health['n_factors']} factors, "
            f"{health['n_items']:,} items); clients and server share the machine.",
            "",
            "| clients | seconds | requests | requests/s | p50 latency | p99 latency | max latency "
            "| errors |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            *(
                f"| {n} | {t:g} | {r['requests']:,} | {r['rps']:,.0f} | {r['p50']:.1f} ms "
                f"| {r['p99']:.1f} ms | {r['max']:.0f} ms | {r['errors']} |"
                for n, t, r in ((args.clients, args.seconds, res), (1, 5.0, alone))
            ),
            "",
            "With 50 clients the latency is mostly queueing (p50 ≈ clients / throughput); one client alone "
            "shows the time a request takes.",
            "",
            f"Machine: {env}. Revision {git_revision()}.",
        ]
    )
    print(markdown)
    for r in (res, alone):
        if r["errors"]:
            print(f"first error: {r['first_error']}", file=sys.stderr)
    if not args.no_write:
        write_section("web", markdown)
    if res["errors"] or alone["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
