"""Sticky, deterministic assignment of units to variants (GrowthBook's v2 hash).

A unit's **bucket** is a number in 0..9999 computed from the experiment's salt and the
unit id alone, so every process, every day, gets the same answer without storing it::

    bucket(salt, unit_id) = fnv1a32(str(fnv1a32(salt + unit_id))) % 10000

``fnv1a32`` is 32-bit FNV-1a (offset basis 0x811c9dc5, prime 16777619) over the
**UTF-16 code units** of the text, exactly as GrowthBook's SDKs hash JavaScript strings
(``charCodeAt``): an ASCII id hashes its bytes; a non-ASCII character contributes its
UTF-16 code unit (one 16-bit value, e.g. ``"é"`` is 0x00E9, ``"€"`` is 0x20AC), and a
character outside the Basic Multilingual Plane (an emoji) contributes its two surrogate
code units. So ids in any script land in the same bucket as in a GrowthBook SDK.

Variants are **cumulative ranges** of the bucket line: with weights w_i and coverage c,
variant i holds the buckets in ``[C_i, C_i + c * w_i)`` (times 10,000), where C_i is the
sum of the weights before it. Raising the coverage only widens each range at its right
end, so a user once assigned never changes variant (GrowthBook's ``getBucketRanges``).
Changing the weights *would* move users, so a stored experiment refuses it.

A **namespace** ``(name, start, end)`` makes experiments mutually exclusive: a unit
takes part only if ``bucket("__" + name, unit_id) / 10000`` is in ``[start, end)``;
experiments sharing a namespace name with disjoint ranges never share a unit. (GrowthBook
uses its older v1 hash for namespaces; we use the v2 bucket above with the salt
``"__" + name``, so namespace slices are multiples of 1/10,000.)

>>> bucket("experiment", "1")     # GrowthBook's cases.json: hash v2 = 0.4413
4413
>>> exp = Experiment("checkout-v2", variants={"control": 0.5, "treatment": 0.5},
...                  unit="user_id", salt="checkout-v2", coverage=1.0)
>>> exp.assign("user-42") in ("control", "treatment")
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import AllocationError

N_BUCKETS = 10_000
FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 16777619
WEIGHT_TOLERANCE = 1e-9


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a of ``text``'s UTF-16 code units (as JavaScript's ``charCodeAt``).

    >>> fnv1a32("")
    2166136261
    >>> hex(fnv1a32("a"))      # the published FNV-1a test vector for "a"
    '0xe40c292c'
    """
    h = FNV_OFFSET
    data = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(data), 2):
        h ^= data[i] | (data[i + 1] << 8)
        h = (h * FNV_PRIME) & 0xFFFFFFFF
    return h


def bucket(salt: str, unit_id: str) -> int:
    """The unit's bucket, 0..9999: ``fnv1a32(str(fnv1a32(salt + unit_id))) % 10000``.

    ``salt`` is usually the experiment's name; ``unit_id`` is converted with ``str``.

    >>> bucket("seed", "a"), bucket("seed", "b")   # GrowthBook: 0.0505, 0.2696
    (505, 2696)
    """
    return fnv1a32(str(fnv1a32(str(salt) + str(unit_id)))) % N_BUCKETS


def buckets(salt: str, unit_ids: Iterable[Any]) -> np.ndarray:
    """``bucket(salt, u)`` for many ids at once, as an int64 array.

    >>> buckets("seed", ["a", "b"]).tolist()
    [505, 2696]
    """
    salt = str(salt)
    return np.fromiter((bucket(salt, u) for u in unit_ids), dtype=np.int64)


@dataclass(frozen=True)
class Namespace:
    """A slice ``[start, end)`` of the namespace ``name``'s own bucket line (fractions of 1).

    >>> Namespace("checkout", 0.0, 0.5).contains("user-42") in (True, False)
    True
    """

    name: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise AllocationError(f"a namespace needs a non-empty name, got {self.name!r}")
        if not (0.0 <= self.start < self.end <= 1.0):
            raise AllocationError(
                f"namespace {self.name!r} range must satisfy 0 <= start < end <= 1, "
                f"got [{self.start}, {self.end})"
            )

    def contains(self, unit_id: str) -> bool:
        """Whether the unit's namespace bucket falls in ``[start, end)``."""
        n = bucket("__" + self.name, unit_id) / N_BUCKETS
        return self.start <= n < self.end

    def overlaps(self, other: Namespace) -> bool:
        """Whether two slices of the same namespace share buckets (then not exclusive)."""
        return self.name == other.name and self.start < other.end and other.start < self.end

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "end": self.end}


def _as_namespace(value: Any) -> Namespace | None:
    if value is None or isinstance(value, Namespace):
        return value
    if isinstance(value, Mapping):
        return Namespace(value["name"], float(value["start"]), float(value["end"]))
    if isinstance(value, (tuple, list)) and len(value) == 3:
        return Namespace(str(value[0]), float(value[1]), float(value[2]))
    raise AllocationError(f"namespace must be (name, start, end) or a Namespace, got {value!r}")


