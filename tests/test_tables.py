"""Reading tables, inferring column roles, and checking a new file against the training schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embedrec import DataError, ParameterError
from embedrec.data.table_encoding import MISSING, TableEncoder
from embedrec.data.tables import check_frame, infer_schema, read_table, target_column

CSV = "age,job,weight,genres,income\n39,clerk,1.5,Comedy|Drama,low\n50,?,2.5,Drama,high\n,chef,3,,low\n"


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_numbers_text_and_missing_values(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, CSV))
    assert list(frame.columns) == ["age", "job", "weight", "genres", "income"]
    assert frame["age"].dtype == np.float64 and np.isnan(frame["age"][2])
    assert frame["job"].tolist()[0] == "clerk" and pd.isna(frame["job"][1])  # "?" is missing
    assert frame["weight"].tolist() == [1.5, 2.5, 3.0]


@pytest.mark.parametrize("sep", ["\t", ";", "|"])
def test_separator_is_sniffed(tmp_path: Path, sep: str) -> None:
    frame = read_table(
        write(tmp_path, CSV.replace(",", sep) if sep != "|" else CSV.replace("|", "/").replace(",", "|"))
    )
    assert frame.shape == (3, 5) and frame["job"][0] == "clerk"


def test_headerless_file_gets_numbered_columns_and_text_only_header_is_found(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, "1|24|M|technician\n2|53|F|other\n3|23|M|writer\n"))
    assert list(frame.columns) == ["col1", "col2", "col3", "col4"] and len(frame) == 3
    text = read_table(write(tmp_path, "colour,shape\nred,round\nblue,square\nred,square\n", "u.csv"))
    assert list(text.columns) == ["colour", "shape"] and len(text) == 3


def test_quoted_fields_and_parquet_read_the_same(tmp_path: Path) -> None:
    csv = read_table(write(tmp_path, 'name,"a b"\n"x, y",1\nz,2\n'))
    assert csv["name"].tolist() == ["x, y", "z"] and csv["a b"].tolist() == [1.0, 2.0]
    pd.DataFrame({"name": ["x, y", "z"], "a b": [1, 2]}).to_parquet(tmp_path / "t.parquet")
    parquet = read_table(tmp_path / "t.parquet")
    assert parquet["name"].tolist() == ["x, y", "z"] and parquet["a b"].tolist() == [1.0, 2.0]


def test_a_ragged_row_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"t\.csv:3: .*different number of fields"):
        read_table(write(tmp_path, "a,b\n1,2\n3,4,5\n"))
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "missing.csv")


def test_inferred_roles() -> None:
    n = 40
    frame = pd.DataFrame(
        {
            "userId": np.arange(n) % 7,
            "row_id": np.arange(n, dtype=float),
            "age": np.linspace(18, 70, n),
            "genres": ["Comedy|Drama", "Drama"] * (n // 2),
            "job": ["a", "b", "c", "d"] * (n // 4),
            "name": [f"person {i}" for i in range(n)],
            "flag": [True, False] * (n // 2),
        }
    )
    kinds = {c.name: c.kind for c in infer_schema(frame).columns}
    assert kinds == {
        "userId": "categorical",
        "row_id": "skip",
        "age": "numeric",
        "genres": "multilabel",
        "job": "categorical",
        "name": "skip",
        "flag": "categorical",
    }
    given = infer_schema(frame, numeric=["userId"], categorical=["age"], skip=["genres"])
    assert [given.names(k) for k in ("numeric", "categorical")] == [["userId"], ["age", "job", "flag"]]


def test_override_errors_name_the_column() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    with pytest.raises(DataError, match="no column 'c' to treat as categorical; the columns are a, b"):
        infer_schema(frame, categorical=["c"])
    with pytest.raises(ParameterError, match="'a' is given as both categorical and numeric"):
        infer_schema(frame, categorical=["a"], numeric=["a"])


def test_an_all_missing_column_is_a_one_line_error(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, "a,b,y\n1,,x\n2,?,y\n3,NA,x\n"))
    with pytest.raises(DataError, match=r"t\.csv: field 'b': every value is missing") as info:
        infer_schema(frame)
    assert "\n" not in str(info.value)
    assert infer_schema(frame, skip=["b"]).names("skip") == ["b"]


def test_test_file_checked_against_training_schema(tmp_path: Path) -> None:
    schema = infer_schema(read_table(write(tmp_path, CSV)).drop(columns=["income"]))
    missing = read_table(write(tmp_path, "age,job,genres\n30,chef,Drama\n", "test.csv"))
    with pytest.raises(
        DataError, match=r"test\.csv: column 'weight' is missing \(the model was trained on age"
    ):
        check_frame(schema, missing)
    text = read_table(
        write(tmp_path, "age,job,weight,genres\n30,chef,1,Drama\n31,chef,heavy,Drama\n", "bad.csv")
    )
    with pytest.raises(DataError, match=r"bad\.csv:3: field 'weight': 'heavy' is not a number"):
        check_frame(schema, text)


def test_target_column_checks(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, "a,y\n1,x\n2,\n"))
    with pytest.raises(DataError, match="no target column 'income'; the columns are a, y"):
        target_column(frame, "income")
    with pytest.raises(DataError, match=r"t\.csv:3: field 'y': the target is missing"):
        target_column(frame, "y")


def test_encoder_codes_unknown_and_missing_values() -> None:
    train = pd.DataFrame({"job": ["a", "b", None, "a"], "id": [3, 1, 3, 2], "x": [1.0, np.nan, 3.0, 5.0]})
    schema = infer_schema(train, categorical=["id"])
    enc = TableEncoder.fit(train, schema)
    job, ids = enc.categories
    assert job.ids.raw_ids.tolist() == ["a", "b", MISSING] and job.counts.tolist() == [2, 1, 1]
    assert ids.ids.is_integer and ids.ids.raw_ids.tolist() == [3, 1, 2]
    codes, numbers = enc.transform(
        pd.DataFrame({"job": ["b", "zzz", None], "id": ["2", 9, 3], "x": [3.0, None, 1.0]})
    )
    assert codes.tolist() == [[2, 3], [0, 0], [3, 1]]  # row 0 of each column: unknown
    median, mean, std = 3.0, 3.0, np.std([1.0, 3.0, 5.0])
    np.testing.assert_allclose(
        numbers[:, 0], [(3 - mean) / std, (median - mean) / std, (1 - mean) / std], rtol=1e-6
    )
    assert numbers[:, 1].tolist() == [0.0, 1.0, 0.0]  # the missing indicator
    again = TableEncoder.from_json(enc.to_json()).transform(train)
    np.testing.assert_array_equal(again[0], enc.transform(train)[0])
