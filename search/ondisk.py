"""Inverted lists in a file that FAISS memory-maps (its OnDiskInvertedLists), written by streaming.

FAISS's own merge (`faiss.contrib.ondisk.merge_ondisk`, i.e. `merge_from_multiple`) is not used,
for two reasons found by testing FAISS 1.15:

1. It leaves the whole file on its list of free slots, so adding to (or shrinking) a list of the
   merged index afterwards overwrites other lists: image ids are silently lost.
2. It maps every input and the output, so the merging process's resident memory reaches twice
   the index size.

Here each list is written in turn, with plain file writes, from its sources (chunks spilled by
the build's workers, the lists of an existing file minus removed ids, in-memory lists), in
FAISS's layout (per list: its codes, then its ids, packed), and FAISS is then told the sizes
(`set_all_lists_sizes`): no free slots, nothing mapped while writing, one list in memory at a
time. A lists file is never changed once written; a change writes a new one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from search.faiss_api import faiss
from search.neighbours import IdArray

LISTS_FILE = "lists.ivfdata"
SCRATCH_PREFIX = ".scratch-"
ID_BYTES = 8


class ListSource(Protocol):
    """Entries of inverted lists, list by list (codes as bytes, ids as int64)."""

    def entries(self, list_no: int) -> tuple[bytes, IdArray]: ...


class ArrayLists:
    """The lists of an in-memory FAISS index (a chunk just added, say)."""

    def __init__(self, invlists: Any) -> None:
        self.invlists = invlists
        self.code_size = int(invlists.code_size)

    def entries(self, list_no: int) -> tuple[bytes, IdArray]:
        size = int(self.invlists.list_size(list_no))
        if not size:
            return b"", np.zeros(0, dtype=np.int64)
        codes = faiss.rev_swig_ptr(self.invlists.get_codes(list_no), size * self.code_size)
        ids = faiss.rev_swig_ptr(self.invlists.get_ids(list_no), size)
        return codes.tobytes(), np.array(ids, dtype=np.int64)


def write_part(invlists: Any, path: Path) -> Path:
    """Spill in-memory lists to one file: their sizes, then all codes, then all ids, by list
    (copying one list at a time)."""
    source = ArrayLists(invlists)
    nlist = int(invlists.nlist)
    sizes = np.array([invlists.list_size(list_no) for list_no in range(nlist)], dtype=np.int64)
    with path.open("wb") as handle:
        handle.write(sizes.tobytes())
        for list_no in range(nlist):
            handle.write(source.entries(list_no)[0])
        for list_no in range(nlist):
            handle.write(source.entries(list_no)[1].tobytes())
    return path


class PartFile:
    """A spilled part (`write_part`), read a list at a time."""

    def __init__(self, path: Path, *, nlist: int, code_size: int) -> None:
        self.code_size = code_size
        self._fd = os.open(path, os.O_RDONLY)
        sizes = np.frombuffer(os.pread(self._fd, nlist * ID_BYTES, 0), dtype=np.int64)
        self.sizes = sizes
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.code_offsets = nlist * ID_BYTES + starts * code_size
        self.id_offsets = nlist * ID_BYTES + int(sizes.sum()) * code_size + starts * ID_BYTES

    def entries(self, list_no: int) -> tuple[bytes, IdArray]:
        size = int(self.sizes[list_no])
        if not size:
            return b"", np.zeros(0, dtype=np.int64)
        codes = os.pread(self._fd, size * self.code_size, int(self.code_offsets[list_no]))
        ids = os.pread(self._fd, size * ID_BYTES, int(self.id_offsets[list_no]))
        return codes, np.frombuffer(ids, dtype=np.int64)

    def close(self) -> None:
        os.close(self._fd)


class FileLists:
    """The lists of a written lists file, read with pread (not through its mapping, which would
    count every page read towards this process's memory), less the ids in `drop`."""

    def __init__(self, invlists: Any, fd: int, *, drop: IdArray) -> None:
        self.invlists = invlists
        self.code_size = int(invlists.code_size)
        self.fd = fd
        self.drop = np.sort(np.asarray(drop, dtype=np.int64))
        self.dropped = 0

    def entries(self, list_no: int) -> tuple[bytes, IdArray]:
        entry = self.invlists.lists.at(list_no)
        size, capacity, offset = int(entry.size), int(entry.capacity), int(entry.offset)
        if not size:
            return b"", np.zeros(0, dtype=np.int64)
        codes = os.pread(self.fd, size * self.code_size, offset)
        ids_at = offset + capacity * self.code_size
        ids = np.frombuffer(os.pread(self.fd, size * ID_BYTES, ids_at), dtype=np.int64)
        keep = ~np.isin(ids, self.drop, assume_unique=False) if len(self.drop) else None
        if keep is None or keep.all():
            return codes, ids
        self.dropped += int(len(ids) - keep.sum())
        rows = np.frombuffer(codes, dtype=np.uint8).reshape(size, self.code_size)
        return rows[keep].tobytes(), ids[keep]


def write_lists(
    twin: Any, sources: Sequence[ListSource], directory: Path, *, index_file: str
) -> Path:
    """Write the sources' lists, merged list by list, as `directory`/LISTS_FILE, and the index
    that reads them as `directory`/`index_file`.

    Args:
        twin: an empty in-memory index trained like the sources' (it is consumed: its lists are
            replaced by the file's).
        sources: entries of each list, concatenated in this order.
        directory: where both files go (an existing folder).
        index_file: the index file's name.

    Returns:
        The index file's path (open it with `open_lists`).
    """
    ivf = faiss.extract_index_ivf(twin)
    nlist, code_size = int(ivf.nlist), int(ivf.code_size)
    sizes = np.zeros(nlist, dtype=np.uint64)
    lists_path = directory / LISTS_FILE
    with lists_path.open("wb") as out:
        for list_no in range(nlist):
            parts = [source.entries(list_no) for source in sources]
            out.writelines(codes for codes, _ in parts)
            out.writelines(ids.tobytes() for _, ids in parts)
            sizes[list_no] = sum(len(ids) for _, ids in parts)
        if not sizes.sum():
            out.write(b"\0" * ID_BYTES)  # FAISS cannot map an empty file
        out.flush()
        os.fsync(out.fileno())
        total_bytes = out.tell()
    invlists = faiss.OnDiskInvertedLists(nlist, code_size, str(lists_path))
    invlists.set_all_lists_sizes(faiss.swig_ptr(sizes))
    invlists.totsize = total_bytes
    ivf.replace_invlists(invlists, True)
    invlists.this.disown()
    twin.ntotal = ivf.ntotal = int(sizes.sum())
    index_path = directory / index_file
    faiss.write_index(twin, str(index_path))
    return index_path


def open_lists(index_path: Path) -> Any:
    """The index at `index_path` with its lists mapped read-only from LISTS_FILE beside it.

    FAISS's IO_FLAG_ONDISK_SAME_DIR does the same but prints to stdout (which would break
    `--json` output); here the file's name is set, then mapped.
    """
    index = faiss.read_index(str(index_path), faiss.IO_FLAG_SKIP_IVF_DATA | faiss.IO_FLAG_READ_ONLY)
    invlists = faiss.downcast_InvertedLists(faiss.extract_index_ivf(index).invlists)
    if not isinstance(invlists, faiss.OnDiskInvertedLists):
        raise ValueError(f"{index_path} does not keep its lists on disk")
    invlists.filename = str(index_path.parent / LISTS_FILE)
    invlists.do_mmap()
    # FAISS starts up to 32 threads per search to read the probed lists ahead: 2-3.5 ms a
    # query against 0.11 ms without (100k x 128, SQ6, nprobe 32, pages cached). Page faults
    # read what is not cached.
    invlists.prefetch_nthread = 0
    return index


def empty_twin(index: Any) -> Any:
    """An empty in-memory index trained like `index`, an on-disk one (same lists, encoder)."""
    flags = faiss.IO_FLAG_SKIP_IVF_DATA | faiss.IO_FLAG_READ_ONLY
    twin = faiss.deserialize_index(faiss.serialize_index(index), flags)  # no list data is read
    ivf = faiss.extract_index_ivf(twin)
    invlists = faiss.ArrayInvertedLists(ivf.nlist, ivf.code_size)
    ivf.replace_invlists(invlists, True)
    invlists.this.disown()
    twin.ntotal = ivf.ntotal = 0
    return twin


def scratch_dir(parent: Path) -> Path:
    """A new private folder under `parent`, named for this process (so that a sweep can tell
    a dead process's leftovers from a live one's)."""
    path = parent / f"{SCRATCH_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir(parents=True)
    return path
