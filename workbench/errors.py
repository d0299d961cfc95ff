"""Errors the workbench raises on purpose.

Every error here carries a plain message meant for the person at the keyboard.
The CLI prints ``str(error)`` on one line and exits non-zero; it never shows a
traceback for these.
"""


class WorkbenchError(Exception):
    """Base class: an error with a plain message, safe to show to a user."""


class SchemaError(WorkbenchError, ValueError):
    """Input lacks columns a canonical table requires, or names an unknown table.

    ``missing`` lists the required columns that were not found and ``found``
    the columns that were.
    """

    def __init__(self, message, *, missing=(), found=()):
        super().__init__(message)
        self.missing = list(missing)
        self.found = list(found)


class TimezoneError(WorkbenchError, ValueError):
    """Timestamps without a time zone arrived and no ``tz`` was given."""


class ProfileError(WorkbenchError, ValueError):
    """A source profile is missing, malformed or does not fit the file."""


class ReadError(WorkbenchError, OSError):
    """A file could not be read (missing, unsupported format, undecodable)."""


class StoreError(WorkbenchError):
    """The store could not do what was asked; it is left as it was."""


class EvaluationError(WorkbenchError, ValueError):
    """An evaluation design cannot be estimated on the data given (and why)."""


class HotspotInputError(WorkbenchError, ValueError):
    """Points, grids or parameters given to a hotspot engine cannot be used (and why)."""


class TrajectoryError(WorkbenchError, ValueError):
    """Reads, plates, patterns or parameters given to the trajectory engine cannot be used (and why)."""


class AuditError(WorkbenchError, PermissionError):
    """A search was refused for want of a justification, or the audit log cannot be written or read."""


class PermissionDenied(WorkbenchError, PermissionError):
    """The user's role does not grant the permission the action needs."""


class SourceError(WorkbenchError):
    """A live source (database, HTTP feed, file drop) failed or sent something unusable; retry later."""


class BriefingError(WorkbenchError, ValueError):
    """A call briefing cannot be made from what was given (no time, an unusable call or context)."""
