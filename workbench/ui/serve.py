"""``workbench serve``: the four dashboards and an index page, behind a login, for each role.

One server process holds one :class:`~workbench.ui.data.Workspace` (and, with
``--live``, one shared poller); every browser session gets new app objects from
the serve factories, so sessions never share widgets.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys

from workbench.errors import WorkbenchError

DEFAULT_PORT = 5006


def served() -> bool:
    """Whether this code runs in a served session (``pn.serve`` of factories or ``panel serve``)."""
    import panel as pn

    doc = pn.state.curdoc
    return bool(pn.state.served or (doc is not None and doc.session_context is not None))


def page(title: str, body, sidebar=None):
    """Wrap an app for serving: a header with the user, role, app menu and logout; plain inline otherwise."""
    import panel as pn

    from workbench.ui.auth import APPS, apps_for, current_role

    if not served():
        return body
    role = current_role()
    links = " · ".join(f'<a href="/{name}">{APPS[name][0]}</a>' for name in apps_for(role))
    user = pn.state.user or "local"
    header = pn.pane.HTML(
        f'<div style="display:flex;gap:18px;align-items:center;font-family:system-ui,sans-serif">'
        f'<b style="font-size:18px"><a href="/" style="color:inherit;text-decoration:none">RTCC Workbench</a></b>'
        f'<span style="font-size:16px">{title}</span><span style="flex:1"></span>'
        f'<span style="font-size:13px">{links}</span>'
        f'<span class="whoami" style="font-size:13px">{user} ({role or "no role"})</span>'
        f'<a href="/logout" style="font-size:13px">Sign out</a></div>',
        sizing_mode="stretch_width", styles={"background": "#1f4e79", "color": "white", "padding": "8px 14px"},
        stylesheets=[":host a { color: #dbeafe; }"])
    return pn.Column(header, body, sizing_mode="stretch_width")


def index_page():
    """The landing page: the apps this user's role may open, with what each is for."""
    import panel as pn

    from workbench.ui.auth import APPS, apps_for, current_role

    role = current_role()
    allowed = apps_for(role)
    rows = []
    for name, (title, permission, who, what) in APPS.items():
        if name in allowed:
            rows.append(f'<li style="margin:10px 0"><a class="app-link" href="/{name}" style="font-size:17px">'
                        f'{title}</a> <span style="color:#57606a">({who})</span><br>{what}</li>')
    body = pn.pane.HTML(
        f'<div style="font-family:system-ui,sans-serif;max-width:760px;padding:10px 24px">'
        f'<h2>Dashboards for {pn.state.user or "you"} ({role})</h2><ul>{"".join(rows)}</ul>'
        f'<p style="color:#57606a;font-size:13px">Every plate search is audited (who, when, why, case number).'
        f' Roles decide which dashboards and actions you get.</p></div>', sizing_mode="stretch_width")
    return page("Home", body)


def _hotspots(workspace, tiles):
    from workbench.ui.apps.hotspots import HotspotExplorer

    return page("Hotspot Explorer", HotspotExplorer(workspace=workspace, tiles=tiles))


def _evaluation(workspace):
    from workbench.ui.apps.evaluation import ImpactEvaluation

    return page("Impact Evaluation", ImpactEvaluation(workspace=workspace))


def _vehicles(workspace, tiles):
    from workbench.ui.apps.vehicles import VehicleInvestigation

    return page("Vehicle Investigation", VehicleInvestigation(workspace=workspace, tiles=tiles))


def _command(workspace, tiles):
    from workbench.ui.apps.command import CommandOverview

    return page("Command Overview", CommandOverview(workspace=workspace, tiles=tiles))


def app_factories(workspace, tiles: str = "") -> dict:
    """URL path -> serve factory for the index and every app whose module is present."""
    import importlib.util

    def bind(factory, *args):
        # Panel serves plain functions as factories (a functools.partial would be rendered as an object).
        def make():
            return factory(*args)
        return make

    factories = {"/": index_page, "hotspots": bind(_hotspots, workspace, tiles),
                 "evaluation": bind(_evaluation, workspace)}
    if importlib.util.find_spec("workbench.ui.apps.vehicles"):
        factories["vehicles"] = bind(_vehicles, workspace, tiles)
    if importlib.util.find_spec("workbench.ui.apps.command"):
        factories["command"] = bind(_command, workspace, tiles)
    return factories


def warm_up(workspace) -> None:
    """Build each app once before the first visitor: imports, compiled kernels and shared models.

    Without it the first session pays for importing HoloViews, compiling the
    engines' numba kernels and building the camera network (several seconds).
    """
    import importlib.util

    from workbench.ui.apps.evaluation import ImpactEvaluation
    from workbench.ui.apps.hotspots import HotspotExplorer

    HotspotExplorer(workspace=workspace).__panel__()
    ImpactEvaluation(workspace=workspace)
    if importlib.util.find_spec("workbench.ui.apps.vehicles") and workspace.tables.get("alpr_reads") is not None:
        from workbench.ui.apps.vehicles import shared_models

        shared_models(workspace)
    if importlib.util.find_spec("workbench.ui.apps.command"):
        from workbench.ui.apps.command import CommandOverview

        CommandOverview(workspace=workspace)


