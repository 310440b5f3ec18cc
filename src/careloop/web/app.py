"""The FastAPI application: one app for the API, the console and the portal.

Routers are listed explicitly in :data:`ROUTER_MODULES`.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from careloop import __version__
from careloop.runtime import Runtime, open_runtime
from careloop.web.api_docs import docs_enabled, install_api_docs
from careloop.web.body_limit import BodySizeLimit
from careloop.web.console.pages import STATIC_DIR
from careloop.web.errors import install_error_handlers
from careloop.web.form_csrf import FormCsrfField
from careloop.web.forwarded import ForwardedClient, ProxyHeader
from careloop.web.metrics import HttpMetrics
from careloop.web.observability import RequestObservability
from careloop.web.security import SecurityHeaders

# Every module with a ``router``, included in this order. Explicit, so a router that fails
# to import stops the app from starting rather than silently disappearing.
ROUTER_MODULES = (
    "careloop.web.health",
    "careloop.web.metrics",
    "careloop.web.landing",
    "careloop.web.api.auth",
    "careloop.web.api.records",
    "careloop.web.api.content",
    "careloop.web.api.personalize",
    "careloop.web.api.insights",
    # -- more domain routers are included here (one line each: "careloop.<domain>.api") --
    "careloop.web.api.fhir_auth",
    "careloop.web.api.fhir_bulk",
    "careloop.web.api.fhir_subscriptions",
    "careloop.web.api.fhir",
    "careloop.web.api.careteam",
    "careloop.web.api.consent",
    "careloop.web.api.portal",
    "careloop.web.api.audit",
    "careloop.web.api.programs",
    "careloop.web.api.webhooks",
    "careloop.web.console.routes",
    "careloop.web.portal.sign_in",
    "careloop.web.portal.home",
    "careloop.web.portal.checkin",
    "careloop.web.portal.readings",
    "careloop.web.portal.preferences",
    "careloop.web.console.appointments",
    "careloop.web.portal.booking",
    "careloop.web.portal.forms",
    "careloop.web.api.loyalty",
    "careloop.web.portal.rewards",
    "careloop.web.api.ride_webhooks",
    "careloop.web.portal.visits",
    "careloop.web.portal.video",
    "careloop.web.portal.medicines",
)


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """Build the app around ``runtime`` (or the configured database)."""
    runtime = runtime or open_runtime()
    with_docs = docs_enabled(runtime.settings.web)
    app = FastAPI(
        title="careloop",
        version=__version__,
        description="Hyper-personalized patient engagement: FHIR in, outreach out, loop closed.",
        # Our own /docs (api_docs: packaged assets, under the CSP); no CDN-loading defaults.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if with_docs else None,
    )
    app.state.runtime = runtime
    app.state.metrics = HttpMetrics(runtime)
    # Innermost: a plain form's csrf_token field becomes the header the routes check.
    app.add_middleware(FormCsrfField)
    app.add_middleware(SecurityHeaders)
    # Added last, so outermost: the body limit runs before any route or authentication.
    app.add_middleware(BodySizeLimit, max_bytes=runtime.settings.web.max_body_bytes)
    # Added last, so it wraps everything: ids and logs also for 413s and errors.
    app.add_middleware(RequestObservability, metrics=app.state.metrics)
    # Outermost of all: everything inside sees the client behind a trusted proxy.
    web = runtime.settings.web
    app.add_middleware(
        ForwardedClient, networks=web.trusted_proxies, header=ProxyHeader(web.proxy_header)
    )
    install_error_handlers(app)

    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if with_docs:
        install_api_docs(app)
    return app
