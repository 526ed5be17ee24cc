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
from multillm.common.vault import Vault, new_master_key
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.client import resolve_redis_url

keys_app = typer.Typer(help="Per-tenant provider keys, encrypted in Redis (AES-256-GCM).", no_args_is_help=True)


def _vault(old_master: str | None = None) -> Vault:
    settings = get_settings()
    if settings.encryption_master_key is None:
        raise ConfigurationError("ENCRYPTION_MASTER_KEY: not set; make one with `multillm keygen`")
    client = redis.Redis.from_url(resolve_redis_url(None, settings))
    return Vault(client, settings.encryption_master_key.get_secret_value(), old_master)


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
    """List stored keys, masked.

    Example: multillm keys list
    """
    for tenant, provider, masked in _vault().list_masked():
        typer.echo(f"{tenant}\t{provider}\t{masked}")


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
    """Re-encrypt every stored key under ENCRYPTION_MASTER_KEY; the old master key is read from stdin.

    Example: printf %s "$OLD_MASTER" | ENCRYPTION_MASTER_KEY=$NEW multillm keys rotate
    """
    old = getpass.getpass("old master key: ") if sys.stdin.isatty() else sys.stdin.read().strip()
    typer.echo(f"re-encrypted {_vault(old or None).rotate()} keys")