def check_weights(variants: Mapping[str, float]) -> dict[str, float]:
    """Validate variant weights: >= 2 named variants, each weight in [0, 1], sum 1 within 1e-9.

    >>> check_weights({"a": 0.5, "b": 0.5})
    {'a': 0.5, 'b': 0.5}
    """
    if not isinstance(variants, Mapping) or len(variants) < 2:
        raise AllocationError(
            f"variants must be a mapping of at least 2 names to weights, got {variants!r}"
        )
    out: dict[str, float] = {}
    for name, w in variants.items():
        if not isinstance(name, str) or not name:
            raise AllocationError(f"variant names must be non-empty strings, got {name!r}")
        try:
            weight = float(w)
        except (TypeError, ValueError):
            raise AllocationError(f"weight of variant {name!r} is not a number: {w!r}") from None
        if not math.isfinite(weight) or weight < 0 or weight > 1:
            raise AllocationError(f"weight of variant {name!r} must be in [0, 1], got {w!r}")
        out[name] = weight
    total = math.fsum(out.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise AllocationError(
            f"variant weights must sum to 1 (within {WEIGHT_TOLERANCE:g}), got {total!r} for {out}"
        )
    return out


def _check_coverage(coverage: Any) -> float:
    try:
        c = float(coverage)
    except (TypeError, ValueError):
        raise AllocationError(f"coverage must be a number in [0, 1], got {coverage!r}") from None
    if not (0.0 <= c <= 1.0):
        raise AllocationError(f"coverage must be in [0, 1], got {coverage!r}")
    return c


def bucket_ranges(weights: Iterable[float], coverage: float) -> list[tuple[float, float]]:
    """Each variant's range ``[C_i, C_i + coverage * w_i)`` as fractions of the bucket line.

    The arithmetic is GrowthBook's ``getBucketRanges`` operation for operation (no
    rounding), so edge buckets fall where they fall in a GrowthBook SDK.

    >>> [(round(a, 9), round(b, 9)) for a, b in bucket_ranges([0.2, 0.3, 0.5], 0.2)]
    [(0.0, 0.04), (0.2, 0.26), (0.5, 0.6)]
    """
    ranges = []
    cumulative = 0.0
    for w in weights:
        start = cumulative
        cumulative += w
        ranges.append((start, start + coverage * w))
    return ranges


class Experiment:
    """A sticky allocation of units to weighted variants, with coverage and a namespace.

    ``assign(unit_id)`` returns the variant name or ``None`` (outside the coverage or the
    namespace). With ``store=``, the definition is saved (or loaded and checked: the same
    variants, weights, salt, unit and namespace) and every ``ramp`` is recorded.

    >>> exp = Experiment("demo", {"control": 0.5, "treatment": 0.5}, salt="demo", coverage=0.2)
    >>> before = {u: exp.assign(u) for u in map(str, range(200))}
    >>> exp.ramp(coverage=0.5)
    >>> all(exp.assign(u) == v for u, v in before.items() if v is not None)
    True
    """

    def __init__(
        self,
        name: str,
        variants: Mapping[str, float],
        unit: str = "user_id",
        salt: str | None = None,
        coverage: float = 1.0,
        namespace: Namespace | tuple | Mapping | None = None,
        store: Any = None,
        hypothesis: str | None = None,
        models: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise AllocationError(f"an experiment needs a non-empty name, got {name!r}")
        self.name = name
        self.variants = check_weights(variants)
        self.unit = str(unit)
        self.salt = name if salt is None else str(salt)
        self.coverage = _check_coverage(coverage)
        self.namespace = _as_namespace(namespace)
        self.hypothesis = hypothesis
        self.models = dict(models or {})
        unknown = set(self.models) - set(self.variants)
        if unknown:
            raise AllocationError(
                f"models given for unknown variants {sorted(unknown)}; variants are "
                f"{list(self.variants)}"
            )
        self.store = store
        self._ranges = bucket_ranges(self.variants.values(), self.coverage)
        if store is not None:
            from workbench.store import abtest_store

            saved = abtest_store.save_experiment(store, self.definition())
            self.coverage = float(saved["coverage"])
            self._ranges = bucket_ranges(self.variants.values(), self.coverage)

    def __repr__(self) -> str:
        return (
            f"Experiment({self.name!r}, variants={self.variants}, unit={self.unit!r}, "
            f"salt={self.salt!r}, coverage={self.coverage}, namespace={self.namespace})"
        )

    def definition(self) -> dict[str, Any]:
        """The JSON-serialisable definition (what the store keeps)."""
        return {
            "name": self.name,
            "variants": [[k, w] for k, w in self.variants.items()],
            "unit": self.unit,
            "salt": self.salt,
            "coverage": self.coverage,
            "namespace": None if self.namespace is None else self.namespace.to_dict(),
            "hypothesis": self.hypothesis,
            "models": self.models,
            "hash": "growthbook-v2: fnv1a32(str(fnv1a32(salt + unit_id))) % 10000",
        }

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """Each variant's bucket range ``[start, end)`` as fractions of 1."""
        return dict(zip(self.variants, self._ranges))

    def variant_for_bucket(self, b: int) -> str | None:
        """The variant whose range holds bucket ``b`` (0..9999), or ``None``."""
        n = b / N_BUCKETS
        for name, (start, end) in zip(self.variants, self._ranges):
            if start <= n < end:
                return name
        return None

    def assign(self, unit_id: str) -> str | None:
        """The unit's variant, or ``None`` when it is outside the namespace or the coverage.

        >>> Experiment("e", {"a": 1.0, "b": 0.0}, coverage=1.0).assign("u1")
        'a'
        """
        if self.namespace is not None and not self.namespace.contains(unit_id):
            return None
        return self.variant_for_bucket(bucket(self.salt, unit_id))

    def assign_many(self, unit_ids: Iterable[Any]) -> list[str | None]:
        """``assign`` for many units (a list in the same order)."""
        return [self.assign(str(u)) for u in unit_ids]

    def ramp(self, coverage: float, comment: str | None = None) -> None:
        """Change the share of traffic in the experiment.

        Raising coverage only adds units (nobody changes variant); lowering it removes the
        units at the right end of each range from the experiment (they get ``None``; they
        come back to the same variant if coverage rises again). Recorded in the store.
        """
        new = _check_coverage(coverage)
        old = self.coverage
        if self.store is not None:
            from workbench.store import abtest_store

            abtest_store.record_ramp(self.store, self.name, old, new, comment)
        self.coverage = new
        self._ranges = bucket_ranges(self.variants.values(), self.coverage)

    def snapshot(self, unit_ids: Iterable[Any]) -> dict[str, Any]:
        """Assign ``unit_ids`` now and save the assignments in the store (an audit snapshot).

        Returns ``{"snapshot_id", "counts"}``; needs ``store=``.
        """
        if self.store is None:
            raise AllocationError(f"experiment {self.name!r} has no store to save a snapshot in")
        ids = [str(u) for u in unit_ids]
        bks = buckets(self.salt, ids)
        variants = [
            None
            if (self.namespace is not None and not self.namespace.contains(u))
            else self.variant_for_bucket(int(b))
            for u, b in zip(ids, bks)
        ]
        from workbench.store import abtest_store

        return abtest_store.save_assignment_snapshot(
            self.store, self.name, self.coverage, ids, bks.tolist(), variants
        )

    @classmethod
    def load(cls, store: Any, name: str) -> Experiment:
        """The experiment ``name`` as saved in ``store`` (its current coverage)."""
        from workbench.store import abtest_store

        d = abtest_store.get_experiment(store, name)
        return cls(
            d["name"],
            dict(d["variants"]),
            unit=d["unit"],
            salt=d["salt"],
            coverage=d["coverage"],
            namespace=d["namespace"],
            store=store,
            hypothesis=d.get("hypothesis"),
            models=d.get("models"),
        )


# GrowthBook's published hash vectors (packages/sdk-js/test/cases.json, "hash", version 2):
# (seed, value, hash / 10000); the last two are experimentResult buckets of its feature cases.
GROWTHBOOK_V2_VECTORS = [
    ("seed", "a", 505),
    ("seed", "b", 2696),
    ("foo", "ab", 2575),
    ("foo", "def", 2019),
    ("89123klj", "8952klfjas09ujkasdf", 1240),
    ("90850943850283058242805", "123", 7516),
    ("()**(%$##$%#$#", '___)((*":&', 128),
    ("experiment", "1", 4413),
    ("holdout", "1", 8043),
]


def self_test() -> bool:
    """Check :func:`bucket` against GrowthBook's published vectors; raises if one differs.

    >>> self_test()
    True
    """
    for salt, unit_id, expected in GROWTHBOOK_V2_VECTORS:
        got = bucket(salt, unit_id)
        if got != expected:
            raise AllocationError(
                f"hash self-test failed: bucket({salt!r}, {unit_id!r}) = {got}, expected "
                f"{expected} (GrowthBook v2)"
            )
    return True


def check_exclusive(*experiments: Experiment) -> bool:
    """True when no two of the experiments can share a unit (disjoint namespace slices).

    >>> a = Experiment("a", {"x": .5, "y": .5}, namespace=("ns", 0, .5))
    >>> b = Experiment("b", {"x": .5, "y": .5}, namespace=("ns", .5, 1))
    >>> check_exclusive(a, b)
    True
    """
    for i, a in enumerate(experiments):
        for b in experiments[i + 1 :]:
            if a.namespace is None or b.namespace is None or a.namespace.overlaps(b.namespace):
                return False
            if a.namespace.name != b.namespace.name:
                return False
    return True
