"""Shared helpers for the command-line tests (imported by test_cli.py and test_calibration.py)."""

from __future__ import annotations

from bubble_abm.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``bubble-abm ARGV`` in-process; return the exit code, stdout and stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_usage_error(code: int, err: str, *needles: str) -> None:
    """Exit code 2, an ``error:`` line naming every needle, and no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    assert "error:" in err
    for needle in needles:
        assert needle in err, f"{needle!r} not in stderr:\n{err}"
