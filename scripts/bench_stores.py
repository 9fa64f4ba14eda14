"""The two stores side by side at scale: ``python scripts/bench_stores.py [--sizes 100000,1000000] [--quick] [--json OUT]``.

For each size, synthetic MiniLM-like vectors (``bench_scale.Mixture``, 384 dimensions) with a
chunk record of ~1,000 characters each are written through spasmqa's own store code
(``store.stores.write_store``, so the same index types: exact up to ``EXACT_SEARCH_LIMIT``, IVF_FLAT
with nlist = 4·sqrt(n) and nprobe = 16 above it) and opened again as ``spasmqa.load`` would. Reported per store:
write time (index + records), open time (checks, records read back), memory (this process's RSS
growth, and for Milvus the server process's RSS: a ``milvus-lite server`` on loopback, the path a
cluster's client takes), single-query search latency p50/p99 in ms through ``ChunkStore.search`` and
recall@10 against exact search. Each store and size runs in a process of its own. Chunks carry no
sentences here (a bundled chunk has 4.7, each one more vector: see the README's "When to switch").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import SEED, Mixture, MixtureSpec, ground_truth, rss_bytes  # noqa: E402

from spasmqa.chunking import Chunk, ChunkSettings  # noqa: E402
from spasmqa.store.directory import building  # noqa: E402
from spasmqa.store.manifest import DocumentInfo, Manifest, StoreInfo  # noqa: E402
from spasmqa.store.protocol import ChunkStore  # noqa: E402
from spasmqa.store.reuse import BuildVectors  # noqa: E402
from spasmqa.store.stores import open_store, write_store  # noqa: E402
from spasmqa.store.vectors import EXACT_SEARCH_LIMIT  # noqa: E402

TOP_K = 10
WORDS = "muscle cramp calf night stretch water salt nerve twitch eyelid spasm rest heat cold magnesium doctor".split()


@dataclass(frozen=True)
class Row:
    store: str
    size: int
    search_index: str
    write_s: float
    open_s: float
    client_rss_mb: float
    server_rss_mb: float | None
    p50_ms: float
    p99_ms: float
    recall_at_10: float


def synthetic_chunks(n: int) -> list[Chunk]:
    chunks = []
    for row in range(n):
        words = " ".join(WORDS[(row * 7 + i) % len(WORDS)] for i in range(150))[:1000]
        doc_id = f"doc{row // 20}"
        start = (row % 20) * 1001
        chunks.append(Chunk(f"{doc_id}:{start}-{start + len(words)}", doc_id, "Section", start, start + len(words),
                            words, "Title — Section", 200))
    return chunks


def manifest_for(n: int, store: StoreInfo) -> Manifest:
    return Manifest(
        model_id="synthetic", dimension=384, max_seq_length=256, fingerprint=(0.0,), chunking=ChunkSettings(),
        corpus_dir="/nonexistent", chunk_count=n,
        documents=tuple(DocumentInfo(f"doc{i}", f"Title {i}", "synthetic", None, "-", "-", 20_000) for i in range((n + 19) // 20)), sentence_count=0, answerability=(), files={},
        built_at="synthetic", build_seconds=0.0, store=store,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_milvus(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    from pymilvus import MilvusClient

    port = free_port()
    data_dir.mkdir(parents=True)
    log = (data_dir.parent / "milvus-server.log").open("wb")  # read back when a worker fails: the server's side of it
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "milvus-lite"), "server", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    uri = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            probe = MilvusClient(uri=uri, timeout=2, dedicated=True)  # its own connection, closed: none of its pings
            probe.list_collections()
            probe.close()
            return server, uri
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"milvus-lite server did not start at {uri}")


def process_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(kind: str, n: int, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, work: Path, uri: str | None,
            server_pid: int | None) -> Row:
    chunks = synthetic_chunks(n)
    store = StoreInfo() if kind == "faiss" else StoreInfo("milvus", uri)
    target = work / f"{kind}-{n}"
    before = rss_bytes("VmRSS")
    started = time.perf_counter()
    embedded = BuildVectors(384, chunks, None, [None] * n, vectors, np.zeros((0, 384), np.float32))
    with building(target):
        write_store(target, manifest_for(n, store), chunks, embedded, EXACT_SEARCH_LIMIT)
    write_s = time.perf_counter() - started
    del chunks
    started = time.perf_counter()
    opened: ChunkStore = open_store(target)
    open_s = time.perf_counter() - started
    opened.search(queries[:5], TOP_K)  # warm up
    latencies, found = [], []
    for query in queries:
        t = time.perf_counter()
        _, rows = opened.search(query[None, :], TOP_K)
        latencies.append((time.perf_counter() - t) * 1000)
        found.append(rows[0])
    recall = float(np.mean([len(set(f.tolist()) & set(t.tolist())) / TOP_K for f, t in zip(found, truth)]))
    return Row(
        kind, n, opened.manifest.search_index.kind, round(write_s, 1), round(open_s, 1),
        round((rss_bytes("VmRSS") - before) / 2**20, 1), None if server_pid is None else round(process_rss_mb(server_pid), 1),
        round(float(np.percentile(latencies, 50)), 3), round(float(np.percentile(latencies, 99)), 3), round(recall, 3),
    )


def format_table(rows: list[Row]) -> str:
    header = f"{'store':>7} {'size':>8} {'index':>12} {'write s':>8} {'open s':>7} {'client MB':>10} {'server MB':>10} {'p50 ms':>7} {'p99 ms':>7} {'recall@10':>9}"
    lines = [header]
    for r in rows:
        server = "-" if r.server_rss_mb is None else f"{r.server_rss_mb:.0f}"
        lines.append(f"{r.store:>7} {r.size:>8} {r.search_index:>12} {r.write_s:>8.1f} {r.open_s:>7.1f} {r.client_rss_mb:>10.0f} "
                     f"{server:>10} {r.p50_ms:>7.3f} {r.p99_ms:>7.3f} {r.recall_at_10:>9.3f}")
    return "\n".join(lines)


def worker(kind: str, n: int, query_count: int, uri: str | None, server_pid: int | None, work: Path) -> Row:
    """One store at one size, in a process of its own, so memory growth is this store's alone."""
    mixture = Mixture(MixtureSpec(), SEED)
    vectors = mixture.sample(n, stream=1)
    queries = mixture.sample(query_count, stream=2)
    truth = ground_truth(vectors, queries)[1]
    return measure(kind, n, vectors, queries, truth, work, uri, server_pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--stores", default="faiss,milvus")
    parser.add_argument("--quick", action="store_true", help="10^4 vectors, 50 queries: checks that this runs")
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument("--worker", nargs=5, metavar=("STORE", "SIZE", "QUERIES", "URI", "PID"), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, n, queries, uri, pid = args.worker
        row = worker(kind, int(n), int(queries), None if uri == "-" else uri, None if pid == "-" else int(pid), Path(args.work))
        print(json.dumps(asdict(row)))
        return
    sizes = [10_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    query_count = 50 if args.quick else args.queries
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-stores-") as scratch:
        work = Path(scratch)
        server, uri = start_milvus(work / "milvus") if "milvus" in args.stores else (None, None)
        try:
            for n in sizes:
                for kind in args.stores.split(","):
                    print(f"{kind} at {n}...", file=sys.stderr, flush=True)
                    milvus = kind == "milvus" and server is not None
                    command = [sys.executable, __file__, "--work", scratch, "--worker", kind, str(n), str(query_count),
                               str(uri) if milvus else "-", str(server.pid) if milvus else "-"]  # type: ignore[union-attr]
                    done = subprocess.run(command, capture_output=True, text=True)
                    if done.returncode != 0:
                        server_log = (work / "milvus-server.log").read_text(errors="replace")[-4000:] if milvus else ""
                        raise SystemExit(f"{kind} at {n} failed:\n{done.stderr[-4000:]}\n{server_log}")
                    rows.append(Row(**json.loads(done.stdout.strip().splitlines()[-1])))
                    print(format_table(rows[-1:]).splitlines()[1], file=sys.stderr, flush=True)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    print(format_table(rows))
    machine: dict[str, Any] = {"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count()}
    print(f"machine: {machine}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": [asdict(r) for r in rows], "machine": machine}, indent=2) + "\n")


if __name__ == "__main__":
    main()
