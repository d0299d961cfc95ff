"""Effects by crime type, as evaluators publish them (property / violent / sexual assault / DV).

The seeds of this work report that RTCC effectiveness differs by crime type: high for
property, moderate to high for violent crime, limited for sexual assault and domestic
violence (offences where cameras and plate readers rarely hold the evidence). Violent
here excludes sexual assault and domestic violence, so the four rows do not overlap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.errors import EvaluationError
from workbench.evaluation.case_level import case_effect

CRIME_TYPES = ("property", "violent", "sexual_assault", "domestic_violence")
_SEXUAL_NIBRS = ("11A", "11B", "11C", "11D", "36A", "36B")


def crime_type(incidents: pd.DataFrame) -> pd.Series:
    """Classify incidents into property, violent, sexual_assault, domestic_violence or other.

    Sexual assault: NIBRS 11A-11D / 36A-B, or an offence naming rape or sexual assault.
    Domestic violence: the ``domestic`` flag, or an offence naming "domestic". Otherwise the
    incident's ``offense_category`` (violent, property, other).

    Examples
    --------
    >>> inc = pd.DataFrame({"offense": ["burglary", "rape", "domestic_assault", "robbery"],
    ...                     "offense_category": ["property", "violent", "violent", "violent"]})
    >>> crime_type(inc).tolist()
    ['property', 'sexual_assault', 'domestic_violence', 'violent']
    """
    if "offense" not in incidents and "offense_category" not in incidents:
        raise EvaluationError("incidents need an offense or offense_category column to classify crime types")
    offense = incidents.get("offense", pd.Series("", index=incidents.index)).astype("string").fillna("").str.lower()
    category = incidents.get("offense_category", pd.Series("other", index=incidents.index)).astype("string")
    out = category.fillna("other").str.lower().where(lambda s: s.isin(["violent", "property"]), "other")
    sexual = offense.str.contains(r"rape|sex", regex=True)
    if "nibrs_code" in incidents:
        sexual |= incidents["nibrs_code"].astype("string").isin(_SEXUAL_NIBRS).fillna(False)
    domestic = offense.str.contains("domestic")
    if "domestic" in incidents:
        domestic |= incidents["domestic"].astype("boolean").fillna(False)
    out = out.mask(domestic.to_numpy(bool), "domestic_violence").mask(sexual.to_numpy(bool), "sexual_assault")
    return out.astype(str)


def effect_by_crime_type(cases: pd.DataFrame, incidents: pd.DataFrame | None = None, covariates=(),
                         treatment: str = "rtcc_assisted", method: str = "logit", types=CRIME_TYPES,
                         type_column: str | None = None, alpha: float = 0.05, **kwargs) -> pd.DataFrame:
    """Case-level odds ratio of RTCC help on clearance, one row per crime type.

    Parameters
    ----------
    cases : DataFrame
        Canonical cases (with covariates or joinable from ``incidents``).
    incidents : DataFrame, optional
        Canonical incidents: used to classify crime types with :func:`crime_type` and to
        join covariates.
    covariates : list of str
    treatment : str
    method : {"logit", "ipw", "matching"}
    types : tuple of str
        Crime types to report, in order.
    type_column : str, optional
        A column of ``cases`` that already holds the crime type (skips classification).
    alpha : float
    **kwargs
        Passed to :func:`~workbench.evaluation.case_effect` (``cluster``, ``within`` ...).

    Returns
    -------
    DataFrame
        ``crime_type``, ``odds_ratio``, ``ci_low``, ``ci_high``, ``p``, ``naive_odds_ratio``,
        ``n_cases``, ``n_treated``, ``method``, ``note`` (why a row is empty).
    """
    frame = cases
    if type_column is None:
        if incidents is None:
            raise EvaluationError("pass incidents= (to classify crime types) or type_column=")
        kinds = crime_type(incidents).set_axis(incidents["incident_id"].to_numpy())
        frame = cases.assign(_crime_type=cases["incident_id"].map(kinds).to_numpy())
        type_column = "_crime_type"
    rows = []
    for kind in types:
        part = frame[frame[type_column] == kind]
        row = {"crime_type": kind, "n_cases": len(part), "n_treated": int(part[treatment].astype(bool).sum()),
               "method": method, "odds_ratio": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan,
               "naive_odds_ratio": np.nan, "note": ""}
        try:
            res = case_effect(part, treatment, covariates, method=method, incidents=incidents, alpha=alpha, **kwargs)
        except (EvaluationError, np.linalg.LinAlgError, ValueError) as exc:
            row["note"] = f"not estimable: {exc}"
        else:
            row.update(odds_ratio=res.odds_ratio, ci_low=res.ci_low, ci_high=res.ci_high, p=res.p,
                       naive_odds_ratio=res.naive_odds_ratio)
        rows.append(row)
    return pd.DataFrame(rows)[["crime_type", "odds_ratio", "ci_low", "ci_high", "p", "naive_odds_ratio",
                               "n_cases", "n_treated", "method", "note"]]
