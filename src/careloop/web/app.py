"""The FastAPI application: one app for the API, the console and the portal.

Routers are listed explicitly in :func:`create_app`; a router that fails to import stops the
app from starting rather than silently disappearing.
"""

from __future__ import annotations

from fastapi import FastAPI

from careloop import __version__
from careloop.runtime import Runtime, open_runtime
from careloop.web.errors import install_error_handlers
from careloop.web.security import BodySizeLimit, SecurityHeaders


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """Build the app around ``runtime`` (or the configured database)."""
    runtime = runtime or open_runtime()
    app = FastAPI(
        title="careloop",
        version=__version__,
        description="Hyper-personalized patient engagement: FHIR in, outreach out, loop closed.",
    )
    app.state.runtime = runtime
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodySizeLimit, max_bytes=runtime.settings.web.max_body_bytes)
    install_error_handlers(app)

    from careloop.governance.api import router as auth_router
    from careloop.records.api import router as records_router
    from careloop.web.health import router as health_router

    for router in (health_router, auth_router, records_router):
        app.include_router(router)
    # -- more domain routers are included here (one line each) --
    return app
