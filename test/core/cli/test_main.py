"""The ``fast-hamer`` dispatcher: --version, -v before or after the sub-command, one-line user errors."""

from __future__ import annotations

import pytest

import fast_hamer_core
from fast_hamer_core.cli import build_parser, main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"fast-hamer {fast_hamer_core.__version__}"


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        (["report", "r.json"], False),
        (["-v", "report", "r.json"], True),
        (["report", "r.json", "-v"], True),
        (["report", "--verbose", "r.json"], True),
    ],
)
def test_verbose_before_or_after_the_subcommand(argv, verbose):
    assert build_parser().parse_args(argv).verbose is verbose


def test_user_error_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fast-hamer report: error: result file not found") and "Traceback" not in err
