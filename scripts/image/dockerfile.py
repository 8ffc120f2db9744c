#!/usr/bin/env python3
"""What the repository's Dockerfile says the runtime image is, read from its text.

One reader for the two image scripts, so the Dockerfile stays the owner of these facts:
scripts/image-build takes the runtime libraries from it, scripts/image-test compares the built
image with all of it. Only the instructions this project's Dockerfile uses are understood; anything
unexpected is an error rather than a guess.

Usage: scripts/image/dockerfile.py packages|json [DOCKERFILE]
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class RuntimeStage:
    """The last stage: the image users run."""

    base: str                      # FROM, with ARG defaults substituted
    packages: list[str]            # apt-get install in the runtime stage
    files: dict[str, str] = field(default_factory=dict)  # image path -> mode, from the build stage
    stripped: list[str] = field(default_factory=list)    # image paths the build stage strips
    user: str | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        result.append((keyword.upper(), rest.strip()))
        current = ""
    return result


def exec_form(argument: str) -> list[str]:
    value = json.loads(argument)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected the exec (JSON) form, got {argument}")
    return value


def parse(path: Path) -> RuntimeStage:
    args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(path.read_text()):
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            stages.append([(keyword, rest)])
        elif stages:
            stages[-1].append((keyword, rest))
    if len(stages) < 2:
        raise ValueError(f"{path}: expected a build stage and a runtime stage")
    build, runtime = stages[-2], stages[-1]

    base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), runtime[0][1].split()[0])
    stage = RuntimeStage(base=base, packages=[])

    # The build stage installs the binaries under /out and strips them; /out is copied to /.
    out_prefix = None
    for keyword, rest in runtime[1:]:
        if keyword == "COPY":
            words = shlex.split(rest)
            if words[0].startswith("--from=") and len(words) == 3 and words[2] == "/":
                out_prefix = words[1].rstrip("/")
    if out_prefix is None:
        raise ValueError(f"{path}: the runtime stage has no `COPY --from=build /out/ /`")
    for keyword, rest in build:
        if keyword != "RUN":
            continue
        out = re.escape(out_prefix)
        for install in re.finditer(rf"install\s+-D\s+-m\s+(\d+)\s.*?\s{out}(/\S+)", rest):
            mode, target = install.groups()
            stage.files[target] = mode
        for strip in re.finditer(r"\bstrip\s+(\S+)", rest):
            if strip.group(1).startswith(out_prefix + "/"):
                stage.stripped.append(strip.group(1)[len(out_prefix):])

    _read_config(runtime, stage)
    if not stage.packages or not stage.files or stage.entrypoint is None:
        raise ValueError(f"{path}: could not find the runtime packages, files or ENTRYPOINT")
    return stage


def parse_stage(path: Path) -> RuntimeStage:
    """The last stage of a Dockerfile or Containerfile alone: its FROM, packages and config."""
    parsed = instructions(path.read_text())
    stages = [i for i, (keyword, _) in enumerate(parsed) if keyword == "FROM"]
    if not stages:
        raise ValueError(f"{path}: no FROM")
    last = parsed[stages[-1]:]
    stage = RuntimeStage(base=last[0][1].split()[0], packages=[])
    _read_config(last, stage)
    return stage


def _read_config(stage_instructions: list[tuple[str, str]], stage: RuntimeStage) -> None:
    for keyword, rest in stage_instructions[1:]:
        if keyword == "RUN" and "apt-get install" in rest:
            command = rest.split("apt-get install", 1)[1].split("&&", 1)[0]
            stage.packages = [w for w in command.split() if not w.startswith("-")]
        elif keyword == "USER":
            stage.user = rest
        elif keyword == "ENTRYPOINT":
            stage.entrypoint = exec_form(rest)
        elif keyword == "CMD":
            stage.cmd = exec_form(rest)
        elif keyword == "ENV":
            name, _, value = rest.partition("=")
            stage.env[name] = value


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else "json"
    path = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "Dockerfile"
    stage = parse(path)
    if what == "packages":
        print(" ".join(stage.packages))
    elif what == "json":
        print(json.dumps(asdict(stage), indent=2))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
