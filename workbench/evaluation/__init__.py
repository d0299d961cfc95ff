"""Impact evaluation: clearance rates, case-level and area-level causal designs, reports.

Public interface
----------------
staggered_did
    Callaway & Sant'Anna group-time ATTs for a staggered rollout, four aggregations,
    analytic and bootstrap inference, pre-trend test.
poisson_did
    Two-way fixed-effects Poisson IRR with cluster-robust CI (pyfixest engine).
"""

from workbench.evaluation.did import StaggeredDiDResult, staggered_did
from workbench.evaluation.did_aggregate import Aggregate, multiplier_bootstrap
from workbench.evaluation.panel import first_treated_from_indicator
from workbench.evaluation.poisson import PoissonDiDResult, poisson_did

__all__ = [
    "Aggregate",
    "StaggeredDiDResult",
    "first_treated_from_indicator",
    "multiplier_bootstrap",
    "PoissonDiDResult",
    "poisson_did",
    "staggered_did",
]
