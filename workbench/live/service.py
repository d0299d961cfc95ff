"""``workbench poll --config sources.yaml``: a set of pollers run as a service.

The configuration names the store and one entry per source::

    store: rtcc.duckdb            # --store overrides
    every: 5s                     # default poll period
    overlap: 60s                  # default re-read window before the watermark
    sources:
      - name: cad
        table: calls
        sql: {url: "postgresql://rtcc@db:5432/cad", table: calls, updated_col: updated_at}
      - name: shotspotter
        table: gunshots
        every: 2s
        http: {url: "http://127.0.0.1:8765/resource/gunshots.json", updated_col: detected_at}
      - name: alpr-drops
        table: alpr_reads
        directory: {path: /srv/drops/alpr, pattern: "*.csv", profile: canonical}

``key`` defaults to the table's key and ``updated_col`` to ``updated_at`` when
the table has one, else its time column.
"""

from __future__ import annotations

import threading
from pathlib import Path

import yaml

from workbench.data.schema import table_spec
from workbench.errors import SourceError, WorkbenchError
from workbench.live.http_source import HttpJsonSource
from workbench.live.poller import Backoff, Poller, parse_period
from workbench.live.sources import DirectorySource, SqlSource

_KINDS = ("sql", "http", "directory")


def load_config(path) -> dict:
    """Read and check a sources.yaml; errors name the entry and the problem."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SourceError(f"no config file at {path}") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(config, dict) or not isinstance(config.get("sources"), list) or not config["sources"]:
        raise SourceError(f"{path}: expected a mapping with a non-empty 'sources' list")
    names = set()
    for i, entry in enumerate(config["sources"], 1):
        if not isinstance(entry, dict) or "table" not in entry:
            raise SourceError(f"{path}: source {i} needs a 'table'")
        kinds = [k for k in _KINDS if k in entry]
        if len(kinds) != 1:
            raise SourceError(f"{path}: source {i} ({entry.get('name', entry['table'])}) needs exactly one of "
                              f"{', '.join(_KINDS)}")
        entry.setdefault("name", f"{entry['table']}-{kinds[0]}")
        if entry["name"] in names:
            raise SourceError(f"{path}: two sources are named {entry['name']!r}")
        names.add(entry["name"])
    return config


def build_source(entry: dict):
    """The Source object for one config entry."""
    spec = table_spec(entry["table"])
    default_updated = "updated_at" if "updated_at" in spec.column_names else spec.time_column
    if "sql" in entry:
        opts = dict(entry["sql"])
        opts.setdefault("key", spec.key[0])
        opts.setdefault("updated_col", default_updated)
        opts.setdefault("table", spec.name)
        return SqlSource(opts.pop("url"), opts.pop("table"), opts.pop("key"), opts.pop("updated_col"),
                         name=entry["name"], **opts)
    if "http" in entry:
        opts = dict(entry["http"])
        opts.setdefault("key", spec.key[0])
        opts.setdefault("updated_col", default_updated)
        return HttpJsonSource(opts.pop("url"), opts.pop("key"), opts.pop("updated_col"), name=entry["name"], **opts)
    opts = dict(entry["directory"])
    return DirectorySource(opts.pop("path"), opts.pop("pattern", "*.csv"), name=entry["name"], **opts)


class PollService:
    """Run one poller per configured source against one store.

    Parameters
    ----------
    config : dict
        As read by :func:`load_config`.
    store : workbench.data.Store
    max_pages : int
        Pages per cycle per poller.

    Examples
    --------
    >>> from workbench.data import Store
    >>> import tempfile
    >>> config = {"sources": [{"name": "drops", "table": "gunshots",
    ...                        "directory": {"path": tempfile.mkdtemp()}}]}
    >>> service = PollService(config, Store(":memory:"))
    >>> [p.name for p in service.pollers]
    ['drops']
    """

    def __init__(self, config: dict, store, max_pages: int = 100):
        self.config = config
        self.store = store
        every = config.get("every", "5s")
        overlap = config.get("overlap", "60s")
        backoff = config.get("backoff", {})
        self.pollers = []
        for entry in config["sources"]:
            try:
                source = build_source(entry)
            except TypeError as exc:
                raise SourceError(f"source {entry['name']}: {exc}") from None
            self.pollers.append(Poller(
                source, store, entry["table"], every=entry.get("every", every),
                overlap=entry.get("overlap", overlap), name=entry["name"], max_pages=max_pages,
                backoff=Backoff(base_s=parse_period(backoff.get("base", "0.5s")),
                                cap_s=parse_period(backoff.get("cap", "60s")))))

    def run_once(self) -> dict:
        """One cycle of every poller (errors reported, not raised): ``{name: PollResult or error text}``."""
        out = {}
        for poller in self.pollers:
            try:
                out[poller.name] = poller.poll_once()
            except WorkbenchError as exc:
                out[poller.name] = str(exc)
        return out

    def run(self, stop: threading.Event, status_every_s: float = 30.0, report=print):
        """Poll in the background until ``stop`` is set; ``report`` a health line per poller now and then."""
        for poller in self.pollers:
            poller.start()
        try:
            while not stop.wait(status_every_s):
                for poller in self.pollers:
                    report(poller.health.summary())
        finally:
            for poller in self.pollers:
                poller.stop()
            for poller in self.pollers:
                report(poller.health.summary())


__all__ = ["PollService", "load_config", "build_source"]
