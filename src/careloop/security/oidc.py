"""Staff sign-in through an external OpenID Connect provider (optional).

When ``security.oidc.issuer`` is set, a bearer JWT signed by a key of the configured JWKS
(``jwks_url`` or ``jwks_file``), issued by that issuer for our audience and not expired, is
accepted in place of a careloop token. It maps to the local account whose username is the
``username_claim`` (``preferred_username`` by default): roles stay managed in careloop, and
an identity without a local, active account is refused (deny by default).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jwt
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.errors import NotAuthenticated
from careloop.models import User
from careloop.settings import OidcSettings


class OidcVerifier:
    """Verifies ID/access tokens of one provider; keys come from a JWKS URL, file or dict."""

    def __init__(self, settings: OidcSettings, *, jwks: dict[str, Any] | None = None) -> None:
        if not settings.issuer:
            raise ValueError("security.oidc.issuer is not set")
        self.settings = settings
        self._client: jwt.PyJWKClient | None = None
        self._keys: jwt.PyJWKSet | None = None
        if jwks is not None:
            self._keys = jwt.PyJWKSet.from_dict(jwks)
        elif settings.jwks_file is not None:
            self._keys = jwt.PyJWKSet.from_dict(orjson.loads(settings.jwks_file.read_bytes()))
        elif settings.jwks_url:
            self._client = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, timeout=5)
        else:
            raise ValueError("security.oidc needs jwks_url or jwks_file")

    def _key_for(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        assert self._keys is not None
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._keys.keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise NotAuthenticated("invalid token")

    def verify(self, token: str, *, now: datetime) -> dict[str, Any]:
        """The token's claims, or :class:`NotAuthenticated` for any defect."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key_for(token),
                algorithms=self.settings.algorithms,
                audience=self.settings.audience or self.settings.client_id,
                issuer=self.settings.issuer,
                options={"require": ["exp", "iat", "iss"], "verify_exp": False},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise NotAuthenticated("invalid token") from exc
        # Expiry against the injected clock, so frozen-time tests mean what they say.
        if float(claims["exp"]) <= now.timestamp():
            raise NotAuthenticated("invalid or expired token")
        return claims


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith("clt_")


def user_for_claims(session: Session, *, claims: dict[str, Any], username_claim: str) -> User:
    username = claims.get(username_claim)
    if not isinstance(username, str) or not username:
        raise NotAuthenticated("invalid token")
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise NotAuthenticated("invalid token")
    return user
