"""Marking OpenTelemetry spans with the active experiment."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional, Set

from opentelemetry import trace
from opentelemetry.trace import Span

from ._state import Experiment, ExperimentState

__all__ = ["default_state", "mark_current_span", "mark_span", "request_hook"]

_log = logging.getLogger("faultline_middleware")
_logged: Set[str] = set()
_default_state: Optional[ExperimentState] = None
_default_lock = threading.Lock()


def _debug_once(key: str, message: str, *args: object) -> None:
    if key not in _logged:
        _logged.add(key)
        _log.debug("faultline: " + message, *args)


def default_state() -> ExperimentState:
    """The process-wide :class:`ExperimentState` for the default path.

    The path is resolved on first use (``$FAULTLINE_ANNOTATIONS``, else
    ``/var/run/faultline/annotations``).
    """
    global _default_state
    if _default_state is None:
        with _default_lock:
            if _default_state is None:
                _default_state = ExperimentState()
    return _default_state


def mark_span(span: Span, experiment: Experiment) -> bool:
    """Mark ``span`` with ``experiment`` if it is active; return whether it did.

    Sets ``chaos.experiment.active=True``, ``chaos.experiment.name`` and
    ``chaos.experiment.id`` (comma lists as in the file when several
    experiments are active) and adds one link per experiment traceparent via
    ``Span.add_link`` (opentelemetry-api >= 1.23; skipped on older APIs).
    Does nothing for an inactive experiment, for a non-recording span, or for
    a span that is already marked (so stacking a middleware and a hook does
    not duplicate links).
    """
    if not experiment.active or not span.is_recording():
        return False
    existing = getattr(span, "attributes", None)  # SDK spans expose this
    if existing is not None and "chaos.experiment.active" in existing:
        return False
    span.set_attributes(experiment.attributes)
    if experiment.links:
        add_link: Optional[Callable[..., None]] = getattr(span, "add_link", None)
        if add_link is None:
            _debug_once(
                "no-add-link",
                "Span.add_link unavailable (opentelemetry-api < 1.23); experiment links skipped",
            )
        else:
            for link in experiment.links:
                add_link(link.context, dict(link.attributes))
    return True


def _safe_mark(span: Span, state: ExperimentState) -> None:
    try:
        mark_span(span, state.current())
    except Exception as exc:  # never fail the request because of chaos metadata
        _debug_once("mark-failed:" + type(exc).__name__, "marking span failed: %r", exc)


def mark_current_span(state: Optional[ExperimentState] = None) -> None:
    """Mark the current span (``trace.get_current_span()``) if an experiment is active.

    For frameworks where a WSGI/ASGI middleware does not run inside the
    request span (e.g. Flask with ``FlaskInstrumentor``, which starts its span
    in a ``before_request`` hook): call this from your handler or from a
    later hook.  Uses :func:`default_state` unless ``state`` is given.  Never
    raises, and deliberately returns ``None`` so it is safe to use as a Flask
    ``before_request`` function.
    """
    _safe_mark(trace.get_current_span(), state if state is not None else default_state())


def request_hook(state: Optional[ExperimentState] = None) -> Callable[..., None]:
    """Return a ``hook(span, *args)`` for OpenTelemetry instrumentations' request hooks.

    Works as ``request_hook`` of ``opentelemetry-instrumentation-wsgi`` /
    ``-flask`` (called with ``(span, environ)``) and as
    ``server_request_hook`` of ``-asgi`` / ``-fastapi`` / ``-starlette``
    (called with ``(span, scope)``): the hook receives the server span
    directly, so ordering does not matter.
    """
    chosen = state

    def hook(span: Span, *_args: Any, **_kwargs: Any) -> None:
        _safe_mark(span, chosen if chosen is not None else default_state())

    return hook
