"""Whether lexical search could move into Milvus: ``python scripts/compare_milvus_bm25.py [--json OUT]``.

Puts the bundled index's chunks (the same embedded texts spasmqa's BM25 reads) into a Milvus Lite
collection with Milvus's BM25 function (its default analyzer), asks every development question of
both sets' first one, and compares the raw lexical rankings with spasmqa's own BM25 (``mode="lexical"``,
no per-document cap): doc MRR@10, passage Hit@1 and Hit@3 over the answerable questions, overall and for
the misspelt ones, and how often the two top-10 lists agree. Also the share of out-of-domain questions
that get no BM25 hit at all, which is evidence the abstention model uses (``Answer.shares_words``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import spasmqa
from spasmqa import metrics
from spasmqa.evaluation import gold_spans, load_questions
from spasmqa.retrieval import RetrievalSettings

DEPTH = 10


def milvus_rankings(index: spasmqa.Index, questions: list[str], folder: Path) -> list[list[int]]:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    client = MilvusClient(str(folder / "bm25.db"))
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
    params = client.prepare_index_params()
    params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("chunks", schema=schema, index_params=params)
    client.insert("chunks", [{"row": row, "text": chunk.embedding_input} for row, chunk in enumerate(index.chunks)])
    client.flush("chunks")
    found = client.search("chunks", data=questions, anns_field="sparse", limit=DEPTH, search_params={"metric_type": "BM25"})
    return [[hit["row"] for hit in hits] for hits in found]


def scores(index: spasmqa.Index, rows: list[int], question: spasmqa.evaluation.Question, spans: list[metrics.Span]) -> dict[str, float]:
    chunks = [index.chunks[row] for row in rows]
    passages = [metrics.Span(c.doc_id, c.start, c.end) for c in chunks]
    return {
        "doc_mrr@10": metrics.reciprocal_rank([c.doc_id for c in chunks], question.relevant_docs, 10),
        "passage_hit@1": metrics.passage_hit_at(passages, spans, 1) if passages else 0.0,
        "passage_hit@3": metrics.passage_hit_at(passages, spans, 3) if passages else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    index = spasmqa.default_index()
    questions = list(load_questions())
    docs = {doc.doc_id: doc for doc in index.documents()}
    texts = [q.text for q in questions]
    plain = RetrievalSettings(per_document_cap=None)
    row_of = {chunk.chunk_id: row for row, chunk in enumerate(index.chunks)}
    ours = [[row_of[p.chunk_id] for p in answer]
            for answer in index.ask_many(texts, k=DEPTH, mode="lexical", rerank=False, settings=plain)]
    with tempfile.TemporaryDirectory() as scratch:
        theirs = milvus_rankings(index, texts, Path(scratch))
    table: dict[str, dict[str, float]] = {}
    for label, keep in (("answerable", lambda q: q.answerable), ("answerable, misspelt", lambda q: q.answerable and q.style == "typo")):
        chosen = [i for i, q in enumerate(questions) if keep(q)]
        for name, rankings in (("spasmqa BM25", ours), ("Milvus BM25", theirs)):
            rows = [scores(index, rankings[i], questions[i], gold_spans(questions[i], docs)) for i in chosen]
            table[f"{name} · {label} ({len(chosen)})"] = {m: round(statistics.mean(r[m] for r in rows), 3) for m in rows[0]}
    agreement = statistics.mean(len(set(a) & set(b)) / DEPTH for a, b in zip(ours, theirs) if a and b)
    out_of_domain = [i for i, q in enumerate(questions) if not q.answerable]
    empty = {name: round(sum(not rankings[i] for i in out_of_domain) / len(out_of_domain), 3)
             for name, rankings in (("spasmqa BM25", ours), ("Milvus BM25", theirs))}
    for name, row in table.items():
        print(f"{name:<48} " + "  ".join(f"{m} {v:.3f}" for m, v in row.items()))
    print(f"top-10 overlap between the two: {agreement:.3f}")
    print(f"out-of-domain questions with no lexical hit: {empty}")
    if args.json:
        Path(args.json).write_text(json.dumps({"table": table, "top10_overlap": agreement, "ood_no_hit": empty}, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
