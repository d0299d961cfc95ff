"""The audit log: append-only, hash-chained, durable, safe for many writers.

Every plate or vehicle search, from the API or a dashboard, writes one record
here *before* its results are returned (DESIGN.md, Reliability). The record
carries what California Civil Code 1798.90.52 asks of every ALPR access (date
and time, the query, the user and organisation, the purpose) and the case
number the search served.

Contract (other modules rely on it)
-----------------------------------
``AuditLog(path)``
    A JSON Lines file, one record per line. Created on the first write, with
    its folder.
``AuditLog.record(*, user, action, parameters, reason, case_number, result_count,
role=None, client=None, organisation=None) -> dict``
    Appends one record and returns it as written (with ``seq``, ``record_id``,
    ``time``, ``prev_hash`` and ``hash``). The write is fsynced before the call
    returns; a thread lock plus an ``fcntl`` lock on ``<path>.lock`` make it
    safe for threads, dashboard sessions and pollers writing at once. Raises
    :class:`workbench.errors.AuditError` when the record cannot be written or
    the log's last line is unreadable (searches fail closed). It does *not*
    check the justification: call
    :func:`workbench.governance.policy.require_justification` first.
``AuditLog.records() -> pandas.DataFrame``
    One row per record, columns :data:`COLUMNS` (``time`` tz-aware UTC,
    ``parameters`` a dict per row).
``AuditLog.verify() -> VerifyResult``
    Truthy for an intact log. Otherwise ``first_bad`` is the 0-based position
    of the first bad record (``seq`` as written), ``record_id`` its id when
    readable and ``reason`` what failed: ``hash mismatch`` (the record was
    edited), ``sequence gap`` (one was deleted or records were reordered),
    ``broken chain`` (``prev_hash`` is not the previous record's hash),
    ``unreadable`` (not JSON) or ``truncated`` (fewer records than the head
    anchor says were written: the tail was cut).
``AuditLog.head() -> dict``
    ``{"count", "hash"}`` of the last record: publish it (in a transparency
    report, an e-mail to the oversight board) and pass it back as
    ``verify(anchor=...)`` to detect a log rewritten wholesale.
``default_log()`` / ``set_default_log(log_or_path)``
    The process-wide log: ``$WORKBENCH_AUDIT_LOG`` or ``./audit/audit.jsonl``.

Record fields: ``seq, record_id, time, user, role, organisation, action,
parameters, reason, case_number, result_count, client, prev_hash, hash``.
``hash`` is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of
every other field, ``prev_hash`` included; the first record's ``prev_hash`` is
64 zeros. A sidecar ``<path>.head`` keeps the count and last hash so that a cut
tail is caught too.

What this is not: a hash chain shows that records were changed, not who changed
them; someone able to rewrite the whole file and its head can forge a consistent
log, which is what the published anchor (``head()``) is for.

Example
-------
>>> import tempfile, pathlib
>>> log = AuditLog(pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl")
>>> rec = log.record(user="jdoe", action="plate_search", parameters={"plate": "ABC1*"},
...                  reason="robbery follow-up", case_number="25-001234", result_count=3)
>>> bool(log.verify()), len(log.records())
(True, 1)
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import math
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from workbench.errors import AuditError

GENESIS_HASH = "0" * 64
DEFAULT_PATH = Path("audit") / "audit.jsonl"
COLUMNS = ["seq", "record_id", "time", "user", "role", "organisation", "action", "parameters",
           "reason", "case_number", "result_count", "client", "prev_hash", "hash"]

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _jsonable(value):
    """Turn ``value`` into plain JSON types, so that what is hashed is what is stored."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, (dt.datetime, dt.date, pd.Timestamp)):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return _jsonable(value.item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "tolist"):  # numpy arrays, pandas Index
        return _jsonable(value.tolist())
    return str(value)


