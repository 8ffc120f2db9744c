"""faultline_middleware: tag OpenTelemetry request spans with the active faultline experiment.

The faultline agent publishes the active chaos experiment as
``chaos.experiment/*`` annotations in a Downward-API-format file.  While an
experiment is active, request spans get ``chaos.experiment.active``,
``chaos.experiment.name``, ``chaos.experiment.id`` and a link to the
experiment's span; outside an experiment nothing is touched.

Entry points:

* :class:`WSGIMiddleware`, :class:`ASGIMiddleware` -- wrap your app *inside*
  the OpenTelemetry WSGI/ASGI instrumentation.
* :func:`request_hook` -- for the ``request_hook``/``server_request_hook`` of
  OpenTelemetry instrumentations (Flask, FastAPI, ...).
* :func:`mark_current_span` -- call it yourself in a handler.
* :func:`read_annotations`, :class:`ExperimentState` -- the parser and the
  cached reader underneath.
"""

from ._annotations import AnnotationParseError, parse_annotations, read_annotations, unquote_go
from ._middleware import ASGIMiddleware, WSGIMiddleware
from ._otel import default_state, mark_current_span, mark_span, request_hook
from ._state import (
    ANNOTATION_PREFIX,
    DEFAULT_PATH,
    ENV_PATH,
    INACTIVE,
    Experiment,
    ExperimentLink,
    ExperimentState,
    resolve_path,
)

__version__ = "0.1.0"

__all__ = [
    "ANNOTATION_PREFIX",
    "ASGIMiddleware",
    "AnnotationParseError",
    "DEFAULT_PATH",
    "ENV_PATH",
    "Experiment",
    "ExperimentLink",
    "ExperimentState",
    "INACTIVE",
    "WSGIMiddleware",
    "default_state",
    "mark_current_span",
    "mark_span",
    "parse_annotations",
    "read_annotations",
    "request_hook",
    "resolve_path",
    "unquote_go",
]
