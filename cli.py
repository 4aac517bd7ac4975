"""The `voxseal` command: one click group; each package contributes its commands.

Every package keeps its commands in `<package>/commands.py` exposing `COMMANDS`
(a list of click commands or groups). Errors raised by the library carry an
`exit_code` attribute; they are printed as one line, never as a traceback
(set VOXSEAL_DEBUG=1 to see the traceback).
"""
from __future__ import annotations

import importlib
import os
import sys

import click

COMMAND_MODULES = [
    "synth.commands",
    "provenance.commands",
    "verify.commands",
    "verify.eval_commands",
]


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("voxseal: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # one line for the user, the traceback only on request
            if os.environ.get("VOXSEAL_DEBUG"):
                raise
            code = getattr(exc, "exit_code", None)
            if isinstance(code, int) and code > 0:
                click.echo(f"voxseal: error: {exc}", err=True)
                sys.exit(code)
            click.echo(f"voxseal: internal error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(70)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="voxseal")
def main() -> None:
    """VoxSeal: watermarked codec-token speech and signed provenance.

    \b
    Typical flow:
      voxseal init                       create keys, registry and log
      voxseal generate "Hello." -o a.wav  speak with a watermark and a manifest
      voxseal verify a.wav               verdict with a p-value
    """


for _name in COMMAND_MODULES:
    for _cmd in importlib.import_module(_name).COMMANDS:
        main.add_command(_cmd)


if __name__ == "__main__":
    main()
