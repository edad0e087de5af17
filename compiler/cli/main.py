"""The ``neurocc`` command: parse arguments, call the library, report.

Each subcommand is one module of this package that declares a ``COMMAND``
(its options, help and the function that runs it); ``COMMANDS`` lists them in
the order ``neurocc --help`` shows them. The commands parse and render only:
what they run is the library's (``neurocc.compiler.api`` and the passes).

Exit codes: 0 success; 2 a user error (any ``NeuroccError``, a bad argument,
an unreadable file), printed as one ``error: Kind: message`` on stderr with
no traceback unless ``--debug``; 1 (with a traceback) for anything else,
because anything else is a bug in neurocc (and from ``verify`` when the
emulator and Lava disagree, which is one too).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from importlib import metadata

from neurocc import ir

from . import compile as compile_, fit, inspect as inspect_, profile, run, simulate, targets, verify
from .common import Command, UsageError

#: subcommands by name, in the order `neurocc --help` lists them
COMMANDS: dict[str, Command] = {m.COMMAND.name: m.COMMAND for m in (
    inspect_, simulate, targets, compile_, fit, run, verify, profile)}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors raise instead of exiting.

    argparse would print the whole usage block and exit by itself; raising lets
    ``main`` report every user error the same way (one line, exit code 2) and
    lets tests call ``main`` in-process.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the hand-written line breaks of examples."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # "(default: None)" or "(default: False)" teaches nothing; real defaults are shown
        if action.default in (None, False, [], argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def _version() -> str:
    try:
        return metadata.version("neurocc")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser: global flags plus one subparser per command."""
    # --debug is accepted before or after the subcommand; SUPPRESS keeps the
    # subparser from overwriting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback for user errors too")
    parser = _Parser(
        prog="neurocc", formatter_class=_Formatter,
        description="neurocc compiles trained spiking neural networks (NIR graphs) for "
                    "neuromorphic chips, runs the result on a bit-accurate emulator (or on "
                    "Lava), and simulates the float model to give the ground truth a chip "
                    "deployment is checked against.",
        epilog="examples:\n"
               "  neurocc inspect model.nir\n"
               "  neurocc simulate model.nir --dt 1e-4 --random-input 0.1 --steps 100 "
               "--batch 8 -o out.npz\n"
               "  neurocc compile model.nir --target loihi2 --dt 1e-4 -o out/model\n"
               "  neurocc run out/model --input spikes.npy -o res.npz\n"
               "  neurocc verify out/model --random-input 0.1 --steps 100 --batch 16\n\n"
               "Run 'neurocc COMMAND --help' for the options of one command.\n"
               "Exit codes: 0 success, 2 a mistake in the input (one 'error:' line), "
               "1 a bug in neurocc (with a traceback).")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show the full traceback for user errors too")
    parser.add_argument("--version", action="version", version=f"neurocc {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description,
                           epilog=cmd.epilog, formatter_class=_Formatter, parents=[common])
        cmd.add_arguments(p)
        p.set_defaults(run=cmd.run)
    return parser


def _report_user_error(error: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(error)
    print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the ``neurocc`` command with `argv` (default: sys.argv[1:]); return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # --debug must take effect even when parsing itself fails
    debug = "--debug" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help and --version print, then exit 0
        return int(e.code or 0)
    except ir.NeuroccError as e:
        return _report_user_error(e, debug)
    try:
        return int(args.run(args))
    except ir.NeuroccError as e:
        return _report_user_error(e, args.debug)


def console_main() -> None:
    """The ``neurocc`` console script."""
    sys.exit(main())
