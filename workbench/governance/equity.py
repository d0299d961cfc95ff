"""Equity audit: does surveillance fall evenly across areas of different income and race?

Exposure per area (cameras, ALPR reads, designated hot spot area, RTCC-assisted
cases) is set against residents, by demographic quantile, and modelled as a
count with log population as offset. Counts of reads per area are almost
always *overdispersed* (their variance far exceeds their mean), and a Poisson
model then reports standard errors that are far too small: on the Seattle ALPR
week a negative income coefficient looks overwhelmingly significant under
Poisson and is indistinguishable from noise once the extra variance is
modelled. So :func:`fit_exposure_models` always fits a negative binomial (NB2,
dispersion by maximum likelihood) beside the Poisson GLM, measures dispersion
(Pearson chi2 / df of the Poisson fit), and when it exceeds the threshold marks
the Poisson row invalid and makes the negative binomial the ``preferred`` answer.
It also refits the preferred model without each area in turn, to name areas
that alone decide whether the coefficient is significant.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> areas = pd.DataFrame({"population": rng.integers(5_000, 50_000, 40),
...                       "median_income": rng.uniform(3e4, 1.5e5, 40)})
>>> areas["reads"] = rng.negative_binomial(1, 1 / (1 + areas["population"] / 50))
>>> models = fit_exposure_models(areas, "reads")
>>> models.preferred, models.overdispersed
('negative_binomial', True)
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError


class EquityError(WorkbenchError, ValueError):
    """Areas or exposures given to the equity audit cannot be used (and why)."""


DISPERSION_THRESHOLD = 1.5
RACE_COLUMNS = ("share_white", "share_black", "share_hispanic", "share_asian")


# -- data --------------------------------------------------------------------------------------

def spd_zip_areas(path) -> pd.DataFrame:
    """Read the Seattle ALPR week (pipe-delimited, "NA" missing) into one row per zip code.

    Parameters
    ----------
    path : str or Path
        ``spd-alpr-pub.csv.gz``.

    Returns
    -------
    pandas.DataFrame
        Index ``zipcode``; columns ``alpr_reads``, ``population``,
        ``median_income``, ``share_white``, ``share_black``,
        ``share_hispanic``, ``share_asian``. ``attrs["reads_without_zip"]``
        counts reads with no zip code (left out of per-area exposure).
    """
    usecols = ["zipcode", "total_popE", "median_incomeE", "whiteE", "blackE", "hispE", "asianE"]
    try:
        raw = pd.read_csv(path, sep="|", na_values=["NA"], usecols=usecols, dtype={"zipcode": str})
    except ValueError as exc:
        raise EquityError(f"{path} is not the SPD ALPR file (pipe-delimited with census columns): {exc}") from None
    without_zip = int(raw["zipcode"].isna().sum())
    grouped = raw.dropna(subset=["zipcode"]).groupby("zipcode")
    areas = grouped[usecols[1:]].first()
    areas.insert(0, "alpr_reads", grouped.size())
    areas = areas.rename(columns={"total_popE": "population", "median_incomeE": "median_income"})
    for col, share in (("whiteE", "share_white"), ("blackE", "share_black"), ("hispE", "share_hispanic"),
                       ("asianE", "share_asian")):
        areas[share] = areas.pop(col) / areas["population"]
    areas.attrs["reads_without_zip"] = without_zip
    return areas


def area_exposure(areas, *, area_col, cameras=None, reads=None, hotspots=None, cases=None, incidents=None,
                  crs=None) -> pd.DataFrame:
    """Exposure per area: cameras, ALPR reads, designated hot spot area and RTCC-assisted cases.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Polygons with ``area_col``, ``population``, ``median_income`` and race shares.
    area_col : str
        The area's name column (``beat``, ``district``).
    cameras : DataFrame, optional
        ``camera_id, lon, lat`` (and ``owner``): counted per area (``cameras``).
    reads : DataFrame, optional
        ALPR reads with ``camera_id`` (placed at the camera) or ``lon/lat`` (``alpr_reads``).
    hotspots : GeoDataFrame or DataFrame, optional
        Designated hot spots as polygons, or points with ``radius_m``: km² of
        each area inside one (``hotspot_km2``).
    cases, incidents : DataFrame, optional
        Cases with ``rtcc_assisted`` and incidents with ``area_col``: RTCC-assisted cases per area (``rtcc_cases``).
    crs : str, optional
        Metric CRS for areas (default: the UTM zone of the areas).

    Returns
    -------
    pandas.DataFrame
        One row per area (no geometry), the demographic columns and one column per exposure given;
        ``attrs["outside"]`` counts, per exposure, what fell in no area (nothing is dropped silently).
    """
    import geopandas as gpd

    if area_col not in areas:
        raise EquityError(f"areas have no column {area_col!r}")
    metric = crs or areas.estimate_utm_crs()
    polys = areas.to_crs(metric)
    out = pd.DataFrame(areas.drop(columns="geometry")).set_index(area_col)

    def points_in_areas(frame):
        pts = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")
        joined = gpd.sjoin(pts.to_crs(metric), polys[[area_col, "geometry"]], how="inner", predicate="intersects")
        return joined.loc[~joined.index.duplicated(), area_col]  # a point on a shared edge counts once

    outside = {}
    if cameras is not None:
        inside = points_in_areas(cameras)
        out["cameras"] = inside.value_counts().reindex(out.index, fill_value=0)
        outside["cameras"] = len(cameras) - len(inside)
    if reads is not None:
        located = reads
        if cameras is not None and "camera_id" in reads:
            located = reads[["camera_id"]].merge(cameras[["camera_id", "lon", "lat"]], on="camera_id", how="left")
            if {"lon", "lat"} <= set(reads.columns):
                located["lon"] = reads["lon"].to_numpy()
                located["lat"] = reads["lat"].to_numpy()
                located[["lon", "lat"]] = located[["lon", "lat"]].fillna(
                    reads[["camera_id"]].merge(cameras, on="camera_id", how="left")[["lon", "lat"]])
        located = located.dropna(subset=["lon", "lat"])
        per_camera = located.groupby(["lon", "lat"]).size().rename("n").reset_index()
        area = points_in_areas(per_camera)
        out["alpr_reads"] = per_camera.loc[area.index, "n"].groupby(area.to_numpy()).sum().reindex(
            out.index, fill_value=0)
        outside["alpr_reads"] = len(reads) - int(out["alpr_reads"].sum())
    if hotspots is not None:
        spots = hotspots
        if not isinstance(spots, gpd.GeoDataFrame):
            spots = gpd.GeoDataFrame(spots, geometry=gpd.points_from_xy(spots["lon"], spots["lat"]), crs="EPSG:4326")
        spots = spots.to_crs(metric)
        if "radius_m" in spots:
            spots = spots.set_geometry(spots.geometry.buffer(spots["radius_m"]))
        union = spots.geometry.union_all()
        out["hotspot_km2"] = (polys.geometry.intersection(union).area / 1e6).to_numpy()
    if cases is not None and incidents is not None:
        assisted = cases.loc[cases["rtcc_assisted"].fillna(False).astype(bool), ["incident_id"]]
        where = assisted.merge(incidents[["incident_id", area_col]], on="incident_id", how="left")
        out["rtcc_cases"] = where[area_col].value_counts().reindex(out.index, fill_value=0)
        outside["rtcc_cases"] = len(assisted) - int(out["rtcc_cases"].sum())
    out.attrs["outside"] = outside
    return out


# -- models ------------------------------------------------------------------------------------

@dataclass
class ExposureModels:
    """Poisson and negative binomial fits of one exposure on one covariate.

    Attributes
    ----------
    outcome, covariate : str
    per : float
        The covariate's unit (the coefficient is per ``per``, e.g. per $10,000).
    table : pandas.DataFrame
        One row per model (``poisson``, ``quasi_poisson``, ``negative_binomial``):
        ``coef, se, z, p, ci_low, ci_high, rate_ratio, valid, note``.
    dispersion : float
        Pearson chi2 / residual df of the Poisson fit (1 when Poisson is right).
    alpha : float
        The negative binomial's dispersion (variance = mu + alpha mu²).
    preferred : str
        ``negative_binomial`` when ``dispersion`` exceeds the threshold, else ``poisson``.
    influence : pandas.DataFrame
        Preferred model refitted without each area: ``area, coef, se, p, flips``.
    n_areas : int
    offset : bool
        Whether log population was the offset (exposure per capita).
    """

    outcome: str
    covariate: str
    per: float
    table: pd.DataFrame
    dispersion: float
    alpha: float
    preferred: str
    influence: pd.DataFrame
    n_areas: int
    offset: bool
    threshold: float = DISPERSION_THRESHOLD
    explanation: str = field(default="")

    @property
    def overdispersed(self) -> bool:
        return self.dispersion > self.threshold

    @property
    def estimate(self) -> pd.Series:
        """The row of the preferred model: the answer to report."""
        return self.table.loc[self.preferred]


def _fit_pair(frame, outcome, covariate, offset):
    import statsmodels.api as sm

    y = frame[outcome].to_numpy(float)
    X = sm.add_constant(frame[[covariate]].to_numpy(float), has_constant="add")
    off = np.log(frame["population"].to_numpy(float)) if offset else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        poisson = sm.GLM(y, X, family=sm.families.Poisson(), offset=off).fit()
        negbin = sm.NegativeBinomial(y, X, loglike_method="nb2", offset=off).fit(
            start_params=np.append(poisson.params, 1.0), disp=0, maxiter=1000, method="bfgs")
    return poisson, negbin


def _row(coef, se, note="", valid=True):
    from scipy import stats

    z = coef / se if se > 0 else np.nan
    p = 2 * stats.norm.sf(abs(z)) if np.isfinite(z) else np.nan
    return {"coef": coef, "se": se, "z": z, "p": p, "ci_low": coef - 1.959964 * se,
            "ci_high": coef + 1.959964 * se, "rate_ratio": float(np.exp(coef)), "valid": valid, "note": note}


def fit_exposure_models(areas, outcome, *, covariate="median_income", per=10_000, offset=True,
                        threshold=DISPERSION_THRESHOLD, influence=True) -> ExposureModels:
    """Fit exposure ~ covariate under Poisson and negative binomial; say which to believe and why.

    Parameters
    ----------
    areas : pandas.DataFrame
        One row per area with ``outcome`` (a count), ``covariate`` and ``population``.
    outcome : str
        The exposure count (``alpr_reads``, ``cameras``, ``rtcc_cases``).
    covariate : str
        Default ``median_income``.
    per : float
        Scale of the covariate: the coefficient is per ``per`` units (default $10,000).
    offset : bool
        Log population as offset, so the model is of exposure per capita (default).
    threshold : float
        Poisson dispersion above which Poisson standard errors are declared invalid.
    influence : bool
        Refit the preferred model without each area.

    Returns
    -------
    ExposureModels
    """
    needed = [outcome, covariate] + (["population"] if offset else [])
    missing = [c for c in needed if c not in areas]
    if missing:
        raise EquityError(f"areas lack column(s) {', '.join(missing)}")
    frame = areas[needed].copy()
    frame = frame.replace([np.inf, -np.inf], np.nan).dropna()
    if offset:
        frame = frame[frame["population"] > 0]
    if len(frame) < 5:
        raise EquityError(f"{len(frame)} areas with {', '.join(needed)} known: too few to model")
    if (frame[outcome] < 0).any() or not np.allclose(frame[outcome], frame[outcome].round()):
        raise EquityError(f"{outcome} must be a count (non-negative whole numbers)")
    frame[covariate] = frame[covariate] / per
    poisson, negbin = _fit_pair(frame, outcome, covariate, offset)
    dispersion = float(poisson.pearson_chi2 / poisson.df_resid)
    over = dispersion > threshold
    alpha = float(negbin.params[-1])
    rows = {
        "poisson": _row(float(poisson.params[1]), float(poisson.bse[1]), valid=not over,
                        note=(f"NOT VALID: variance is {dispersion:,.0f}x what Poisson assumes; its standard "
                              "error is too small") if over else "dispersion consistent with Poisson"),
        "quasi_poisson": _row(float(poisson.params[1]), float(poisson.bse[1] * np.sqrt(max(dispersion, 1.0))),
                              note="Poisson coefficient, standard error scaled by sqrt(dispersion)"),
        "negative_binomial": _row(float(negbin.params[1]), float(negbin.bse[1]),
                                  note=f"NB2, alpha = {alpha:.3g} estimated by maximum likelihood"),
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    preferred = "negative_binomial" if over else "poisson"
    infl = _influence(frame, outcome, covariate, offset, preferred, table.loc[preferred, "p"]) if influence \
        else pd.DataFrame(columns=["area", "coef", "se", "p", "flips"])
    models = ExposureModels(outcome, covariate, per, table, dispersion, alpha, preferred, infl, len(frame), offset,
                            threshold)
    models.explanation = explain(models)
    return models


def _influence(frame, outcome, covariate, offset, preferred, p_all):
    rows = []
    for area in frame.index:
        rest = frame.drop(index=area)
        poisson, negbin = _fit_pair(rest, outcome, covariate, offset)
        fit = negbin if preferred == "negative_binomial" else poisson
        r = _row(float(fit.params[1]), float(fit.bse[1]))
        rows.append({"area": area, "coef": r["coef"], "se": r["se"], "p": r["p"],
                     "flips": (r["p"] < 0.05) != (p_all < 0.05)})
    return pd.DataFrame(rows)


def _fmt_p(p):
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def explain(models: ExposureModels) -> str:
    """Plain-language account of the two models and which one to report."""
    t, unit = models.table, f"{models.per:,.0f} of {models.covariate.replace('_', ' ')}"
    what = f"{models.outcome.replace('_', ' ')} per resident" if models.offset else models.outcome.replace("_", " ")
    po, nb = t.loc["poisson"], t.loc["negative_binomial"]
    lines = [f"Model of {what} across {models.n_areas} areas on {models.covariate.replace('_', ' ')} "
             f"(coefficient per {unit}, log rate scale)."]
    lines.append(f"Poisson: {po.coef:+.4f} (SE {po.se:.4f}, {_fmt_p(po.p)}). Negative binomial: {nb.coef:+.4f} "
                 f"(SE {nb.se:.4f}, {_fmt_p(nb.p)}), alpha = {models.alpha:.3g}.")
    if models.overdispersed:
        lines.append(
            f"The counts are overdispersed: Pearson chi2/df of the Poisson fit is {models.dispersion:,.1f}, where "
            f"Poisson assumes 1. Poisson therefore understates the standard error about "
            f"{np.sqrt(models.dispersion):,.0f}-fold (quasi-Poisson SE {t.loc['quasi_poisson', 'se']:.4f}) and "
            "must not be reported as the answer; the negative binomial, which estimates the extra variance, is.")
        if (po.p < 0.05) != (nb.p < 0.05):
            verdict = "significant" if nb.p < 0.05 else "not distinguishable from zero"
            lines.append(f"The conclusion changes: under Poisson the association looks "
                         f"{'significant' if po.p < 0.05 else 'absent'}; once overdispersion is modelled it is "
                         f"{verdict}.")
    else:
        lines.append(f"Dispersion {models.dispersion:.2f} is consistent with Poisson; both models agree.")
    flips = models.influence[models.influence["flips"]] if len(models.influence) else models.influence
    if len(flips):
        names = ", ".join(str(a) for a in flips["area"])
        lines.append(f"Fragile: leaving out {names} alone changes whether the {models.preferred.replace('_', ' ')} "
                     "coefficient is significant at 0.05; read the result with that area in mind.")
    elif len(models.influence):
        lines.append("No single area decides the significance of the preferred model.")
    return " ".join(lines)


# -- quantiles and the report ------------------------------------------------------------------

def exposure_by_quantile(areas, exposures, *, by=("median_income", *RACE_COLUMNS), q=4) -> pd.DataFrame:
    """Exposure per 10,000 residents by quantile group of each demographic column.

    Parameters
    ----------
    areas : pandas.DataFrame
        One row per area with ``population``, the ``by`` columns and the exposures.
    exposures : list of str
    by : iterable of str
        Demographic columns (those absent are skipped).
    q : int
        Number of quantile groups (fewer when values tie).

    Returns
    -------
    pandas.DataFrame
        ``variable, group, range, areas, population`` and per exposure
        ``<exposure>_per_10k`` and ``<exposure>_ratio`` (group rate / overall rate).
    """
    rows = []
    total_pop = areas["population"].sum()
    for var in [b for b in by if b in areas]:
        known = areas.dropna(subset=[var])
        groups = pd.qcut(known[var].rank(method="first"), q, labels=False, duplicates="drop")
        for g, part in known.groupby(groups):
            row = {"variable": var, "group": f"Q{int(g) + 1}", "range": f"{part[var].min():,.3g} - {part[var].max():,.3g}",
                   "areas": len(part), "population": int(part["population"].sum())}
            for e in exposures:
                rate = part[e].sum() / part["population"].sum() * 1e4
                overall = areas[e].sum() / total_pop * 1e4
                row[f"{e}_per_10k"] = rate
                row[f"{e}_ratio"] = rate / overall if overall else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class EquityReport:
    """The equity audit: quantile table, models per exposure and their explanations.

    Attributes
    ----------
    title : str
    areas : pandas.DataFrame
    quantiles : pandas.DataFrame
        From :func:`exposure_by_quantile`.
    models : dict
        Exposure name -> :class:`ExposureModels`.
    notes : list of str
    """

    title: str
    areas: pd.DataFrame
    quantiles: pd.DataFrame
    models: dict
    notes: list = field(default_factory=list)

    def model_table(self) -> pd.DataFrame:
        """All models as one table: ``exposure, model, coef, se, p, ..., dispersion, preferred``."""
        parts = []
        for name, m in self.models.items():
            t = m.table.reset_index(names="model")
            t.insert(0, "exposure", name)
            t["dispersion"] = m.dispersion
            t["preferred"] = t["model"] == m.preferred
            parts.append(t)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def to_text(self) -> str:
        """The report as plain text."""
        out = [self.title, "=" * len(self.title), *self.notes, ""]
        for name, m in self.models.items():
            out += [f"[{name}] preferred: {m.preferred}", m.explanation, ""]
        return "\n".join(out)

    def to_html(self) -> str:
        """One self-contained HTML document."""
        esc = html.escape
        parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(self.title)}</title>",
                 "<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse}"
                 "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}.invalid{color:#a00}</style>",
                 f"</head><body><h1>{esc(self.title)}</h1>"]
        parts += [f"<p>{esc(n)}</p>" for n in self.notes]
        for name, m in self.models.items():
            parts.append(f"<h2>{esc(name)}: {esc(m.preferred.replace('_', ' '))} preferred</h2>")
            parts.append(f"<p>{esc(m.explanation)}</p>")
            shown = m.table[["coef", "se", "p", "ci_low", "ci_high", "rate_ratio", "note"]]
            parts.append(shown.to_html(float_format=lambda v: f"{v:.4g}"))
        parts.append("<h2>Exposure per 10,000 residents by demographic quantile</h2>")
        parts.append(self.quantiles.to_html(index=False, float_format=lambda v: f"{v:.3g}"))
        parts.append("<h2>Areas</h2>" + self.areas.to_html(float_format=lambda v: f"{v:.4g}"))
        parts.append("</body></html>")
        return "\n".join(parts)

    def save(self, folder) -> Path:
        """Write ``equity.html``, ``equity_models.csv`` and ``equity_quantiles.csv`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "equity.html").write_text(self.to_html(), encoding="utf-8")
        self.model_table().to_csv(folder / "equity_models.csv", index=False)
        self.quantiles.to_csv(folder / "equity_quantiles.csv", index=False)
        return folder / "equity.html"


def equity_audit(areas, exposures, *, covariate="median_income", per=10_000, q=4, title="Equity audit",
                 influence=True) -> EquityReport:
    """Run the equity audit over areas: quantile table and Poisson / negative binomial models per count exposure.

    Parameters
    ----------
    areas : pandas.DataFrame
        One row per area: ``population``, demographics, exposure columns.
    exposures : list of str
        Exposure columns; counts are modelled, others (e.g. ``hotspot_km2``)
        appear in the quantile table only.
    covariate, per, q, influence
        As for :func:`fit_exposure_models` and :func:`exposure_by_quantile`.

    Returns
    -------
    EquityReport
    """
    models, notes = {}, []
    for e in exposures:
        values = areas[e].dropna()
        if (values >= 0).all() and np.allclose(values, values.round()):
            models[e] = fit_exposure_models(areas, e, covariate=covariate, per=per, influence=influence)
        else:
            notes.append(f"{e} is not a count; shown per capita by quantile, not modelled.")
    return EquityReport(title, areas, exposure_by_quantile(areas, list(exposures), q=q), models, notes)


def spd_equity_audit(path, *, influence=True) -> EquityReport:
    """The equity audit of the Seattle ALPR week: reads per resident by zip code on median income.

    Also fits reads per zip without the population offset (the specification
    of the published independent analysis) so the two can be compared.
    """
    areas = spd_zip_areas(path)
    report = equity_audit(areas, ["alpr_reads"], title="Equity audit: Seattle PD ALPR week, reads by zip code",
                          influence=influence)
    report.models["alpr_reads (count, no offset)"] = fit_exposure_models(areas, "alpr_reads", offset=False,
                                                                         influence=influence)
    report.notes.append(f"{len(areas)} zip codes; {areas.attrs['reads_without_zip']:,} reads carry no zip code "
                        "and are left out. Income is ACS median household income; the coefficient is the change "
                        "in log reads per resident for each $10,000.")
    return report
