"""Impact Evaluation (program evaluator): clearance rates, case-level effect, event study, ITS, report."""

from __future__ import annotations

import io

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from workbench import evaluation
from workbench.ui.auth import can_current
from workbench.ui.components import Status, run_busy, table

BY = {"offence": "offense", "district": "district", "offence category": "offense_category"}
PERIODS = {"whole period": None, "quarter": "Q", "month": "M"}


def district_month_counts(incidents: pd.DataFrame, rollout: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Incidents per district and local month with each district's first treated month.

    The input shape :func:`workbench.evaluation.staggered_did` needs (a count
    panel; the estimation is the engine's). Never-treated districts get a
    missing first month.
    """
    month = incidents["occurred_at"].dt.tz_convert(tz).dt.tz_localize(None).dt.to_period("M").dt.to_timestamp()
    panel = (incidents.assign(month=month).groupby(["district", "month"], observed=True).size()
             .rename("incidents").reset_index())
    panel["district"] = panel["district"].astype(str)
    launch = rollout.set_index(rollout["district"].astype(str))["rtcc_start"]
    first = panel["district"].map(launch).dt.tz_convert(tz).dt.tz_localize(None)
    panel["first_treated"] = first.dt.to_period("M").dt.to_timestamp()
    panel["log_incidents"] = np.log(panel["incidents"])
    return panel


class ImpactEvaluation(pn.viewable.Viewer):
    """Evaluator's view: did the RTCC raise clearance and lower crime, and how sure are we.

    Parameters
    ----------
    workspace : Workspace
        Needs ``cases``, ``incidents`` and the district ``rollout``.
    by, period : str
        How clearance rates are broken down.
    """

    workspace = param.Parameter()
    by = param.Selector(default="offence", objects=list(BY))
    period = param.Selector(default="whole period", objects=list(PERIODS))
    its_district = param.Selector(default=None, objects=[None])

    def __init__(self, **params):
        super().__init__(**params)
        ws = self.workspace
        rollout = ws.rollout
        treated = [] if rollout is None else sorted(rollout.dropna(subset=["rtcc_start"])["district"].astype(str))
        self.status = Status()
        self.rates_table = table(page_size=10)
        self.rates_plot = pn.pane.HoloViews(sizing_mode="stretch_width", height=320)
        self.case_text = pn.pane.Markdown(sizing_mode="stretch_width")
        self.types_table = table(page_size=6)
        self.event_plot = pn.pane.HoloViews(sizing_mode="stretch_width", height=320)
        self.event_text = pn.pane.Markdown(sizing_mode="stretch_width")
        self.its_plot = pn.pane.HoloViews(sizing_mode="stretch_width", height=320)
        self.its_text = pn.pane.Markdown(sizing_mode="stretch_width")
        self.results = {}
        self._download = pn.widgets.FileDownload(callback=self._report, filename="rtcc_evaluation.html",
                                                 label="Export report (HTML)", sizing_mode="stretch_width",
                                                 visible=can_current("export_data"))
        with param.parameterized.discard_events(self):
            self.param.its_district.objects = treated or [None]
            self.its_district = treated[0] if treated else None
        self._update_rates()
        self._update_designs()
        self._update_its()

    @param.depends("by", "period", watch=True)
    def _update_rates(self):
        ws = self.workspace

        def work():
            by = BY[self.by]
            rates = evaluation.clearance_rates(ws.cases, by=[by], freq=PERIODS[self.period], incidents=ws.incidents,
                                               tz=ws.tz)
            self.results["rates"] = rates
            shown = rates.assign(period=rates["period"].astype(str), **{by: rates[by].astype(str)})
            self.rates_table.value = shown.round(3)
            if PERIODS[self.period] is None:
                bars = hv.Bars(shown, by, "rate").opts(invert_axes=True, color="#1f77b4", tools=["hover"])
                errors = hv.ErrorBars(shown.assign(lo=shown["rate"] - shown["ci_low"],
                                                   hi=shown["ci_high"] - shown["rate"]),
                                      by, ["rate", "lo", "hi"]).opts(invert_axes=True)
                plot = bars * errors
            else:
                plot = hv.NdOverlay({key: hv.Curve(group, "period", "rate") for key, group in shown.groupby(by)},
                                    kdims=[by])
            self.rates_plot.object = plot.opts(hv.opts.Overlay(responsive=True, height=320,
                                                               title="Clearance rate (95% Wilson CI)"),
                                               hv.opts.NdOverlay(responsive=True, height=320,
                                                                 title="Clearance rate by period",
                                                                 legend_position="right"))
            return f"clearance rates by {self.by}, {self.period}"

        run_busy(self.status, [self.rates_table], work, busy_message="Computing clearance rates…")

    def _update_designs(self):
        ws = self.workspace

        def work():
            effect = evaluation.case_effect(ws.cases, incidents=ws.incidents, covariates=["offense"], within="90D")
            self.results["case"] = effect
            self.case_text.object = (
                f"**Case-level effect** (assisted vs other cases, adjusted for offence; cleared within 90 days): "
                f"odds ratio **{effect.odds_ratio:.2f}** (95% CI {effect.ci_low:.2f}–{effect.ci_high:.2f}); "
                f"unadjusted {effect.naive_odds_ratio:.2f}. {effect.n_treated:,} assisted, "
                f"{effect.n_control:,} other cases. Without measured severity and camera coverage the adjusted "
                f"figure can still overstate the effect.")
            self.types_table.value = evaluation.effect_by_crime_type(ws.cases, ws.incidents, within="90D").round(3)
            if ws.rollout is None:
                self.event_text.object = "No district launch dates: the event study needs the rollout."
                return "case-level effect"
            panel = district_month_counts(ws.incidents, ws.rollout, ws.tz)
            did = evaluation.staggered_did(panel, "district", "month", "log_incidents", "first_treated",
                                           control="never")
            self.results["did"] = did
            dynamic = did.aggregate("dynamic").table
            simple = did.aggregate("simple")
            e = "event_time"
            points = hv.Scatter(dynamic, e, "att").opts(size=7, color="#1f4e79", tools=["hover"])
            bars = hv.ErrorBars(dynamic.assign(lo=dynamic["att"] - dynamic["ci_low"],
                                               hi=dynamic["ci_high"] - dynamic["att"]), e, ["att", "lo", "hi"])
            zero = hv.HLine(0).opts(color="grey", line_dash="dashed")
            launch = hv.VLine(-0.5).opts(color="#d62728", line_dash="dotted")
            self.event_plot.object = (zero * launch * bars * points).opts(
                responsive=True, height=320, title="Event study: log incidents by months since launch",
                xlabel="months since launch", ylabel="ATT (log incidents)")
            self.event_text.object = (f"**Staggered DiD** (Callaway & Sant'Anna, never-treated districts as "
                                      f"controls): average effect on log incidents **{simple.estimate:.3f}** "
                                      f"(95% CI {simple.ci_low:.3f} to {simple.ci_high:.3f}); "
                                      f"pre-trend test p = {did.pretrend['p']:.3f}.")
            return "case-level effect and event study"

        run_busy(self.status, [self.event_plot], work, busy_message="Estimating the case-level effect and event study…")

    @param.depends("its_district", watch=True)
    def _update_its(self):
        ws = self.workspace
        if ws.rollout is None or self.its_district is None:
            return

        def work():
            district = self.its_district
            incidents = ws.incidents[ws.incidents["district"].astype(str) == district]
            days = incidents["occurred_at"].dt.tz_convert(ws.tz).dt.tz_localize(None).dt.floor("D")
            counts = days.dt.to_period("W").dt.start_time.value_counts().sort_index()
            counts = counts.iloc[1:-1]  # partial first and last weeks
            launch = ws.rollout.set_index(ws.rollout["district"].astype(str)).loc[district, "rtcc_start"]
            launch = pd.Timestamp(launch).tz_convert(ws.tz).tz_localize(None)
            result = evaluation.interrupted_time_series(counts, launch, seasonality=None)
            self.results["its"] = result
            series = result.series.reset_index()
            t = series.columns[0]
            observed = hv.Scatter(series, t, "observed", label="observed").opts(color="black", size=4)
            fitted = hv.Curve(series, t, "fitted", label="fitted").opts(color="#1f77b4")
            counterfactual = hv.Curve(series[series["post"].astype(bool)], t, "counterfactual",
                                      label="without RTCC").opts(color="#d62728", line_dash="dashed")
            self.its_plot.object = (observed * fitted * counterfactual * hv.VLine(launch).opts(color="grey")).opts(
                responsive=True, height=320, title=f"Interrupted time series, {district}: incidents per week",
                legend_position="top_left")
            self.its_text.object = result.summary()
            return f"interrupted time series for {district}"

        run_busy(self.status, [self.its_plot], work, busy_message="Fitting the interrupted time series…")

    def _report(self):
        report = evaluation.EvaluationReport(title="RTCC impact evaluation")
        for key, title in (("case", "Case-level effect"), ("did", "Staggered difference-in-differences"),
                           ("its", f"Interrupted time series ({self.its_district})")):
            if key in self.results:
                report.add(self.results[key], title=title)
        return io.BytesIO(report.to_html().encode("utf-8"))

    def __panel__(self):
        controls = pn.Column("### Impact Evaluation",
                             pn.widgets.Select.from_param(self.param.by, name="Clearance by"),
                             pn.widgets.Select.from_param(self.param.period, name="Period"),
                             pn.widgets.Select.from_param(self.param.its_district, name="ITS district"),
                             self._download, width=280)
        tabs = pn.Tabs(
            ("Clearance rates", pn.Column(self.rates_plot, self.rates_table, sizing_mode="stretch_width")),
            ("Case-level effect", pn.Column(self.case_text, "#### By crime type", self.types_table,
                                            sizing_mode="stretch_width")),
            ("Event study", pn.Column(self.event_text, self.event_plot, sizing_mode="stretch_width")),
            ("Interrupted time series", pn.Column(self.its_text, self.its_plot, sizing_mode="stretch_width")),
            dynamic=False, sizing_mode="stretch_width")
        return pn.Row(controls, pn.Column(self.status, tabs, sizing_mode="stretch_width"),
                      sizing_mode="stretch_width")


def impact_evaluation(workspace=None) -> pn.viewable.Viewable:
    """Serve factory: a new Impact Evaluation for one session."""
    from workbench.ui.data import load_workspace

    return ImpactEvaluation(workspace=workspace or load_workspace())
