from __future__ import annotations

import bm25s
import pytest
import Stemmer

import spasmqa
from spasmqa.evaluation import load_questions
from spasmqa.lexical import LexicalIndex, edit_distance

ODD_TEXTS = ["", "   ", "Don't!! e-mail x y z", "Ça fait mal: crampes À LA JAMBE", "为什么我晚上腿抽筋？", "a1 B22 _x_ 3.5mg"]


@pytest.fixture(scope="module")
def lexical(index: spasmqa.Index) -> LexicalIndex:
    return LexicalIndex([chunk.embedding_input for chunk in index.chunks])


def test_tokens_are_bm25s_tokens(index: spasmqa.Index, lexical: LexicalIndex) -> None:
    texts = [chunk.embedding_input for chunk in index.chunks] + [q.text for q in load_questions()] + ODD_TEXTS
    expected = bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False)
    assert [lexical.tokens(text) for text in texts] == expected


def test_word_forms_and_typos_find_the_vocabulary(lexical: LexicalIndex) -> None:
    assert lexical.terms("Cramping muscles") == lexical.terms("cramp muscle") == ["cramp", "muscl"]
    assert lexical.terms("musle crmaps") == ["muscl", "cramp"]
    assert lexical.terms("the of and") == []
    assert not lexical.scores("zzzzqqq xxyyzz").any()
    assert lexical.scores("eyelid twitching").max() > 0


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("cramp", "cramp", 0), ("crmap", "cramp", 1), ("musle", "muscl", 2), ("twich", "twitch", 1), ("abc", "xyz", 3)],
)
def test_edit_distance_by_hand(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b, limit=2) == distance  # past the limit: limit + 1
