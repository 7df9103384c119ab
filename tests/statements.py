"""What SQL a piece of work sends: each statement by kind (its first word) and purpose (the project
function that sent it), so a test can hold the count of a hot path and a person can read the list."""

import inspect
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import greenlet
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tuple(str(ROOT / package) + "/" for package in ("bot", "storage", "handlers"))
RUNNERS = {str(ROOT / "storage" / "sql.py")}  # run statements for others: the purpose is their caller's


@dataclass(frozen=True)
class Statement:
    kind: str  # SELECT, INSERT, UPDATE, SAVEPOINT, RELEASE, COMMIT ...
    purpose: str  # module:function of the project code that sent it
    sql: str
    parameters: Any = ()  # as the driver got them (none for COMMIT and ROLLBACK)


@dataclass
class Recording:
    statements: list[Statement] = field(default_factory=list)

    @property
    def kinds(self) -> Counter[str]:
        return Counter(statement.kind for statement in self.statements)

    def __len__(self) -> int:
        return len(self.statements)

    def listing(self) -> str:
        """One line a statement: its kind, its purpose, and the start of its SQL."""
        lines = [f"{len(self)} statements: " + ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items()))]
        for number, statement in enumerate(self.statements, 1):
            lines.append(f"{number:2}. {statement.kind:<9} {statement.purpose:<45} {statement.sql[:90]}")
        return "\n".join(lines)


def purpose() -> str:
    """The innermost project function on the stack (the one that sent the statement). SQLAlchemy's async
    layer runs the statement in a greenlet of its own: the caller's frames are in the greenlet it left."""
    for frame in (inspect.currentframe(), greenlet.getcurrent().parent and greenlet.getcurrent().parent.gr_frame):
        found = _project_frame(frame)
        if found:
            return found
    return "?"


def _project_frame(frame: FrameType | None) -> str:
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(PROJECT) and filename not in RUNNERS:
            module = filename.removeprefix(str(ROOT) + "/").removesuffix(".py").replace("/", ".")
            return f"{module}:{frame.f_code.co_name}"
        frame = frame.f_back
    return ""


@contextmanager
def recorded(engine: AsyncEngine) -> Iterator[Recording]:
    """Record every statement the engine sends inside the block, COMMIT and ROLLBACK included."""
    recording = Recording()

    def executed(conn: Connection, cursor: Any, sql: str, parameters: Any, context: Any, many: bool) -> None:
        text = " ".join(sql.split())
        recording.statements.append(Statement(text.split(None, 1)[0].upper(), purpose(), text, parameters))

    def ended(kind: str) -> Any:
        return lambda conn: recording.statements.append(Statement(kind, purpose(), kind))

    listeners = [
        ("before_cursor_execute", executed),
        ("commit", ended("COMMIT")),
        ("rollback", ended("ROLLBACK")),
    ]
    for name, listener in listeners:
        event.listen(engine.sync_engine, name, listener)
    try:
        yield recording
    finally:
        for name, listener in listeners:
            event.remove(engine.sync_engine, name, listener)
