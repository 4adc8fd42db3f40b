"""Drift detection and data quality: exact tests, reference profiles, windows over time, alerts.

No Panel here; every DuckDB query lives in ``workbench.store.drift_sql`` and
``workbench.store.monitoring_store``.

>>> from workbench.monitoring import stat_test
>>> stat_test("ks", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]).p_value
1.0
"""

from __future__ import annotations

from workbench.monitoring.alerts import add_alert_rule, alert_events, alert_rules, delete_alert_rule
from workbench.monitoring.api import drift_report, reference_profile
from workbench.monitoring.logged_inputs import LoggedInputs
from workbench.monitoring.multivariate import DomainClassifierResult
from workbench.monitoring.over_time import DriftOverTime, drift_over_time
from workbench.monitoring.profile import ReferenceProfile, load_profile
from workbench.monitoring.report import DriftReport, adjust_p_values
from workbench.monitoring.stattests import METHODS, StatTestResult, stat_test
from workbench.monitoring.storage import list_profiles, list_reports, load_report

__all__ = [
    "METHODS",
    "DomainClassifierResult",
    "DriftOverTime",
    "DriftReport",
    "LoggedInputs",
    "ReferenceProfile",
    "StatTestResult",
    "add_alert_rule",
    "adjust_p_values",
    "alert_events",
    "alert_rules",
    "delete_alert_rule",
    "drift_over_time",
    "drift_report",
    "list_profiles",
    "list_reports",
    "load_profile",
    "load_report",
    "reference_profile",
    "stat_test",
]
