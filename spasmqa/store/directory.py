"""The index directory on disk: written whole or not at all, swapped in atomically, read back checked.

An index is a directory: ``manifest.json`` (what was built, how, where its vectors are, and a sha256 of
every file and document) and the files of its store (``store.faiss_store``; a Milvus store keeps none).
A build writes them in a hidden staging directory beside the target and renames it into place; the previous index is renamed
aside first and deleted after, and a crash between the two renames is repaired by the next reader or
builder. Builds of one directory are serialised by a lock file beside it, and readers take a shared
lock so they never read during a swap.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, TypeVar

from spasmqa.errors import ChecksumError, IndexNotFoundError, IndexWriteError, MissingIndexFileError, SpasmqaError
from spasmqa.store.manifest import MANIFEST_FILE, Manifest, read_manifest, rebuild_hint, sha256_file

logger = logging.getLogger(__name__)
T = TypeVar("T")


@contextmanager
def building(target: Path) -> Iterator[None]:
    """Hold the build lock of ``target`` (waiting, with a warning, for another build), refuse a directory that
    is not an index, and clear what crashed builds left behind."""
    with _locked(target, "build"):
        if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / MANIFEST_FILE).exists())):
            raise IndexWriteError(
                f"{target} exists and is not a spasmqa index; choose another index directory (nothing was written)"
            )
        with _locked(target, "swap"):
            _recover_interrupted_swap(target)
            _remove_leftovers(target)
        yield


def write_directory(target: Path, manifest: Manifest, files: dict[str, Callable[[IO[bytes]], Any]]) -> Manifest:
    """Write ``files`` (name: writer) and the manifest, with every file's sha256, in a staging directory and
    swap it into place (call inside ``building``). Returns the manifest as written."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        for name, write in files.items():
            _write_file(staging / name, write)
        manifest = replace(manifest, files={name: sha256_file(staging / name) for name in files})
        record = json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n"
        _write_file(staging / MANIFEST_FILE, lambda handle: handle.write(record.encode("utf-8")))
        with _locked(target, "swap"):
            _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def read_directory(index_dir: str | Path, read: Callable[[Path, Manifest], T]) -> T:
    """Check an index directory's manifest and files, then ``read(path, manifest)`` the rest.

    Reading waits while a build swaps a new index into place, so it never mixes two builds' files.
    """
    path = Path(index_dir).expanduser().resolve()
    if not path.parent.is_dir():
        raise IndexNotFoundError(f"no spasmqa index at {path}; {rebuild_hint(path)}")
    if not path.exists() and _staged(path, "old"):
        with _locked(path, "swap"):
            _recover_interrupted_swap(path)
    with _locked(path, "swap", shared=True):
        manifest = read_manifest(path)
        _check_files(path, manifest)
        return read(path, manifest)


def previous_manifest(target: Path) -> Manifest | None:
    """The manifest of the index a build is about to replace, if it has a readable one (call inside ``building``)."""
    try:
        return read_manifest(target)
    except SpasmqaError:
        return None


def _write_file(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Every file of an index is written here, and made durable before anything is renamed into place."""
    with path.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())


def _swap_into_place(staging: Path, target: Path) -> None:
    if target.exists():
        retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(target)


@contextmanager
def _locked(target: Path, purpose: str, *, shared: bool = False) -> Iterator[None]:
    """Hold a lock file beside ``target``: "build" serialises builders, "swap" keeps readers off a swap."""
    import portalocker  # lazily: it reads its own package metadata on import (~25 ms)

    lock_path = target.parent / f".{target.name}.{purpose}.lock"
    try:
        handle = lock_path.open("a")
    except OSError:
        if not shared:
            raise
        # A reader in a read-only folder: no lock file can be made, and no build can be writing there.
        yield
        return
    mode = portalocker.LOCK_SH if shared else portalocker.LOCK_EX
    with handle:
        try:
            portalocker.lock(handle, mode | portalocker.LOCK_NB)
        except portalocker.LockException:
            if purpose == "build":
                logger.warning("waiting for another build of %s to finish", target)
            portalocker.lock(handle, mode)
        try:
            yield
        finally:
            portalocker.unlock(handle)


def _staged(target: Path, kind: str) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.{kind}-*"), key=lambda p: p.stat().st_mtime)


def _recover_interrupted_swap(target: Path) -> None:
    """A crash between the two renames of a swap leaves the previous index retired: put it back."""
    retired = _staged(target, "old")
    if not target.exists() and retired:
        retired[-1].rename(target)
        logger.warning("restored the index at %s after an interrupted rebuild", target)


def _remove_leftovers(target: Path) -> None:
    """Staging and retired directories of builds that died; only called while holding the build lock."""
    for leftover in _staged(target, "building") + _staged(target, "old"):
        shutil.rmtree(leftover, ignore_errors=True)


def _check_files(path: Path, manifest: Manifest) -> None:
    for name, expected in manifest.files.items():
        file_path = path / name
        if not file_path.is_file():
            raise MissingIndexFileError(f"{file_path} is missing; {rebuild_hint(path)}")
        if sha256_file(file_path) != expected:
            raise ChecksumError(
                f"{file_path} is damaged (its sha256 differs from the manifest's: truncated or altered); "
                f"{rebuild_hint(path)}"
            )
