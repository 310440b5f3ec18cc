"""CLI for key rotation: ``careloop keys re-encrypt`` and ``careloop keys re-index``.

Encryption key: set ``security.encryption_key`` to ``NEW,OLD``, run ``re-encrypt``, drop
``OLD``. Secret key (contact look-up digests, portal contact digests): set the new
``security.secret_key``, run ``re-index`` before serving look-ups again. See docs/security.md.
"""

from __future__ import annotations

import typer

from careloop.audit import AuditAction, Purpose
from careloop.cli.options import DatabaseOption, JsonOption
from careloop.cli.support import audit_cli, command_group, print_json, runtime

keys_app = command_group("Rotate the encryption and look-up keys.")


@keys_app.command("re-encrypt")
def re_encrypt(
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rewrite every encrypted value under the first key of security.encryption_key."""
    from careloop.crypto import keyring_from_settings
    from careloop.errors import InvalidInput
    from careloop.security.key_rotation import reencrypt

    with runtime(database) as rt, rt.transaction() as session:
        ring = keyring_from_settings(rt.settings)
        if not ring.enabled:
            raise InvalidInput("security.encryption_key is not set", field="encryption_key")
        counts = reencrypt(session, ring=ring)
        audit_cli(
            session, rt, AuditAction.UPDATE, "encryption-keys", Purpose.SECURITY, detail=counts
        )
    _report(counts, as_json=as_json, verb="re-encrypted")


@keys_app.command("re-index")
def re_index(
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute contact look-up and portal contact digests under security.secret_key."""
    from careloop.crypto import signing_key
    from careloop.governance.portal import rebuild_portal_digests
    from careloop.records.contacts_index import reindex_all

    with runtime(database) as rt, rt.transaction() as session:
        counts = {
            # The same rebuild as `careloop contacts reindex`: it records the key fingerprint.
            "contact look-up entries": reindex_all(session, now=rt.clock.now()),
            "portal_contacts": rebuild_portal_digests(session, key=signing_key(rt.settings)),
        }
        audit_cli(
            session, rt, AuditAction.UPDATE, "lookup-digests", Purpose.SECURITY, detail=counts
        )
    _report(counts, as_json=as_json, verb="re-indexed")


def _report(counts: dict[str, int], *, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(counts)
        return
    for name, count in counts.items():
        typer.echo(f"{verb} {count} {name}")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
