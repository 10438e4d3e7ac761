"""Secrets for `deskhand connect` without putting them on the command line (issue 14, finding 6).

Arguments are visible to every user of the machine (`ps`, /proc/*/cmdline, shell history), so a
connection value may also come from:

- standard input: `--api-token -` reads one line from stdin (one value per run);
- a named environment variable: `--api-token-env MY_TOKEN_VAR`;
- `DESKHAND_<FIELD>` (e.g. `DESKHAND_API_TOKEN`, `DESKHAND_WEBHOOK_SECRET`) for a secret field the
  command line does not give.

`resolve` rewrites the arguments into the plain `--field value` form the connection parser reads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import IO, Any

from deskhand.errors import DeskhandError


def resolve(
    args: list[str], fields: dict[str, Any], *, env: Mapping[str, str] | None = None, stdin: IO[str] | None = None
) -> list[str]:
    env = os.environ if env is None else env
    out: list[str] = []
    given: set[str] = set()
    read_stdin = False
    it = iter(args)
    for arg in it:
        if not arg.startswith("--"):
            out.append(arg)
            continue
        key, eq, value = arg[2:].partition("=")
        if not eq:
            value = next(it, "")
        field = key.replace("-", "_")
        if field.endswith("_env") and field[: -len("_env")] in fields:
            field = field[: -len("_env")]
            if value not in env or not env[value]:
                raise DeskhandError(f"--{key} names the environment variable {value!r}, which is not set")
            value = env[value]
        elif value == "-" and field in fields:
            if read_stdin:
                raise DeskhandError("only one connection value can be read from stdin ('-') per run")
            read_stdin = True
            value = (stdin or sys.stdin).readline().rstrip("\r\n")
            if not value:
                raise DeskhandError(f"--{key} -: nothing was read from stdin")
        given.add(field)
        out += [f"--{field.replace('_', '-')}", value]
    for field, spec in fields.items():
        name = f"DESKHAND_{field.upper()}"
        if getattr(spec, "secret", False) and field not in given and env.get(name):
            out += [f"--{field.replace('_', '-')}", env[name]]
    return out
