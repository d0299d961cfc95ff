"""Search policy: no plate or vehicle search without a user, a reason and a case number.

Contract (other modules rely on it)
-----------------------------------
``require_justification(user, reason, case_number, policy=None, *, action=None) -> Justification``
    Raises :class:`workbench.errors.AuditError` with a plain message when the
    user or the reason is missing or blank (or a placeholder such as "n/a"),
    or when the case number is missing and the policy needs one for
    ``action``. Returns the cleaned values (stripped strings). Call it first,
    before any work, in every search-like function.
``SearchPolicy``
    What counts as a justification. Defaults: reason required (at least 3
    characters, not a placeholder), case number required except for the
    actions in ``case_number_optional_for`` (``hotlist_check``, ``hits``); an
    optional ``case_number_pattern`` (regex) and an optional closed list of
    ``reasons``. ``SearchPolicy.from_dict`` reads the same keys from YAML.
``authorize_search(user, reason, case_number, *, action, role=None, policy=None, roles=None, users=None)``
    :func:`require_justification` plus
    :func:`workbench.governance.roles.require` of the permission
    ``ACTION_PERMISSIONS[action]`` (default ``plate_search``) for ``role`` (or
    the user in the users file). Returns the :class:`Justification` with
    ``role`` filled in.

The usual shape of an audited search in an engine::

    just = authorize_search(user, reason, case_number, action="plate_search", role=role)
    result = ...  # the work
    (log or default_log()).record(user=just.user, role=just.role, action="plate_search",
                                  parameters={...}, reason=just.reason,
                                  case_number=just.case_number, result_count=len(result))
    return result

Example
-------
>>> require_justification("jdoe", "", "25-001")
Traceback (most recent call last):
...
workbench.errors.AuditError: search refused: a reason is required (why is this search being run?)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from workbench.errors import AuditError

PLACEHOLDERS = frozenset({"n/a", "na", "none", "null", "-", "--", "?", ".", "x", "test", "tbd",
                          "no reason", "reason"})

ACTION_PERMISSIONS = {
    "plate_search": "plate_search", "search": "plate_search", "trips": "plate_search",
    "route": "plate_search", "next_camera": "plate_search", "convoys": "plate_search",
    "vehicles_near": "vehicle_search", "vehicle_search": "vehicle_search",
    "hotlist_check": "hotlist_check", "hits": "hotlist_check",
}


@dataclass(frozen=True)
class SearchPolicy:
    """What a search must carry to be run.

    Parameters
    ----------
    require_reason : bool
        A purpose is required (California Civil Code 1798.90.52 logs it).
    require_case_number : bool
        A case number is required, except for ``case_number_optional_for``.
    case_number_optional_for : frozenset of str
        Actions that may run without a case number (a hotlist check of live
        reads serves no case yet).
    min_reason_chars : int
        Shortest acceptable reason, after stripping.
    case_number_pattern : str, optional
        Regular expression a case number must match in full (e.g. ``r"\\d{2}-\\d{6}"``).
    reasons : tuple of str, optional
        A closed list of acceptable reasons (matched case-insensitively); free
        text when None.
    """

    require_reason: bool = True
    require_case_number: bool = True
    case_number_optional_for: frozenset = field(default_factory=lambda: frozenset({"hotlist_check", "hits"}))
    min_reason_chars: int = 3
    case_number_pattern: str | None = None
    reasons: tuple | None = None

    @classmethod
    def from_dict(cls, spec: dict) -> "SearchPolicy":
        """Build from a mapping with the field names as keys (e.g. read from YAML)."""
        known = set(cls.__dataclass_fields__)
        unknown = set(spec) - known
        if unknown:
            raise AuditError(f"unknown search policy keys: {', '.join(sorted(unknown))}")
        spec = dict(spec)
        if "case_number_optional_for" in spec:
            spec["case_number_optional_for"] = frozenset(spec["case_number_optional_for"] or ())
        if spec.get("reasons") is not None:
            spec["reasons"] = tuple(spec["reasons"])
        return cls(**spec)


DEFAULT_POLICY = SearchPolicy()


@dataclass(frozen=True)
class Justification:
    """The cleaned who / why / which case of a search (``role`` once authorised)."""

    user: str
    reason: str | None
    case_number: str | None
    role: str | None = None


def _clean(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def require_justification(user, reason, case_number, policy=None, *, action=None) -> Justification:
    """Refuse a search that lacks a user, a reason or (by policy) a case number.

    Parameters
    ----------
    user : str
        Who is searching.
    reason : str
        Why (the purpose recorded in the audit log).
    case_number : str or None
        The case served.
    policy : SearchPolicy, optional
        Default :data:`DEFAULT_POLICY`.
    action : str, optional
        The search's action name; decides whether a case number may be absent.

    Returns
    -------
    Justification
        Stripped values.

    Raises
    ------
    AuditError
        With a plain message saying what is missing.

    Examples
    --------
    >>> require_justification(" jdoe ", "robbery follow-up", "25-001").user
    'jdoe'
    >>> require_justification("jdoe", "stolen vehicle", None, action="hotlist_check").case_number is None
    True
    """
    policy = policy or DEFAULT_POLICY
    what = f"{action.replace('_', ' ')} refused" if action else "search refused"
    user_c, reason_c, case_c = _clean(user), _clean(reason), _clean(case_number)
    if user_c is None:
        raise AuditError(f"{what}: a user is required (who is searching?)")
    if policy.require_reason:
        if reason_c is None:
            raise AuditError(f"{what}: a reason is required (why is this search being run?)")
        if reason_c.lower() in PLACEHOLDERS or len(reason_c) < policy.min_reason_chars:
            raise AuditError(f"{what}: {reason_c!r} is not a reason; say why this search is being run")
        if policy.reasons is not None and reason_c.lower() not in {r.lower() for r in policy.reasons}:
            raise AuditError(f"{what}: reason {reason_c!r} is not one of the agency's reasons: "
                             f"{', '.join(policy.reasons)}")
    needs_case = policy.require_case_number and action not in policy.case_number_optional_for
    if case_c is None and needs_case:
        raise AuditError(f"{what}: a case number is required (which case does this search serve?)")
    if case_c is not None and case_c.lower() in PLACEHOLDERS and needs_case:
        raise AuditError(f"{what}: {case_c!r} is not a case number")
    if case_c is not None and policy.case_number_pattern and not re.fullmatch(policy.case_number_pattern, case_c):
        raise AuditError(f"{what}: case number {case_c!r} does not match the agency's format "
                         f"{policy.case_number_pattern}")
    return Justification(user_c, reason_c, case_c)


def authorize_search(user, reason, case_number, *, action, role=None, policy=None, roles=None,
                     users=None) -> Justification:
    """Check the justification, then the role's permission for ``action``.

    Parameters
    ----------
    user, reason, case_number : str
        As for :func:`require_justification`.
    action : str
        The search (``plate_search``, ``vehicles_near``, ``convoys``, ``hits`` ...);
        its permission is ``ACTION_PERMISSIONS.get(action, "plate_search")``.
    role : str, optional
        The user's role; when None the user is looked up in ``users`` (or
        ``$WORKBENCH_USERS``).
    policy, roles, users
        Overrides of the defaults.

    Returns
    -------
    Justification
        With ``role`` set.

    Raises
    ------
    AuditError
        The justification is missing.
    PermissionDenied
        The role may not run this search.

    Examples
    --------
    >>> authorize_search("jdoe", "robbery follow-up", "25-001", action="plate_search",
    ...                  role="investigator").role
    'investigator'
    """
    from workbench.governance.roles import require

    just = require_justification(user, reason, case_number, policy, action=action)
    granted = require(role if role is not None else just.user,
                      ACTION_PERMISSIONS.get(action, "plate_search"), roles=roles, users=users)
    return replace(just, role=granted)
