from __future__ import annotations

import subprocess
import sys

import spasmqa

HEAVY_MODULES = ("torch", "sentence_transformers", "transformers", "faiss", "numpy", "fastapi", "uvicorn", "pymilvus")


def test_public_surface_is_small_and_sorted() -> None:
    assert spasmqa.__all__ == sorted(spasmqa.__all__)
    assert set(spasmqa.__all__) == {
        "Answer", "BuildSummary", "ChunkSettings", "Document", "Index", "Passage", "RetrievalSettings", "SkippedDocumentsWarning",
        "SpasmqaError",
        "__version__", "abstention", "ask", "build", "build_with_summary", "default_index", "documents", "evaluate",
        "evaluation", "get_document", "in_document", "load", "retrieval",
    }
    assert all(hasattr(spasmqa, name) for name in spasmqa.__all__)


def test_import_loads_no_heavy_module() -> None:
    code = f"import sys, spasmqa; print([m for m in {HEAVY_MODULES!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_default_index_lives_under_spasmqa_home(index: spasmqa.Index, spasmqa_home: object) -> None:
    assert str(index.path).startswith(str(spasmqa_home))
    assert spasmqa.default_index() is index


def test_default_index_is_rebuilt_when_its_settings_are_out_of_date(index: spasmqa.Index) -> None:
    assert spasmqa.api._out_of_date(index) is None
    other = spasmqa.build(index_dir=index.path.parent / "other", settings=spasmqa.ChunkSettings(max_tokens=96))
    assert spasmqa.api._out_of_date(other) == "it was built with other settings"
