"""Export an embedding table in the formats other tools read: TensorBoard projector, word2vec, NumPy.

Every file is written to a temporary name, fsynced and moved into place only when all of them are
written, so a crash or Ctrl-C never leaves half a file (files.write_files_atomic).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from embedrec.data.embeddings import EmbeddingTable
from embedrec.errors import ParameterError
from embedrec.files import write_files_atomic

_WS = re.compile(r"\s+")


def export(table: EmbeddingTable, fmt: str, out: str | Path) -> list[Path]:
    """Write `table` in format `fmt` (see FORMATS) under `out`; returns the paths written.

    "projector" and "npy" write into the folder `out`; "word2vec" and "word2vec-binary" write the file
    `out` (or `vectors.txt` / `vectors.bin` inside it when `out` is an existing folder).
    """
    writer = FORMATS.get(fmt) if isinstance(fmt, str) else None
    if writer is None:
        raise ParameterError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not isinstance(out, str | os.PathLike) or not str(out):
        raise ParameterError(f"out must be a path, got {out!r}")
    return write_files_atomic(writer(table, Path(out)))


def _clean(value: object) -> str:
    """A TSV / word2vec-safe cell: tabs, newlines and spaces collapsed so columns stay aligned."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _WS.sub(" ", str(value)).strip()


def _key(raw: object) -> str:
    return _WS.sub("_", str(raw).strip())


def _float_lines(vectors: np.ndarray, sep: str) -> list[str]:
    # 9 significant digits round-trip float32 exactly
    fmt = sep.join(["%.9g"] * vectors.shape[1])
    return [fmt % tuple(row) for row in vectors.tolist()]


def metadata_frame(table: EmbeddingTable) -> list[list[str]]:
    """Header and rows of the projector metadata: id, then title, year, genres, ratings when known."""
    columns: list[tuple[str, list[object]]] = [("id", list(table.ids.raw_ids))]
    if table.meta is not None:
        for name in ("title", "year", "genres"):
            if name in table.meta.columns:
                columns.append((name, table.meta[name].tolist()))
    if table.counts is not None:
        columns.append(("ratings", table.counts.tolist()))
    if len(columns) == 1:  # TensorBoard reads a one-column file as header-less: always write two
        columns.append(("label", table.labels()))
    header = [name for name, _ in columns]
    rows = [[_clean(v) for v in values] for values in zip(*(vals for _, vals in columns), strict=True)]
    return [header, *rows]


def _projector(table: EmbeddingTable, out: Path) -> dict[Path, bytes]:
    """TensorBoard Embedding Projector: vectors.tsv (no header), metadata.tsv (header), config."""
    vectors = ("\n".join(_float_lines(table.vectors, "\t")) + "\n").encode()
    meta = metadata_frame(table)
    metadata = ("\n".join("\t".join(r) for r in meta) + "\n").encode()
    name = table.name.replace('"', "'")
    config = (
        "embeddings {\n"
        f'  tensor_name: "{name}"\n'
        '  tensor_path: "vectors.tsv"\n'
        '  metadata_path: "metadata.tsv"\n'
        "}\n"
    )
    return {
        out / "vectors.tsv": vectors,
        out / "metadata.tsv": metadata,
        out / "projector_config.pbtxt": config.encode(),
    }


def _target(out: Path, default: str) -> Path:
    return out / default if out.is_dir() else out


def _word2vec(table: EmbeddingTable, out: Path) -> dict[Path, bytes]:
    """word2vec text: an "N D" header, then "key v1 ... vD". Keys are raw ids (titles are not unique),
    with any whitespace replaced by "_"."""
    n, d = table.vectors.shape
    lines = [f"{n} {d}"]
    lines += [
        f"{_key(k)} {v}" for k, v in zip(table.ids.raw_ids, _float_lines(table.vectors, " "), strict=True)
    ]
    return {_target(out, "vectors.txt"): ("\n".join(lines) + "\n").encode()}


def _word2vec_binary(table: EmbeddingTable, out: Path) -> dict[Path, bytes]:
    """word2vec binary (as gensim writes it): the "N D" header line, then per row the raw id, a space,
    D little-endian float32 values and a newline."""
    n, d = table.vectors.shape
    buf = io.BytesIO()
    buf.write(f"{n} {d}\n".encode())
    data = table.vectors.astype("<f4")
    for key, row in zip(table.ids.raw_ids, data, strict=True):
        buf.write(_key(key).encode() + b" " + row.tobytes() + b"\n")
    return {_target(out, "vectors.bin"): buf.getvalue()}


def _npy(table: EmbeddingTable, out: Path) -> dict[Path, bytes]:
    """vectors.npy (float32, row i is id i) and ids.csv with index,id and title when known."""
    buf = io.BytesIO()
    np.save(buf, table.vectors.astype(np.float32), allow_pickle=False)
    written = {out / "vectors.npy": buf.getvalue()}
    has_title = table.meta is not None and "title" in table.meta.columns
    frame = {"index": np.arange(len(table)), "id": table.ids.raw_ids}
    if has_title:
        frame["title"] = table.meta["title"].to_numpy()
    text = pd.DataFrame(frame).to_csv(index=False)
    written[out / "ids.csv"] = text.encode()
    return written


FORMATS: dict[str, Callable[[EmbeddingTable, Path], dict[Path, bytes]]] = {
    "projector": _projector,
    "word2vec": _word2vec,
    "word2vec-binary": _word2vec_binary,
    "npy": _npy,
}
