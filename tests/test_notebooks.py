"""The example notebooks run from top to bottom, and the HTML that notebooks show escapes document text."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import spasmqa
from spasmqa.display import in_document

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 600


def execute(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Run every cell in a fresh ``python3`` kernel started in notebooks/; a failing cell raises."""
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    return client.execute()


def test_there_are_notebooks() -> None:
    assert [path.name for path in NOTEBOOK_FILES][:3] == [
        "01_quickstart.ipynb",
        "02_evaluation.ipynb",
        "03_corpus_map.ipynb",
    ]


def test_the_python3_kernel_runs_this_interpreter(spasmqa_home: Path) -> None:
    """The notebooks must run against this environment's spasmqa, not another Python's."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
    output = execute(notebook).cells[0].outputs[0]
    assert output.text.strip() == sys.prefix


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=[path.name for path in NOTEBOOK_FILES])
def test_notebook_is_saved_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs before saving"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=[path.name for path in NOTEBOOK_FILES])
def test_notebook_runs_without_errors(path: Path, spasmqa_home: Path) -> None:
    # The kernel inherits os.environ, so it uses this session's SPASMQA_HOME (set by the spasmqa_home fixture).
    notebook = execute(nbformat.read(path, as_version=4))
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


DOCUMENT = """Night cramps & <b>spasms</b>

Calf cramps at night are often caused by dehydration & low magnesium <script>alert(1)</script>.

Stretching the calf before bed & drinking enough water help to prevent night cramps.

Eyelid twitches

An eyelid twitch is usually harmless & goes away with rest, sleep and less coffee.
"""

BARE_AMPERSAND = re.compile(r"&(?!(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)")


def assert_escaped_and_marked(markup: str, passage: spasmqa.Passage) -> None:
    assert "<script>" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "<b>spasms</b>" not in markup
    assert BARE_AMPERSAND.search(markup) is None, "an & of the document text is not escaped"
    assert passage.highlights, "the passage has no highlighted sentence"
    for highlight in passage.highlights:
        escaped = html.escape(highlight.text).replace("\n", "<br>")
        assert re.search(r"<mark\b[^>]*>" + re.escape(escaped) + "</mark>", markup), highlight.text


def test_html_escapes_document_text_and_marks_the_highlight(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "night-cramps.txt").write_text(DOCUMENT, encoding="utf-8")
    index = spasmqa.build(corpus, tmp_path / "index")

    answer = index.ask("what causes calf cramps at night?", k=3)
    passage = next(p for p in answer if "<script>" in p.text)
    document = index.get_document(passage.doc_id)
    assert document.text[passage.start : passage.end] == passage.text

    assert_escaped_and_marked(answer._repr_html_(), passage)
    assert_escaped_and_marked(passage._repr_html_(), passage)
    assert_escaped_and_marked(in_document(passage, document)._repr_html_(), passage)
