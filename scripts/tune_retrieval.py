"""Measure fusion and diversity settings on the bundled question set: ``python scripts/tune_retrieval.py [--json OUT]``.

Evaluates dense and lexical retrieval and a grid of hybrid settings (reciprocal-rank-fusion constant ×
per-document cap) on the default index, and prints each one's figures and its selection score (mean of
passage Hit@3 and document MRR@10) on the odd and even halves of the questions, sorted by the weaker
half. The library's ``RetrievalSettings`` defaults come from this table.

With ``--beir DIR`` the same settings are compared on a BEIR folder (for instance one written by
``spasmqa eval --export-beir DIR``) by the BEIR metrics of ``spasmqa.evaluation.evaluate_beir``.
"""

import argparse
import itertools
import json
from pathlib import Path

from spasmqa.evaluation import System, compare_systems, evaluate_beir, format_report
from spasmqa.retrieval import RetrievalSettings

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--json", help="write the figures as JSON")
parser.add_argument("--beir", metavar="DIR", help="compare the settings on this BEIR folder instead")
args = parser.parse_args()

plain = RetrievalSettings(per_document_cap=None)
systems = [System("dense", "dense", plain), System("lexical", "lexical", plain)] + [
    System(f"hybrid rrf={constant} cap={cap}", "hybrid", RetrievalSettings(rrf_constant=constant, per_document_cap=cap))
    for constant, cap in itertools.product((1, 5, 10, 20, 40, 60, 100), (None, 1, 2, 3))
]
if args.beir:
    report = evaluate_beir(args.beir, systems=systems)
    print(format_report(report))
    print(f"\nbest ndcg_cut_10: {max(report.systems, key=lambda s: s.metric('ndcg_cut_10').mean).system}")
    figures = report.to_dict()
else:
    trials = compare_systems(systems)
    columns = ("doc_hit@1", "doc_recall@5", "doc_mrr@10", "passage_hit@1", "passage_hit@3", "passage_hit@5")
    print(f"{'system':<26} " + " ".join(f"{c:>13}" for c in columns) + "   half A  half B")
    ranked = sorted(trials, key=lambda t: t.rank_key)
    for trial in ranked:
        print(f"{trial.name:<26} " + " ".join(f"{trial.means[c]:>13.3f}" for c in columns) + f"   {trial.half_a:.3f}   {trial.half_b:.3f}")
    print(f"\nbest on its weaker half: {ranked[0].name}")
    figures = [t.to_dict() for t in trials]
if args.json:
    Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
