"""CLI for key rotation: ``careloop keys re-encrypt`` and ``careloop keys re-index``.

Encryption key: set ``security.encryption_key`` to ``NEW,OLD``, run ``re-encrypt``, drop
``OLD``. Secret key (contact look-up digests, portal contact digests): set the new
``security.secret_key``, run ``re-index`` before serving look-ups again. See docs/security.md.
"""

from __future__ import annotations

import typer

from careloop.audit import AuditAction, Purpose
from careloop.cli.command import Drawn, Output, Work, in_transaction
from careloop.cli.support import command_group

keys_app = command_group("Rotate the encryption and look-up keys.")


@keys_app.command("re-encrypt")
@in_transaction()
def re_encrypt(work: Work) -> Output:
    """Rewrite every encrypted value under the first key of security.encryption_key."""
    from careloop.crypto import keyring_from_settings
    from careloop.errors import InvalidInput
    from careloop.security.key_rotation import reencrypt

    ring = keyring_from_settings(work.rt.settings)
    if not ring.enabled:
        raise InvalidInput("security.encryption_key is not set", field="encryption_key")
    counts = reencrypt(work.session, ring=ring)
    work.audit(AuditAction.UPDATE, "encryption-keys", Purpose.SECURITY, detail=counts)
    return _report(counts, verb="re-encrypted")


@keys_app.command("re-index")
@in_transaction()
def re_index(work: Work) -> Output:
    """Recompute contact look-up and portal contact digests under security.secret_key."""
    from careloop.crypto import signing_key
    from careloop.governance.portal import rebuild_portal_digests
    from careloop.records.contacts_index import reindex_all

    counts = {
        # The same rebuild as `careloop contacts reindex`: it records the key fingerprint.
        "contact look-up entries": reindex_all(work.session, now=work.now()),
        "portal_contacts": rebuild_portal_digests(work.session, key=signing_key(work.rt.settings)),
    }
    work.audit(AuditAction.UPDATE, "lookup-digests", Purpose.SECURITY, detail=counts)
    return _report(counts, verb="re-indexed")


def _report(counts: dict[str, int], *, verb: str) -> Output:
    return Drawn(counts, lambda: _print_counts(counts, verb))


def _print_counts(counts: dict[str, int], verb: str) -> None:
    for name, count in counts.items():
        typer.echo(f"{verb} {count} {name}")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
