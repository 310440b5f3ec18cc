"""A Bulk Data client: pull an EHR's ``$export`` with SMART Backend Services auth and save
the NDJSON files for the importer (``careloop import --from-fhir URL``).

The client signs its assertion with its private key (RS384 for RSA keys, ES384 for P-384),
trades it at the token endpoint the server advertises, kicks off the export, polls the
status URL honouring ``Retry-After``, and downloads each file of the manifest.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from careloop.errors import InvalidInput
from careloop.security.smart import ASSERTION_TYPE

FIELD = "from_fhir"
MAX_POLLS = 720


@dataclass(frozen=True)
class BackendCredentials:
    client_id: str
    key_id: str
    private_key_pem: bytes
    scope: str = "system/*.read"


def _signing(pem: bytes) -> tuple[Any, str]:
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise InvalidInput("--key: not an unencrypted PEM private key", field="key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return key, "RS384"
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        return key, "ES384"
    raise InvalidInput("--key: an RSA or P-384 EC key is required", field="key")


def _fail(what: str, response: httpx.Response) -> InvalidInput:
    return InvalidInput(f"--from-fhir: {what} answered HTTP {response.status_code}", field=FIELD)


def token_endpoint(http: httpx.Client, base_url: str) -> str:
    """From ``.well-known/smart-configuration`` (SMART App Launch 2)."""
    answer = http.get(f"{base_url}/.well-known/smart-configuration")
    if answer.status_code != 200:
        raise _fail("smart-configuration", answer)
    url = answer.json().get("token_endpoint")
    if not isinstance(url, str):
        raise InvalidInput("--from-fhir: the server names no token endpoint", field=FIELD)
    return url


def access_token(
    http: httpx.Client, *, base_url: str, credentials: BackendCredentials, now: datetime
) -> str:
    key, alg = _signing(credentials.private_key_pem)
    url = token_endpoint(http, base_url)
    claims = {
        "iss": credentials.client_id,
        "sub": credentials.client_id,
        "aud": url,
        "exp": int((now + timedelta(minutes=4)).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode(claims, key, algorithm=alg, headers={"kid": credentials.key_id})
    answer = http.post(
        url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            "scope": credentials.scope,
        },
    )
    if answer.status_code != 200:
        raise _fail("the token endpoint", answer)
    return str(answer.json()["access_token"])


def pull_export(
    http: httpx.Client,
    *,
    base_url: str,
    credentials: BackendCredentials,
    now: datetime,
    into: Path,
    types: str | None = None,
    since: str | None = None,
    sleep: Callable[[float], None],
) -> list[Path]:
    """Run a system-level export and save its files in ``into``; return their paths."""
    base_url = base_url.rstrip("/")
    token = access_token(http, base_url=base_url, credentials=credentials, now=now)
    auth = {"Authorization": f"Bearer {token}"}
    params = {k: v for k, v in (("_type", types), ("_since", since)) if v}
    kick_off = http.get(
        f"{base_url}/$export",
        params=params,
        headers=auth | {"Prefer": "respond-async", "Accept": "application/fhir+json"},
    )
    if kick_off.status_code != 202 or "content-location" not in kick_off.headers:
        raise _fail("$export", kick_off)
    status_url = kick_off.headers["content-location"]
    for _ in range(MAX_POLLS):
        status = http.get(status_url, headers=auth)
        if status.status_code == 200:
            break
        if status.status_code != 202:
            raise _fail("the export status", status)
        retry = status.headers.get("retry-after", "5")
        sleep(float(retry) if retry.isdigit() else 5.0)
    else:
        raise InvalidInput("--from-fhir: the export did not finish in time", field=FIELD)
    manifest = status.json()
    files: list[Path] = []
    for n, output in enumerate(manifest.get("output", []), start=1):
        headers = auth if manifest.get("requiresAccessToken", True) else {}
        answer = http.get(output["url"], headers=headers)
        if answer.status_code != 200:
            raise _fail("an export file", answer)
        rtype = "".join(ch for ch in str(output.get("type", "Resource")) if ch.isalnum())
        path = into / f"{rtype}-{n:03d}.ndjson"
        path.write_bytes(answer.content)
        files.append(path)
    return files
