"""Impact evaluation: clearance rates, case-level and area-level causal designs, reports.

Public interface
----------------
clearance_rates
    UCR clearance rates (cohort and FBI period conventions) with intervals.
case_effect, time_to_clearance
    Case-level odds ratio of RTCC help (logit / IPW / matching) with balance and overlap
    diagnostics; Kaplan-Meier curves and Cox hazard ratio for time to clearance.
staggered_did
    Callaway & Sant'Anna group-time ATTs for a staggered rollout, four aggregations,
    analytic and bootstrap inference, pre-trend test.
poisson_did
    Two-way fixed-effects Poisson IRR with cluster-robust CI (pyfixest engine).
"""

from workbench.evaluation.case_level import CaseEffectResult, case_effect
from workbench.evaluation.clearance import clearance_rates, cleared_flags
from workbench.evaluation.did import StaggeredDiDResult, staggered_did
from workbench.evaluation.did_aggregate import Aggregate, multiplier_bootstrap
from workbench.evaluation.panel import first_treated_from_indicator
from workbench.evaluation.poisson import PoissonDiDResult, poisson_did
from workbench.evaluation.survival import TimeToClearanceResult, time_to_clearance

__all__ = [
    "Aggregate",
    "CaseEffectResult",
    "PoissonDiDResult",
    "StaggeredDiDResult",
    "TimeToClearanceResult",
    "case_effect",
    "clearance_rates",
    "cleared_flags",
    "first_treated_from_indicator",
    "multiplier_bootstrap",
    "poisson_did",
    "staggered_did",
    "time_to_clearance",
]
