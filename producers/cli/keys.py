"""`multillm keygen` and `multillm keys set|list|delete|rotate`."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import redis
import typer

from multillm.common.errors import ConfigurationError
from multillm.common.providers import get_spec
from multillm.common.settings import get_settings
from multillm.common.vault import Vault, VaultError, new_master_key
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.client import resolve_redis_url

keys_app = typer.Typer(help="Per-tenant provider keys, encrypted in Redis (AES-256-GCM).", no_args_is_help=True)


def _vault(previous_master: str | None = None) -> Vault:
    settings = get_settings()
    if settings.encryption_master_key is None:
        raise ConfigurationError("ENCRYPTION_MASTER_KEY: not set; make one with `multillm keygen`")
    client = redis.Redis.from_url(resolve_redis_url(None, settings))
    return Vault(client, settings.encryption_master_key.get_secret_value(), previous_master)


def _refuse_broken(broken: dict[str, str], what: str) -> None:
    """Name every entry that could not be read on stderr, then fail the command."""
    for name, why in broken.items():
        typer.echo(f"{name}: {why}", err=True)
    if broken:
        raise VaultError(f"{len(broken)} stored key(s) {what}: {', '.join(broken)}")


@one_line_errors
def keygen() -> None:
    """Print a new 64-hex-character master key for ENCRYPTION_MASTER_KEY.

    Example: export ENCRYPTION_MASTER_KEY=$(multillm keygen)
    """
    typer.echo(new_master_key())


@keys_app.command("set")
@one_line_errors
def set_key(tenant: Annotated[str, typer.Option(help="Tenant id")],
            provider: Annotated[str, typer.Option(help="Provider id")]) -> None:
    """Store a tenant's key, read from a prompt or stdin (never from the command line).

    Example: printf %s "$KEY" | multillm keys set --tenant acme --provider openai
    """
    get_spec(provider)
    secret = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.read().strip()
    if not secret:
        raise ConfigurationError("key: empty")
    _vault().set(tenant, provider, secret)
    typer.echo(f"stored {provider} key for {tenant}")


@keys_app.command("list")
@one_line_errors
def list_keys() -> None:
    """List stored keys, masked; entries that cannot be read are named on stderr (exit 1).

    Example: multillm keys list
    """
    settings = get_settings()
    previous = settings.encryption_master_key_previous
    readable, broken = _vault(previous.get_secret_value() if previous else None).list_masked()
    for tenant, provider, masked in readable:
        typer.echo(f"{tenant}\t{provider}\t{masked}")
    _refuse_broken(broken, "could not be read")


@keys_app.command("delete")
@one_line_errors
def delete_key(tenant: Annotated[str, typer.Option(help="Tenant id")],
               provider: Annotated[str, typer.Option(help="Provider id")]) -> None:
    """Delete a stored key.

    Example: multillm keys delete --tenant acme --provider openai
    """
    typer.echo("deleted" if _vault().delete(tenant, provider) else "no such key")


@keys_app.command("rotate")
@one_line_errors
def rotate() -> None:
    """Re-encrypt every stored key under ENCRYPTION_MASTER_KEY. The previous master key comes from
    ENCRYPTION_MASTER_KEY_PREVIOUS, else from stdin or a prompt. Entries that cannot be read are
    skipped, named on stderr, and make the command exit 1; the others are re-encrypted all the same.

    Example: printf %s "$OLD_MASTER" | ENCRYPTION_MASTER_KEY=$NEW multillm keys rotate
    """
    settings = get_settings()
    previous = settings.encryption_master_key_previous
    if previous is not None:
        old = previous.get_secret_value()
    else:
        old = getpass.getpass("previous master key: ") if sys.stdin.isatty() else sys.stdin.read().strip()
    done = _vault(old or None).rotate()
    typer.echo(f"re-encrypted {done.resealed} keys ({done.current} already current)")
    _refuse_broken(done.broken, "not re-encrypted")
