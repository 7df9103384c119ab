"""The web server of webhook mode (Starlette on uvicorn): Telegram's updates, `/healthz` and `/metrics`.

After python-telegram-bot's custom webhook example, with one difference: an update is acknowledged
(200) only once it has been processed, never when it is queued, so an instance killed mid-request
loses nothing (Telegram sends again what was not acknowledged). Each update is taken in the database
first (bot.updates), so one delivered twice, to one instance or two, is processed once.

What a request gets (each counted by its `Outcome` on /metrics):
- 403 without the right `X-Telegram-Bot-Api-Secret-Token`, 400 for a body that is no update: nothing changes;
- 200 once processed, or at once when it was processed before;
- 503 while another instance processes it, or while the database does not answer, and 500 when its
  processing failed (its claim is given back): Telegram tries each again later. A passing failure (the
  database gone a moment, Telegram answering 5xx, late or not at all) is not apologised for
  (handlers.common.on_error): the person gets the real answer from Telegram's next try.
"""

import asyncio
import hmac
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from enum import StrEnum
from http import HTTPStatus

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot import health, updates
from bot.updates import Taken
from bot.wiring.services import Services
from handlers import common
from handlers.common import BotContext
from handlers.metrics import Metrics

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class Outcome(StrEnum):
    """What became of a post to the webhook: the `outcome` of crowdshelf_webhook_requests_total."""

    PROCESSED = "processed"  # 200 once processed
    DONE_BEFORE = "done_before"  # 200 at once: Telegram sent again an update processed before
    BUSY = "busy"  # 503: an instance is processing it now
    FAILED = "failed"  # 500: its processing failed and its claim was given back
    DATABASE_AWAY = "database_away"  # 503: not taken, or not marked done or given back after
    FORBIDDEN = "forbidden"  # 403: without the right secret
    MALFORMED = "malformed"  # 400: a body that is no update


_STATUS = {
    Outcome.PROCESSED: HTTPStatus.OK,
    Outcome.DONE_BEFORE: HTTPStatus.OK,
    Outcome.BUSY: HTTPStatus.SERVICE_UNAVAILABLE,
    Outcome.FAILED: HTTPStatus.INTERNAL_SERVER_ERROR,
    Outcome.DATABASE_AWAY: HTTPStatus.SERVICE_UNAVAILABLE,
    Outcome.FORBIDDEN: HTTPStatus.FORBIDDEN,
    Outcome.MALFORMED: HTTPStatus.BAD_REQUEST,
}


class UpdateEndpoint:
    """POST {WEBHOOK_PATH}: one update, processed before it is acknowledged, each post counted by outcome.

    python-telegram-bot hands a handler's exception to the error handlers and returns normally, so
    `note_failure` (registered as an error handler by the composition root) says which updates failed.
    """

    def __init__(self, application: Application, services: Services, metrics: Metrics) -> None:
        self.application = application
        self.services = services
        self.metrics = metrics
        self._secret = services.settings.webhook_secret.encode()
        self._failed: set[int] = set()
        for outcome in Outcome:  # every series from the start, at 0, so a rate of a rare one reads from its first
            metrics.webhook_requests.labels(outcome=outcome)

    async def receive(self, request: Request) -> Response:
        outcome = await self._outcome(request)
        self.metrics.webhook_requests.labels(outcome=outcome).inc()
        return _status(_STATUS[outcome])

    async def _outcome(self, request: Request) -> Outcome:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return Outcome.FORBIDDEN
        update = await self._read(request)
        if update is None:
            return Outcome.MALFORMED
        try:
            taken = await updates.take(self.services, update.update_id)
        except Exception as error:  # the database does not answer: Telegram keeps the update meanwhile
            log.warning("update %s not taken, the database did not answer: %s", update.update_id, error)
            return Outcome.DATABASE_AWAY
        if taken is Taken.DONE:
            return Outcome.DONE_BEFORE
        if taken is Taken.BUSY:
            return Outcome.BUSY
        return await self._process(update)

    async def _read(self, request: Request) -> Update | None:
        try:
            data = await request.json()
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                return None
            return Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError):  # not JSON, or JSON that is no update
            return None

    async def _process(self, update: Update) -> Outcome:
        application = self.application
        try:
            # Through the update processor: each user's updates still run one at a time, in order. The claim
            # is renewed meanwhile, however long the update waits for the user's earlier ones or runs.
            async with updates.held(self.services, update.update_id):
                await application.update_processor.process_update(update, application.process_update(update))
        except BaseException:
            await asyncio.shield(updates.give_back(self.services, update.update_id))
            raise
        if update.update_id in self._failed:
            self._failed.discard(update.update_id)
            try:
                await updates.give_back(self.services, update.update_id)
            except Exception as error:  # the database away: the claim runs out, then Telegram's next try has it
                log.warning("update %s failed and was not given back: %s", update.update_id, error)
                return Outcome.DATABASE_AWAY
            return Outcome.FAILED
        try:
            await updates.done(self.services, update.update_id)
        except Exception as error:  # processed all the same; the claim runs out and a resend finds it idempotent
            log.warning("update %s processed but not marked done: %s", update.update_id, error)
            return Outcome.DATABASE_AWAY
        return Outcome.PROCESSED

    async def note_failure(self, update: object, context: BotContext) -> None:
        if isinstance(update, Update) and common.unexpected(context.error):
            self._failed.add(update.update_id)


def web_app(endpoint: UpdateEndpoint) -> Starlette:
    services, metrics = endpoint.services, endpoint.metrics

    async def healthz(_: Request) -> Response:
        if await health.database_answers(services):
            return PlainTextResponse("ok")
        return PlainTextResponse("the database does not answer", status_code=HTTPStatus.SERVICE_UNAVAILABLE)

    async def metrics_text(_: Request) -> Response:
        return Response(await metrics.exposition(services), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route(services.settings.webhook_path, endpoint.receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_text, methods=["GET"]),
        ]
    )


def _status(status: HTTPStatus) -> Response:
    return PlainTextResponse(status.phrase, status_code=status)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` stops the server and then the bot, in that order."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def serving(app: Starlette, host: str, port: int) -> AsyncIterator[int]:
    """The web server, listening on `host:port` (port 0: a free one, given) until the block ends; then
    it finishes the requests under way. A port it cannot have is an OSError at once."""
    sock = _bound_socket(host, port)
    server = _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task  # its exception, if it has one
            raise RuntimeError("the web server stopped as it started")
        await asyncio.sleep(0.01)
    bound = sock.getsockname()[1]
    log.info("serving Telegram's webhook on %s:%d", host, bound)
    try:
        yield bound
    finally:
        server.should_exit = True
        await task


def _bound_socket(host: str, port: int) -> socket.socket:
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, protocol, _, address = found[0]
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock
