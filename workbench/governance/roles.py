"""Roles, permissions and users: one configuration for the Python API and the dashboards.

Contract (other modules rely on it)
-----------------------------------
Roles (built in): ``analyst``, ``investigator``, ``evaluator``, ``command``,
``oversight``, ``admin``. Permissions: ``view_hotspots``, ``view_incidents``,
``view_cameras``, ``view_live``, ``plate_search``, ``vehicle_search``,
``hotlist_check``, ``view_evaluation``, ``export_data``, ``view_audit``,
``view_transparency``, ``manage_retention``, ``manage_users``. Plate search
needs ``investigator`` (or ``admin``). The built-in ``roles.yaml`` beside this
module is the default; ``$WORKBENCH_ROLES`` or ``load_roles(path)`` names an
override file whose roles replace those of the same name.

``require(user_or_role, permission, *, roles=None, users=None) -> str``
    Returns the role name or raises :class:`workbench.errors.PermissionDenied`
    with a plain message. ``user_or_role`` is a :class:`User`, a role name, or
    a username looked up in ``users`` (default: the users file at
    ``$WORKBENCH_USERS``, if set).
``can(user_or_role, permission, ...) -> bool``
    The same check without raising (unknown users and roles cannot).
``Users`` / users file
    YAML ``{"users": [{"username", "role", "organisation", "password_hash",
    "active"}]}``; ``password_hash`` is ``pbkdf2_sha256$<iterations>$<salt
    hex>$<hash hex>`` from :func:`hash_password`. ``Users.authenticate(username,
    password)`` returns the :class:`User` or ``None`` (the dashboards' login).

Example
-------
>>> can("investigator", "plate_search"), can("analyst", "plate_search")
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from workbench.errors import PermissionDenied, WorkbenchError
from workbench.governance._yaml import read_yaml_mapping

BUILTIN_ROLES_FILE = Path(__file__).with_name("roles.yaml")
ALL = "*"
PBKDF2_ITERATIONS = 600_000


@dataclass(frozen=True)
class Role:
    """A named set of permissions (inheritance already resolved)."""

    name: str
    permissions: frozenset
    description: str = ""


@dataclass
class Roles:
    """The role configuration: ``roles`` by name and the known ``permissions`` with descriptions."""

    roles: dict
    permissions: dict = field(default_factory=dict)

    def __contains__(self, name) -> bool:
        return name in self.roles

    def permissions_of(self, role: str) -> frozenset:
        """Permissions granted to ``role`` (every known permission for ``"*"``)."""
        if role not in self.roles:
            raise PermissionDenied(f"unknown role {role!r} (known: {', '.join(sorted(self.roles))})")
        return self.roles[role].permissions

    def grants(self, role: str, permission: str) -> bool:
        """Whether ``role`` holds ``permission``."""
        return permission in self.permissions_of(role)

    def roles_with(self, permission: str) -> list[str]:
        """Names of the roles that hold ``permission``."""
        return sorted(name for name, r in self.roles.items() if permission in r.permissions)


def _read_yaml(path) -> dict:
    return read_yaml_mapping(path, "roles file", WorkbenchError, "a mapping with 'roles' and 'permissions'")


def load_roles(path=None) -> Roles:
    """Read the built-in roles, overridden by ``path`` (or ``$WORKBENCH_ROLES``) when given.

    Parameters
    ----------
    path : str or Path, optional
        An agency's roles YAML (same format as the built-in ``roles.yaml``).

    Returns
    -------
    Roles

    Examples
    --------
    >>> "plate_search" in load_roles().permissions_of("investigator")
    True
    """
    data = _read_yaml(BUILTIN_ROLES_FILE)
    permissions = dict(data.get("permissions") or {})
    raw = dict(data.get("roles") or {})
    path = path or os.environ.get("WORKBENCH_ROLES")
    if path:
        override = _read_yaml(path)
        permissions.update(override.get("permissions") or {})
        raw.update(override.get("roles") or {})
    resolved: dict[str, Role] = {}

    def resolve(name, chain=()):
        if name in resolved:
            return resolved[name].permissions
        if name in chain:
            raise WorkbenchError(f"roles inherit in a circle: {' -> '.join(chain + (name,))}")
        if name not in raw:
            raise WorkbenchError(f"role {chain[-1]!r} inherits from unknown role {name!r}")
        spec = raw[name] or {}
        granted = set(spec.get("permissions") or [])
        if ALL in granted:
            granted = set(permissions)
        unknown = granted - set(permissions)
        if unknown:
            raise WorkbenchError(f"role {name!r} names unknown permissions: {', '.join(sorted(unknown))} "
                                 "(declare them under 'permissions')")
        for parent in spec.get("inherits") or []:
            granted |= resolve(parent, chain + (name,))
        resolved[name] = Role(name, frozenset(granted), str(spec.get("description", "")))
        return resolved[name].permissions

    for name in raw:
        resolve(name)
    return Roles(resolved, permissions)


@lru_cache(maxsize=1)
def _default_roles_cached(env_path):
    return load_roles(env_path)


def default_roles() -> Roles:
    """The roles in force: built-in, overridden by ``$WORKBENCH_ROLES`` if set (cached)."""
    return _default_roles_cached(os.environ.get("WORKBENCH_ROLES") or None)


# -- users ------------------------------------------------------------------------------------

def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """PBKDF2-SHA256 hash of ``password`` as ``pbkdf2_sha256$iterations$salt$hash`` (hex).

    Examples
    --------
    >>> h = hash_password("s3cret", iterations=1000)
    >>> verify_password("s3cret", h), verify_password("guess", h)
    (True, False)
    """
    if not password:
        raise WorkbenchError("a password may not be empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches a hash from :func:`hash_password` (constant-time compare)."""
    try:
        scheme, iterations, salt, expected = password_hash.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", (password or "").encode("utf-8"),
                                     bytes.fromhex(salt), int(iterations))
    except (ValueError, AttributeError):
        return False
    return hmac.compare_digest(digest.hex(), expected)


