"""The ``stemtf`` command line: one module per command, composed here.

Command modules import only typer and the standard library at module level; each imports its
stage (TensorFlow, abTEM, ...) inside the command function, so ``stemtf --help`` stays instant.
Register a command by adding one line to ``_COMMANDS`` below.
"""

from __future__ import annotations

import importlib

from stemtf.cli._app import StemtfApp

__all__ = ["app"]

app = StemtfApp(
    name="stemtf",
    help="Simulate, denoise and phase-map 4D-STEM electron diffraction.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # units in brackets ([keV], [mrad]) are text, not markup
)

# (module under stemtf.cli, command name, kind): kind "command" registers module.main as one
# command; kind "group" adds module.app (a typer.Typer) as a sub-command group.
_COMMANDS: list[tuple[str, str, str]] = [
    ("analyze", "analyze", "command"),
    ("build_dataset", "build-dataset", "command"),
    ("materials", "materials", "group"),
    ("simulate", "simulate", "command"),
    ("train", "train", "command"),
    ("export", "export", "command"),
    ("evaluate", "evaluate", "command"),
    ("simulate_scan", "simulate-scan", "command"),
    ("evaluate_phases", "evaluate-phases", "command"),
    ("demo", "demo", "command"),
]


def _register() -> None:
    for module_name, command_name, kind in _COMMANDS:
        module = importlib.import_module(f"stemtf.cli.{module_name}")
        if kind == "group":
            app.add_typer(module.app, name=command_name)
        else:
            app.command(command_name, help=module.main.__doc__)(module.main)


app.callback()(StemtfApp.root_options)
_register()
