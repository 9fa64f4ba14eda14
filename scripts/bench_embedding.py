"""Which batch size embeds a corpus fastest here: ``python scripts/bench_embedding.py [--batch-sizes 8,16,32,64,128] [--repeat 2]``.

Embeds the texts a build embeds for the bundled corpus (every chunk with its title and section line,
then every sentence: short and long texts mixed, as in any corpus) with the default model, once per
batch size, and prints texts per second. Each batch size is run twice: with sentence-transformers'
own length sorting (texts of similar length batched together, so padding is small; what
``Embedder.encode`` does) and in corpus order (batches of mixed lengths), to show what the sorting is
worth. The best of ``--repeat`` runs is kept, so a busy moment on the machine does not decide.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence

from spasmqa.chunking import ChunkSettings
from spasmqa.corpus import load_corpus
from spasmqa.embedding import Embedder
from spasmqa.build import chunk_corpus


def corpus_texts(embedder: Embedder) -> list[str]:
    chunks = chunk_corpus(load_corpus(), ChunkSettings(), embedder)
    sentences = [chunk.text[start - chunk.start : end - chunk.start] for chunk in chunks for start, end in chunk.sentences]
    return [chunk.embedding_input for chunk in chunks] + sentences


def length_sorted(embedder: Embedder, texts: Sequence[str], batch_size: int) -> None:
    embedder.encode(texts, batch_size=batch_size)


def corpus_order(embedder: Embedder, texts: Sequence[str], batch_size: int) -> None:
    # one call per batch, so sentence-transformers cannot reorder across batches
    for first in range(0, len(texts), batch_size):
        embedder.encode(texts[first : first + batch_size], batch_size=batch_size)


def texts_per_second(run: Callable[[Embedder, Sequence[str], int], None], embedder: Embedder, texts: Sequence[str], batch_size: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run(embedder, texts, batch_size)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def main() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # the model loader's bar, not ours
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-sizes", default="8,16,32,64,128")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    embedder = Embedder()
    texts = corpus_texts(embedder)
    embedder.encode(texts[:64])  # load the model and warm up before timing
    print(f"{len(texts)} texts (chunks with their context line, then sentences), model {embedder.model_id}")
    print(f"{'batch size':>10}  {'length-sorted texts/s':>22}  {'corpus order texts/s':>21}")
    for batch_size in (int(size) for size in args.batch_sizes.split(",")):
        sorted_rate = texts_per_second(length_sorted, embedder, texts, batch_size, args.repeat)
        unsorted_rate = texts_per_second(corpus_order, embedder, texts, batch_size, args.repeat)
        print(f"{batch_size:>10}  {sorted_rate:>22.1f}  {unsorted_rate:>21.1f}")


if __name__ == "__main__":
    main()
