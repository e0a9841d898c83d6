"""Load tests of the web API on 127.0.0.1: title search, mixed load, a 5 MB sender, and maps being drawn.

    .venv/bin/python benchmarks/bench_web.py     # ~5 minutes; writes the "web" section of BENCHMARKS.md

1. Title search in process, per query, on MovieLens catalogues (ML-100K, movielens-small, and a synthetic
   62,000-title catalogue the size of ML-25M's): the prebuilt index against the full scan it replaced
   (every title scored by rapidfuzz), on the same queries.
2. The real `embedrec serve` (one uvicorn process) on a model trained on movielens-small, under closed-loop
   clients on keep-alive connections: half `GET /items?q=` (what a visitor types), half
   `POST /recommendations` with 3–5 ratings by title; 50 clients, the same 50 plus one client (in a process
   of its own) sending 5 MiB bodies back to back, 200 clients, and 1 client. Zero errors required on the
   normal requests.
3. Maps: a UMAP map is requested, a PCA map 1 s later and a t-SNE map 2 s later, while a client polls
   `GET /health` every 50 ms until all three are drawn.

Clients and server share the machine's cores (the clients are a bare asyncio HTTP/1.1 client, like wrk),
so the figures are a floor for a server with a machine to itself. Every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import git_revision, machine, write_section  # noqa: E402

COMMAND = ".venv/bin/python benchmarks/bench_web.py"
BIG = 5 * 1024 * 1024  # the oversized body: 5 MiB of valid JSON
ML100K = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"


def train_model(path: Path) -> None:
    """The demo-sized model: DotBias, 32 factors, a few epochs on the bundled movielens-small."""
    import embedrec

    data = embedrec.load_dataset("movielens-small")
    model = embedrec.DotBias(n_factors=32, epochs=5, batch_size=4096, lr=0.02, verbose=False).fit(data)
    model.save(path)


# -- 1. title search in process ------------------------------------------------------------------------
def catalogues() -> list[tuple[str, list[str], np.ndarray]]:
    """(name, titles, rating counts) of the catalogues the search is timed on."""
    import embedrec
    from embedrec.data.catalogue import Catalogue

    out = []
    if (ML100K / "u.item").exists():
        cat = Catalogue.from_interactions(embedrec.load_dataset(str(ML100K)))
        out.append(("ML-100K", cat.titles, cat.counts))
    cat = Catalogue.from_interactions(embedrec.load_dataset("movielens-small"))
    out.append(("movielens-small", cat.titles, cat.counts))
    # ML-25M's size: each title seven times under other years, with fewer ratings each time
    names = [t.rsplit(" (", 1)[0] for t in cat.titles]
    titles = [f"{b} ({1920 + (7 * i + k) % 100})" for k in range(7) for i, b in enumerate(names)][:62_423]
    counts = np.concatenate([cat.counts // (k + 1) for k in range(7)])[: len(titles)]
    out.append(("synthetic, ML-25M-sized", titles, counts))
    return out


def search_queries(titles: list[str], n: int, seed: int = 0) -> list[str]:
    """What people type: whole titles, their first word or two, and titles with one letter missing."""
    from embedrec.data.titles import _bare, split_title

    rng = np.random.default_rng(seed)
    out = []
    for i in rng.choice(len(titles), n):
        name = _bare(split_title(titles[i])[0])
        words = name.split()
        kind = int(rng.integers(3))
        if kind == 0:
            out.append(name)
        elif kind == 1:
            out.append(" ".join(words[: int(rng.integers(1, 3))]))
        else:
            k = int(rng.integers(max(1, len(name) - 1)))
            out.append(name[:k] + name[k + 1 :])
    return out


def time_search(n_queries: int = 200) -> list[dict]:
    """Per catalogue: ms per query of the indexed search and of the full scan, on the same queries."""
    from rapidfuzz import process

    from embedrec.data.titles import TitleIndex, _bare, split_title, title_similarity

    rows = []
    for name, titles, counts in catalogues():
        queries = search_queries(titles, n_queries)
        t0 = time.perf_counter()
        index = TitleIndex(titles, counts)
        index.search(queries[0], 20)  # the trigram index is built on the first search
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        for q in queries:
            index.search(q, 20)
        fast = (time.perf_counter() - t0) / len(queries) * 1000
        t0 = time.perf_counter()
        for q in queries[:50]:  # the previous implementation: rapidfuzz over every title, Python scorer
            name_, year = split_title(q)
            probe = f"{_bare(name_)} {year}" if year else _bare(name_)
            process.extract(probe, index._bares, scorer=lambda a, b, **_: title_similarity(a, b), limit=20)
        scan = (time.perf_counter() - t0) / 50 * 1000
        rows.append({"catalogue": name, "titles": len(titles), "build_s": build, "fast": fast, "scan": scan})
        print(f"  {name}: {fast:.2f} ms per query (full scan {scan:.1f} ms)", flush=True)
    return rows


# -- 2. the server under load ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from embedrec.cli.main import app; app()", "serve", str(model_dir)]
    proc = subprocess.Popen([*cmd, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start within 180 s")


def workload(base: str, count: int, seed: int = 0) -> list[tuple[str, str, bytes]]:
    """`count` requests, alternating a title search and a visitor's 3–5 ratings by title."""
    popular = httpx.get(f"{base}/items", params={"limit": 300}).json()["items"]
    names = [it["title"].rsplit(" (", 1)[0] for it in popular]
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        if k % 2 == 0:
            words = names[int(rng.integers(len(names)))].lower().replace(",", "").split()
            query = " ".join(words[: int(rng.integers(1, 3))]) if k % 4 else "star"
            out.append(("GET", f"/items?q={quote(query)}", b""))
        else:
            picks = rng.choice(len(names), size=int(rng.integers(3, 6)), replace=False)
            ratings = [{"item": names[i].lower(), "rating": float(rng.integers(4, 11)) / 2} for i in picks]
            out.append(("POST", "/recommendations", json.dumps({"ratings": ratings, "n": 10}).encode()))
    return out


