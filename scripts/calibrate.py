"""Calibrate the abstention threshold: ``python scripts/calibrate.py [--write]``.

Runs the bundled question set through the default index with abstention switched off, chooses the
highest best-similarity threshold that refuses at most 3% of answerable questions, prints what it does
on the whole set and on each held-out half, and with ``--write`` stores it in
``spasmqa/calibration.json`` for the model (every index built afterwards carries it in its manifest).
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
    record["models"][calibration.model_id] = {
        "min_score": calibration.threshold,
        "answerable_refused": round(calibration.answerable_refused, 4),
        "ood_refused": round(calibration.ood_refused, 4),
        "questions": "corpus/eval/questions.jsonl",
    }
    CALIBRATION_FILE.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {CALIBRATION_FILE}")
