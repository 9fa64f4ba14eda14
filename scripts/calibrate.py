"""Calibrate abstention: ``python scripts/calibrate.py [--write]``.

Fits the answerability model (``Answer.confidence``) on the bundled development question set twice, for
reranked answers (the default reranker's best score, the answer score and the words shared with the best
lexical passage) and for the fast path (the same without the reranker), prints each with its in-sample and cross-validated refusal rates, reliability bins
and Brier score, and with ``--write`` stores both in ``spasmqa/calibration.json`` for the embedding model
(every index built afterwards carries them in its manifest). The held-out test set plays no part.
"""

import argparse
import json

from spasmqa.abstention import CALIBRATION_FILE, REFUSE_BELOW, WRONG_REFUSAL_COST
from spasmqa.evaluation import calibrate_abstention

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--write", action="store_true", help="store the models in spasmqa/calibration.json")
args = parser.parse_args()

calibrations = [calibrate_abstention(reranked=True), calibrate_abstention(reranked=False)]
for calibration in calibrations:
    print(json.dumps(calibration.to_dict(), indent=2))
if args.write:
    record = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    record["about"] = (
        "Answerability models per embedding model, one per reranker ('' = answers not reranked): logistic "
        "regression over the named features (spasmqa.abstention.answer_evidence) giving Answer.confidence; an answer is refused under "
        f"refuse_below = 1 / (1 + {WRONG_REFUSAL_COST:g}), a wrong refusal counted {WRONG_REFUSAL_COST:g} times a wrong "
        "answer. Written by scripts/calibrate.py from corpus/eval/questions.jsonl (cross-validated figures beside "
        "each); copied into every index manifest at build time."
    )
    model_id = calibrations[0].embedding_model_id
    record["models"] = {model_id: {
        "answerability": [c.model.to_dict() for c in calibrations],
        "figures": [
            {key: value for key, value in c.to_dict().items() if key not in ("model", "reliability")}
            | {"reranker_id": c.model.reranker_id}
            for c in calibrations
        ],
        "questions": "corpus/eval/questions.jsonl",
    }}
    CALIBRATION_FILE.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {CALIBRATION_FILE} (refuse below {REFUSE_BELOW})")