def serve(workspace, *, port: int = DEFAULT_PORT, address: str = "localhost", users=None,
          oauth_provider: str | None = None, tiles: str = "", show: bool = False, threaded: bool = False,
          **kwargs):
    """Serve the index and the apps over ``workspace``; blocks unless ``threaded``.

    Parameters
    ----------
    workspace : Workspace
    port : int
    address : str
        Interface to listen on (``localhost`` by default: put a TLS proxy in front for others).
    users : workbench.governance.roles.Users, optional
        Who may sign in (the users file). Without users or an OAuth provider the
        server refuses to start, since dashboards must require login.
    oauth_provider : str, optional
        A Panel OAuth provider name (``github``, ``azure``, ``okta`` …); the
        OAuth user name must then appear in ``users`` to get a role.
    tiles : str
        An XYZ tile URL; empty keeps the page off-line (street basemap).
    threaded : bool
        Run in a thread and return the server (tests, the demo).

    Returns
    -------
    bokeh.server.server.Server or StoppableThread
    """
    import panel as pn

    from workbench.ui import auth

    if users is None and not oauth_provider:
        raise WorkbenchError("serving needs a users file (--users users.yaml) or an OAuth provider: "
                             "dashboards require login")
    warm_up(workspace)
    auth.set_users(users)
    pn.config.authorize_callback = auth.authorize
    pn.config.cookie_secret = pn.config.cookie_secret or secrets.token_hex(32)
    options = dict(port=port, address=address, show=show, threaded=threaded, title={
        "/": "RTCC Workbench", **{name: spec[0] for name, spec in auth.APPS.items()}},
        websocket_origin=[f"localhost:{port}", f"127.0.0.1:{port}"], **kwargs)
    if oauth_provider:
        options.update(oauth_provider=oauth_provider)
    else:
        options["auth_provider"] = auth.UsersAuthProvider()
    return pn.serve(app_factories(workspace, tiles), **options)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``serve`` on the main CLI's subparsers."""
    p = subparsers.add_parser(
        "serve", help="serve the dashboards (login required)",
        description="Serve the Hotspot Explorer, Vehicle Investigation, Impact Evaluation and Command "
                    "Overview with an index page. Users sign in with the users file; their role decides "
                    "which apps and actions they get.")
    p.add_argument("--data", default=None, help="scenario folder (default: the committed sample)")
    p.add_argument("--store", default=None, help="DuckDB store to read the tables from")
    p.add_argument("--live", default=None, metavar="SOURCES_YAML", nargs="?", const="",
                   help="poll live sources (a `workbench poll` config; without a file: replay the sample)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--address", default="localhost", help="interface to listen on (default localhost)")
    p.add_argument("--users", default=os.environ.get("WORKBENCH_USERS"),
                   help="users file (YAML, see workbench.governance.roles; default $WORKBENCH_USERS)")
    p.add_argument("--oauth-provider", default=None, help="Panel OAuth provider (github, azure, okta, …)")
    p.add_argument("--tiles", default="", help="XYZ tile URL for the basemap (default: off-line street map)")
    p.add_argument("--retention", default=None, metavar="POLICY",
                   help="apply a retention policy (YAML file or preset name) to the live store on a schedule; "
                        "needs --live (the served process is the store's one writer)")
    p.add_argument("--retention-every", default="1h", help="how often retention runs (default 1h)")
    p.set_defaults(func=cmd_serve)
    return p


def cmd_serve(args) -> int:
    from workbench.governance.roles import Users
    from workbench.ui.data import load_workspace

    if not args.users and not args.oauth_provider:
        raise WorkbenchError("serving needs --users users.yaml (or $WORKBENCH_USERS) or --oauth-provider")
    users = Users.load(args.users) if args.users else None
    workspace = load_workspace(args.data, args.store)
    if args.retention and args.live is None:
        raise WorkbenchError("--retention needs --live: retention runs in the process that writes the store")
    live = retention = None
    if args.live is not None:
        from workbench.ui.live import start_live

        live = start_live(workspace, args.live or None, store=args.store)
    if args.retention:
        retention = start_retention(live.store, args.retention, every=args.retention_every)
    print(f"Serving RTCC Workbench on http://{args.address}:{args.port}/ (Ctrl-C to stop)", flush=True)
    try:
        serve(workspace, port=args.port, address=args.address, users=users, oauth_provider=args.oauth_provider,
              tiles=args.tiles)
    finally:
        if retention is not None:
            retention.stop()
        if live is not None:
            live.stop()
    return 0


def start_retention(store, policy, every="1h"):
    """Run the retention policy (a YAML file or a preset name) on ``store`` every ``every``.

    The served process is the store's one writer, so retention is scheduled here,
    audited like any purge (intent, then counts).

    Returns
    -------
    workbench.governance.retention.RetentionScheduler
        Started; ``.last_`` holds the last run's plan and ``.error_`` its error, if any.
    """
    from pathlib import Path

    from workbench.governance.retention import RetentionScheduler, load_policy

    loaded = load_policy(policy) if Path(str(policy)).is_file() else load_policy(preset=policy)
    return RetentionScheduler(store, loaded, every=every).start()


def main(argv=None) -> int:
    """``python -m workbench.ui.serve ...`` (the same as ``workbench serve``)."""
    from workbench.cli import main as cli_main

    return cli_main(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
