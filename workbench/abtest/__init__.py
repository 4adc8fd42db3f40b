"""A/B testing and bandits: design, sticky allocation, analysis engines and bandit policies.

Everything is importable without Panel. The building blocks work alone on summaries;
:func:`analyze` runs them on events aggregated in DuckDB. See ``docs/abtest.md``.

>>> from workbench import abtest as ab
>>> ab.bucket("experiment", "1")
4413
>>> ab.sample_size(baseline=0.10, mde=0.01).n_per_arm
14749
"""

from __future__ import annotations

from workbench.abtest.allocation import (
    Experiment,
    Namespace,
    bucket,
    bucket_ranges,
    buckets,
    check_exclusive,
    check_weights,
    fnv1a32,
    self_test,
)
from workbench.abtest.analysis import ABTestResult, Metric, analyze, parse_freq
from workbench.abtest.bandit_eval import (
    BanditSimulation,
    OffPolicyEstimate,
    load_policy,
    off_policy_value,
    save_policy,
    simulate_bandit,
)
from workbench.abtest.bandits import UCB1, EpsilonGreedy, Policy, ThompsonSampling, prob_best
from workbench.abtest.bayesian import (
    BayesResult,
    NormalPrior,
    beta_binomial,
    beta_expected_loss,
    normal_posterior,
    prob_beats_control,
)
from workbench.abtest.checks import SRMResult, adjust_pvalues, srm_test
from workbench.abtest.design import (
    Duration,
    SampleSize,
    duration,
    mde,
    power,
    sample_size,
    save_design,
)
from workbench.abtest.frequentist import (
    TestResult,
    cuped_compare,
    cuped_theta,
    noninferiority,
    ratio_moments,
    two_proportion_ztest,
    welch_ttest,
)
from workbench.abtest.sequential import (
    SequentialResult,
    cs_half_width,
    msprt_bernoulli,
    msprt_pvalue,
    sequential_test,
)
from workbench.abtest.store import (
    experiments,
    get_analysis,
    get_experiment,
    list_analyses,
    list_decisions,
    list_designs,
    record_decision,
    set_status,
)

__all__ = [
    "ABTestResult",
    "BanditSimulation",
    "BayesResult",
    "Duration",
    "EpsilonGreedy",
    "Experiment",
    "Metric",
    "Namespace",
    "NormalPrior",
    "OffPolicyEstimate",
    "Policy",
    "SRMResult",
    "SampleSize",
    "SequentialResult",
    "TestResult",
    "ThompsonSampling",
    "UCB1",
    "adjust_pvalues",
    "analyze",
    "beta_binomial",
    "beta_expected_loss",
    "bucket",
    "bucket_ranges",
    "buckets",
    "check_exclusive",
    "check_weights",
    "cs_half_width",
    "cuped_compare",
    "cuped_theta",
    "duration",
    "experiments",
    "fnv1a32",
    "get_analysis",
    "get_experiment",
    "list_analyses",
    "list_decisions",
    "list_designs",
    "load_policy",
    "mde",
    "msprt_bernoulli",
    "msprt_pvalue",
    "noninferiority",
    "normal_posterior",
    "off_policy_value",
    "parse_freq",
    "power",
    "prob_beats_control",
    "prob_best",
    "ratio_moments",
    "record_decision",
    "sample_size",
    "save_design",
    "save_policy",
    "self_test",
    "sequential_test",
    "set_status",
    "simulate_bandit",
    "srm_test",
    "two_proportion_ztest",
    "welch_ttest",
]
