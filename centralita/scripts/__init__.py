"""Agent scripts: the call-center procedures (A to K of the seed) as data.

One TOML file per service in `centralita/scripts/data/`; `load_script("101")` decodes and
validates it; `start(script)` walks it as a guided decision tree.
"""

from centralita.scripts.exceptions import (
    ScriptDecodeError,
    ScriptError,
    ScriptInvalidError,
    ScriptNotFoundError,
    WalkError,
)
from centralita.scripts.loader import check_dir, load_all, load_file, load_script, parse
from centralita.scripts.model import (
    SERVICE_IDS,
    Branch,
    Handoff,
    Outcome,
    Script,
    Step,
    Substep,
    SystemRef,
    WeeklyWindow,
    script_schema,
)
from centralita.scripts.render import render
from centralita.scripts.validate import problems
from centralita.scripts.walk import Move, Option, Walk, options_at, replay, start, suggest

__all__ = [
    "SERVICE_IDS",
    "Branch",
    "Handoff",
    "Move",
    "Option",
    "Outcome",
    "Script",
    "ScriptDecodeError",
    "ScriptError",
    "ScriptInvalidError",
    "ScriptNotFoundError",
    "Step",
    "Substep",
    "SystemRef",
    "Walk",
    "WalkError",
    "WeeklyWindow",
    "check_dir",
    "load_all",
    "load_file",
    "load_script",
    "options_at",
    "parse",
    "problems",
    "render",
    "replay",
    "script_schema",
    "start",
    "suggest",
]
