"""Calibrate the abstention threshold: ``python scripts/calibrate.py [--write]``.

Runs the bundled question set through the default index, chooses the highest answer-score threshold
that refuses at most 4% of answerable questions, prints what it does on the whole set and on held-out
questions (random 80/20 splits: threshold chosen on 80%, rates measured on the other 20%), and with
``--write`` stores it in ``spasmqa/calibration.json`` for the model (every index built afterwards
carries it in its manifest).
"""

import argparse
import json

from spasmqa.evaluation import calibrate_abstention
from spasmqa.index import CALIBRATION_FILE

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--write", action="store_true", help="store the threshold in spasmqa/calibration.json")
args = parser.parse_args()

calibration = calibrate_abstention()
print(json.dumps(calibration.to_dict(), indent=2))
if args.write:
    record = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    record["about"] = (
        "Abstention thresholds per embedding model: the lowest Answer.answer_score (mean of the best passage "
        "and best sentence cosine) a question needs to count as answered. Written by scripts/calibrate.py from "
        "corpus/eval/questions.jsonl; copied into every index manifest at build time."
    )
    record["models"][calibration.model_id] = {
        "min_answer_score": calibration.threshold,
        "answerable_refused": round(calibration.answerable_refused, 4),
        "ood_refused": round(calibration.ood_refused, 4),
        "held_out": calibration.held_out.to_dict(),
        "questions": "corpus/eval/questions.jsonl",
    }
    CALIBRATION_FILE.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {CALIBRATION_FILE}")
