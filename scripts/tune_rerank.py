"""Choose how to rerank, by quality and cost: ``python scripts/tune_rerank.py [--json OUT] [--quick]``.

On the bundled (development) question set and the default index, for each passage truncation (tokens
of question + passage) and with or without the "title — section" line above the passage, the
cross-encoder's scores for the first 30 fused passages are computed once; then every depth (5-30) and
every way of combining (the reranker's order alone, or weighted reciprocal rank fusion with the fused
order) is evaluated on them. Quality: passage Hit@1/3, read@1000, doc MRR@10 and the selection score
(their mean) on the odd and even halves. Cost, measured in this run on this machine: the bare
cross-encoder forward pass over each question's pairs, p50 over the questions, next to bare query
encoding. The held-out test set plays no part here, except with ``--confirm``, which only reports.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import spasmqa
from spasmqa.api import default_index
from spasmqa.evaluation import System, bundled_question_sets, evaluate, load_questions, question_halves, selection_score
from spasmqa.reranking import Reranker
from spasmqa.retrieval import RetrievalSettings

QUALITY = ("passage_hit@1", "passage_hit@3", "read@1000", "doc_mrr@10")


class RememberingReranker(Reranker):
    """Scores each distinct pair once, so many settings can be evaluated on the same forward passes."""

    def __init__(self, max_tokens: int) -> None:
        super().__init__(max_tokens=max_tokens)
        self.memo: dict[tuple[str, str], float] = {}

    def score(self, pairs: Sequence[tuple[str, str]]) -> Any:
        import numpy as np

        missing = list(dict.fromkeys(pair for pair in pairs if pair not in self.memo))
        self.memo.update(zip(missing, super().score(missing).tolist()))
        return np.array([self.memo[pair] for pair in pairs], dtype=np.float32)


def forward_cost(index: spasmqa.Index, reranker: Reranker, texts: Sequence[str], depth: int, context: bool) -> float:
    """p50 seconds of the bare cross-encoder over ``depth`` pairs of each question: its first ``depth``
    passages without reranking (as many pairs as ask() scores, of the same kind of passages)."""
    chunks = {chunk.chunk_id: chunk for chunk in index.chunks}
    answers = index.ask_many(texts, k=depth, rerank=False)
    times = []
    for text, answer in zip(texts, answers):
        pairs = [(text, chunks[p.chunk_id].embedding_input if context else chunks[p.chunk_id].text) for p in answer]
        started = time.perf_counter()
        reranker.score(pairs)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write every figure as JSON")
    parser.add_argument("--quick", action="store_true", help="one truncation, fewer settings (checks the script runs)")
    parser.add_argument("--cost-only", action="store_true", help="only the cost columns (on an idle machine; ~5 min)")
    parser.add_argument("--confirm", action="store_true", help="report replacing vs combining on both sets (chooses nothing)")
    args = parser.parse_args()
    if args.confirm:
        confirm()
        return

    index = default_index()
    questions = load_questions(documents=index.documents())
    halves = question_halves(questions)
    truncations = (256,) if args.quick else (128, 192, 256)
    depths = (10, 20) if args.quick else (5, 10, 15, 20, 30)
    weights = (1.0, 0.7) if args.quick else (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
    timed = [q.text for q in questions][: 10 if args.quick else 24]
    encode_times = []
    for text in timed:
        started = time.perf_counter()
        index.embedder.encode_queries([text])
        encode_times.append(time.perf_counter() - started)
    encode_p50 = statistics.median(encode_times)

    rows: list[dict[str, Any]] = []
    if args.cost_only:
        for tokens, context in itertools.product(truncations, (True, False)):
            bare = Reranker(max_tokens=tokens)
            costs = " ".join(f"d{depth}={1000 * forward_cost(index, bare, timed, depth, context):.0f}ms" for depth in depths)
            print(f"query encoding p50 {1000 * encode_p50:.1f} ms; {tokens} tokens, title line {context}: {costs}", flush=True)
        return
    for tokens, context in itertools.product(truncations, (True, False)):
        reranker = RememberingReranker(tokens)
        reranked = spasmqa.load(index.path, reranker=reranker)
        systems = [
            System(f"t{tokens} ctx={context} d={depth} w={weight}", "hybrid",
                   RetrievalSettings(rerank_depth=depth, rerank_weight=weight, rerank_context=context), rerank=True)
            for depth, weight in itertools.product(depths, weights)
        ]
        report = evaluate(reranked, questions, systems=systems)
        bare = Reranker(max_tokens=tokens)
        costs = {depth: forward_cost(index, bare, timed, depth, context) for depth in depths}
        for system in systems:
            means = {m.metric: m.mean for m in report.system(system.name).metrics}
            settings = system.settings
            rows.append({
                "max_tokens": tokens, "context": context, "depth": settings.rerank_depth, "weight": settings.rerank_weight,
                **{m: round(means[m], 4) for m in QUALITY},
                "selection": round(selection_score(report, system.name, by=QUALITY), 4),
                "half_a": round(selection_score(report, system.name, halves[0], by=QUALITY), 4),
                "half_b": round(selection_score(report, system.name, halves[1], by=QUALITY), 4),
                "rerank_p50_ms": round(1000 * costs[settings.rerank_depth], 1),
            })
        print(f"done: {tokens} tokens, context {context}", flush=True)

    fast = evaluate(index, questions, systems=[System("fast", "hybrid", RetrievalSettings())])
    fast_means = {m.metric: round(m.mean, 4) for m in fast.system("fast").metrics}
    header = ["tokens", "title line", "depth", "weight", *QUALITY, "selection", "half A", "half B", "rerank p50 ms"]
    print(f"query encoding p50 {1000 * encode_p50:.1f} ms; fast path (no reranking): "
          + ", ".join(f"{m} {fast_means[m]:.3f}" for m in QUALITY))
    print("  ".join(header))
    for row in sorted(rows, key=lambda r: (-min(r["half_a"], r["half_b"]), -r["selection"])):
        print("  ".join(str(row[key]) for key in (
            "max_tokens", "context", "depth", "weight", *QUALITY, "selection", "half_a", "half_b", "rerank_p50_ms")))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"encode_p50_ms": round(1000 * encode_p50, 2), "fast": fast_means, "rows": rows}, indent=2) + "\n")


def confirm() -> None:
    """Replacing (weight 1) against combining, at depths 10 and 20, on the development and the test set: a
    report of whether the development choice holds on questions it was not made on."""
    index = spasmqa.load(default_index().path, reranker=RememberingReranker(256))
    systems = [
        System(f"d={depth} w={weight}", "hybrid", RetrievalSettings(rerank_depth=depth, rerank_weight=weight), rerank=True)
        for depth, weight in itertools.product((10, 20), (1.0, 0.8, 0.6))
    ]
    for label, path in bundled_question_sets().items():
        report = evaluate(index, load_questions(path), systems=systems)
        for system in systems:
            means = {m.metric: m.mean for m in report.system(system.name).metrics}
            print(label, f"{system.name:12}", " ".join(f"{m}={means[m]:.3f}" for m in QUALITY), flush=True)


if __name__ == "__main__":
    main()