async def call(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int, method: str, path: str, body: bytes
) -> tuple[int, bytes]:
    """One HTTP/1.1 keep-alive request on an open connection: (status, body)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    writer.write((head + "\r\n").encode() + body)
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:"))
    return status, await reader.readexactly(length)


async def big_sender(port: int, stop: float, out: dict) -> None:
    """Back to back: a 5 MiB POST /recommendations on a new connection; how each one ended."""
    body = json.dumps({"ratings": [{"item": 1, "rating": 4.0}] * (BIG // 26), "n": 10}).encode()[:BIG]
    head = (
        f"POST /recommendations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    while time.perf_counter() < stop:
        t0 = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(head)
            writer.write(body)
            status_line = await asyncio.wait_for(reader.readline(), 30)
            key = status_line.split()[1].decode() if status_line else "closed"
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            key = type(exc).__name__
        finally:
            writer.close()
        out[key] = out.get(key, 0) + 1
        out.setdefault("ms", []).append((time.perf_counter() - t0) * 1000)


def big_process(port: int, seconds: float, queue: multiprocessing.Queue) -> None:
    """The 5 MiB sender in a process of its own, so that its copying does not slow the normal clients."""
    out: dict = {}
    asyncio.run(big_sender(port, time.perf_counter() + seconds, out))
    queue.put(out)


async def load(port: int, plan: list, clients: int, seconds: float) -> dict:
    """`clients` closed-loop clients for `seconds`: latency per kind of request, and the errors."""
    latencies: dict[str, list[float]] = {"GET": [], "POST": []}
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    async def client(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while time.perf_counter() < stop:
                method, path, body = plan[i % len(plan)]
                t0 = time.perf_counter()
                try:
                    status, reply = await asyncio.wait_for(call(reader, writer, port, method, path, body), 30)
                    if status != 200 or "items" not in json.loads(reply):
                        errors.append(f"{method} {path} {status}: {reply[:200]!r}")
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                    errors.append(f"{method} {path}: {exc!r}")
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                latencies[method].append(time.perf_counter() - t0)
                i += clients
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return {
        "clients": clients,
        "lat": latencies,
        "errors": errors,
        "wall": time.perf_counter() - t0,
        "big": {},
    }


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the server process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server: subprocess.Popen, port: int, plan: list, clients: int, seconds: float, big: bool) -> dict:
    """One timed load run, with the server's CPU time over it."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    sender = multiprocessing.Process(target=big_process, args=(port, seconds, queue)) if big else None
    cpu0 = server_cpu(server.pid)
    if sender is not None:
        sender.start()
    raw = asyncio.run(load(port, plan, clients, seconds))
    raw["cpu"] = server_cpu(server.pid) - cpu0
    if sender is not None:
        raw["big"] = queue.get(timeout=120)
        sender.join()
    return raw


