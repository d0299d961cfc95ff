"""One HTML document an oversight board can read: methods, assumptions, diagnostics, plots, tables.

The report is self-contained (plots embedded as PNG), so it can be emailed or archived.
Each result object the engine returns knows what to say about itself here: the method
in plain words, the assumptions it rests on, which standard errors were used, the
diagnostics (balance, overlap, pre-trends) and a plot.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import pandas as pd

from workbench.evaluation.case_level import CaseEffectResult
from workbench.evaluation.did import StaggeredDiDResult
from workbench.evaluation.its import ITSResult
from workbench.evaluation.poisson import PoissonDiDResult
from workbench.evaluation.power import PowerResult
from workbench.evaluation.survival import TimeToClearanceResult

_TEXT = {
    StaggeredDiDResult: (
        "Staggered difference-in-differences (Callaway & Sant'Anna 2021)",
        "Each launch cohort is compared with districts not (yet) served by the RTCC, period by period, "
        "and the comparisons are averaged by time since launch.",
        ["Parallel trends: without the RTCC, treated and comparison districts would have moved alike "
         "(checked, not proven, by the pre-launch estimates and the Wald pre-trend test).",
         "No anticipation: nothing changed before the launch date.",
         "Few districts give imprecise estimates; influence-function SEs are clustered by unit."]),
    PoissonDiDResult: (
        "Poisson difference-in-differences (district and month fixed effects)",
        "Counts are modelled with a district effect, a month effect and the RTCC indicator; the "
        "incidence rate ratio (IRR) is the multiplicative change when the RTCC is live.",
        ["Parallel trends on the log scale.", "Effects are assumed equal across cohorts and time "
         "(use the staggered design to see how they vary).", "Cluster-robust SEs by district."]),
    CaseEffectResult: (
        "Case-level comparison of RTCC-assisted and other cases",
        "Assisted cases are compared with unassisted ones after adjusting for measured case traits.",
        ["No unmeasured confounding: everything that drove both RTCC help and clearance is among the "
         "covariates (the balance table shows the measured part).",
         "Overlap: comparable unassisted cases exist for assisted ones (see the propensity table)."]),
    TimeToClearanceResult: (
        "Time to clearance (Kaplan-Meier, Cox proportional hazards)",
        "Curves show the share of cases still open by days since opening; open cases are censored.",
        ["Censoring unrelated to the chance of clearing.", "Proportional hazards for the Cox ratio."]),
    ITSResult: (
        "Interrupted time series",
        "The pre-launch trend and seasonality are projected past the launch as the counterfactual.",
        ["Nothing else changed at the launch (there is no comparison series).",
         "The pre-launch trend would have continued."]),
    PowerResult: (
        "Power of the planned evaluation",
        "The planned design is simulated many times with known effects, and analysed as the real "
        "evaluation will be.",
        ["Simulated base rates, overdispersion and district differences resemble the real data."]),
}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'


def _plot(result) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    if isinstance(result, StaggeredDiDResult):
        t = result.aggregate("dynamic").table
        ax.errorbar(t["event_time"], t["att"], yerr=[t["att"] - t["ci_low"], t["ci_high"] - t["att"]], fmt="o", capsize=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(-0.5, color="grey", ls=":")
        ax.set(xlabel="periods since launch", ylabel="ATT", title="Event study")
    elif isinstance(result, CaseEffectResult):
        ps, t = result.propensity, result.treated_mask
        ax.hist([ps[t], ps[~t]], bins=30, density=True, label=["assisted", "not assisted"], alpha=0.7)
        ax.set(xlabel="propensity score", title="Overlap of propensity scores")
        ax.legend()
    elif isinstance(result, TimeToClearanceResult):
        for g, part in result.km.groupby("group"):
            ax.step(part["days"], part["share_open"], where="post", label=g)
        ax.set(xlabel="days since opened", ylabel="share still open", title="Kaplan-Meier")
        ax.legend()
    elif isinstance(result, ITSResult):
        s = result.series
        x = s.index.to_timestamp() if isinstance(s.index, pd.PeriodIndex) else s.index
        ax.plot(x, s["observed"], ".", label="observed")
        ax.plot(x, s["fitted"], label="fitted")
        ax.plot(x, s["counterfactual"], "--", label="counterfactual")
        ax.legend()
    elif isinstance(result, PowerResult):
        ax.plot(result.curve["irr"], result.curve["power"], "o-")
        ax.axhline(result.target_power, color="grey", ls=":")
        ax.set(xlabel="true IRR", ylabel="power", title="Power curve")
    else:
        plt.close(fig)
        return ""
    return _png(fig)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(float_format=lambda v: f"{v:.4f}", border=0, classes="t", na_rep="")


def _diagnostics(result) -> str:
    if isinstance(result, StaggeredDiDResult):
        out = _table(result.att_gt)
        for kind in ("dynamic", "group", "calendar"):
            out += f"<h4>{kind} aggregation</h4>" + _table(result.aggregate(kind).table)
        if result.pretrend:
            p = result.pretrend
            out += f"<p>Pre-trend Wald test: chi2({p['df']}) = {p['stat']:.3f}, p = {p['p']:.4f}. {p.get('note', '')}</p>"
        return out
    if isinstance(result, CaseEffectResult):
        return "<h4>Balance</h4>" + _table(result.balance) + "<h4>Overlap</h4>" + _table(result.overlap)
    if isinstance(result, PowerResult):
        return _table(result.curve)
    if isinstance(result, TimeToClearanceResult):
        return _table(result.median_days.rename("median days to clearance").to_frame())
    return ""


class EvaluationReport:
    """Collect results and write one self-contained HTML report.

    Parameters
    ----------
    title : str
    agency : str, optional
    notes : str, optional
        Context for the reader (data period, what the RTCC does).

    Examples
    --------
    >>> report = EvaluationReport("RTCC evaluation", agency="Example PD")
    >>> _ = report.add(pd.DataFrame({"crime_type": ["property"], "odds_ratio": [1.8]}), title="By crime type")
    >>> "By crime type" in report.to_html()
    True
    """

    def __init__(self, title: str = "RTCC impact evaluation", agency: str | None = None, notes: str | None = None):
        self.title = title
        self.agency = agency
        self.notes = notes
        self.sections: list[tuple[str, object, str | None]] = []

    def add(self, result, title: str | None = None, note: str | None = None) -> "EvaluationReport":
        """Add a result object (or a DataFrame such as clearance rates) as a section."""
        self.sections.append((title or _TEXT.get(type(result), ("Table",))[0], result, note))
        return self

    def _section(self, title, result, note) -> str:
        parts = [f"<h2>{html.escape(title)}</h2>"]
        if note:
            parts.append(f"<p>{html.escape(note)}</p>")
        if isinstance(result, pd.DataFrame):
            return "".join(parts) + _table(result)
        _, method, assumptions = _TEXT.get(type(result), ("", "", []))
        parts.append(f"<p><b>Method.</b> {html.escape(method)}</p>")
        parts.append("<p><b>Result.</b></p><pre>" + html.escape(result.summary()) + "</pre>")
        if assumptions:
            parts.append("<p><b>Assumptions.</b></p><ul>" + "".join(f"<li>{html.escape(a)}</li>" for a in assumptions) + "</ul>")
        parts.append(_plot(result))
        diag = _diagnostics(result)
        if diag:
            parts.append("<details><summary>Diagnostics and full tables</summary>" + diag + "</details>")
        return "".join(parts)

    def to_html(self) -> str:
        head = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
                "table.t{border-collapse:collapse;font-size:90%}table.t td,table.t th{padding:2px 8px;"
                "border-bottom:1px solid #ddd}pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap}</style>"
                "</head><body>")
        intro = f"<h1>{html.escape(self.title)}</h1>"
        if self.agency:
            intro += f"<p>{html.escape(self.agency)}</p>"
        if self.notes:
            intro += f"<p>{html.escape(self.notes)}</p>"
        intro += ("<p>Confidence intervals are 95% unless stated. Each section states its method, the "
                  "assumptions it rests on and the standard errors used. Estimates from observational data "
                  "are only as good as those assumptions.</p>")
        return head + intro + "".join(self._section(*s) for s in self.sections) + "</body></html>"

    def save(self, path) -> Path:
        """Write the report to ``path`` (HTML) and return the path."""
        path = Path(path)
        path.write_text(self.to_html(), encoding="utf-8")
        return path
