"""Login and roles for served dashboards: the governance users file, Panel's auth hooks.

Which role may open which app (and do which action) comes from the roles file
(:mod:`workbench.governance.roles`): an app needs one permission, an action
(export, plate search) its own. Panel's ``authorize_callback`` answers 403 to a
logged-in user whose role lacks the app's permission; an unauthenticated
request is sent to the login page. The engines check the same roles again
(plate search refuses a role without ``plate_search``), so the API enforces
what the pages show.
"""

from __future__ import annotations

import jinja2
import panel as pn
from panel.auth import BasicAuthProvider, BasicLoginHandler

from workbench.governance.roles import Users, can, default_roles

#: URL path (without the leading slash) -> (title, permission needed, who it is for, what it does)
APPS = {
    "hotspots": ("Hotspot Explorer", "view_hotspots", "crime analyst",
                 "KDE, Gi*, emerging hot spots, clusters and forecasts; export GeoJSON, CSV, PNG"),
    "vehicles": ("Vehicle Investigation", "plate_search", "investigator",
                 "audited partial and look-alike plate search, trajectories, next camera, convoys"),
    "evaluation": ("Impact Evaluation", "view_evaluation", "program evaluator",
                   "clearance rates, case-level effect, event study, interrupted time series"),
    "command": ("Command Overview", "view_live", "command staff",
                "live KPIs and map, this week's hot spots, RTCC performance (read-only)"),
}

# No external resources: the login page must load off-line like the apps.
LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>RTCC Workbench - sign in</title>
<style>
  body { font-family: system-ui, sans-serif; background: #f3f4f6; display: flex; justify-content: center; }
  form { background: white; margin-top: 12vh; padding: 28px 32px; border-radius: 8px; width: 320px;
         box-shadow: 0 2px 8px rgba(0,0,0,.12); }
  h1 { font-size: 20px; margin: 0 0 16px 0; }
  label { display: block; font-size: 13px; margin-top: 12px; color: #374151; }
  input { width: 100%; box-sizing: border-box; padding: 8px; margin-top: 4px; font-size: 15px; }
  button { margin-top: 18px; width: 100%; padding: 9px; font-size: 15px; background: #1f4e79; color: white;
           border: 0; border-radius: 4px; cursor: pointer; }
  .error { color: #b91c1c; font-size: 13px; margin-top: 10px; }
</style>
</head>
<body>
<form action="{{ login_endpoint }}" method="post" id="login-form">
  <h1>RTCC Workbench</h1>
  <label for="username">User name</label>
  <input id="username" name="username" type="text" autocomplete="username" autofocus required>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit" id="login-submit">Sign in</button>
  {% if errormessage %}<div class="error">{{ errormessage }}</div>{% endif %}
  <p style="font-size:12px;color:#6b7280;margin-top:16px">Every plate search is recorded with who, when, why
  and the case number.</p>
</form>
</body>
</html>
"""


LOGOUT_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>RTCC Workbench - signed out</title></head>
<body style="font-family: system-ui, sans-serif; text-align: center; margin-top: 15vh">
<h1 style="font-size: 20px">You are signed out of the RTCC Workbench.</h1>
<p><a href="{{ LOGIN_ENDPOINT }}">Sign in again</a></p>
</body></html>
"""


class _State:
    users: Users | None = None


def set_users(users: Users | None) -> None:
    """The users who may log in to this server (``None``: no login, e.g. inside a notebook)."""
    _State.users = users


def current_user():
    """The logged-in :class:`workbench.governance.roles.User` of this session, or None."""
    if _State.users is None:
        return None
    name = pn.state.user
    return _State.users.get(name) if name else None


def current_role() -> str:
    """The session's role; ``admin`` in a notebook or an unauthenticated local session."""
    if _State.users is None:
        return "admin"
    user = current_user()
    return user.role if user is not None and user.active else ""


def can_current(permission: str) -> bool:
    """Whether this session's user may do ``permission``."""
    role = current_role()
    return bool(role) and can(role, permission)


def app_of(path: str) -> str:
    """The app name of a request path (``/vehicles/ws`` -> ``vehicles``; ``/`` -> ``""``)."""
    return path.strip("/").split("/")[0]


def authorize(user_info, path) -> bool:
    """Panel's ``authorize_callback``: may this user open the app at ``path``?

    Parameters
    ----------
    user_info : dict
        Panel's decoded identity (``{"user": name}``).
    path : str
        The request path.

    Returns
    -------
    bool
        False gives the user a 403 page.
    """
    users = _State.users
    if users is None:
        return True
    name = (user_info or {}).get("user")
    user = users.get(name) if name else None
    if user is None or not user.active:
        return False
    app = app_of(path)
    if app not in APPS:
        return True  # the index page lists only what the role may open
    return can(user.role, APPS[app][1])


def apps_for(role: str) -> list[str]:
    """The apps ``role`` may open, in menu order."""
    roles = default_roles()
    return [name for name, (_, permission, _, _) in APPS.items() if role and roles.grants(role, permission)]


class UsersLoginHandler(BasicLoginHandler):
    """Checks the login form against the users file (PBKDF2 hashes), not a plain password map."""

    def _validate(self, username, password):
        users = _State.users
        return users is not None and users.authenticate(username, password) is not None


class UsersAuthProvider(BasicAuthProvider):
    """Panel's basic-auth provider with the workbench users file and an off-line login page."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        env = jinja2.Environment(autoescape=True)
        self._login_template = env.from_string(LOGIN_PAGE)
        self._logout_template = env.from_string(LOGOUT_PAGE)

    @property
    def login_handler(self):
        UsersLoginHandler._login_endpoint = self._login_endpoint
        UsersLoginHandler._login_template = self._login_template
        return UsersLoginHandler