def summarise(raws: list[dict], seconds: float) -> dict:
    """Latency percentiles (ms) per kind over one or more runs of the same load, and totals."""
    lat = {k: [x for r in raws for x in r["lat"][k]] for k in ("GET", "POST")}
    both = lat["GET"] + lat["POST"]
    res = {"clients": raws[0]["clients"], "seconds": seconds * len(raws), "requests": len(both)}
    res["rps"] = len(both) / sum(r["wall"] for r in raws)
    res["cpu_ms"] = 1000 * sum(r["cpu"] for r in raws) / max(1, len(both))
    for name, values in (("all", both), ("GET", lat["GET"]), ("POST", lat["POST"])):
        ms = np.array(values or [np.nan]) * 1000
        res[name] = {
            "p50": float(np.percentile(ms, 50)),
            "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max()),
        }
    errors = [e for r in raws for e in r["errors"]]
    res["errors"], res["first_error"] = len(errors), errors[0] if errors else ""
    big: dict = {}
    for r in raws:
        for k, v in r["big"].items():
            big[k] = big.get(k, 0 if k != "ms" else []) + v
    res["big"] = big
    return res


# -- 3. maps while the server keeps answering -------------------------------------------------------------
def maps_phase(base: str, methods: list[str]) -> dict:
    """Request UMAP, then PCA 1 s later and t-SNE 2 s later (whichever are offered); poll /health."""
    times: dict[str, float] = {}

    def fetch(method: str) -> None:
        t0 = time.perf_counter()
        r = httpx.get(f"{base}/map", params={"method": method}, timeout=600)
        times[method] = time.perf_counter() - t0 if r.status_code == 200 else float("nan")

    order = [(m, d) for m, d in (("umap", 0.0), ("pca", 1.0), ("tsne", 2.0)) if m in methods]
    threads = []
    t0 = time.perf_counter()
    health: list[float] = []
    with httpx.Client(timeout=30) as client:
        for method, delay in order:
            while time.perf_counter() - t0 < delay:
                h0 = time.perf_counter()
                client.get(f"{base}/health")
                health.append((time.perf_counter() - h0) * 1000)
                time.sleep(0.05)
            threads.append(threading.Thread(target=fetch, args=(method,)))
            threads[-1].start()
        while any(t.is_alive() for t in threads) and time.perf_counter() - t0 < 600:
            h0 = time.perf_counter()
            client.get(f"{base}/health")
            health.append((time.perf_counter() - h0) * 1000)
            time.sleep(0.05)
    lat = np.array(health)
    return {
        "times": times,
        "order": order,
        "health": {
            "n": len(lat),
            "p50": float(np.median(lat)),
            "p99": float(np.percentile(lat, 99)),
            "max": float(lat.max()),
        },  # fmt: skip
    }


