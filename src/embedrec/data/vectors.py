"""Pre-trained vectors (word2vec text/binary, GloVe text) read into an EmbeddingTable, and rows for a model.

The formats are those gensim's KeyedVectors reads and writes: word2vec text is an "N D" header line then
"key v1 ... vD" per line; word2vec binary is the same header then per row the key, a space and D
little-endian float32 values; GloVe text is word2vec text without the header.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedrec.data.embeddings import EmbeddingTable
from embedrec.data.idmap import IdMap
from embedrec.errors import DataError

_FLOAT = np.dtype("<f4")


# -- reading ----------------------------------------------------------------------------------------


def load_vectors(path: str | Path, *, binary: bool | None = None) -> EmbeddingTable:
    """Read word2vec text, word2vec binary or GloVe text vectors; `binary=None` detects the format.

    Malformed input raises DataError naming the file and 1-based line (binary: record) number.
    """
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise DataError("the file is empty (expected word2vec or GloVe vectors)", path=str(path))
    if binary is None:  # the word2vec tools name binary files *.bin; otherwise non-UTF-8 means binary
        binary = path.suffix.lower() == ".bin" or _looks_binary(data)
    keys, matrix = _read_binary(data, str(path)) if binary else _read_text(data, str(path))
    return EmbeddingTable(
        matrix, IdMap(np.array(keys, dtype=object), kind="key"), name=path.name, source=path.name
    )


def _looks_binary(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _header(line: str) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _read_text(data: bytes, where: str) -> tuple[list[str], np.ndarray]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not UTF-8 text at byte {exc.start} (pass binary=True for binary)", path=where
        ) from None
    lines = text.splitlines()
    header = _header(lines[0]) if lines else None
    start = 1 if header else 0
    dim = header[1] if header else None
    keys: list[str] = []
    rows: list[np.ndarray] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines[start:], start + 1):
        parts = line.split()
        if not parts:
            continue
        key, values = parts[0], parts[1:]
        if dim is None:
            dim = len(values)
            if dim == 0:
                raise DataError(
                    f"key {key!r} has no values (expected 'key v1 v2 ...')", path=where, line=lineno
                )
        if len(values) != dim:
            raise DataError(f"key {key!r} has {len(values)} values, expected {dim}", path=where, line=lineno)
        try:
            row = np.array([float(v) for v in values], dtype=np.float32)
        except ValueError:
            bad = next(v for v in values if not _is_float(v))
            raise DataError(
                f"value {bad!r} of key {key!r} is not a number", path=where, line=lineno
            ) from None
        if key in seen:
            raise DataError(f"key {key!r} repeats line {seen[key]}", path=where, line=lineno)
        seen[key] = lineno
        keys.append(key)
        rows.append(row)
    if header and len(keys) != header[0]:
        raise DataError(
            f"the header says {header[0]} vectors but the file holds {len(keys)}", path=where, line=1
        )
    if not keys:
        raise DataError("no vectors in the file", path=where)
    return keys, np.vstack(rows)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_binary(data: bytes, where: str) -> tuple[list[str], np.ndarray]:
    end = data.find(b"\n")
    header = _header(data[:end].decode("ascii", errors="replace")) if end >= 0 else None
    if header is None:
        raise DataError("binary vectors must start with an 'N D' header line", path=where, line=1)
    count, dim = header
    width = dim * _FLOAT.itemsize
    matrix = np.empty((count, dim), dtype=np.float32)
    keys: list[str] = []
    pos = end + 1
    for record in range(count):
        lineno = record + 2  # the header is line 1
        space = data.find(b" ", pos)
        if space < 0 or space + 1 + width > len(data):
            raise DataError(
                f"truncated: the header says {count} vectors of {dim} floats but data ends in vector "
                f"{record + 1}",
                path=where,
                line=lineno,
            )
        key = data[pos:space].lstrip(b"\n").decode("utf-8", errors="replace")
        matrix[record] = np.frombuffer(data, dtype=_FLOAT, count=dim, offset=space + 1)
        keys.append(key)
        pos = space + 1 + width
    if data[pos:].strip():
        raise DataError(
            f"more data after the {count} vectors the header announces", path=where, line=count + 2
        )
    if len(set(keys)) != len(keys):
        raise DataError("repeated keys in the file", path=where)
    return keys, matrix


def init_matrix(
    vectors: EmbeddingTable, id_map: IdMap, *, dim: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pre-trained rows for the ids of `id_map`: (matrix (n, d) float32, mask (n,) of ids found).

    Ids are matched as strings; rows without a vector are zeros. A model uses it by copying the rows
    into its embedding weights before training (e.g. `torch.nn.Embedding.from_pretrained(matrix,
    freeze=True)` for frozen vectors, or `weight.data[mask] = matrix[mask]` to fine-tune from them).
    `dim`, when given, is the table's width: a different vector size raises DataError.
    """
    if dim is not None and dim != vectors.dim:
        raise DataError(
            f"the vectors have {vectors.dim} dimensions but the embedding table has {dim}",
            path=vectors.source or None,
        )
    raw = [str(r) for r in id_map.raw_ids]
    keys = IdMap(np.array([str(k) for k in vectors.keys], dtype=object), kind=vectors.kind)
    rows = np.array([keys.index(r) if r in keys else -1 for r in raw], dtype=np.int64)
    mask = rows >= 0
    if len(raw) and not mask.any():
        sample = ", ".join(repr(k) for k in vectors.keys[:3])
        raise DataError(
            f"no {id_map.kind} id has a vector (ids look like {raw[0]!r}, keys like {sample})",
            path=vectors.source or None,
        )
    matrix = np.zeros((len(raw), vectors.dim), dtype=np.float32)
    matrix[mask] = vectors.vectors[rows[mask]]
    return matrix, mask
