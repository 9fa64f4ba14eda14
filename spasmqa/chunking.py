"""Chunking: cutting documents into passages that fit the embedding model, each knowing its section and offsets.

A document is read as blocks (headings, paragraphs, list items); a chunk never crosses a heading, prefers
to end where a block ends, and otherwise ends between sentences. Sizes are counted in the embedding
model's own tokens, including the title/heading context embedded with the chunk, so nothing is ever
truncated by the model. Every chunk satisfies ``document.text[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from spasmqa.cleaning import LIST_MARKER, heading_text, is_list_item
from spasmqa.corpus import Document
from spasmqa.errors import ChunkingError

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Counts the model tokens of each text, without the special tokens the model adds around an input."""

CONTEXT_MODES = ("none", "section", "title+section")
MIN_TEXT_BUDGET = 16

_SENTENCE_END = re.compile(r"([.!?…]+[\"”’')\]]*)\s+(?=[\"“‘(\[]?[A-Z0-9•])")
_ABBREVIATIONS = frozenset(
    "dr mr mrs ms prof st vs etc e.g i.e no fig approx inc jr sr mt dept univ".split()
)
_SENTENCE_FINAL = ".!?:\"”’)"


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are cut into chunks; saved in every index manifest.

    ``max_tokens`` bounds the whole embedded input (context line, text and the model's special tokens);
    ``overlap_tokens`` is how much trailing text of a chunk, in whole sentences, starts the next one in
    the same section; ``context`` is what is embedded in front of the text: ``"title+section"``,
    ``"section"`` or ``"none"``.
    """

    # Chosen with scripts/compare_chunking.py: the best setting on the weaker of the two question halves.
    max_tokens: int = 192
    overlap_tokens: int = 0
    context: str = "title+section"

    def __post_init__(self) -> None:
        if not isinstance(self.max_tokens, int) or self.max_tokens < 2 * MIN_TEXT_BUDGET:
            raise ChunkingError(f"max_tokens must be an integer of at least {2 * MIN_TEXT_BUDGET}, got {self.max_tokens!r}")
        if not isinstance(self.overlap_tokens, int) or not 0 <= self.overlap_tokens <= self.max_tokens // 2:
            raise ChunkingError(
                f"overlap_tokens must be an integer from 0 to max_tokens/2 ({self.max_tokens // 2}), "
                f"got {self.overlap_tokens!r}"
            )
        if self.context not in CONTEXT_MODES:
            raise ChunkingError(f"context must be one of {', '.join(CONTEXT_MODES)}, got {self.context!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Chunk:
    """A passage of one document: ``text`` is exactly ``document.text[start:end]``."""

    chunk_id: str
    doc_id: str
    section: str
    start: int
    end: int
    text: str
    context: str
    token_count: int
    sentences: tuple[tuple[int, int], ...] = ()
    """Document offsets of the chunk's sentences (list items and lines count as sentences too)."""

    @property
    def embedding_input(self) -> str:
        """What the model embeds: the context line (title and section) above the text."""
        return f"{self.context}\n{self.text}" if self.context else self.text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Chunk:
        fields = dict(record)
        fields["sentences"] = tuple((int(s), int(e)) for s, e in fields.get("sentences", ()))
        return cls(**fields)


@dataclass(frozen=True)
class Block:
    """A structural piece of a document: a heading, a paragraph or a list item, by offsets."""

    kind: str
    start: int
    end: int
    section: str


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    block: int


def chunk_id(doc_id: str, start: int, end: int) -> str:
    """Deterministic id of a chunk: rebuilding the same document with the same settings gives the same ids."""
    return f"{doc_id}:{start}-{end}"


def parse_blocks(text: str) -> list[Block]:
    """Read a cleaned text as headings, paragraphs and list items, each tagged with its section heading."""
    lines = _lines_with_offsets(text)
    blocks: list[Block] = []
    section = ""
    for index, (start, line) in enumerate(lines):
        if not line:
            continue
        previous = lines[index - 1][1] if index > 0 else ""
        following = next((ln for _, ln in lines[index + 1 :] if ln), "")
        heading = _heading(line, previous, following)
        if heading is not None:
            section = heading
            blocks.append(Block("heading", start, start + len(line), section))
        elif is_list_item(line):
            blocks.append(Block("list_item", start, start + len(line), section))
        elif blocks and blocks[-1].kind == "paragraph" and previous and line[0].islower():
            # A hard-wrapped paragraph continues on this line.
            blocks[-1] = Block("paragraph", blocks[-1].start, start + len(line), section)
        else:
            blocks.append(Block("paragraph", start, start + len(line), section))
    return blocks


def _lines_with_offsets(text: str) -> list[tuple[int, str]]:
    lines = []
    offset = 0
    for line in text.split("\n"):
        lines.append((offset, line))
        offset += len(line) + 1
    return lines


def _heading(line: str, previous: str, following: str) -> str | None:
    heading = heading_text(line)
    if heading is None or line.startswith("#"):
        return heading
    starts_block = not previous or previous[-1] in _SENTENCE_FINAL or heading_text(previous) is not None
    leads_content = bool(following) and (following[0].isupper() or following[0].isdigit() or is_list_item(following)
                                         or following[0] in "\"“#")
    return heading if starts_block and leads_content else None


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]`` as absolute ``(start, end)`` offsets, without surrounding spaces."""
    end = len(text) if end is None else end
    spans = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        stop = match.start() + len(match.group(1))
        if _ends_with_abbreviation(text[cursor:stop]):
            continue
        spans.append((cursor, stop))
        cursor = match.end()
    if cursor < end:
        spans.append((cursor, end))
    return [span for span in spans if text[span[0] : span[1]].strip()]


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]``, never crossing a line break (a list item is its own sentence)."""
    spans = []
    line_start = start
    while line_start < end:
        line_end = text.find("\n", line_start, end)
        line_end = end if line_end < 0 else line_end
        marker = LIST_MARKER.match(text, line_start, line_end)
        spans.extend(split_sentences(text, marker.end() if marker else line_start, line_end))
        line_start = line_end + 1
    return spans


