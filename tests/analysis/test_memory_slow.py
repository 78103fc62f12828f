"""Peak memory of `stemtf analyze` stays flat in scan size (slow: writes ~0.6 GB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from scene import KINDS, Q_SAMPLING_INVA, pattern  # noqa: E402


def write_tiled_scan(path: Path, shape: tuple[int, int], n_distinct: int = 256, seed: int = 0):
    """A large .npy scan (uint16) tiled from ``n_distinct`` synthetic patterns, row by row."""
    rng = np.random.default_rng(seed)
    kinds = [KINDS[i % 3] for i in range(n_distinct)]
    base = np.stack([pattern(k, rng) for k in kinds]).astype(np.uint16)
    ry, rx = shape
    mm = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.uint16, shape=(ry, rx) + base.shape[1:]
    )
    for r in range(ry):
        mm[r] = base[(r * rx + np.arange(rx)) % n_distinct]
    mm.flush()
    del mm


def peak_rss_mb(args: list[str]) -> tuple[float, dict]:
    """Run ``stemtf analyze`` in a child process; return its peak RSS [MB] and the summary."""
    # VmHWM (peak RSS of this address space) rather than ru_maxrss, which Linux carries over
    # exec from the forked copy of the (large) test process.
    code = (
        "import sys; from stemtf.cli import app\n"
        "try:\n    app(sys.argv[1:], prog_name='stemtf')\n"
        "except SystemExit as e:\n    rc = e.code\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('PEAK_KB', hwm.split()[1])\n"
        "sys.exit(rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    kb = int(out.stdout.split("PEAK_KB")[1].split()[0])
    i = args.index("--out")
    return kb / 1024, json.loads((Path(args[i + 1]) / "summary.json").read_text())


@pytest.mark.slow
def test_peak_memory_flat(tmp_path):
    cal = [
        "--q-sampling-invA",
        str(Q_SAMPLING_INVA),
        "--energy-keV",
        "200",
        "--semiangle-mrad",
        "1",
        "--no-progress",
        "--scheduler",
        "synchronous",
    ]
    results = {}
    for name, shape in (("small", (16, 256)), ("large", (128, 256))):
        f = tmp_path / f"{name}.npy"
        write_tiled_scan(f, shape)
        peak, summary = peak_rss_mb(["analyze", str(f), "--out", str(tmp_path / name), *cal])
        results[name] = (f.stat().st_size / 2**20, peak, summary["dps_per_s"])
        f.unlink()
    print("file MB, peak RSS MB, DP/s:", results)
    small_peak, (large_mb, large_peak, _) = results["small"][1], results["large"]
    assert large_mb > 500
    assert large_peak < small_peak + 100, results


@pytest.mark.slow
def test_sigkill_then_rerun_resumes(tmp_path):
    import os
    import signal
    import time

    f = tmp_path / "scan.npy"
    write_tiled_scan(f, (96, 256))
    out = tmp_path / "out"
    args = [
        "analyze",
        str(f),
        "--out",
        str(out),
        "--q-sampling-invA",
        str(Q_SAMPLING_INVA),
        "--energy-keV",
        "200",
        "--semiangle-mrad",
        "1",
        "--no-progress",
        "--scheduler",
        "synchronous",
        "--chunk",
        "512",
    ]
    code = "import sys; from stemtf.cli import app; app(sys.argv[1:], prog_name='stemtf')"
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stderr=subprocess.PIPE, text=True)
    chunks = out / ".stemtf-work" / "chunks"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and len(list(chunks.glob("*.npz"))) < 5:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(chunks.glob("*.npz"))
    assert 5 <= len(done) < 48  # killed part-way (48 chunks of 2 rows)
    assert not (out / "results.h5").exists() and not (out / "summary.json").exists()
    stamps = {p: p.stat().st_mtime_ns for p in done}
    rerun = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] is True and summary["patterns"] == 96 * 256
