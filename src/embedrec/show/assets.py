"""The show layer's front-end files (ES modules and styles) and how to inline them into one HTML page.

The modules import each other by bare names under `embedrec/` (`import { el } from "embedrec/dom.js"`),
so one import map decides where they come from: the web app maps `embedrec/` to the folder it serves,
and an exported page maps each module to a `data:` URL holding its source, which works from a file.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

STATIC = Path(__file__).parent / "static"
PREFIX = "embedrec/"
# `import {a} from "embedrec/x.js";`, `export {a} from "embedrec/x.js";` and `import "embedrec/x.js";`
_IMPORT = re.compile(r'^\s*(?:(?:import|export)\b[^;]*?\bfrom\s+|import\s+)"embedrec/([\w.-]+)"', re.M)


def module_source(name: str) -> str:
    """The text of one of the show layer's front-end files, e.g. `map.js`."""
    path = STATIC / name
    if path.parent != STATIC or not path.is_file():
        raise FileNotFoundError(f"no front-end file {name!r} in {STATIC}")
    return path.read_text(encoding="utf-8")


def module_closure(entry: str) -> list[str]:
    """`entry` and every module it imports, directly or not, each once, dependencies first."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order or name in visiting:
            return
        visiting.add(name)
        for match in _IMPORT.finditer(module_source(name)):
            visit(match.group(1))
        order.append(name)

    visit(entry)
    return order


def inline_import_map(entry: str) -> str:
    """An import map (JSON, safe inside a <script> element) with `entry` and its imports as data URLs."""
    imports = {}
    for name in module_closure(entry):
        encoded = base64.b64encode(module_source(name).encode("utf-8")).decode("ascii")
        imports[PREFIX + name] = f"data:text/javascript;base64,{encoded}"
    return json.dumps({"imports": imports}, indent=1)
