"""The active-experiment snapshot and its cached, stat-validated reader."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple, Union

from opentelemetry.trace import SpanContext, TraceFlags

from ._annotations import AnnotationParseError, PathLike, parse_annotations

__all__ = [
    "ANNOTATION_PREFIX",
    "DEFAULT_PATH",
    "ENV_PATH",
    "INACTIVE",
    "Experiment",
    "ExperimentLink",
    "ExperimentState",
    "resolve_path",
]

_log = logging.getLogger("faultline_middleware")

#: Environment variable naming the annotations file.
ENV_PATH = "FAULTLINE_ANNOTATIONS"
#: Where the agent writes the file when neither a path nor the env var is given.
DEFAULT_PATH = "/var/run/faultline/annotations"
#: Prefix of the keys the agent owns; every other key in the file is ignored.
ANNOTATION_PREFIX = "chaos.experiment/"

# W3C trace-context traceparent. Version ff is forbidden; future versions may
# append fields after the flags, version 00 may not.
_TRACEPARENT = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[0-9a-zA-Z_.-]*)?"
)


def resolve_path(path: Optional[PathLike] = None) -> str:
    """Return ``path``, else ``$FAULTLINE_ANNOTATIONS``, else :data:`DEFAULT_PATH`."""
    if path is not None:
        return os.fspath(path)
    return os.environ.get(ENV_PATH) or DEFAULT_PATH


def _split_list(value: str) -> Tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",")) if value.strip() else ()


def _parse_traceparent(value: str) -> Optional[SpanContext]:
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_hex, span_hex, flags_hex, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    return SpanContext(
        trace_id=trace_id,
        span_id=span_id,
        is_remote=True,
        trace_flags=TraceFlags(int(flags_hex, 16) & TraceFlags.SAMPLED),
    )


@dataclass(frozen=True)
class ExperimentLink:
    """A link target: the span context of one experiment's span."""

    context: SpanContext
    #: Link attributes (``chaos.experiment.name`` / ``.id`` of that experiment).
    attributes: Mapping[str, str]


@dataclass(frozen=True)
class Experiment:
    """Immutable snapshot of the ``chaos.experiment/*`` annotations.

    The string fields hold the raw file values; with several concurrent
    experiments ``name``, ``id``, ``traceparent`` and ``interface`` are
    comma-separated lists in the same order (see the ``names``/``ids``/...
    tuples).  Everything a request needs (span attributes and link targets)
    is computed once here, when the file is parsed, not per request.
    """

    active: bool
    name: str = ""
    id: str = ""
    traceparent: str = ""
    interface: str = ""
    fault: str = ""
    started_at: str = ""
    ends_at: str = ""
    #: Span attributes to set on request spans (empty when inactive).
    attributes: Mapping[str, Union[str, bool]] = field(default_factory=dict, compare=False)
    #: One link per valid entry of the ``traceparent`` list.
    links: Tuple[ExperimentLink, ...] = field(default=(), compare=False)

    @property
    def names(self) -> Tuple[str, ...]:
        return _split_list(self.name)

    @property
    def ids(self) -> Tuple[str, ...]:
        return _split_list(self.id)

    @property
    def traceparents(self) -> Tuple[str, ...]:
        return _split_list(self.traceparent)

    @property
    def interfaces(self) -> Tuple[str, ...]:
        return _split_list(self.interface)

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str]) -> "Experiment":
        """Build a snapshot from parsed annotations; unrelated keys are ignored.

        The experiment is active only when ``chaos.experiment/active`` is
        ``"true"`` (case-insensitive).  Traceparent entries that are not
        valid W3C traceparents are skipped (no link for them).
        """
        p = ANNOTATION_PREFIX
        if annotations.get(p + "active", "").strip().lower() != "true":
            return INACTIVE
        name = annotations.get(p + "name", "")
        exp_id = annotations.get(p + "id", "")
        traceparent = annotations.get(p + "traceparent", "")

        attributes: Dict[str, Union[str, bool]] = {"chaos.experiment.active": True}
        if name:
            attributes["chaos.experiment.name"] = name
        if exp_id:
            attributes["chaos.experiment.id"] = exp_id

        names, ids = _split_list(name), _split_list(exp_id)
        links = []
        for index, entry in enumerate(_split_list(traceparent)):
            context = _parse_traceparent(entry)
            if context is None:
                _log.debug("faultline: ignoring invalid traceparent %r", entry)
                continue
            link_attributes: Dict[str, str] = {}
            if index < len(names) and names[index]:
                link_attributes["chaos.experiment.name"] = names[index]
            if index < len(ids) and ids[index]:
                link_attributes["chaos.experiment.id"] = ids[index]
            links.append(ExperimentLink(context, link_attributes))

        return cls(
            active=True,
            name=name,
            id=exp_id,
            traceparent=traceparent,
            interface=annotations.get(p + "interface", ""),
            fault=annotations.get(p + "fault", ""),
            started_at=annotations.get(p + "started-at", ""),
            ends_at=annotations.get(p + "ends-at", ""),
            attributes=attributes,
            links=tuple(links),
        )


