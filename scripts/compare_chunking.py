"""Measure chunking settings on the bundled question set: ``python scripts/compare_chunking.py [--json OUT]``.

Builds one index per setting in a temporary folder and prints, for each, the dense retriever's
figures and its selection score (mean of passage Hit@3 and document MRR@10) on the odd and even
halves of the questions, so a choice made on one half can be checked on the other. Rows are sorted
by the worse of the two halves: a setting is only as good as its weaker half.
"""

import argparse
import itertools
import json
from pathlib import Path

from spasmqa.chunking import ChunkSettings
from spasmqa.evaluation import compare_chunk_settings

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--json", help="write the figures as JSON")
args = parser.parse_args()

grid = [
    ChunkSettings(max_tokens=size, overlap_tokens=overlap, context=context)
    for size, overlap, context in itertools.product((64, 96, 128, 192, 256), (0, 32), ("none", "section", "title+section"))
]
trials = compare_chunk_settings(grid)
columns = ("doc_hit@1", "doc_mrr@10", "passage_hit@1", "passage_hit@3", "passage_hit@5")
print(f"{'max':>4} {'ovl':>4} {'context':<14} {'chunks':>6} {'med tok':>7} " + " ".join(f"{c:>13}" for c in columns) + "   half A  half B")
ranked = sorted(trials, key=lambda t: t[2].rank_key)
for settings, summary, trial in ranked:
    print(
        f"{settings.max_tokens:>4} {settings.overlap_tokens:>4} {settings.context:<14} {summary.chunks:>6} "
        f"{summary.tokens_median:>7.0f} " + " ".join(f"{trial.means[c]:>13.3f}" for c in columns)
        + f"   {trial.half_a:.3f}   {trial.half_b:.3f}"
    )
best = ranked[0][0]
print(f"\nbest on its weaker half: max_tokens={best.max_tokens} overlap_tokens={best.overlap_tokens} context={best.context}")
if args.json:
    records = [{"settings": s.to_dict(), "build": b.to_dict(), **t.to_dict()} for s, b, t in trials]
    Path(args.json).write_text(json.dumps(records, indent=2) + "\n")
