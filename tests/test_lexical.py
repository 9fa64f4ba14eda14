from __future__ import annotations

import random
import string

import bm25s
import pytest
import Stemmer

import spasmqa
from spasmqa.evaluation import load_questions
from spasmqa.lexical import LexicalIndex

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


def _misspellings(word: str, rng: random.Random) -> list[str]:
    i = rng.randrange(len(word))
    letter = rng.choice(string.ascii_lowercase)
    once = [word[:i] + word[i + 1 :], word[:i] + letter + word[i:], word[:i] + letter + word[i + 1 :]]
    if i + 1 < len(word):
        once.append(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    return once + [w[:j] + rng.choice(string.ascii_lowercase) + w[j + 1 :] for w in once if w for j in [rng.randrange(len(w))]]


def test_near_words_are_exactly_those_within_the_allowed_edits(lexical: LexicalIndex) -> None:
    rng = random.Random(7)
    vocabulary = sorted(lexical._vocabulary)
    tokens = {t for q in load_questions() for t in lexical.tokens(q.text)}
    tokens |= {m for word in rng.sample([w for w in vocabulary if len(w) >= 3], 300) for m in _misspellings(word, rng)}
    tokens |= {"".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 12))) for _ in range(200)}
    for token in sorted(tokens):
        allowed = 1 if len(token) < 8 else 2
        expected = [] if len(token) < 4 else sorted(
            w for w in vocabulary if abs(len(w) - len(token)) <= allowed and _full_table_distance(token, w) <= allowed
        )
        assert lexical._near(token) == expected, token


def _full_table_distance(a: str, b: str) -> int:
    """Optimal string alignment distance by the textbook table, nothing skipped."""
    table = [[max(i, j) if min(i, j) == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
    return table[-1][-1]


@pytest.mark.parametrize(("a", "b", "distance"), [
    ("musle", "muscle", 1), ("crmaps", "cramps", 1), ("cramp", "carmp", 1), ("ab", "ba", 1), ("spasm", "spasm", 0),
    ("abc", "ca", 3),  # optimal string alignment: a swapped pair is not edited again
])
def test_the_reference_distance_by_hand(a: str, b: str, distance: int) -> None:
    assert _full_table_distance(a, b) == distance


def test_scores_are_bm25s_scores(index: spasmqa.Index, lexical: LexicalIndex) -> None:
    reference = bm25s.BM25()
    reference.index(
        bm25s.tokenize([c.embedding_input for c in index.chunks], stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False),
        show_progress=False,
    )
    for question in [q.text for q in load_questions()] + ["cramp cramp cramp", "musle crmaps"]:
        terms = lexical.terms(question)
        expected = reference.get_scores(terms) if terms else [0.0] * len(index.chunks)
        assert lexical.scores_of(terms) == pytest.approx(expected, rel=1e-5, abs=1e-6), question


def test_words_in_counts_the_distinct_terms_a_chunk_contains(index: spasmqa.Index, lexical: LexicalIndex) -> None:
    for row in (0, len(index.chunks) // 2, len(index.chunks) - 1):
        words = lexical.tokens(index.chunks[row].embedding_input)
        absent = next(t for chunk in index.chunks for t in lexical.tokens(chunk.embedding_input) if t not in words)
        assert lexical.words_in([words[0], words[0], words[-1], absent], row) == len({words[0], words[-1]})
        assert lexical.words_in([], row) == 0
