"""The command line and the build script, run end to end in fresh processes as a user would."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import spasmqa
from tests.conftest import REPO, python_code, run_command, spasmqa_command


def test_build_script_writes_an_index_and_prints_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "index"
    result = run_command([sys.executable, str(REPO / "scripts" / "build_index.py"), "--out", str(out), "--max-tokens", "96"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"built index at {out}" in result.stdout
    for figure in ("documents  5", "chunks", "tokens per chunk  min", "model      sentence-transformers/all-MiniLM-L6-v2", "seconds"):
        assert figure in result.stdout
    assert "Batches" in result.stderr  # progress while embedding
    assert spasmqa.load(out).manifest.chunking.max_tokens == 96


def test_ask_json(index: spasmqa.Index, spasmqa_home: Path) -> None:
    result = run_command(spasmqa_command("ask", "what helps a charley horse?", "-k", "3", "--json"), spasmqa_home)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["question"] == "what helps a charley horse?"
    assert record == json.loads(json.dumps(index.ask("what helps a charley horse?", k=3).to_dict()))


def test_ask_text_shows_title_section_offsets_and_score(index: spasmqa.Index, spasmqa_home: Path) -> None:
    result = run_command(spasmqa_command("ask", "what is myoclonus", "-k", "2", "--index", str(index.path)), spasmqa_home)
    assert result.returncode == 0, result.stderr
    top = index.ask("what is myoclonus", k=1)[0]
    assert f"1. {top.title} › {top.section}   (relevance {top.rerank_score:.2f}, similarity {top.score:.3f})" in result.stdout
    assert f"{top.doc_id} · {top.source} · chars {top.start}-{top.end}" in result.stdout
    assert f"»{top.highlights[0].text[:40]}" in result.stdout.replace("\n   |   ", " ")
    assert result.stdout.count("\n2. ") == 1
    assert result.stdout.rstrip().endswith("see a doctor for severe, persistent or unusual symptoms.")


def test_ask_says_when_the_documents_do_not_answer(index: spasmqa.Index, spasmqa_home: Path) -> None:
    result = run_command(spasmqa_command("ask", "how do I reset my wifi router password", "-k", "2"), spasmqa_home)
    assert result.returncode == 0, result.stderr
    assert "These documents do not seem to answer this: " in result.stdout and "The closest passages:" in result.stdout


def test_errors_are_one_line_with_exit_code_1(tmp_path: Path) -> None:
    for args in (["ask", "   "], ["ask", "cramps", "--index", str(tmp_path / "none")], ["ask", "cramps", "-k", "0"]):
        result = run_command(spasmqa_command(*args), tmp_path)
        assert result.returncode == 1
        assert result.stderr.startswith("spasmqa: error: ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr


def test_non_editable_wheel_install_answers_a_question(tmp_path: Path, spasmqa_home: Path) -> None:
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    built = run_command([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheel_dir), str(REPO)], tmp_path)
    assert built.returncode == 0, built.stderr
    wheel = next(wheel_dir.glob("spasmqa-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "spasmqa/corpus/metadata.json" in names and "spasmqa/py.typed" in names
    installed = run_command([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr
    code = (
        "import spasmqa, json; a = spasmqa.ask('what is myoclonus', k=1); "
        "print(json.dumps({'file': spasmqa.__file__, 'doc': a[0].doc_id, "
        "'exact': spasmqa.get_document(a[0].doc_id).text[a[0].start:a[0].end] == a[0].text}))"
    )
    result = run_command(python_code(code), tmp_path / "home", cwd=tmp_path, env={"PYTHONPATH": str(target)})
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["file"].startswith(str(target)) and record["doc"] == "twitch-or-cramp-why" and record["exact"]
