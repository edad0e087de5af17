"""Helpers shared by the command-line tests: run `neurocc` in-process, check a user error."""

from __future__ import annotations

import pytest

from neurocc.compiler.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code: int, err: str, *needles: str) -> None:
    """Exit 2, exactly one 'error:' line naming the problem, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error: ")]) == 1, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
