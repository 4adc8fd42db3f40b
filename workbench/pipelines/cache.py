"""Step outputs in the content-addressed artifact folder, and cache keys.

An output is serialised with ``joblib.dump`` and stored once under its
sha256; the sha256 is the output's *hash*, the identity that downstream
cache keys and the lineage use. A step's cache key hashes its code, its
params, its inputs' hashes and (for steps that read files) a fingerprint
of the data it reads.

>>> import tempfile
>>> from workbench.store.artifacts import ArtifactStore
>>> cas = ArtifactStore(tempfile.mkdtemp())
>>> sha, size = store_output(cas, {"a": 1})
>>> load_output(cas, sha)
{'a': 1}
>>> cache_key("code", {"p": 1}, [("x", sha)]) == cache_key("code", {"p": 1}, [("x", sha)])
True
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import joblib

from workbench.store.artifacts import ArtifactStore


def dump_output(obj: Any) -> bytes:
    """The bytes that represent a step's output (``joblib.dump``)."""
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return buf.getvalue()


def store_output(artifacts: ArtifactStore, obj: Any) -> tuple[str, int]:
    """Store an output in the artifact folder; returns (sha256, size)."""
    return artifacts.put_bytes(dump_output(obj))


def load_output(artifacts: ArtifactStore, sha: str) -> Any:
    """Load an output by hash (its bytes are verified against the hash first)."""
    return joblib.load(io.BytesIO(artifacts.read(sha)))


def has_output(artifacts: ArtifactStore, sha: str) -> bool:
    """Whether the output object is still in the artifact folder."""
    try:
        return artifacts.path_for(sha).exists()
    except Exception:
        return False


def cache_key(code: str, params: dict[str, Any], inputs: list[tuple[str, str]],
              fingerprint: str | None = None) -> str:
    """sha256 over the code hash, the params (canonical JSON), the inputs' hashes and a fingerprint."""
    payload = json.dumps(
        {"code": code, "params": params, "inputs": [list(i) for i in inputs], "data": fingerprint},
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()