@dataclass(frozen=True)
class User:
    """A user of the workbench: ``username``, ``role``, ``organisation`` and a password hash."""

    username: str
    role: str
    organisation: str | None = None
    password_hash: str | None = None
    active: bool = True


class Users:
    """The users file: who may log in, with which role.

    Parameters
    ----------
    users : iterable of User, optional

    Examples
    --------
    >>> users = Users()
    >>> _ = users.add("jdoe", "investigator", "pw", iterations=1000)
    >>> users.authenticate("jdoe", "pw").role, users.authenticate("jdoe", "no")
    ('investigator', None)
    """

    def __init__(self, users=()):
        self._users = {u.username: u for u in users}

    def __contains__(self, username) -> bool:
        return username in self._users

    def __iter__(self):
        return iter(self._users.values())

    def __len__(self) -> int:
        return len(self._users)

    def get(self, username) -> User | None:
        """The user named ``username``, or None."""
        return self._users.get(username)

    def add(self, username, role, password=None, *, organisation=None, roles=None, **hash_options) -> User:
        """Add or replace a user; ``role`` must exist. Returns the user."""
        roles = roles or default_roles()
        if role not in roles:
            raise PermissionDenied(f"unknown role {role!r} (known: {', '.join(sorted(roles.roles))})")
        user = User(username, role, organisation,
                    hash_password(password, **hash_options) if password else None)
        self._users[username] = user
        return user

    def authenticate(self, username, password) -> User | None:
        """The active user when ``password`` is right, else None (no hint which part was wrong)."""
        user = self._users.get(username)
        if user is None or not user.active or not user.password_hash:
            return None
        return user if verify_password(password, user.password_hash) else None

    @classmethod
    def load(cls, path) -> "Users":
        """Read a users YAML file (see the module docstring for the format)."""
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        rows = data.get("users") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise WorkbenchError(f"users file {path} must hold a 'users' list")
        users = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or not row.get("username") or not row.get("role"):
                raise WorkbenchError(f"users file {path}: entry {i} needs a username and a role")
            users.append(User(str(row["username"]), str(row["role"]), row.get("organisation"),
                              row.get("password_hash"), bool(row.get("active", True))))
        return cls(users)

    def save(self, path) -> Path:
        """Write the users file (mode 0600: it holds password hashes). Returns the path."""
        path = Path(path)
        rows = [{"username": u.username, "role": u.role, "organisation": u.organisation,
                 "password_hash": u.password_hash, "active": u.active} for u in self]
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump({"users": rows}, f, sort_keys=False)
        return path


def default_users() -> Users | None:
    """The users file at ``$WORKBENCH_USERS``, or None when unset."""
    path = os.environ.get("WORKBENCH_USERS")
    return Users.load(path) if path else None


def role_of(user_or_role, *, roles=None, users=None) -> str:
    """The role name for a :class:`User`, a role name or a username in ``users``.

    Raises
    ------
    PermissionDenied
        Unknown user or role, or an inactive user.
    """
    roles = roles or default_roles()
    if isinstance(user_or_role, User):
        if not user_or_role.active:
            raise PermissionDenied(f"user {user_or_role.username!r} is disabled")
        role = user_or_role.role
    elif isinstance(user_or_role, str) and user_or_role in roles:
        role = user_or_role
    else:
        users = users if users is not None else default_users()
        user = users.get(user_or_role) if users is not None else None
        if user is None:
            raise PermissionDenied(f"unknown user or role {user_or_role!r}: give a role "
                                   f"({', '.join(sorted(roles.roles))}) or a user in the users file")
        return role_of(user, roles=roles)
    if role not in roles:
        raise PermissionDenied(f"unknown role {role!r} (known: {', '.join(sorted(roles.roles))})")
    return role


def require(user_or_role, permission, *, roles=None, users=None) -> str:
    """Raise :class:`PermissionDenied` unless the user or role holds ``permission``.

    Parameters
    ----------
    user_or_role : User or str
        A user, a role name, or a username in ``users``.
    permission : str
        E.g. ``"plate_search"``.
    roles : Roles, optional
        Default: :func:`default_roles`.
    users : Users, optional
        Default: the file at ``$WORKBENCH_USERS``.

    Returns
    -------
    str
        The role name.

    Examples
    --------
    >>> require("investigator", "plate_search")
    'investigator'
    """
    roles = roles or default_roles()
    if permission not in roles.permissions:
        raise PermissionDenied(f"unknown permission {permission!r}")
    role = role_of(user_or_role, roles=roles, users=users)
    if not roles.grants(role, permission):
        who = user_or_role.username if isinstance(user_or_role, User) else user_or_role
        allowed = ", ".join(roles.roles_with(permission)) or "no role"
        raise PermissionDenied(f"{who!r} (role {role}) may not {permission.replace('_', ' ')}: "
                               f"that needs the role {allowed}")
    return role


def can(user_or_role, permission, *, roles=None, users=None) -> bool:
    """Whether the user or role holds ``permission`` (False for unknown users or roles)."""
    try:
        require(user_or_role, permission, roles=roles, users=users)
    except PermissionDenied:
        return False
    return True
