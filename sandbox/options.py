"""The demo's options: apart from the demo itself, so that the command line knows its defaults without
loading the demo (and what it needs) for every other command."""

from dataclasses import dataclass
from pathlib import Path

SPEED = 100.0  # the bot's clock against the wall clock


@dataclass(frozen=True)
class DemoOptions:
    workers: int = 30
    spammers: int = 8  # of the workers; the four kinds in turn
    items: int | None = None  # None: the whole sample file (categorize), else GENERATED_ITEMS
    seed: int = 1
    task_type: str = "categorize"
    batch: Path | None = None  # the requester's own product file
    caption: str | None = None  # its settings; default: the sample's, or the type's
    keep: bool = False  # leave the database in the output folder
    speed: float = SPEED
