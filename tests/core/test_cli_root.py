import re
import subprocess
import sys
from pathlib import Path

import pytest
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
    for args, code in ((["--help"], 0), (["materials", "list", "--json"], 0), (["nosuch"], 2)):
        with pytest.raises(SystemExit) as e:
            app(args, prog_name="stemtf")
        assert e.value.code == code, args
    capsys.readouterr()


def test_native_stderr_is_dropped_unless_verbose():
    """C-level writes to fd 2 vanish, Python's stderr stays; -v keeps both."""
    code = (
        "import os, sys\n"
        "from stemtf.cli._app import _verbose_requested, native_stderr_dropped\n"
        "with native_stderr_dropped(not _verbose_requested(sys.argv[1:])):\n"
        "    os.write(2, b'I0000 native start-up line\\n')\n"
        "    print('python line', file=sys.stderr)\n"
        "os.write(2, b'after\\n')\n"
    )
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert quiet.stderr.splitlines() == ["python line", "after"], quiet.stderr
    loud = subprocess.run([sys.executable, "-c", code, "-v"], capture_output=True, text=True)
    assert loud.stderr.splitlines() == ["I0000 native start-up line", "python line", "after"]


def test_tensorflow_start_up_lines_only_with_v(tmp_path):
    """The real command with a real SavedModel: TensorFlow's C++ lines need -v."""
    import numpy as np

    from stemtf.denoise.savedmodel import find_version_dir

    model = find_version_dir(Path(__file__).resolve().parents[2] / "saved_models" / "rdunet")
    if model is None:
        pytest.skip("bundled SavedModel not present")
    rng = np.random.default_rng(0)
    data = rng.poisson(0.5, (2, 2, 32, 32)).astype(np.float32)
    data[..., 16, 16] += 500
    np.save(tmp_path / "s.npy", data)
    args = [
        "analyze",
        str(tmp_path / "s.npy"),
        "--denoise",
        str(model),
        "--no-progress",
        "--q-sampling-invA",
        "0.0125",
        "--energy-keV",
        "200",
        "--semiangle-mrad",
        "1",
    ]
    quiet = _stemtf(*args, "--out", str(tmp_path / "a"))
    loud = _stemtf("-v", *args, "--out", str(tmp_path / "b"))
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr[-500:]
    native = re.compile(r"^[IWE]\d{4} |absl::InitializeLog|cuInit|oneDNN")
    assert not [ln for ln in quiet.stderr.splitlines() if native.search(ln)], quiet.stderr
    assert [ln for ln in loud.stderr.splitlines() if native.search(ln)], loud.stderr
    assert (tmp_path / "a" / "summary.json").is_file() and "wrote" in quiet.stdout


def test_help_keeps_units_in_brackets():
    """Units written [keV], [mrad] in option help are text, not rich markup that vanishes."""
    r = _stemtf("simulate-scan", "--help")
    assert r.returncode == 0, r.stderr
    assert "[keV]" in r.stdout and "[mrad]" in r.stdout
