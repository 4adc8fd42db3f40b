"""Dataset versions: a content hash, schema and row count for a table.

The digest depends on the values, the column names and the dtypes, not on
the index or the order of columns in memory layout, so the same table logged
twice gets the same digest and any changed cell gives a new one.

>>> import pandas as pd
>>> a = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
>>> describe_dataset(a)["digest"] == describe_dataset(a.copy())["digest"]
True
>>> describe_dataset(a)["digest"] == describe_dataset(a.assign(x=[1, 3]))["digest"]
False
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import InvalidInputError
from workbench.store.artifacts import sha256_file

DATASET_ROLES = ("train", "validation", "test", "reference", "current", "input", "output")


def check_role(role: Any) -> str:
    if role not in DATASET_ROLES:
        raise InvalidInputError(
            f"dataset role must be one of {', '.join(DATASET_ROLES)}; got {role!r}"
        )
    return role


def _frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            data = data.reshape(-1, 1)
        if data.ndim != 2:
            raise InvalidInputError(f"a dataset array must be 1- or 2-D, got shape {data.shape}")
        return pd.DataFrame(data, columns=[f"c{i}" for i in range(data.shape[1])])
    raise InvalidInputError(
        "a dataset must be a pandas DataFrame or Series, a numpy array, or a path to a "
        f"Parquet/CSV file; got {type(data).__name__}"
    )


def describe_dataset(data: Any) -> dict[str, Any]:
    """Digest (sha256 hex), schema, rows and columns of a table or a file."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise InvalidInputError(f"dataset file {path} does not exist")
        digest, _ = sha256_file(path)
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            meta = pq.read_schema(path)
            rows = pq.ParquetFile(path).metadata.num_rows
            schema = {f.name: str(f.type) for f in meta}
        else:
            frame = pd.read_csv(path)
            rows, schema = len(frame), {c: str(t) for c, t in frame.dtypes.items()}
        return {"digest": digest, "schema": schema, "n_rows": int(rows), "n_cols": len(schema),
                "source": str(path.resolve())}
    frame = _frame(data)
    hasher = hashlib.sha256()
    schema = {str(c): str(t) for c, t in frame.dtypes.items()}
    hasher.update(repr(sorted(schema.items())).encode())
    for column in sorted(frame.columns, key=str):
        values = pd.util.hash_pandas_object(frame[column], index=False).to_numpy()
        hasher.update(str(column).encode())
        hasher.update(values.tobytes())
    return {"digest": hasher.hexdigest(), "schema": schema, "n_rows": int(len(frame)),
            "n_cols": int(frame.shape[1]), "source": None}


def dataset_to_parquet_bytes(data: Any) -> bytes:
    """The table as Parquet bytes (for keeping a copy in the artifact store)."""
    import io

    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.suffix == ".parquet":
            return path.read_bytes()
        data = pd.read_csv(path)
    buf = io.BytesIO()
    _frame(data).to_parquet(buf, index=False)
    return buf.getvalue()
