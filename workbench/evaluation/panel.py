"""Checks and reshaping for unit-by-period panels, shared by the area-level designs.

Every check happens here, once, at the door; the estimators trust what they get.
Messages name the argument, the offending values and what was expected.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.errors import EvaluationError, SchemaError


def check_columns(frame: pd.DataFrame, columns, argument: str = "panel") -> None:
    """Raise a SchemaError naming the columns of ``frame`` that are missing."""
    if not isinstance(frame, pd.DataFrame):
        raise EvaluationError(f"{argument} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{argument} lacks column(s) {missing}; it has {list(frame.columns)}",
            missing=missing, found=list(frame.columns),
        )


def _is_never(values: pd.Series) -> np.ndarray:
    """True where a first-treated value means "never treated" (0, missing or empty)."""
    never = values.isna().to_numpy().copy()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        never |= values.astype("string").fillna("").str.strip().isin(["", "0"]).to_numpy()
    elif pd.api.types.is_numeric_dtype(values):
        never |= (values.fillna(0).to_numpy() == 0)
    return never


def first_treated_from_indicator(panel: pd.DataFrame, unit: str, time: str, treated: str) -> pd.Series:
    """The first period each unit is treated, from a 0/1 treatment column.

    Staggered adoption is assumed: once a unit is treated it stays treated. A unit whose
    treatment switches off raises an :class:`~workbench.errors.EvaluationError` naming it.

    Parameters
    ----------
    panel : DataFrame
        One row per unit and period.
    unit, time, treated : str
        Column names; ``treated`` holds 0/1 (or booleans).

    Returns
    -------
    Series
        Indexed by unit: the first treated period, or missing for never-treated units.

    Examples
    --------
    >>> p = pd.DataFrame({"d": ["a"] * 3 + ["b"] * 3, "t": [1, 2, 3] * 2, "on": [0, 1, 1, 0, 0, 0]})
    >>> first_treated_from_indicator(p, "d", "t", "on").to_dict()
    {'a': 2.0, 'b': nan}
    """
    check_columns(panel, [unit, time, treated])
    d = panel[[unit, time, treated]].sort_values([unit, time])
    on = d[treated].astype(float).to_numpy()
    if np.isnan(on).any():
        raise EvaluationError(f"treatment column {treated!r} has missing values")
    if not np.isin(on, (0.0, 1.0)).all():
        raise EvaluationError(f"treatment column {treated!r} must be 0/1, found {sorted(set(on))[:5]}")
    prev = d.groupby(unit, sort=False)[treated].shift().astype(float).to_numpy()
    switched_off = (prev == 1) & (on == 0)
    if switched_off.any():
        bad = d.loc[switched_off, unit].unique()
        raise EvaluationError(
            f"treatment switches off for unit(s) {list(bad[:5])} (treated, then untreated "
            f"again); staggered difference-in-differences needs treatment to stay on once it starts"
        )
    first = d[on == 1].groupby(unit, sort=False)[time].min()
    return first.reindex(d[unit].unique()).astype(float) if pd.api.types.is_numeric_dtype(first) \
        else first.reindex(d[unit].unique())


@dataclass
class PanelData:
    """A balanced panel as arrays: units x periods."""

    units: np.ndarray
    times: np.ndarray
    y: np.ndarray                 # (n_units, n_times)
    group: np.ndarray             # index into times of first treated period; -1 never
    covariates: dict = field(default_factory=dict)  # name -> (n_units, n_times)
    dropped_units: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.units)


def _map_first_treated(first: pd.Series, times: np.ndarray) -> np.ndarray:
    """Index of the first period whose label is >= the first-treated value; -1 never; T beyond."""
    never = _is_never(first)
    out = np.full(len(first), -1, dtype=int)
    if (~never).any():
        vals = first[~never]
        try:
            if isinstance(times[0], pd.Period):
                vals = pd.PeriodIndex(pd.to_datetime(vals.astype(str)), freq=times[0].freq) \
                    if not isinstance(vals.iloc[0], pd.Period) else pd.PeriodIndex(vals)
                pos = np.searchsorted(pd.PeriodIndex(times).asi8, vals.asi8, side="left")
            elif np.issubdtype(np.asarray(times).dtype, np.datetime64) or isinstance(times[0], pd.Timestamp):
                t_idx = pd.DatetimeIndex(times)
                v = pd.DatetimeIndex(pd.to_datetime(vals))
                if (t_idx.tz is None) != (v.tz is None):
                    v = v.tz_localize(t_idx.tz) if v.tz is None else v.tz_convert(None)
                pos = np.searchsorted(t_idx.asi8, v.as_unit(t_idx.unit).asi8, side="left")
            else:
                pos = np.searchsorted(np.asarray(times, dtype=float), vals.astype(float).to_numpy(), side="left")
        except (TypeError, ValueError) as exc:
            raise EvaluationError(
                f"first-treated values {list(vals.iloc[:3])} cannot be compared with the time "
                f"column's values {list(times[:3])}: {exc}"
            ) from None
        out[~never] = pos
    return out


def prepare_panel(panel, unit, time, outcome, first_treated=None, treated=None, covariates=None,
                  unbalanced="error") -> PanelData:
    """Check a long panel and return it as balanced arrays.

    ``first_treated`` names a column with the first treated period (0 / missing = never);
    ``treated`` names a 0/1 column instead. A unit treated from the first period on has
    no untreated period to compare with and is dropped with a warning (as R ``did`` does).
    """
    covariates = list(covariates or [])
    if (first_treated is None) == (treated is None):
        raise EvaluationError("give exactly one of first_treated (a column of first treated "
                              "periods) or treated (a 0/1 column)")
    check_columns(panel, [unit, time, outcome, first_treated, treated, *covariates])
    if unbalanced not in ("error", "drop"):
        raise EvaluationError(f"unbalanced must be 'error' or 'drop', got {unbalanced!r}")
    d = panel[[c for c in [unit, time, outcome, first_treated, treated, *covariates] if c]].copy()
    if d.duplicated([unit, time]).any():
        dup = d.loc[d.duplicated([unit, time], keep=False), [unit, time]].head(3).to_dict("records")
        raise EvaluationError(f"panel has more than one row per {unit!r} and {time!r}, e.g. {dup}")
    if d[outcome].isna().any():
        raise EvaluationError(f"outcome {outcome!r} has {int(d[outcome].isna().sum())} missing "
                              "values; fill or drop them first")
    if treated is not None:
        first = first_treated_from_indicator(d, unit, time, treated)
    else:
        nunique = d.groupby(unit)[first_treated].nunique(dropna=False)
        if (nunique > 1).any():
            bad = list(nunique[nunique > 1].index[:5])
            raise EvaluationError(
                f"first_treated {first_treated!r} changes within unit(s) {bad}; it must be one "
                "value per unit (treatment that switches off is not staggered adoption)")
        first = d.groupby(unit, sort=False)[first_treated].first()
    times = np.sort(d[time].unique())
    wide = d.pivot(index=unit, columns=time, values=outcome).reindex(columns=times)
    incomplete = wide.isna().any(axis=1)
    dropped = []
    if incomplete.any():
        dropped = list(wide.index[incomplete])
        msg = (f"unbalanced panel: {len(dropped)} of {len(wide)} units lack some periods "
               f"(e.g. {dropped[:5]})")
        if unbalanced == "error":
            raise EvaluationError(msg + "; pass unbalanced='drop' to drop them, or fill the gaps "
                                  "(a period with no crimes is a count of 0)")
        warnings.warn(msg + "; they were dropped", stacklevel=3)
        wide = wide[~incomplete]
    units = wide.index.to_numpy()
    group = _map_first_treated(first.reindex(units), times)
    always = group == 0
    if always.any():
        warnings.warn(f"{int(always.sum())} unit(s) treated in the first period were dropped: "
                      "they have no untreated period to compare with", stacklevel=3)
        dropped += list(units[always])
        keep = ~always
        units, group, wide = units[keep], group[keep], wide[keep]
    group = np.where(group >= len(times), -1, group)  # first treated after the panel ends: never
    covs = {c: d.pivot(index=unit, columns=time, values=c).reindex(index=units, columns=times).to_numpy(float)
            for c in covariates}
    if len(units) < 2 or (group >= 0).sum() == 0:
        raise EvaluationError("no treated units left in the panel: nothing to evaluate")
    return PanelData(units=units, times=times, y=wide.to_numpy(float), group=group,
                     covariates=covs, dropped_units=dropped)
