"""`multillm conversations list|show|fork|delete`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from multillm.common.errors import ConfigurationError
from multillm.producers.cli.chat import open_client
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.cli.output import console, print_json

conversations_app = typer.Typer(help="Conversations kept by id: read, list, fork at a turn, delete.",
                                no_args_is_help=True)
Tenant = Annotated[str, typer.Option(help="The tenant the conversation belongs to")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON document")]


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


@conversations_app.command("list")
@one_line_errors
def list_(tenant: Tenant = "default", as_json: AsJson = False) -> None:
    """The tenant's conversations, most recently used first.

    Example: multillm conversations list --tenant acme
    """
    with open_client() as client:
        found = client.list_conversations(tenant)
    if as_json:
        print_json({"tenant": tenant, "conversations": [c.model_dump(mode="json", exclude={"history"}) for c in found]})
        return
    table = Table(title=f"Conversations of {tenant}")
    for column in ("id", "turns", "created", "updated", "last job"):
        table.add_column(column)
    for c in found:
        table.add_row(c.id, str(c.turns), _when(c.created_at), _when(c.updated_at), c.last_job or "-")
    console().print(table)


@conversations_app.command("show")
@one_line_errors
def show(conversation_id: str, tenant: Tenant = "default", as_json: AsJson = False) -> None:
    """Every turn of a conversation: the messages sent and the answer.

    Example: multillm conversations show c-42 --json
    """
    with open_client() as client:
        found = client.conversation(conversation_id, tenant)
    if as_json:
        print_json(found.model_dump(mode="json", exclude_defaults=True))
        return
    for number, turn in enumerate(found.history, 1):
        typer.echo(f"--- turn {number}: {turn.provider}/{turn.model} (job {turn.job_id}, {_when(turn.at)})")
        for message in turn.all_messages():
            calls = "".join(f" [tool call {c.id}: {c.name}({c.arguments})]" for c in message.tool_calls)
            answered = f" [result of {message.tool_call_id}]" if message.tool_call_id else ""
            typer.echo(f"{message.role}:{answered} {message.text()}{calls}")


@conversations_app.command("fork")
@one_line_errors
def fork(conversation_id: str, new_id: Annotated[str, typer.Argument(help="Id of the new conversation")],
         turn: Annotated[int | None, typer.Option(help="Keep turns 1..TURN; default: all")] = None,
         tenant: Tenant = "default") -> None:
    """Start a new conversation from the first turns of another.

    Example: multillm conversations fork c-42 c-42-b --turn 3
    """
    with open_client() as client:
        made = client.fork_conversation(conversation_id, new_id, at_turn=turn, tenant=tenant)
    typer.echo(f"{made.id}: {made.turns} turns from {conversation_id}")


@conversations_app.command("delete")
@one_line_errors
def delete(conversation_id: str, tenant: Tenant = "default") -> None:
    """Delete a conversation and its history.

    Example: multillm conversations delete c-42
    """
    with open_client() as client:
        if not client.delete_conversation(conversation_id, tenant):
            raise ConfigurationError(f"conversation {conversation_id}: not found")
    typer.echo("deleted")
