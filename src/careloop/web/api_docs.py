"""The interactive API documentation at ``/docs``, served from the installed packages.

Swagger UI's script and stylesheet come from the ``fastapi-offline`` wheel (pinned in
``pyproject.toml``), its start-up script from our own static folder: nothing is loaded from a
CDN, the page works offline and runs under the same Content-Security-Policy as the console
(no inline script). Off in production unless ``web.api_docs`` turns it on, with
``/openapi.json``; see :func:`docs_enabled`.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from careloop.settings import WebSettings

ASSETS_PATH = "/docs/assets"
_ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
_templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))

router = APIRouter(include_in_schema=False)


def docs_enabled(web: WebSettings) -> bool:
    """``web.api_docs`` when set; otherwise on, except in production."""
    return web.api_docs if web.api_docs is not None else not web.production


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    return _templates.TemplateResponse(
        request, "api/docs.html", {"assets": ASSETS_PATH, "title": request.app.title}
    )


def install_api_docs(app: FastAPI) -> None:
    """Add ``/docs`` and its assets to ``app`` (its ``openapi_url`` must be set)."""
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=_ASSETS_DIR), name="docs-assets")
