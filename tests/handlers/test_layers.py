"""Handlers are the Telegram edge: they call one use case in bot/ and never open a transaction themselves."""

import re
from pathlib import Path

HANDLERS = Path(__file__).parents[2] / "handlers"
DATABASE_USE = re.compile(r"\.db\.|AsyncSession")


def test_no_handler_touches_the_database() -> None:
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(HANDLERS.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if DATABASE_USE.search(line)
    ]
    assert found == []
