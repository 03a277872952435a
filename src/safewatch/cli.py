"""The `safewatch` command.

Commands live next to the code they drive; this module only assembles them. Detection commands (check,
eval, train, models) are defined in `safewatch.commands`; server-side ones (serve, projects, db) in
`safewatch.server.commands`.
"""

from __future__ import annotations

import importlib
import os

import typer

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


# Each module exposes register(app). A module that is missing (a part not built yet) is skipped.
_COMMAND_MODULES = ("safewatch.commands", "safewatch.evals.cli", "safewatch.server.commands")
for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as exc:
        if exc.name != _name:
            raise
        continue
    _mod.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
