"""Clearance rates by the UCR / NIBRS definitions, in the two conventions agencies use.

A case is *cleared* when it is cleared by arrest or exceptionally (NIBRS exceptional
clearance codes A-E: death of offender, prosecution declined, in custody of another
jurisdiction, victim refused to cooperate, juvenile with no custody) -- any
``clearance_type`` in :data:`workbench.data.schema.CLEARANCE_TYPES`. A case with a
``cleared_at`` time but no type is counted as cleared (type unknown).

Two conventions
---------------
``method="cohort"``
    Of the cases *opened* in a period, the share cleared by ``as_of`` (or within
    ``within`` of opening). A proportion in [0, 1]; the Wilson score interval is given.
    Recent cohorts have had less time to clear: use ``within`` to compare like with like.
``method="period"`` (the FBI UCR convention)
    Clearances *recorded* in a period, whatever the year the offence occurred, divided by
    the offences known (cases opened) in that period. Because a period's clearances can
    include older cases, this rate can exceed 100%. Its interval treats the offence
    count as fixed and the clearance count as Poisson (exact Garwood interval).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from workbench.data.schema import CLEARANCE_TYPES
from workbench.errors import EvaluationError
from workbench.evaluation.panel import check_columns


def cleared_flags(cases: pd.DataFrame, as_of=None, within=None) -> pd.DataFrame:
    """Per case: ``cleared``, ``cleared_arrest``, ``cleared_exceptional`` (booleans).

    Parameters
    ----------
    cases : DataFrame
        Canonical cases (``opened_at``, ``cleared_at``, ``clearance_type``).
    as_of : Timestamp, optional
        Only clearances on or before this time count.
    within : str or Timedelta, optional
        Only clearances within this long of opening count (e.g. ``"90D"``).
    """
    check_columns(cases, ["opened_at"], "cases")
    n = len(cases)
    ctype = cases["clearance_type"].astype("string") if "clearance_type" in cases else pd.Series(pd.NA, index=cases.index, dtype="string")
    cleared_at = cases["cleared_at"] if "cleared_at" in cases else pd.Series(pd.NaT, index=cases.index)
    unknown = ctype.notna() & ~ctype.isin(CLEARANCE_TYPES)
    if unknown.any():
        raise EvaluationError(f"clearance_type has values {sorted(ctype[unknown].unique())[:5]} outside "
                              f"{CLEARANCE_TYPES}")
    cleared = (ctype.notna() | cleared_at.notna()).to_numpy(bool)
    if as_of is not None:
        cleared = cleared & ~(cleared_at > pd.Timestamp(as_of)).fillna(False).to_numpy(bool)
    if within is not None:
        late = (cleared_at - cases["opened_at"]) > pd.Timedelta(within)
        cleared = cleared & ~late.fillna(False).to_numpy(bool)
    arrest = cleared & (ctype == "arrest").fillna(False).to_numpy(bool)
    return pd.DataFrame({"cleared": cleared, "cleared_arrest": arrest,
                         "cleared_exceptional": cleared & ~arrest}, index=cases.index[:n])


def wilson_interval(successes, trials, alpha=0.05):
    """Wilson score interval for a binomial proportion (vectorised)."""
    k, n = np.asarray(successes, float), np.asarray(trials, float)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z ** 2 / (2 * n)) / (1 + z ** 2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z ** 2 / (4 * n ** 2)) / (1 + z ** 2 / n)
    return centre - half, centre + half


def poisson_rate_interval(events, exposure, alpha=0.05):
    """Exact (Garwood) interval for a Poisson count divided by a fixed exposure."""
    k, n = np.asarray(events, float), np.asarray(exposure, float)
    lower = np.where(k > 0, stats.chi2.ppf(alpha / 2, 2 * k) / 2, 0.0)
    upper = stats.chi2.ppf(1 - alpha / 2, 2 * (k + 1)) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return lower / n, upper / n


def _period_of(ts: pd.Series, freq, tz):
    if freq is None:
        return pd.Series("all", index=ts.index)
    local = ts.dt.tz_convert(tz) if ts.dt.tz is not None and tz else ts
    return local.dt.tz_localize(None).dt.to_period(freq) if local.dt.tz is not None else local.dt.to_period(freq)


def clearance_rates(cases: pd.DataFrame, by=None, freq: str | None = "M", method: str = "cohort",
                    ci: str = "wilson", incidents: pd.DataFrame | None = None, as_of=None, within=None,
                    alpha: float = 0.05, tz: str | None = None) -> pd.DataFrame:
    """Clearance rates by group and period, with confidence intervals.

    Parameters
    ----------
    cases : DataFrame
        Canonical cases table.
    by : str or list of str, optional
        Grouping columns, from ``cases`` or (joined on ``incident_id``) ``incidents``,
        e.g. ``["offense_category"]`` or ``["district", "rtcc_assisted"]``.
    freq : str or None
        Period length (pandas period alias: ``"M"``, ``"Q"``, ``"Y"``); None for one
        period over all the data.
    method : {"cohort", "period"}
        See the module docstring; ``"period"`` is the FBI UCR convention (can exceed 1).
    ci : {"wilson"}
        Interval for cohort rates (period rates always use the exact Poisson interval).
    incidents : DataFrame, optional
        Canonical incidents, for grouping columns that live there.
    as_of, within : optional
        Cohort method: clearances after ``as_of`` or later than ``within`` of opening do
        not count.
    alpha : float
    tz : str, optional
        Agency time zone for period boundaries (default: UTC).

    Returns
    -------
    DataFrame
        ``*by``, ``period``, ``cases`` (cohort: opened; period: offences known),
        ``cleared``, ``cleared_arrest``, ``cleared_exceptional``, ``rate``, ``ci_low``,
        ``ci_high``, ``method``.

    Examples
    --------
    >>> t = pd.Timestamp("2024-01-05", tz="UTC")
    >>> cases = pd.DataFrame({"case_id": ["1", "2", "3"], "incident_id": ["1", "2", "3"],
    ...     "opened_at": [t, t, t], "cleared_at": [t, pd.NaT, pd.NaT],
    ...     "clearance_type": ["arrest", None, None]})
    >>> float(clearance_rates(cases, freq="M")["rate"].iloc[0])
    0.3333333333333333
    """
    by = [by] if isinstance(by, str) else list(by or [])
    if method not in ("cohort", "period"):
        raise EvaluationError(f"method must be 'cohort' or 'period', got {method!r}")
    if ci != "wilson":
        raise EvaluationError(f"ci must be 'wilson', got {ci!r}")
    check_columns(cases, ["opened_at"], "cases")
    frame = cases
    missing = [c for c in by if c not in cases.columns]
    if missing:
        if incidents is None:
            raise EvaluationError(f"grouping column(s) {missing} are not in cases; pass incidents= "
                                  "to join them on incident_id")
        check_columns(incidents, ["incident_id", *missing], "incidents")
        frame = cases.merge(incidents[["incident_id", *missing]], on="incident_id", how="left")
    flags = cleared_flags(frame, as_of=as_of if method == "cohort" else None,
                          within=within if method == "cohort" else None)
    data = pd.concat([frame[by].reset_index(drop=True), flags.reset_index(drop=True)], axis=1)
    data["period"] = _period_of(frame["opened_at"], freq, tz).to_numpy()
    keys = [*by, "period"]
    opened = data.groupby(keys, dropna=False).size().rename("cases")
    if method == "cohort":
        counts = data.groupby(keys, dropna=False)[["cleared", "cleared_arrest", "cleared_exceptional"]].sum()
        out = pd.concat([opened, counts], axis=1).reset_index()
        out["rate"] = out["cleared"] / out["cases"]
        out["ci_low"], out["ci_high"] = wilson_interval(out["cleared"], out["cases"], alpha)
    else:
        cl = data[data["cleared"]].copy()
        cl["period"] = _period_of(frame.loc[data["cleared"].to_numpy(), "cleared_at"].reset_index(drop=True)
                                  .set_axis(cl.index), freq, tz).to_numpy()
        counts = cl.groupby(keys, dropna=False)[["cleared", "cleared_arrest", "cleared_exceptional"]].sum()
        out = pd.concat([opened, counts], axis=1).fillna(0).reset_index()
        out["cases"] = out["cases"].astype(int)
        out["rate"] = out["cleared"] / out["cases"].replace(0, np.nan)
        out["ci_low"], out["ci_high"] = poisson_rate_interval(out["cleared"], out["cases"].replace(0, np.nan), alpha)
    for c in ("cleared", "cleared_arrest", "cleared_exceptional"):
        out[c] = out[c].astype(int)
    out["method"] = method
    return out.sort_values(keys).reset_index(drop=True)