def _ends_with_abbreviation(sentence: str) -> bool:
    words = sentence.rstrip(".").split()
    if not words:
        return False
    last = words[-1].lower()
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def context_line(settings: ChunkSettings, title: str, section: str) -> str:
    """The line embedded above a chunk's text, as ``settings.context`` asks."""
    if settings.context == "none":
        return ""
    if settings.context == "section" or not title or section == title:
        return section or (title if settings.context == "title+section" else "")
    return f"{title} — {section}" if section else title


def chunk_document(
    document: Document, settings: ChunkSettings, count_tokens: TokenCounter, special_tokens: int = 2
) -> list[Chunk]:
    """Cut one document into chunks of at most ``settings.max_tokens`` model tokens, context included.

    ``special_tokens`` is how many tokens the model adds around every input ([CLS] and [SEP] for BERT).
    Raises ``ChunkingError`` rather than ever produce a chunk over the limit.
    """
    spans: list[tuple[str, int, int, str]] = []
    for section, members in _sections(parse_blocks(document.text)):
        context = context_line(settings, document.title, section)
        budget = _text_budget(settings, context, count_tokens, special_tokens, document)
        units = _units(document, members, budget, count_tokens)
        spans.extend((section, start, end, context) for start, end in _pack(units, budget, settings.overlap_tokens))
    return _make_chunks(document, spans, settings, count_tokens, special_tokens)


def _sections(blocks: list[Block]) -> list[tuple[str, list[tuple[int, Block]]]]:
    """Runs of body blocks between headings, with their heading ("" before the first one)."""
    sections: list[tuple[str, list[tuple[int, Block]]]] = [("", [])]
    for index, block in enumerate(blocks):
        if block.kind == "heading":
            sections.append((block.section, []))
        else:
            sections[-1][1].append((index, block))
    return [(section, members) for section, members in sections if members]


def _text_budget(
    settings: ChunkSettings, context: str, count_tokens: TokenCounter, special_tokens: int, document: Document
) -> int:
    context_tokens = count_tokens([context])[0] if context else 0
    budget = settings.max_tokens - special_tokens - context_tokens
    if budget < MIN_TEXT_BUDGET:
        raise ChunkingError(
            f"the context line {context!r} of document {document.doc_id} leaves {budget} of max_tokens="
            f"{settings.max_tokens} for text; raise max_tokens or use context='none'"
        )
    return budget


