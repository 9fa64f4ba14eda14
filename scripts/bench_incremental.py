"""What a rebuild after one changed document costs: ``python scripts/bench_incremental.py [--documents 1000] [--stores faiss,milvus] [--json OUT]``.

Generates a corpus of ``--documents`` text files (three sections of a few sentences each, different
words and numbers in each document), builds it from scratch into each store, changes one document,
and rebuilds in place: only that document's chunks are embedded, the rest are reused by content.
Prints, per store, the full build, the incremental build and their ratio (issue target: <= 5%),
with the chunks embedded and reused; the Milvus store runs against a ``milvus-lite server``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stores import start_milvus  # noqa: E402

import spasmqa  # noqa: E402

TOPICS = ["calf cramps", "eyelid twitches", "back spasms", "night cramps", "hand cramps", "neck spasms", "foot cramps"]
CAUSES = ["dehydration", "low magnesium", "long runs", "cold weather", "stress", "caffeine", "poor sleep", "new shoes"]
HELPS = ["gentle stretching", "warm baths", "drinking water", "massage", "rest days", "a banana", "heat packs"]


def document(i: int, rng: random.Random) -> str:
    topic = rng.choice(TOPICS)
    sections = []
    for title, words in (("Causes", CAUSES), ("What helps", HELPS), ("When to see a doctor", CAUSES + HELPS)):
        sentences = [f"Case {i}.{n}: {rng.choice(words)} was linked with {topic} in {rng.randint(2, 90)} of "
                     f"{rng.randint(100, 900)} people." for n in range(rng.randint(3, 6))]
        sections.append(f"{title}\n\n" + " ".join(sentences))
    return f"Notes on {topic}, leaflet {i}\n\n" + "\n\n".join(sections) + "\n"


def write_corpus(folder: Path, count: int) -> None:
    rng = random.Random(20261202)
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"leaflet{i:05d}.txt").write_text(document(i, rng), encoding="utf-8")


def timed_build(corpus: Path, target: Path, store: str) -> tuple[float, spasmqa.BuildSummary]:
    started = time.perf_counter()
    _, summary = spasmqa.build_with_summary(corpus, target, store=store)
    return time.perf_counter() - started, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--stores", default="faiss,milvus")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as scratch:
        work = Path(scratch)
        server, uri = start_milvus(work / "milvus") if "milvus" in args.stores else (None, None)
        try:
            for kind in args.stores.split(","):
                corpus = work / f"corpus-{kind}"
                write_corpus(corpus, args.documents)
                store = "faiss" if kind == "faiss" else f"milvus:{uri}"
                spasmqa.build(corpus, work / "warm-up", store="faiss")  # model loaded and ONNX export made before timing
                full_s, full = timed_build(corpus, work / f"index-{kind}", store)
                changed = corpus / "leaflet00042.txt"
                changed.write_text(changed.read_text(encoding="utf-8").replace("Causes", "Causes and triggers"), encoding="utf-8")
                again_s, again = timed_build(corpus, work / f"index-{kind}", store)
                results.append({
                    "store": kind, "documents": args.documents, "chunks": full.chunks, "full_s": round(full_s, 2),
                    "incremental_s": round(again_s, 2), "ratio": round(again_s / full_s, 4),
                    "embedded": again.embedded, "reused": again.reused,
                })
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    print(f"{'store':>7} {'documents':>9} {'chunks':>7} {'full s':>7} {'rebuild s':>9} {'ratio':>6} {'embedded':>8} {'reused':>7}")
    for r in results:
        print(f"{r['store']:>7} {r['documents']:>9} {r['chunks']:>7} {r['full_s']:>7.1f} {r['incremental_s']:>9.1f} "
              f"{r['ratio']:>6.1%} {r['embedded']:>8} {r['reused']:>7}")
    machine = {"machine": platform.machine(), "python": platform.python_version(), "cpus": __import__("os").cpu_count()}
    print(f"one document of {args.documents} changed; machine: {machine}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": results, "machine": machine}, indent=2) + "\n")


if __name__ == "__main__":
    main()
