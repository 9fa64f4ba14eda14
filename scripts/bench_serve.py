"""``spasmqa serve`` under load on loopback: ``python scripts/bench_serve.py [--clients 1,4,16,64] [--seconds 20] [--no-rerank] [--json OUT]``.

Starts ``spasmqa serve`` over the bundled corpus's index (built first when missing) on a free loopback
port, with its default limits, and for each number of clients runs that many for a fixed time, each
posting the next development question to ``/ask`` as soon as its last one was answered (a closed loop).
Reports per level: requests, throughput, latency p50/p95/p99, errors (any status but 200, or a transport
failure: zero expected) and the server process's resident memory before and after the level (growth
across levels would be a leak). The clients run in this process, on the same cores as the server.
``--quick`` runs 1 and 4 clients for 3 s each: CI uses it to check this runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stores import free_port, process_rss_mb  # noqa: E402

import spasmqa  # noqa: E402
from spasmqa.evaluation import load_questions  # noqa: E402


@dataclass(frozen=True)
class Level:
    clients: int
    seconds: float
    requests: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    rss_before_mb: float
    rss_after_mb: float


def start_server(port: int) -> subprocess.Popen[bytes]:
    index = spasmqa.default_index()  # built here, once, if missing: the server only loads it
    server = subprocess.Popen(
        [sys.executable, "-m", "spasmqa", "serve", "--index", str(index.path), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"spasmqa serve exited with {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("spasmqa serve did not answer /health within 300 s")


async def run_level(base: str, clients: int, seconds: float, questions: list[str], rerank: bool, pid: int) -> Level:
    latencies: list[float] = []
    errors = 0
    before = process_rss_mb(pid)
    stop = time.perf_counter() + seconds

    async def client(number: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        asked = number
        while time.perf_counter() < stop:
            question = questions[asked % len(questions)]
            asked += clients
            started = time.perf_counter()
            try:
                response = await http.post("/ask", json={"question": question, "rerank": rerank})
                ok = response.status_code == 200 and bool(response.json()["passages"])
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not ok

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(n, http) for n in range(clients)))
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return Level(clients, round(elapsed, 1), len(latencies), round(len(latencies) / elapsed, 2), round(cuts[49], 1),
                 round(cuts[94], 1), round(cuts[98], 1), errors, round(before, 1), round(process_rss_mb(pid), 1))


def format_table(levels: list[Level]) -> str:
    lines = [f"{'clients':>7} {'requests':>8} {'req/s':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6} {'RSS MB before → after':>22}"]
    lines += [f"{lv.clients:>7} {lv.requests:>8} {lv.per_second:>6.2f} {lv.p50_ms:>8.0f} {lv.p95_ms:>8.0f} {lv.p99_ms:>8.0f} "
              f"{lv.errors:>6} {lv.rss_before_mb:>12.0f} → {lv.rss_after_mb:.0f}" for lv in levels]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,16,64")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-rerank", dest="rerank", action="store_false")
    parser.add_argument("--quick", action="store_true", help="1 and 4 clients, 3 s each: checks that this runs")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    counts = [1, 4] if args.quick else [int(c) for c in args.clients.split(",")]
    seconds = 3.0 if args.quick else args.seconds
    questions = [q.text for q in load_questions()]
    port = free_port()
    server = start_server(port)
    try:
        levels = []
        for clients in counts:
            levels.append(asyncio.run(run_level(f"http://127.0.0.1:{port}", clients, seconds, questions, args.rerank, server.pid)))
            print(format_table(levels[-1:]).splitlines()[1], file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    machine = {"machine": platform.machine(), "processor": platform.processor(), "python": platform.python_version(),
               "cpus": os.cpu_count()}
    print(f"POST /ask, rerank={args.rerank}, k=5, {seconds:g} s per level, {len(questions)} development questions in turn")
    print(format_table(levels))
    print(f"machine: {machine}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rerank": args.rerank, "levels": [asdict(lv) for lv in levels],
                                               "machine": machine}, indent=2) + "\n")
    if any(level.errors for level in levels):
        raise SystemExit("some requests failed; see the errors column")


if __name__ == "__main__":
    main()
