"""What the end-to-end tests share to run things on this machine: a free port on 127.0.0.1, and waiting
until something they started has done what they expect."""

import asyncio
import socket
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def eventually(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    """Return once `condition()` holds; fail naming `what` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
