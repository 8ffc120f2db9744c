"""WSGI and ASGI middlewares that mark request spans during an experiment.

Ordering: these middlewares mark ``trace.get_current_span()``, so they must
run *inside* the OpenTelemetry server instrumentation that creates the
request span::

    app = OpenTelemetryMiddleware(WSGIMiddleware(app))   # ours is the inner one

If ours is outermost there is no current span yet and nothing is marked.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Iterable, MutableMapping, Optional

from opentelemetry import trace

from ._annotations import PathLike
from ._otel import _safe_mark
from ._state import ExperimentState

__all__ = ["ASGIMiddleware", "WSGIMiddleware"]

WSGIEnviron = Dict[str, Any]
WSGIApp = Callable[[WSGIEnviron, Callable[..., Any]], Iterable[bytes]]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class WSGIMiddleware:
    """Mark the current (server) span of each request during an active experiment.

    ``path`` defaults to ``$FAULTLINE_ANNOTATIONS``, then
    ``/var/run/faultline/annotations``; pass ``state`` to share one
    :class:`ExperimentState` between several middlewares.  The wrapped
    application's response iterable is returned untouched.
    """

    def __init__(
        self,
        app: WSGIApp,
        path: Optional[PathLike] = None,
        *,
        state: Optional[ExperimentState] = None,
    ) -> None:
        self.app = app
        self.state = state if state is not None else ExperimentState(path)

    def __call__(self, environ: WSGIEnviron, start_response: Callable[..., Any]) -> Iterable[bytes]:
        _safe_mark(trace.get_current_span(), self.state)
        return self.app(environ, start_response)


class ASGIMiddleware:
    """ASGI counterpart of :class:`WSGIMiddleware` (``http`` and ``websocket`` scopes).

    Compatible with Starlette/FastAPI ``app.add_middleware(ASGIMiddleware)``
    (keyword arguments ``path=``/``state=`` are passed through).  The check
    is one ``os.stat`` per request while the file is unchanged, done
    synchronously on the event loop.
    """

    def __init__(
        self,
        app: ASGIApp,
        path: Optional[PathLike] = None,
        *,
        state: Optional[ExperimentState] = None,
    ) -> None:
        self.app = app
        self.state = state if state is not None else ExperimentState(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in ("http", "websocket"):
            _safe_mark(trace.get_current_span(), self.state)
        await self.app(scope, receive, send)
