"""The audit hook every search-like function of the trajectory engine goes through.

:func:`authorize` runs before any work: it checks the justification and the
role (:func:`workbench.governance.policy.authorize_search`) and, when the search
is refused, records the refused attempt (``result_count`` missing, the refusal
in ``parameters["refused"]``) before raising. :func:`record` writes the record
of a search that ran, with its result count, and is called before the results
are returned.
"""

from __future__ import annotations

from workbench.errors import AuditError, PermissionDenied
from workbench.governance.audit import default_log
from workbench.governance.policy import authorize_search


def authorize(action, user, reason, case_number, *, parameters, role=None, policy=None, audit_log=None):
    """Check who / why / which case and the role's permission; log a refusal, then re-raise.

    Returns
    -------
    workbench.governance.policy.Justification

    Examples
    --------
    >>> authorize("plate_search", "jdoe", "", "25-1", parameters={}, role="investigator")  # doctest: +SKIP
    Traceback (most recent call last):
    workbench.errors.AuditError: plate search refused: a reason is required ...
    """
    try:
        return authorize_search(user, reason, case_number, action=action, role=role, policy=policy)
    except (AuditError, PermissionDenied) as exc:
        log = audit_log or default_log()
        log.record(user=None if user is None else str(user), action=action,
                   parameters={**parameters, "refused": str(exc)}, reason=reason,
                   case_number=case_number, result_count=None, role=role)
        raise


def record(justification, action, *, parameters, result_count, audit_log=None) -> dict:
    """Write the audit record of a search that ran (before its results are returned)."""
    log = audit_log or default_log()
    return log.record(user=justification.user, role=justification.role, action=action,
                      parameters=parameters, reason=justification.reason,
                      case_number=justification.case_number, result_count=result_count)