# -- the report ----------------------------------------------------------------------------------------------
def report(search: list[dict], runs: list[dict], alone: dict, maps: dict | None, health: dict) -> str:
    def row(label: str, r: dict) -> str:
        big = r["big"]
        sent = sum(v for k, v in big.items() if k != "ms")
        big_txt = ""
        if sent:
            ends = ", ".join(f"{v} {k}" for k, v in sorted(big.items()) if k != "ms")
            big_txt = f" + 5 MiB sender: {sent} bodies ({ends}), median {np.median(big['ms']):.0f} ms each"
        return (
            f"| {label}{big_txt} | {r['requests']:,} | {r['rps']:,.0f} | {r['all']['p50']:.0f} ms "
            f"| {r['all']['p99']:.0f} ms | {r['GET']['p99']:.0f} ms | {r['POST']['p99']:.0f} ms "
            f"| {r['all']['max']:.0f} ms | {r['cpu_ms']:.2f} ms | {r['errors']} |"
        )

    base50, big50 = runs[0], runs[1]
    ratio = big50["all"]["p99"] / base50["all"]["p99"]
    by_clients = {r["clients"]: r for r in runs if not r["big"]}
    lines = [
        "## Web API under load",
        "",
        f"`{COMMAND}` — one `embedrec serve` process (uvicorn, {health['model']} with {health['n_factors']} "
        f"factors, {health['n_items']:,} items of movielens-small) on 127.0.0.1; clients and server share "
        "the machine. Each client is a closed loop on one keep-alive connection; half its requests are "
        "`GET /items?q=` (a title search as typed: `star`, `toy`, `godfather`...), half "
        "`POST /recommendations` with 3–5 ratings by title (title lookup, fold-in, top-10, three reasons "
        f"per card). The 50-client rows are two {runs[0]['seconds'] / 2:g} s runs each, alternated; the "
        "others one run. *Server CPU per request* is the server process's CPU time over the requests "
        "served: it does not depend on what else the machine runs, the latencies do.",
        "",
        "| load | requests | requests/s | p50 | p99 | p99 search | p99 recommend | max "
        "| server CPU per request | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        row("1 client", alone),
        *(row(f"{r['clients']} clients", r) for r in runs),
        "",
        f"A client sending 5 MiB bodies back to back beside 50 normal clients: every body is refused with "
        f"413 from its Content-Length before it is read (`--max-body`, default 256 KiB), and the normal "
        f"requests' p99 is {ratio:.2f}× their p99 without it (target ≤ 2×), with "
        f"{big50['errors']} errors (target 0). At 50 clients p99 is {by_clients[50]['all']['p99']:.0f} ms "
        f"(target ≤ 500 ms on 2 cores); at 200 clients {by_clients.get(200, {}).get('errors', 'n/a')} errors "
        "(target 0). With many clients the latency is mostly queueing (p50 ≈ clients / throughput). The "
        "latencies move from run to run with what else the machine runs (see the load average below); "
        f"the server CPU per request does not: at {by_clients[50]['cpu_ms']:.2f} ms, one core serves about "
        f"{1000 / by_clients[50]['cpu_ms']:,.0f} of these requests per second, so on an idle machine (the "
        f"server is one process, one core's worth under the GIL) 50 clients would wait about "
        f"{50 * by_clients[50]['cpu_ms']:.0f} ms each. `embedrec serve` freezes the heap it starts with "
        "(`gc.freeze()`): a full collection walked the model, the title index and the imported libraries, "
        "~150 ms of CPU with the GIL held that stalled every request in flight, and that stall was most of "
        "the former p99 (650 ms).",
        "",
        "Title search in process (`TitleIndex.search`, 20 results, 200 queries per catalogue: whole "
        "titles, their first words, one letter dropped), against the full scan it replaced (rapidfuzz "
        "scoring every title with the same `title_similarity`, 50 of the queries):",
        "",
        "| catalogue | titles | index built in | ms per query | full scan ms per query | speed-up |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {s['catalogue']} | {s['titles']:,} | {s['build_s']:.2f} s | {s['fast']:.2f} | "
            f"{s['scan']:.1f} | {s['scan'] / s['fast']:.0f}× |"
            for s in search
        ),
        "",
        "Target: ≤ 5 ms per query on MovieLens catalogues.",
    ]
    if maps is not None:
        t, h = maps["times"], maps["health"]
        asked = ", ".join(f"{m} at {d:g} s" for m, d in maps["order"])
        done = ", ".join(f"{m} {t.get(m, float('nan')):.1f} s" for m, _ in maps["order"])
        lines += [
            "",
            f"Maps on a fresh server ({asked}; t-SNE and UMAP of the 3,000 most rated items run in a worker "
            f"process, one at a time; PCA of all items in a thread): each answered after {done}. "
            f"Meanwhile `GET /health` every 50 ms: {h['n']} answers, p50 {h['p50']:.1f} ms, "
            f"p99 {h['p99']:.1f} ms, max {h['max']:.0f} ms (target < 50 ms).",
        ]
    lines += ["", f"Machine: {machine()}. Revision {git_revision()}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a saved model directory (default: train one)")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each load run")
    parser.add_argument("--no-maps", action="store_true", help="leave out the maps phase (~2 minutes)")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    if not 0 < args.seconds <= 120:
        raise SystemExit("keep the load bounded: at most 120 s per row")

    print("title search in process ...", flush=True)
    search = time_search()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            model_dir = Path(tmp) / "model"
            print("training the demo model on movielens-small ...", flush=True)
            train_model(model_dir)
        maps = None
        port = free_port()
        server = start_server(model_dir, port)
        try:
            base = f"http://127.0.0.1:{port}"
            health = httpx.get(f"{base}/health").json()
            plan = workload(base, 2000)
            asyncio.run(load(port, plan[:100], 4, 2.0))  # warm up connections and caches
            # 50 clients without and with the 5 MiB sender, alternated twice so drift in the machine's
            # load falls on both; then 200 clients and 1 client
            raws: dict[tuple[int, bool], list[dict]] = {}
            for clients, big in ((50, False), (50, True), (50, False), (50, True), (200, False), (1, False)):
                print(
                    f"{clients} clients{' + a 5 MiB sender' if big else ''} for {args.seconds:g} s ...",
                    flush=True,
                )
                raws.setdefault((clients, big), []).append(
                    measure(server, port, plan, clients, args.seconds, big)
                )
            runs = [summarise(raws[key], args.seconds) for key in ((50, False), (50, True), (200, False))]
            alone = summarise(raws[(1, False)], args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
        if not args.no_maps:
            port = free_port()
            server = start_server(model_dir, port)
            try:
                print("maps while /health is polled ...", flush=True)
                maps = maps_phase(f"http://127.0.0.1:{port}", health["map_methods"])
            finally:
                server.terminate()
                server.wait(timeout=30)

    markdown = report(search, runs, alone, maps, health)
    print(markdown)
    errors = [r for r in (*runs, alone) if r["errors"]]
    for r in errors:
        print(f"first error ({r['clients']} clients): {r['first_error']}", file=sys.stderr)
    if not args.no_write:
        write_section("web", markdown)
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