def _units(document: Document, members: list[tuple[int, Block]], budget: int, count_tokens: TokenCounter) -> list[_Unit]:
    """Blocks as sentences, and a sentence longer than the budget as runs of words."""
    text = document.text
    sentences = [(index, s, e) for index, block in members for s, e in split_sentences(text, block.start, block.end)]
    counts = count_tokens([text[s:e] for _, s, e in sentences])
    units: list[_Unit] = []
    for (index, start, end), tokens in zip(sentences, counts):
        if tokens <= budget:
            units.append(_Unit(start, end, tokens, index))
        else:
            units.extend(_word_runs(document, start, end, index, budget, count_tokens))
    return units


def _word_runs(
    document: Document, start: int, end: int, block: int, budget: int, count_tokens: TokenCounter
) -> list[_Unit]:
    words = [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", document.text[start:end])]
    counts = count_tokens([document.text[s:e] for s, e in words])
    runs: list[_Unit] = []
    run_start, run_tokens, previous_end = words[0][0], 0, words[0][1]
    for (word_start, word_end), tokens in zip(words, counts):
        if tokens > budget:
            raise ChunkingError(
                f"document {document.doc_id} has a single word of {tokens} tokens at offset {word_start}, "
                f"more than the {budget} a chunk can hold; raise max_tokens or clean the document"
            )
        if run_tokens + tokens > budget:
            runs.append(_Unit(run_start, previous_end, run_tokens, block))
            run_start, run_tokens = word_start, 0
        run_tokens += tokens
        previous_end = word_end
    runs.append(_Unit(run_start, previous_end, run_tokens, block))
    return runs


def _pack(units: list[_Unit], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy packing of units into spans, ending at a block boundary when one lies past half the budget.

    Each join may cost one token with tokenizers that merge across spaces, so joins are charged one.
    """
    spans = []
    i = 0
    while i < len(units):
        j, used = i, 0
        while j < len(units) and used + units[j].tokens + (j > i) <= budget:
            used += units[j].tokens + (j > i)
            j += 1
        if j < len(units):
            j = _last_block_boundary(units, i, j, budget) or j
        spans.append((units[i].start, units[j - 1].end))
        if j == len(units):
            break
        i = _overlap_start(units, i, j, budget, overlap)
    return spans


def _last_block_boundary(units: list[_Unit], i: int, j: int, budget: int) -> int | None:
    used = 0
    best = None
    for b in range(i + 1, j + 1):
        used += units[b - 1].tokens + 1
        if b < len(units) and units[b - 1].block != units[b].block and used >= budget // 2:
            best = b
    return best


def _overlap_start(units: list[_Unit], i: int, j: int, budget: int, overlap: int) -> int:
    """Where the next chunk starts: trailing units of this one worth at most ``overlap`` tokens.

    The overlap must leave room for unit ``j``, so every chunk reaches further than the one before it.
    """
    start, carried = j, 0
    while start - 1 > i:
        tokens = units[start - 1].tokens + 1
        if carried + tokens > overlap or carried + tokens + units[j].tokens + 1 > budget:
            break
        carried += tokens
        start -= 1
    return start


def _make_chunks(
    document: Document,
    spans: list[tuple[str, int, int, str]],
    settings: ChunkSettings,
    count_tokens: TokenCounter,
    special_tokens: int,
) -> list[Chunk]:
    chunks = [
        Chunk(
            chunk_id(document.doc_id, s, e), document.doc_id, section, s, e, document.text[s:e], context, 0,
            tuple(sentence_spans(document.text, s, e)),
        )
        for section, s, e, context in spans
    ]
    counts = count_tokens([chunk.embedding_input for chunk in chunks])
    result = []
    for chunk, tokens in zip(chunks, counts):
        total = tokens + special_tokens
        if total > settings.max_tokens:
            raise ChunkingError(
                f"chunk {chunk.chunk_id} has {total} tokens, over max_tokens={settings.max_tokens}; "
                "this tokenizer counts joined text differently, lower max_tokens"
            )
        result.append(replace(chunk, token_count=total))
    return result


def check_provenance(document: Document, chunks: Sequence[Chunk]) -> None:
    """Raise ``ChunkingError`` unless every chunk's text is exactly its span of the document."""
    for chunk in chunks:
        if chunk.doc_id != document.doc_id or document.text[chunk.start : chunk.end] != chunk.text:
            raise ChunkingError(
                f"chunk {chunk.chunk_id} does not match {document.doc_id}[{chunk.start}:{chunk.end}]; "
                "this is a spasmqa bug, please report it"
            )
