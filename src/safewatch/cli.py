"""The `safewatch` command.

Commands live next to the code they drive; this module only assembles them. Detection commands (check,
eval, train, models) are defined in `safewatch.commands`; server-side ones (serve, projects, db) in
`safewatch.server.commands`.
"""

from __future__ import annotations

import os

import typer

from safewatch import commands
from safewatch.evals import cli as evals_cli
from safewatch.server import commands as server_commands

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = typer.Typer(
    name="safewatch",
    help="safewatch: detect unsafe content, guard LLM traffic, and watch it over time.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """safewatch: detect unsafe content, guard LLM traffic, and watch it over time."""


# Each module registers its own commands.
for _module in (commands, evals_cli, server_commands):
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
