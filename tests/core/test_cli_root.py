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
