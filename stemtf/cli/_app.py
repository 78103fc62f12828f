"""The typer application class: logging options and one-line errors instead of tracebacks.

Without ``-v``, what native libraries write straight to the process's stderr (TensorFlow's C++
start-up lines: absl, oneDNN, CUDA probing) is dropped, while Python's own stderr (errors,
warnings, log lines, progress bars) still reaches the terminal; ``-v`` shows everything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

import typer

from stemtf.errors import StemtfError

_DEBUG_ENV = "STEMTF_DEBUG"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _verbose_requested(argv: Sequence[str]) -> bool:
    """Whether ``-v``/``--verbose`` is among the arguments (before any ``--``)."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--verbose" or re.fullmatch(r"-v+", arg):
            return True
    return False


@contextlib.contextmanager
def native_stderr_dropped(enabled: bool = True) -> Iterator[None]:
    """Drop what native code writes to file descriptor 2; keep Python's ``sys.stderr``.

    ``sys.stderr`` (when it is the process's fd 2) is moved to a duplicate of the terminal's
    descriptor, then fd 2 is pointed at the null device, so C++ logging (TensorFlow, absl,
    CUDA) vanishes while Python's messages do not. Both are restored on exit.
    """
    if not enabled:
        yield
        return
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 to redirect
        yield
        return
    original = sys.stderr
    try:
        real = original.fileno() == 2
    except (AttributeError, OSError, ValueError):
        real = False
    if real:  # Python's stderr keeps the terminal (never closed: log handlers may hold it)
        sys.stderr = os.fdopen(
            os.dup(saved), "w", buffering=1, encoding=original.encoding, errors=original.errors
        )
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr = original


class StemtfApp(typer.Typer):
    """A Typer app that turns exceptions into one ``error:`` line and a non-zero exit.

    :class:`StemtfError` (bad input the user can fix) exits with 2; any other exception exits
    with 1 and names its type. Set ``STEMTF_DEBUG=1`` to see the full traceback instead.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if os.environ.get(_DEBUG_ENV):
            return super().__call__(*args, **kwargs)
        argv = kwargs.get("args", args[0] if args else None)
        argv = sys.argv[1:] if argv is None else list(argv)
        with native_stderr_dropped(not _verbose_requested(argv)):
            return self._run(*args, **kwargs)

    def _run(self, *args: Any, **kwargs: Any) -> Any:
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
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if verbose == 0 else "0")