def canonical_json(record: dict) -> str:
    """The canonical serialisation hashed for a record (sorted keys, compact, UTF-8)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def record_hash(record: dict) -> str:
    """SHA-256 (hex) of every field of ``record`` except ``hash``."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :meth:`AuditLog.verify`; truthy when the log is intact.

    Attributes
    ----------
    ok : bool
    n_records : int
        Lines read from the log.
    first_bad : int or None
        0-based position of the first bad record (its expected ``seq``).
    record_id : str or None
        ``record_id`` of that record, when it could be read.
    reason : str
        What failed, in words ("hash mismatch: ..."), or "intact".
    head_hash : str
        Hash of the last record (``GENESIS_HASH`` for an empty log).
    """

    ok: bool
    n_records: int
    first_bad: int | None = None
    record_id: str | None = None
    reason: str = "intact"
    head_hash: str = GENESIS_HASH

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            return f"audit log intact: {self.n_records:,} records, head {self.head_hash[:16]}"
        rid = f" (record_id {self.record_id})" if self.record_id else ""
        return f"audit log NOT intact: record {self.first_bad}{rid}: {self.reason}"


class AuditLog:
    """Append-only, SHA-256 hash-chained audit log in a JSON Lines file.

    Parameters
    ----------
    path : str or Path
        The log file (``.jsonl``); created with its folder on the first record.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = AuditLog(pathlib.Path(tempfile.mkdtemp()) / "a.jsonl")
    >>> _ = log.record(user="u", action="hotlist_check", parameters={}, reason="stolen car",
    ...                case_number=None, result_count=0)
    >>> log.verify().n_records
    1
    """

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @property
    def head_path(self) -> Path:
        return self.path.with_name(self.path.name + ".head")

    def _thread_lock(self) -> threading.Lock:
        key = str(self.path.resolve())
        with _thread_locks_guard:
            return _thread_locks.setdefault(key, threading.Lock())

    # -- writing -----------------------------------------------------------------------------

    def record(self, *, user, action, parameters, reason, case_number, result_count,
               role=None, client=None, organisation=None) -> dict:
        """Append one record, fsync it, and return it as written.

        Parameters
        ----------
        user : str
            Who searched (username).
        action : str
            What was done: ``plate_search``, ``vehicles_near``, ``convoys``,
            ``hotlist_check``, ``retention_purge`` ...
        parameters : dict
            The query as given (plate pattern, area, time window ...). Any
            value that is not JSON is stored as its ISO text or ``str``.
        reason : str or None
            The purpose of the search.
        case_number : str or None
            The case the search served.
        result_count : int or None
            Rows (reads, vehicles ...) the search returned.
        role, client, organisation : str, optional
            The user's role, the client (``api``, ``dashboard:vehicle``,
            ``cli``, a host) and the agency.

        Returns
        -------
        dict
            The record, including ``seq``, ``record_id``, ``time``,
            ``prev_hash`` and ``hash``.

        Raises
        ------
        AuditError
            The log could not be written, or its last record is unreadable.
        """
        body = _jsonable({
            "record_id": uuid.uuid4().hex,
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
            "user": user, "role": role, "organisation": organisation, "action": action,
            "parameters": dict(parameters or {}), "reason": reason, "case_number": case_number,
            "result_count": None if result_count is None else int(result_count),
            "client": client,
        })
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._thread_lock(), open(self.lock_path, "a") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                try:
                    return self._append_locked(body)
                finally:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from exc

    def _append_locked(self, body: dict) -> dict:
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            last = _last_line(fd)
            if last is None:
                seq, prev = 0, GENESIS_HASH
            else:
                try:
                    prev_record = json.loads(last)
                    seq, prev = int(prev_record["seq"]) + 1, str(prev_record["hash"])
                except (ValueError, KeyError, TypeError):
                    raise AuditError(f"the audit log {self.path} ends in an unreadable record; "
                                     "nothing more is written until it is examined "
                                     "(workbench audit verify)") from None
            record = {"seq": seq, **body, "prev_hash": prev}
            record["hash"] = record_hash(record)
            line = (canonical_json(record) + "\n").encode("utf-8")
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)
        self._write_head(seq + 1, record["hash"])
        return record

    def _write_head(self, count: int, head_hash: str) -> None:
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"count": count, "hash": head_hash}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.head_path)
        _fsync_dir(self.path.parent)

    # -- reading -----------------------------------------------------------------------------

    def _lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n") for line in f if line.strip()]

    def records(self) -> pd.DataFrame:
        """All records as a DataFrame (columns :data:`COLUMNS`; unreadable lines skipped).

        Returns
        -------
        pandas.DataFrame
            ``time`` is tz-aware UTC; ``parameters`` holds one dict per row.
        """
        rows = []
        for line in self._lines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
        frame = pd.DataFrame(rows, columns=COLUMNS)
        frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
        frame["seq"] = frame["seq"].astype("int64")
        frame["result_count"] = frame["result_count"].astype("Int64")
        return frame

    def head(self) -> dict:
        """``{"count": n, "hash": last_hash}`` of the log as it is now (the anchor to publish)."""
        result = self.verify()
        return {"count": result.n_records, "hash": result.head_hash}

    def _stored_head(self) -> dict | None:
        try:
            with open(self.head_path, encoding="utf-8") as f:
                head = json.load(f)
            return {"count": int(head["count"]), "hash": str(head["hash"])}
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def verify(self, anchor: dict | None = None) -> VerifyResult:
        """Check every record's hash, the chain and the sequence; name the first bad record.

        Parameters
        ----------
        anchor : dict, optional
            A head published earlier (``{"count", "hash"}`` from :meth:`head`):
            record ``count - 1`` must still carry that hash. Without it the
            sidecar ``<path>.head`` written with every record is used.

        Returns
        -------
        VerifyResult
            Truthy when intact.
        """
        lines = self._lines()
        prev = GENESIS_HASH
        hashes = []
        for i, line in enumerate(lines):
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError
            except ValueError:
                return VerifyResult(False, len(lines), i, None, "unreadable: the line is not a JSON record", prev)
            rid = rec.get("record_id")
            seq = rec.get("seq")
            if seq != i:
                what = ("a record before it was deleted or records were reordered"
                        if isinstance(seq, int) and seq > i else "records were reordered or duplicated")
                return VerifyResult(False, len(lines), i, rid,
                                    f"sequence gap: expected seq {i}, found {seq} ({what})", prev)
            if rec.get("prev_hash") != prev:
                return VerifyResult(False, len(lines), i, rid,
                                    "broken chain: prev_hash is not the hash of the record before", prev)
            if rec.get("hash") != record_hash(rec):
                return VerifyResult(False, len(lines), i, rid,
                                    "hash mismatch: the record was changed after it was written", prev)
            prev = rec["hash"]
            hashes.append(prev)
        for source, head in (("anchor", anchor), ("head file", None if anchor else self._stored_head())):
            if head is None:
                continue
            count = int(head["count"])
            if count > len(hashes):
                return VerifyResult(False, len(lines), len(hashes), None,
                                    f"truncated: the {source} says {count:,} records were written, "
                                    f"the log holds {len(hashes):,}", prev)
            if count > 0 and hashes[count - 1] != head["hash"]:
                return VerifyResult(False, len(lines), count - 1, None,
                                    f"hash mismatch: record {count - 1} differs from the {source}", prev)
        return VerifyResult(True, len(lines), head_hash=prev)


def _last_line(fd: int) -> str | None:
    """The last non-empty line of the open file ``fd``, or None when it is empty."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    block, data = 4096, b""
    while True:
        start = max(0, size - block)
        data = os.pread(fd, size - start, start)
        stripped = data.rstrip(b"\n")
        cut = stripped.rfind(b"\n")
        if cut >= 0 or start == 0:
            tail = stripped[cut + 1:]
            return tail.decode("utf-8", errors="replace") if tail.strip() else None
        block *= 4


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_default_log: AuditLog | None = None
_default_guard = threading.Lock()


def default_log() -> AuditLog:
    """The process-wide audit log: ``$WORKBENCH_AUDIT_LOG`` or ``./audit/audit.jsonl``.

    Returns
    -------
    AuditLog
        The log set by :func:`set_default_log`, else one at the environment's path.
    """
    global _default_log
    with _default_guard:
        if _default_log is None:
            _default_log = AuditLog(os.environ.get("WORKBENCH_AUDIT_LOG") or DEFAULT_PATH)
        return _default_log


def set_default_log(log_or_path) -> AuditLog:
    """Make ``log_or_path`` (an :class:`AuditLog` or a path) the process-wide log; return it.

    ``None`` resets to the environment's default.
    """
    global _default_log
    with _default_guard:
        if log_or_path is None:
            _default_log = None
        else:
            _default_log = log_or_path if isinstance(log_or_path, AuditLog) else AuditLog(log_or_path)
    return default_log()