#: The snapshot used whenever no experiment is active (or the file is bad).
INACTIVE = Experiment(active=False)


class ExperimentState:
    """Cached reader of the annotations file.

    :meth:`current` costs one ``os.stat`` while the file is unchanged: the
    parsed snapshot is cached under ``(st_dev, st_ino, st_mtime_ns,
    st_size)`` and the file is re-read only when that changes (the agent
    replaces the file atomically with ``rename``, so every update gets a new
    inode).  On Kubernetes the path may be the Downward API file, which is a
    symlink into a ``..data`` directory swapped atomically by the kubelet;
    ``os.stat`` follows the symlink, so that works the same way.

    A missing file means "not active".  An unreadable or malformed file is
    also treated as not active and logged once at DEBUG level per file
    version; :meth:`current` never raises.

    ``min_check_interval`` (seconds, default 0) can skip even the ``stat``
    when called again within that interval, trading freshness for cost.

    Instances are thread-safe and can be shared between middlewares.
    """

    def __init__(self, path: Optional[PathLike] = None, *, min_check_interval: float = 0.0) -> None:
        self._path = resolve_path(path)
        self._min_check_interval = float(min_check_interval)
        self._lock = threading.Lock()
        # A single tuple, swapped atomically, so readers never need the lock.
        self._cache: Tuple[object, Experiment] = (object(), INACTIVE)
        self._last_check = float("-inf")
        self._last_logged: object = None
        self.parse_count = 0
        """How many times the file has been read and parsed (for tests/benchmarks)."""

    @property
    def path(self) -> str:
        return self._path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self._path!r})"

    def current(self) -> Experiment:
        """Return the snapshot for the file as it is now (never raises)."""
        if self._min_check_interval > 0.0:
            now = time.monotonic()
            if now - self._last_check < self._min_check_interval:
                return self._cache[1]
            self._last_check = now
        key = self._stat_key()
        cached_key, experiment = self._cache
        if key == cached_key:
            return experiment
        with self._lock:
            cached_key, experiment = self._cache
            if key == cached_key:
                return experiment
            key, experiment = self._load(key)
            self._cache = (key, experiment)
            return experiment

    def refresh(self) -> Experiment:
        """Drop the cache and re-read the file now (ignoring ``min_check_interval``)."""
        with self._lock:
            self._cache = (object(), INACTIVE)
            self._last_check = float("-inf")
        return self.current()

    # -- internals -------------------------------------------------------

    def _stat_key(self) -> object:
        try:
            st = os.stat(self._path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            # Not "missing" and not statable: inactive; cache per error kind.
            key = ("stat-error", type(exc).__name__, exc.errno)
            self._log_once(key, "cannot stat %s: %s", self._path, exc)
            return key
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self, key: object) -> Tuple[object, Experiment]:
        if key is None or (isinstance(key, tuple) and key[0] == "stat-error"):
            return key, INACTIVE  # missing, or not statable (already logged)
        try:
            with open(self._path, "rb") as handle:
                data = handle.read()
                # Key the snapshot by what was actually read: if the file was
                # replaced between stat() and open() the next call re-reads.
                st = os.fstat(handle.fileno())
                key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        except (FileNotFoundError, NotADirectoryError):
            return None, INACTIVE
        except OSError as exc:
            self._log_once(key, "cannot read %s: %s", self._path, exc)
            return key, INACTIVE
        self.parse_count += 1
        try:
            return key, Experiment.from_annotations(parse_annotations(data))
        except (AnnotationParseError, ValueError) as exc:
            self._log_once(key, "malformed annotations file %s, treating as inactive: %s", self._path, exc)
            return key, INACTIVE

    def _log_once(self, key: object, message: str, *args: object) -> None:
        if key != self._last_logged:
            self._last_logged = key
            _log.debug("faultline: " + message, *args)
