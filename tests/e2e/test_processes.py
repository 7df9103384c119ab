"""The e2e tests' processes: one a test left running is ended when the test is over."""

import signal
from pathlib import Path

from sandbox.telegram_server import FakeTelegram
from tests.e2e.loopback import free_port
from tests.e2e.processes import PUBLIC_URL, SECRET, end_left_behind, environment, start_run


async def test_a_run_a_test_left_serving_is_ended(telegram: FakeTelegram, tmp_path: Path) -> None:
    port = free_port()
    env = environment(
        telegram, tmp_path, WEBHOOK_URL=PUBLIC_URL, WEBHOOK_SECRET=SECRET, WEBHOOK_LISTEN=f"127.0.0.1:{port}"
    )
    process = await start_run(env, f"http://127.0.0.1:{port}")
    assert process.returncode is None

    await end_left_behind()  # what the teardown of every e2e test does

    assert process.returncode == -signal.SIGKILL
