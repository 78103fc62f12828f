"""What can be checked of the Dockerfile without a Docker engine.

Stages parse and use the official bases at the versions installed here, every path COPY reads
exists (or is the documented ``stemtf export`` output) and is inside the build context after
.dockerignore, the install command is the README's and the entrypoint runs here.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPORTED = "saved_models/rdunet"  # written by `stemtf export`, carried by the serving stage


def _instructions(text: str) -> list[tuple[str, str]]:
    out, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        line, buf = buf + line, ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def _stages() -> tuple[dict[str, str], list[dict]]:
    args, stages = {}, []
    for keyword, rest in _instructions((REPO / "Dockerfile").read_text()):
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            parts = re.split(r"\s+as\s+", rest, flags=re.IGNORECASE)
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], parts[0])
            stages.append({"name": parts[1] if len(parts) > 1 else None, "base": base, "do": []})
        elif keyword != "ARG":
            stages[-1]["do"].append((keyword, rest))
    return args, stages


def _ignored(path: str) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins, ``!`` re-includes."""
    rules = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for rule in rules:
        negate = rule.startswith("!")
        pattern = rule.lstrip("!")
        hit = any(
            fnmatch.fnmatchcase(p, pattern) or fnmatch.fnmatchcase(p, pattern.replace("**/", ""))
            for p in prefixes
        )
        if hit:
            ignored = not negate
    return ignored


def _stage(name: str) -> dict:
    return next(s for s in _stages()[1] if s["name"] == name)


def test_stages_parse_on_official_bases_at_installed_versions():
    args, stages = _stages()
    assert [s["name"] for s in stages] == ["cpu", "gpu", "serving"]
    tf_version = importlib.metadata.version("tensorflow")
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert [s["base"] for s in stages] == [
        f"python:{py}-slim",
        f"tensorflow/tensorflow:{tf_version}-gpu",
        f"tensorflow/serving:{tf_version}",
    ]
    for stage in stages:
        assert all(
            k in {"ENV", "WORKDIR", "COPY", "RUN", "ENTRYPOINT", "CMD", "EXPOSE"}
            for k, _ in stage["do"]
        )


def test_copied_paths_exist_and_are_in_the_build_context():
    for name in ("cpu", "gpu"):
        copies = [rest for k, rest in _stage(name)["do"] if k == "COPY"]
        assert copies == [". ."]
    # what `pip install -e ".[serving]"` reads from the copied tree
    for path in (
        "setup.cfg",
        "pyproject.toml",
        "README.md",
        "stemtf/__init__.py",
        "stemtf/serving/client.py",
    ):
        assert (REPO / path).is_file() and not _ignored(path), path
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "data/x.h5",
        "runs/r1/ckpt",
        "saved_models/other/1",
    ):
        assert _ignored(path), path
    sources = [shlex.split(rest)[0] for k, rest in _stage("serving")["do"] if k == "COPY"]
    assert sources == [EXPORTED, "deploy/models.config"]
    assert (REPO / "deploy/models.config").is_file() and not _ignored("deploy/models.config")
    assert not _ignored(f"{EXPORTED}/1/saved_model.pb")
    if (REPO / EXPORTED).exists():  # present once `stemtf export` has run here
        assert any((v / "saved_model.pb").is_file() for v in (REPO / EXPORTED).iterdir())


def test_install_command_is_the_readmes_and_the_entrypoint_runs():
    readme = (REPO / "README.md").read_text()
    for name in ("cpu", "gpu"):
        runs = [rest for k, rest in _stage(name)["do"] if k == "RUN"]
        assert runs == ['pip install -e ".[serving]"']  # runtime: no dev extra (pytest, ruff)
        assert runs[0] in readme
        entry = [json.loads(rest) for k, rest in _stage(name)["do"] if k == "ENTRYPOINT"]
        assert entry == [["stemtf"]]
    assert "serving =" in (REPO / "setup.cfg").read_text()
    stemtf = Path(sys.executable).parent / "stemtf"
    if not stemtf.exists():
        pytest.skip("stemtf console script not installed beside this Python")
    done = subprocess.run([str(stemtf), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "4D-STEM" in done.stdout


def test_serving_stage_matches_the_tf_serving_entrypoint_and_models_config():
    from stemtf.serving.models_config import models_config_text

    stage = _stage("serving")
    env = dict(
        kv.split("=", 1) for k, rest in stage["do"] if k == "ENV" for kv in shlex.split(rest)
    )
    assert env == {"MODEL_NAME": "rdunet", "MODEL_BASE_PATH": "/models"}
    copies = dict(shlex.split(rest) for k, rest in stage["do"] if k == "COPY")
    model_dir = f"{env['MODEL_BASE_PATH']}/{env['MODEL_NAME']}"
    assert copies[EXPORTED] == model_dir  # where the image's entrypoint looks for versions
    example = (REPO / "deploy/models.config").read_text()
    assert models_config_text([(env["MODEL_NAME"], model_dir)]) in example
    assert copies["deploy/models.config"] == "/models/models.config"
    assert [rest for k, rest in stage["do"] if k == "EXPOSE"] == ["8500 8501"]
