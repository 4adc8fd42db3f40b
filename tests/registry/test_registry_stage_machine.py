"""The stage rules as a state machine: hypothesis drives random requests and decisions
against a real store and checks every outcome against a small Python model."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import joblib
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sklearn.dummy import DummyClassifier

import workbench as wb
from workbench.errors import PermissionDeniedError, StageTransitionError

STAGES = ("None", "Staging", "Production", "Archived")
# The rules as docs/registry.md states them, written out independently of the code under test.
ALLOWED = {
    "None": {"Staging", "Archived"},
    "Staging": {"Production", "Archived"},
    "Production": {"Archived"},
    "Archived": {"Staging"},
}

PENDING = "PENDING"


class RegistryStages(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="wb-stages-"))
        self.store = wb.Store(self.dir / "s.duckdb")
        self.model_file = self.dir / "m.joblib"
        joblib.dump(DummyClassifier(), self.model_file)
        self.alice = wb.Registry(self.store, user="alice")  # admin, makes the requests
        self.alice.grant("bob", "approver")
        self.bob = wb.Registry(self.store, user="bob")
        self.stages: dict[int, str] = {}
        self.requests: dict[int, dict] = {}  # id -> {version, target, keep, status}
        self.audit_count = 2  # alice's bootstrap grant and bob's grant

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _pending_of(self, version: int) -> int | None:
        return next(
            (
                r
                for r, q in self.requests.items()
                if q["version"] == version and q["status"] == PENDING
            ),
            None,
        )

    @precondition(lambda self: len(self.stages) < 4)
    @rule()
    def register(self) -> None:
        v = self.alice.register_model("m", path=self.model_file)
        assert v.version == len(self.stages) + 1 and v.stage == "None"
        self.stages[v.version] = "None"
        self.audit_count += 1

    @precondition(lambda self: self.stages)
    @rule(data=st.data(), stage=st.sampled_from(STAGES), keep=st.booleans())
    def request(self, data, stage, keep) -> None:
        target = stage
        version = data.draw(st.sampled_from(sorted(self.stages)))
        legal = target in ALLOWED[self.stages[version]] and self._pending_of(version) is None
        try:
            req = self.alice.request_transition("m", version, target, archive_existing=not keep)
        except StageTransitionError:
            assert not legal
            return
        assert legal, f"{self.stages[version]} -> {target} was accepted"
        self.requests[req.id] = {
            "version": version,
            "target": target,
            "keep": keep,
            "status": PENDING,
        }
        self.audit_count += 1

    def _pending(self) -> list[int]:
        return sorted(r for r, q in self.requests.items() if q["status"] == PENDING)

    @precondition(lambda self: any(q["status"] == PENDING for q in self.requests.values()))
    @rule(data=st.data())
    def approve_pending(self, data) -> None:
        self._approve(data.draw(st.sampled_from(self._pending())))

    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def approve_any(self, data) -> None:
        self._approve(data.draw(st.sampled_from(sorted(self.requests))))

    def _approve(self, rid: int) -> None:
        q = self.requests[rid]
        version, target = q["version"], q["target"]
        legal = q["status"] == PENDING and target in ALLOWED[self.stages[version]]
        try:
            self.bob.approve(rid, comment="ok")
        except StageTransitionError:
            assert not legal
            return
        assert legal
        if target == "Production" and not q["keep"]:
            for other, stage in self.stages.items():
                if stage == "Production":
                    self.stages[other] = "Archived"
        self.stages[version] = target
        q["status"] = "APPROVED"
        self.audit_count += 1

    @precondition(lambda self: any(q["status"] == PENDING for q in self.requests.values()))
    @rule(data=st.data())
    def approve_own_request(self, data) -> None:
        rid = data.draw(
            st.sampled_from(sorted(r for r, q in self.requests.items() if q["status"] == PENDING))
        )
        try:
            self.alice.approve(rid, comment="checked")
        except PermissionDeniedError:
            return
        raise AssertionError("a requester approved their own request")

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), cancel=st.booleans())
    def reject_or_cancel(self, data, cancel) -> None:
        rid = data.draw(st.sampled_from(sorted(self.requests)))
        q = self.requests[rid]
        try:
            if cancel:
                self.alice.cancel_request(rid)
            else:
                self.bob.reject(rid, comment="no")
        except StageTransitionError:
            assert q["status"] != PENDING
            return
        assert q["status"] == PENDING
        q["status"] = "CANCELLED" if cancel else "REJECTED"
        self.audit_count += 1

    @invariant()
    def store_matches_model(self) -> None:
        if not self.stages:
            return
        versions = self.alice.list_versions("m")
        assert dict(zip(versions["version"], versions["stage"])) == self.stages
        requests = self.alice.list_requests("m")
        assert dict(zip(requests["request_id"], requests["status"])) == {
            r: q["status"] for r, q in self.requests.items()
        }
        assert len(self.alice.audit_log()) == self.audit_count
        # One open stage-history period per version, in the version's stage.
        hist = self.alice.stage_history("m")
        current = hist[hist["end"].isna()]
        assert dict(zip(current["version"], current["stage"])) == self.stages

    @invariant()
    def one_production_unless_kept(self) -> None:
        kept = any(
            q["keep"] and q["target"] == "Production" and q["status"] == "APPROVED"
            for q in self.requests.values()
        )
        if not kept:
            assert list(self.stages.values()).count("Production") <= 1


RegistryStages.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRegistryStages = RegistryStages.TestCase
