"""The README's commands work as written.

Every `./parley …` command in README.md (code blocks and inline code) names a subcommand that exists and
only options it takes, with values it accepts; each distinct subcommand answers `--help` through the
`./parley` wrapper itself; no bare `parley …` command (command not found outside an activated
virtualenv) creeps back in. `make demo`'s settings resolve to the fast charter, its own data dir and
ports of its own.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from cli import parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
WRAPPER = ROOT / "parley"
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]+)`")
ENV_PREFIX = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")  # PARLEY_DATA_DIR=var/demo ./parley …


def _strip(line: str) -> str:
    line = re.sub(r"\s#\s.*$", "", line).strip()  # a trailing comment
    return ENV_PREFIX.sub("", line)


def readme_commands() -> list[str]:
    """Each `./parley …` command of the README, continuation lines joined, pipelines split."""
    text = README.read_text(encoding="utf-8")
    found: list[str] = []
    for block in FENCE.findall(text):
        last: int | None = None
        for raw in block.splitlines():
            line = _strip(raw)
            if raw[:1].isspace() and last is not None and line.startswith(("[", "-")):
                found[last] += " " + line  # `./parley users add …` continued on the next line
                continue
            last = None
            for piece in (p.strip() for p in line.split(" | ")):
                if piece.startswith("./parley "):
                    found.append(piece)
                    last = len(found) - 1
    outside = FENCE.sub("", text)
    found += [_strip(span) for span in INLINE.findall(outside) if _strip(span).startswith("./parley ")]
    return [c for c in found if re.match(r"^\./parley [a-z]", c)]  # not the placeholder `./parley …`


def bare_commands() -> list[str]:
    """`parley <subcommand>` written without `./`: command not found unless the venv is activated."""
    text = README.read_text(encoding="utf-8")
    lines = [line for block in FENCE.findall(text) for line in block.splitlines()]
    spans = INLINE.findall(FENCE.sub("", text))
    bare = re.compile(rf"(?:^|[\s|(`])parley (?:{'|'.join(map(re.escape, _subcommands(parser())))})\b")
    return [s.strip() for s in lines + spans if bare.search(s)]  # comments too: `make run  # … then parley up`


def _subcommands(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def resolve(command: str) -> tuple[list[str], argparse.ArgumentParser, list[str]]:
    """The subcommand path, its parser, and the rest of the words; fails on an unknown subcommand."""
    words = command.split()
    assert words[0] == "./parley"
    path: list[str] = []
    current = parser()
    rest = words[1:]
    while (choices := _subcommands(current)):
        assert rest, f"{command!r}: `{' '.join(['parley', *path])}` needs one of {sorted(choices)}"
        assert rest[0] in choices, f"{command!r}: no subcommand {rest[0]!r}; there are {sorted(choices)}"
        path.append(rest[0])
        current = choices[rest[0]]
        rest = rest[1:]
    return path, current, rest


COMMANDS = list(dict.fromkeys(readme_commands()))  # each once, in README order


def test_the_readme_shows_parley_commands() -> None:
    paths = {" ".join(resolve(c)[0]) for c in COMMANDS}
    # the reference list, the production notes, the audit section and the demo all appear
    for expected in ("up", "worker", "api", "migrate", "seed", "users add", "charter validate", "charter show",
                     "charter adopt", "audit verify", "audit digest", "audit export"):
        assert expected in paths, f"`./parley {expected}` is missing from the README's commands"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_readme_command_exists_with_its_options(command: str) -> None:
    _, leaf, rest = resolve(command)
    options = {s: a for a in leaf._actions for s in a.option_strings}
    for i, word in enumerate(rest):
        name = word.strip("[]").split("=", 1)[0]
        if not name.startswith("-"):
            continue
        assert name in options, f"{command!r}: {name} is not an option of this command ({sorted(options)})"
        action = options[name]
        value = rest[i + 1].strip("[]") if i + 1 < len(rest) else ""
        if action.choices is not None and "|" in value:
            for choice in value.split("|"):
                assert choice in action.choices, f"{command!r}: {name} does not accept {choice!r}"


def test_no_readme_command_needs_an_activated_virtualenv() -> None:
    assert bare_commands() == [], "write `./parley …` (the wrapper at the repo root), not `parley …`"


def test_every_readme_subcommand_answers_help_through_the_wrapper(tmp_path: Path) -> None:
    assert os.access(WRAPPER, os.X_OK), "./parley must be executable"
    for path in sorted({tuple(resolve(c)[0]) for c in COMMANDS}):
        # from another directory: the wrapper finds its checkout by itself
        done = subprocess.run([str(WRAPPER), *path, "--help"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f"./parley {' '.join(path)} --help: {done.stderr}"
        assert done.stdout.startswith(f"usage: parley {' '.join(path)}"), done.stdout


def test_the_wrapper_sets_up_the_virtualenv_when_it_is_missing(tmp_path: Path) -> None:
    """In a checkout without .venv, `./parley` runs `make install` first, then the installed command."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy2(WRAPPER, tmp_path / "parley")
    (tmp_path / "Makefile").write_text(  # a stand-in for the real install: it only makes .venv/bin/parley
        "install:\n\tmkdir -p .venv/bin\n\tprintf '#!/bin/sh\\necho \"ran with: $$*\"\\n' > .venv/bin/parley\n"
        "\tchmod +x .venv/bin/parley\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    first = subprocess.run([str(tmp_path / "parley"), "audit", "verify"], cwd=elsewhere, capture_output=True,
                           text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "ran with: audit verify\n"
    assert "make install" in first.stderr
    again = subprocess.run([str(tmp_path / "parley"), "seed"], capture_output=True, text=True, timeout=60)
    assert (again.stdout, again.stderr) == ("ran with: seed\n", "")  # set up once only


def demo_environment() -> dict[str, str]:
    """The PARLEY_* settings `make demo` runs with, read from `make -n demo` (nothing is run)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", "--no-print-directory", "demo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if "-m ops.demo" in line)
    env: dict[str, str] = {}
    for word in shlex.split(line):
        if not re.match(r"^PARLEY_[A-Z_]+=", word):
            break
        name, value = word.split("=", 1)
        env[name] = value
    return env


def test_make_demo_runs_on_the_fast_charter_with_its_own_data_and_ports() -> None:
    env = demo_environment()
    assert Path(env["PARLEY_CHARTER"]) == ROOT / "charters" / "fast.toml"
    assert Path(env["PARLEY_DATA_DIR"]) == ROOT / "var" / "demo"  # not make run's var/
    assert env["PARLEY_HTTP_PORT"] != "8000" and env["PARLEY_TEMPORAL_DEV_PORT"] != "7233"
    assert int(env["PARLEY_HTTP_PORT"]) not in (int(env["PARLEY_TEMPORAL_DEV_PORT"]),
                                                int(env["PARLEY_TEMPORAL_DEV_PORT"]) + 1000)
    # the charter the demo's settings resolve to is valid, and is the fast one
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    done = subprocess.run([str(WRAPPER), "charter", "validate"], env={**clean, **env}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Fast demo charter" in done.stdout
