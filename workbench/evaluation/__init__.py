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
interrupted_time_series
    Segmented Poisson / negative binomial with seasonality and the counterfactual.
effect_by_crime_type
    Odds ratios for property / violent / sexual assault / domestic violence.
minimum_detectable_effect
    Simulation-based power of a planned district-month design.
EvaluationReport
    Methods, assumptions, diagnostics, plots and tables in one HTML document.
"""

from workbench.evaluation.case_level import CaseEffectResult, case_effect
from workbench.evaluation.clearance import clearance_rates, cleared_flags
from workbench.evaluation.crime_types import CRIME_TYPES, crime_type, effect_by_crime_type
from workbench.evaluation.did import StaggeredDiDResult, staggered_did
from workbench.evaluation.did_aggregate import Aggregate, multiplier_bootstrap
from workbench.evaluation.panel import first_treated_from_indicator
from workbench.evaluation.its import ITSResult, interrupted_time_series
from workbench.evaluation.poisson import PoissonDiDResult, poisson_did
from workbench.evaluation.power import PowerResult, minimum_detectable_effect
from workbench.evaluation.report import EvaluationReport
from workbench.evaluation.survival import TimeToClearanceResult, time_to_clearance

__all__ = [
    "Aggregate",
    "CRIME_TYPES",
    "ITSResult",
    "PowerResult",
    "crime_type",
    "effect_by_crime_type",
    "interrupted_time_series",
    "minimum_detectable_effect",
    "CaseEffectResult",
    "EvaluationReport",
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
