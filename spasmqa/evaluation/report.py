"""The printed evaluation report: plain-text tables of an ``EvalReport`` or a ``BeirReport``."""

from __future__ import annotations

from collections.abc import Sequence
from spasmqa.evaluation.beir import BEIR_METRICS, BeirReport
from spasmqa.evaluation.run import EvalReport, HEADLINE_METRICS, MetricSummary, metric_names



def format_report(report: EvalReport | BeirReport) -> str:
    """The report as plain-text tables: systems by metrics, intervals, comparisons, kinds, scores, failures.

    A BEIR report has its own tables: systems by the BEIR metrics, their intervals, and unindexed qrels.
    """
    if isinstance(report, BeirReport):
        return _format_beir(report)
    names = metric_names(report.results)
    document_names = [n for n in names if n.startswith("doc_")]
    other_names = [n for n in names if not n.startswith("doc_")]
    lines = [
        f"{report.questions} questions ({report.answerable} answerable, {report.unanswerable} out of domain) "
        f"from {report.dataset}",
        f"index {report.index}",
        "",
        _table(["system", *document_names], [[s.system, *(f"{s.metric(n).mean:.3f}" for n in document_names)] for s in report.systems]),
    ]
    if other_names:
        lines += ["", _table(["system", *other_names], [[s.system, *(f"{s.metric(n).mean:.3f}" for n in other_names)] for s in report.systems])]
    lines += [
        "",
        "headline metrics with bootstrap 95% intervals",
        _table(
            ["system", *(n for n in HEADLINE_METRICS if n in names)],
            [
                [s.system, *(_interval(s.metric(n)) for n in HEADLINE_METRICS if n in names)]
                for s in report.systems
            ],
        ),
    ]
    if report.comparisons:
        lines += ["", "paired bootstrap (difference a - b, 95% interval, two-sided p)"]
        lines += [
            f"  {c.metric:<14} {c.system_a} - {c.system_b}: {c.difference.mean_difference:+.3f} "
            f"[{c.difference.low:+.3f}, {c.difference.high:+.3f}]  p={c.difference.p_value:.3f}"
            for c in report.comparisons
        ]
    if report.per_kind and report.per_kind[0].kind:
        lines += ["", _per_kind_table(report)]
    reference = report.system(report.reference)
    if reference.separation and reference.unanswerable_confidence_median is not None:
        # The reference system's confidence (what abstention judges).
        separation = reference.separation
        lines += ["", "confidence (abstention evidence): answerable vs out-of-domain questions"]
        lines.append(
            _table(
                ["median answerable", "median ood", "ROC AUC", "best threshold", "TPR", "FPR"],
                [[
                    f"{reference.answerable_confidence_median:.3f}",
                    f"{reference.unanswerable_confidence_median:.3f}",
                    f"{separation.roc_auc:.3f}",
                    f"{separation.best_threshold:.3f}",
                    f"{separation.true_positive_rate:.3f}",
                    f"{separation.false_positive_rate:.3f}",
                ]],
            )
        )
    lines += ["", f"failures of {report.reference} (no answering passage in the top 5): {len(report.failures)}"]
    for failure in report.failures:
        lines.append(f"  {failure.qid} {failure.question!r}  expected {', '.join(failure.expected)}")
        lines += [f"      got {item}" for item in failure.returned]
    return "\n".join(lines)


def format_side_by_side(reports: dict[str, EvalReport]) -> str:
    """Headline metrics of every system on several question sets (same systems in each), one row per system and set."""
    first = next(iter(reports.values()))
    names = [n for n in HEADLINE_METRICS if n in metric_names(first.results)]
    rows = [
        [system.system, label, *(f"{report.system(system.system).metric(n).mean:.3f}" for n in names)]
        for system in first.systems
        for label, report in reports.items()
    ]
    sizes = ", ".join(f"{label}: {r.answerable} answerable + {r.unanswerable} out of domain" for label, r in reports.items())
    return f"side by side ({sizes})\n" + _table(["system", "questions", *names], rows)


def _interval(summary: MetricSummary) -> str:
    return f"{summary.mean:.3f} [{summary.low:.3f}, {summary.high:.3f}]"


def _per_kind_table(report: EvalReport) -> str:
    systems = [s.system for s in report.systems]
    metric = "passage_hit@3" if "passage_hit@3" in metric_names(report.results) else "doc_hit@3"
    rows = []
    for kind in sorted({k.kind for k in report.per_kind}):
        entries = {k.system: k for k in report.per_kind if k.kind == kind}
        shown = "ood_refused" if kind.startswith("out-of-domain") else metric
        rows.append([kind, str(entries[systems[0]].questions), *(f"{entries[s].means.get(shown, 0.0):.3f}" for s in systems)])
    return f"by question kind: {metric} (answerable kinds), share refused (out of domain)\n" + _table(["kind", "n", *systems], rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([render(header), render(["-" * w for w in widths]), *(render(row) for row in rows)])


def _format_beir(report: BeirReport) -> str:
    lines = [
        f"{report.queries} queries from {report.dataset}, documents ranked by their best passage "
        f"({report.passages_per_query} passages per query)",
        f"index {report.index}",
        "",
        _table(["system", *BEIR_METRICS], [[s.system, *(f"{s.metric(n).mean:.3f}" for n in BEIR_METRICS)] for s in report.systems]),
        "",
        "bootstrap 95% intervals",
        _table(["system", *BEIR_METRICS], [[s.system, *(_interval(s.metric(n)) for n in BEIR_METRICS)] for s in report.systems]),
        "",
        "qrels naming a document not in the index (left out as empty or unreadable, or not in corpus.jsonl), "
        f"counted as relevant and never retrieved: labels {report.unindexed_labels}, "
        f"documents {len(report.unindexed_documents)}" + "".join(f"\n  {doc_id}" for doc_id in report.unindexed_documents),
    ]
    return "\n".join(lines)
