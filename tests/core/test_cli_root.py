import subprocess
import sys

from typer.testing import CliRunner

from stemtf.cli import app


def test_help_imports_no_heavy_stage():
    code = (
        "import sys, stemtf.cli; "
        "print(','.join(m for m in ('tensorflow', 'abtem', 'keras', 'pymatgen') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_runs():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "4D-STEM" in result.output


def _stemtf(*args: str) -> subprocess.CompletedProcess:
    """The CLI as a user runs it (the real entry point, so exit codes and stderr are real)."""
    code = "import sys; from stemtf.cli import app; app(sys.argv[1:], prog_name='stemtf')"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


def test_usage_errors_are_one_line_naming_the_parameter(tmp_path):
    cases = {
        ("analyze", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "o")): "'INPUT'",
        ("train", "--strategy", "nope", "--data-dir", str(tmp_path)): "'--strategy'",
        ("analyze",): "Missing argument 'INPUT'",
        ("simulate", "--bogus"): "--bogus",
        ("nosuch",): "No such command 'nosuch'",
    }
    for args, named in cases.items():
        p = _stemtf(*args)
        assert p.returncode == 2, (args, p.stderr)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, (args, p.stderr)
        assert lines[0].startswith("error: ") and named in lines[0], (args, lines)
        assert "Traceback" not in p.stderr and "╭" not in p.stderr
        assert not (tmp_path / "o").exists()


def test_help_and_bare_command_exit_codes():
    assert _stemtf("--help").returncode == 0
    assert _stemtf("analyze", "--help").returncode == 0
    bare = _stemtf()
    assert bare.returncode == 2 and "Usage" in bare.stdout + bare.stderr


def test_in_process_call_exits_like_typer(capsys):
    # scripts that call app(...) in-process rely on SystemExit carrying the exit code
    import pytest

    for args, code in ((["--help"], 0), (["materials", "list", "--json"], 0), (["nosuch"], 2)):
        with pytest.raises(SystemExit) as e:
            app(args, prog_name="stemtf")
        assert e.value.code == code, args
    capsys.readouterr()
