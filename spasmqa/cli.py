"""The ``spasmqa`` command: argument parsing and printing around the public functions."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from spasmqa._version import __version__
from spasmqa.results import Answer
from spasmqa.retrieval import DEFAULT_MODE, MODES
from spasmqa.corpus import listed
from spasmqa.display import answer_text, checked_span, document_text
from spasmqa.errors import ServeError, SpasmqaError, SpasmqaWarning
from spasmqa.server.settings import ServerSettings

_python_show_warning = warnings.showwarning
SAMPLE_QUESTION = "Why do my legs cramp at night, and what can I do about it?"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (1 with a one-line message for any spasmqa error)."""
    args = _parser().parse_args(argv)
    _quiet_third_party_output()
    warnings.showwarning = _show_warning
    _log_to_stderr(logging.INFO if args.verbose else logging.WARNING)
    try:
        args.run(args)
    except SpasmqaError as exc:
        print(f"spasmqa: error: {exc}", file=sys.stderr)
        return 1
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end like every other error: one line on stderr, exit code 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"spasmqa: error: {message} (see `{self.prog} --help`)\n")


STORE_HELP = (
    "where vectors and chunks go: faiss (default, files in the index directory) or milvus:URI, a Milvus Lite "
    "file (milvus:./spasmqa.db) or server (milvus:http://host:19530; token from $SPASMQA_MILVUS_TOKEN)"
)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spasmqa", description="Ask questions of a document collection.")
    parser.add_argument("--version", action="version", version=f"spasmqa {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what spasmqa does (model loads, builds)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    build = commands.add_parser("build", help="build an index of a folder of documents (.txt .md .html .pdf .docx)")
    build.add_argument("--corpus", help="folder of documents, sub-folders included (default: the bundled muscle-spasm articles)")
    build.add_argument("--out", help="index directory to write (default: under $SPASMQA_HOME)")
    build.add_argument("--model", help="sentence-transformers model name or folder (default: all-MiniLM-L6-v2)")
    build.add_argument("--max-tokens", type=int, help="largest chunk in model tokens, context included")
    build.add_argument("--overlap", type=int, help="tokens of overlap between neighbouring chunks")
    build.add_argument("--context", choices=("none", "section", "title+section"), help="what is embedded above a chunk")
    build.add_argument("--strict", action="store_true", help="refuse a folder with files (or BEIR records) that cannot be documents instead of skipping them with a warning")
    build.add_argument("--store", help=STORE_HELP)
    build.set_defaults(run=_run_build)

    ask = commands.add_parser("ask", help="print the passages that answer a question")
    ask.add_argument("question", help="the question, in plain words (quote it)")
    ask.add_argument("-k", type=int, default=5, help="how many passages (default 5)")
    ask.add_argument("--index", help="index directory (default: the bundled corpus's index, built when missing)")
    ask.add_argument("--mode", default=DEFAULT_MODE, choices=MODES, help=f"retriever (default: {DEFAULT_MODE})")
    ask.add_argument("--no-rerank", dest="rerank", action="store_false", help="skip the cross-encoder (faster, less precise)")
    ask.add_argument("--reranker", help="cross-encoder name or folder (default: the bundled ms-marco-MiniLM-L-12-v2)")
    ask.add_argument("--json", action="store_true", help='print {"question": ..., "passages": [...]} as JSON')
    ask.set_defaults(run=_run_ask)

    show = commands.add_parser("show", help="print a document, or a passage inside it (doc_id and chars from `spasmqa ask`)")
    show.add_argument("doc_id", help="the document's id")
    show.add_argument("--start", type=int, help="first character of the span to mark")
    show.add_argument("--end", type=int, help="character after the span to mark")
    show.add_argument("--index", help="index directory (default: the bundled corpus's index)")
    show.set_defaults(run=_run_show)

    evaluate = commands.add_parser("eval", help="measure retrieval on a labelled question set, every mode side by side")
    evaluate.add_argument("--questions", help="question set, JSON Lines (default: both bundled sets, side by side)")
    evaluate.add_argument("--index", help="index directory to evaluate (default: the bundled corpus's index)")
    evaluate.add_argument("--store", help="evaluate the bundled corpus built into this store (" + STORE_HELP + ")")
    evaluate.add_argument("--beir", metavar="DIR", help="evaluate a BEIR folder instead (corpus.jsonl, queries.jsonl, qrels/test.tsv)")
    evaluate.add_argument("--strict", action="store_true", help="with --beir: refuse empty or unreadable BEIR records instead of skipping them with a warning")
    evaluate.add_argument("--json", metavar="OUT", help="also write the full report, every question included, as JSON")
    evaluate.add_argument("--export-beir", metavar="DIR", help="write the question set and corpus in BEIR format and stop")
    evaluate.set_defaults(run=_run_eval)

    serve = commands.add_parser("serve", help="serve a web page and a JSON API over an index (needs spasmqa[serve])")
    serve.add_argument("--index", help="index directory (default: the bundled corpus's index, built when missing)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="processes, each with its own copy of the index (default 1)")
    limits = ServerSettings()
    serve.add_argument("--max-question-chars", type=int, default=limits.max_question_chars, help=f"longest question accepted (default {limits.max_question_chars})")
    serve.add_argument("--max-k", type=int, default=limits.max_k, help=f"most passages per answer (default {limits.max_k})")
    serve.add_argument("--max-body-bytes", type=int, default=limits.max_body_bytes, help=f"largest request body (default {limits.max_body_bytes})")
    serve.add_argument("--timeout", type=float, default=limits.timeout_seconds, help=f"seconds to answer a request, waiting included (default {limits.timeout_seconds:g})")
    serve.add_argument("--batch-size", type=int, default=limits.batch_size, help=f"most waiting questions answered together (default {limits.batch_size})")
    serve.set_defaults(run=_run_serve)

    demo = commands.add_parser("demo", help="answer a sample question on the bundled corpus")
    demo.set_defaults(run=lambda args: _print_answer(_ask(SAMPLE_QUESTION, k=3, index_dir=None, rerank=True, reranker=None)))
    return parser


def _show_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    """spasmqa's own warnings (skipped documents) as one line, like its errors; others as Python prints them."""
    if issubclass(category, SpasmqaWarning):
        print(f"spasmqa: warning: {message}", file=sys.stderr)
    else:
        _python_show_warning(message, category, *args, **kwargs)  # type: ignore[arg-type]


def _log_to_stderr(level: int) -> None:
    # The level sits on the handler: some libraries (bm25s) set their own loggers to DEBUG.
    handler = logging.StreamHandler()
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger("spasmqa").setLevel(level)


def _quiet_third_party_output() -> None:
    # The model loader's per-weight progress bar says nothing a user needs; embedding progress is ours.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # pymilvus logs every failed call with a traceback; the error spasmqa raises already names the cause and the fix
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)


def _run_build(args: argparse.Namespace) -> None:
    import spasmqa

    overrides = {
        name: value
        for name, value in (("max_tokens", args.max_tokens), ("overlap_tokens", args.overlap), ("context", args.context))
        if value is not None
    }
    _, summary = spasmqa.build_with_summary(
        args.corpus, args.out, model=args.model, settings=spasmqa.ChunkSettings(**overrides), progress=True,
        strict=args.strict, store=args.store,
    )
    rate = f"  ({summary.chunks_per_second:.0f} chunks/s embedded)" if summary.embedded else ""
    skipped = f", skipped {len(summary.skipped)}: {listed(summary.skipped)}" if summary.skipped else ""
    print(
        f"built index at {summary.path}\n"
        f"  built from {summary.files} files{skipped}\n"
        f"  documents  {summary.documents}\n"
        f"  chunks     {summary.chunks}\n"
        f"  tokens per chunk  min {summary.tokens_min}  median {summary.tokens_median:g}  max {summary.tokens_max}\n"
        f"  model      {summary.model_id}{rate}\n"
        f"  embedded   {summary.embedded} chunks, reused {summary.reused} from the previous build\n"
        f"  store      {summary.store}  ({summary.search_index})\n"
        f"  seconds    {summary.seconds:.1f}"
    )


def _run_ask(args: argparse.Namespace) -> None:
    answer = _ask(args.question, k=args.k, index_dir=args.index, mode=args.mode, rerank=args.rerank, reranker=args.reranker)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_answer(answer)


def _run_show(args: argparse.Namespace) -> None:
    import spasmqa

    index = spasmqa.load(args.index) if args.index else spasmqa.default_index()
    document = index.get_document(args.doc_id)
    print(document_text(document, checked_span(document, args.start, args.end)))


def _run_eval(args: argparse.Namespace) -> None:
    import spasmqa

    evaluation = spasmqa.evaluation
    if args.export_beir:
        questions = evaluation.load_questions(args.questions) if args.questions else None
        print(f"wrote BEIR files to {evaluation.export_beir(args.export_beir, questions)}")
        return
    reports: dict[str, evaluation.EvalReport | evaluation.BeirReport]
    if args.beir:
        reports = {"beir": evaluation.evaluate_beir(args.beir, strict=args.strict)}
    else:
        if args.store and args.index:
            raise spasmqa.SpasmqaError("--store names where to build the index to evaluate; --index an index already "
                                       "built (its manifest names its store): give one of them")
        index = spasmqa.load(args.index) if args.index else spasmqa.build(store=args.store) if args.store else None
        sets = {"questions": Path(args.questions)} if args.questions else evaluation.bundled_question_sets()
        documents = index.documents() if index else None
        reports = {
            label: evaluation.evaluate(index, evaluation.load_questions(path, documents), dataset=str(path))
            for label, path in sets.items()
        }
    question_reports = {label: r for label, r in reports.items() if isinstance(r, evaluation.EvalReport)}
    if len(question_reports) > 1:
        print(evaluation.format_side_by_side(question_reports) + "\n")
    print("\n\n".join(f"== {label} ==\n{evaluation.format_report(r)}" for label, r in reports.items()))
    if args.json:
        record = {label: r.to_dict() for label, r in reports.items()}
        Path(args.json).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _run_serve(args: argparse.Namespace) -> None:
    try:
        from spasmqa.server.run import serve
    except ImportError as exc:
        raise ServeError(f"spasmqa serve needs its extra ({exc.name} is missing): pip install 'spasmqa[serve]'") from None
    settings = ServerSettings(
        max_question_chars=args.max_question_chars, max_k=args.max_k, max_body_bytes=args.max_body_bytes,
        timeout_seconds=args.timeout, batch_size=args.batch_size,
    )
    serve(args.index, host=args.host, port=args.port, workers=args.workers, settings=settings)


def _ask(
    question: str, *, k: int, index_dir: str | None, rerank: bool, reranker: str | None, mode: str = DEFAULT_MODE
) -> Answer:
    import spasmqa

    if index_dir is None and reranker is None:
        return spasmqa.ask(question, k=k, mode=mode, rerank=rerank)
    index = spasmqa.load(index_dir if index_dir is not None else spasmqa.default_index().path, reranker=reranker)
    return index.ask(question, k=k, mode=mode, rerank=rerank)


def _print_answer(answer: Answer) -> None:
    print(answer_text(answer))
