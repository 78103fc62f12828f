"""The typer application class: logging options and one-line errors instead of tracebacks."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, Any

import typer

from stemtf.errors import StemtfError

_DEBUG_ENV = "STEMTF_DEBUG"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


class StemtfApp(typer.Typer):
    """A Typer app that turns exceptions into one ``error:`` line and a non-zero exit.

    :class:`StemtfError` (bad input the user can fix) exits with 2; any other exception exits
    with 1 and names its type. Set ``STEMTF_DEBUG=1`` to see the full traceback instead.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if os.environ.get(_DEBUG_ENV):
            return super().__call__(*args, **kwargs)
        try:
            # not standalone: click's usage errors reach us instead of being drawn in a box
            standalone = kwargs.get("standalone_mode", True)
            kwargs["standalone_mode"] = False
            rv = super().__call__(*args, **kwargs)
        except typer.TyperException as e:  # a flag or value typer itself refused
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `stemtf`: the help is the answer
                if e.format_message():  # rich mode has printed it already
                    typer.echo(e.format_message(), err=True)
                sys.exit(e.exit_code)
            ctx = getattr(e, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            typer.echo(f"error: {' '.join(e.format_message().split())}{where}", err=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        except StemtfError as e:
            typer.echo(f"error: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            typer.echo("interrupted; rerun the same command to resume", err=True)
            sys.exit(130)
        except MemoryError:
            typer.echo("error: out of memory; try a smaller --chunk or batch size", err=True)
            sys.exit(1)
        except Exception as e:  # noqa: BLE001 - last line of defence for the CLI user
            typer.echo(
                f"error: {type(e).__name__}: {e} (set {_DEBUG_ENV}=1 for the traceback)", err=True
            )
            sys.exit(1)
        if standalone:  # as typer does: the process ends here, with the command's code
            sys.exit(rv if isinstance(rv, int) else 0)  # an int is Exit(code) or --help's 0
        return rv

    @staticmethod
    def root_options(
        verbose: Annotated[
            int, typer.Option("--verbose", "-v", count=True, help="More log output (-v, -vv).")
        ] = 0,
        quiet: Annotated[
            bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")
        ] = False,
    ) -> None:
        """Simulate, denoise and phase-map 4D-STEM electron diffraction."""
        level = logging.WARNING if quiet else (logging.INFO if verbose <= 1 else logging.DEBUG)
        if verbose == 0 and not quiet:
            level = logging.INFO
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        if verbose < 2:
            for noisy in ("tensorflow", "absl", "distributed", "numba", "h5py", "matplotlib"):
                logging.getLogger(noisy).setLevel(logging.WARNING)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if verbose < 2 else "0")
