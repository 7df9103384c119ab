"""People on the stage: they use the bot only through the local Bot API server, as a person would.

Each reads what the bot sent to their chat, presses buttons by their text, types and sends files;
none of them looks into the database. A crowd worker (`CrowdMember`) is one `sandbox.crowd.Worker`:
what they answer and how long they take come from the crowd model that `benchmarks/crowd_sim.py`
plays straight against the domain calls.
"""

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.tasks.base import Question, QuestionKind, TaskContext, TaskType
from handlers import texts
from sandbox.crowd import Behaviour, Worker
from sandbox.stage import FastClock
from sandbox.telegram_server import BotMessage, FakeUser
from taxonomy import Tree

POLL = 0.01  # seconds between looks at the chat
QUIET = 0.02  # the bot has answered once the chat has not changed for this long
FILE_QUIET = 1.0  # … and for this long after a file
PATIENCE = 30.0  # seconds a person waits for any answer before giving up on it
CARD_MARK = "🛒 "  # the product line of a task card
SKIP = "⏭ Skip"
LAUNCH = "🚀 Launch"
APPROVE = "✅ Approve"
PAYPAL = "PayPal e-mail"
TRIES_WITHOUT_WORK = 3  # a worker asks /work this many times in a row without a task, then leaves
NOTICE_WAIT = 1.0  # seconds an admin waits for more payout requests before calling it a day
BETWEEN_TRIES = 0.3  # seconds between those tries: others' reservations may come back meanwhile


class Person:
    """A Telegram user driven by a script: acts, then waits until the bot has answered."""

    def __init__(self, user: FakeUser) -> None:
        self.user = user

    def _version(self) -> tuple[int, int]:
        return len(self.user.messages), sum(len(m.history) for m in self.user.messages)

    async def _answered(self, before: tuple[int, int], quiet: float = QUIET) -> None:
        """Wait until the chat changed since `before` and has then stayed quiet for `quiet` seconds (or
        PATIENCE ran out)."""
        await self.wait_for(lambda: self._version() != before, quiet)

    async def wait_for(self, condition: Callable[[], bool], quiet: float = QUIET) -> None:
        """Wait until `condition` holds, then until the chat has not changed for `quiet` seconds (or
        PATIENCE ran out)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PATIENCE
        while not condition() and loop.time() < deadline:
            await asyncio.sleep(POLL)
        seen, quiet_since = self._version(), loop.time()
        while loop.time() - quiet_since < quiet and loop.time() < deadline:
            await asyncio.sleep(POLL)
            if self._version() != seen:
                seen, quiet_since = self._version(), loop.time()

    async def say(self, text: str, reply_to: int | None = None) -> BotMessage | None:
        before = self._version()
        await self.user.send(text, reply_to_message_id=reply_to)
        await self._answered(before)
        return self.newest

    async def tap(self, label: str, message_id: int | None = None) -> BotMessage | None:
        before = self._version()
        await self.user.press(label, message_id=message_id)
        await self._answered(before)
        return self.newest

    async def send_file(self, content: bytes, name: str, caption: str) -> BotMessage | None:
        """Send a file; its answer (a preview in several messages, or a refusal) is in once the chat has
        stayed quiet for FILE_QUIET: reading a file takes the bot longer than a tap."""
        before = self._version()
        await self.user.send_document(content, name, caption=caption)
        await self._answered(before, FILE_QUIET)
        return self.newest

    @property
    def newest(self) -> BotMessage | None:
        shown = [m for m in self.user.messages if not m.deleted]
        return shown[-1] if shown else None

    def has_button(self, message: BotMessage | None, label: str) -> bool:
        return message is not None and any(label in row for row in message.buttons)


class Requester(Person):
    async def upload(self, content: bytes, name: str, caption: str) -> str:
        """Send the product file and launch the batch from its preview; what the bot said last."""
        preview = await self.send_file(content, name, caption)
        if not self.has_button(preview, LAUNCH):
            return preview.body if preview else ""
        launched = await self.tap(LAUNCH)
        return launched.body if launched else ""


class Admin(Person):
    async def fund(self, requester: int, amount: str) -> None:
        await self.say(f"/fund {requester} {amount}")

    async def approve_payouts(self) -> int:
        """Approve every payout request as its notice comes in, until none has come for a while; how many."""
        approved = 0
        while True:
            waiting = [m for m in self.user.messages if not m.deleted and any(APPROVE in row for row in m.buttons)]
            if not waiting:
                before = self._version()
                await asyncio.sleep(NOTICE_WAIT)
                if self._version() == before:
                    return approved
                continue
            for message in waiting:
                await self.tap(APPROVE, message.message_id)
                approved += 1


@dataclass
class Product:
    """A product as the people know it: its payload (what the card asks depends on it) and its truth."""

    payload: dict[str, Any]
    truth: dict[str, str]


@dataclass
class Workplace:
    """What every crowd member shares: the batch's questions, the products they know, the clock."""

    task_type: TaskType
    context: TaskContext
    products: Mapping[str, Product]  # by title
    behaviour: Behaviour
    clock: FastClock

    @property
    def tree(self) -> Tree:
        return self.context.tree


class CrowdMember(Person):
    """One worker of the simulated crowd, working through the bot until it has no task for them."""

    def __init__(self, user: FakeUser, worker: Worker, place: Workplace) -> None:
        super().__init__(user)
        self.worker = worker
        self.place = place
        self.working = False  # between their first /start and leaving
        self._given: dict[str, dict[str, str]] = {}  # answers so far on each product's card, by title

    async def work(self) -> None:
        self.working = True
        try:
            await self.say("/start")
            misses = 0
            while misses < TRIES_WITHOUT_WORK:
                card = self._card()
                if card is None:
                    card = await self._ask_for_work()
                if card is None:
                    misses += 1
                    await asyncio.sleep(BETWEEN_TRIES)
                    continue
                misses = 0
                await self._answer(card)
        finally:
            self.working = False

    async def cash_out(self, email: str) -> None:
        """Give a payout method and ask for the available balance (the bot refuses below the threshold)."""
        await self.say("/payout_method")
        if self.has_button(self.newest, PAYPAL):
            await self.tap(PAYPAL)
            await self.say(email)
        await self.say("/payout")

    async def _ask_for_work(self) -> BotMessage | None:
        await self.say("/work")
        return self._card()

    def _card(self) -> BotMessage | None:
        """The task card, when the newest message is one."""
        newest = self.newest
        if newest is None or not self.has_button(newest, SKIP) or _title(newest) is None:
            return None
        return newest

    async def _answer(self, card: BotMessage) -> None:
        title = _title(card)
        product = self.place.products.get(title or "")
        given = self._given.setdefault(title or "", {})
        question = (
            None if product is None else self.place.task_type.next_question(product.payload, given, self.place.context)
        )
        if title is None or question is None:  # a product they know nothing of: give it back
            await self.tap(SKIP, card.message_id)
            return
        meant = self.place.behaviour.pick(self.worker, title, question)
        await asyncio.sleep(self.place.clock.real_seconds(self.place.behaviour.seconds(self.worker, question)))
        if not await self._give(card, question, meant):
            await self.tap(SKIP, card.message_id)
            return
        label = self.place.task_type.accept(question, _as_value(question, meant), self.place.context)
        given[question.key] = label or meant

    def _open_question(self, title: str | None, given: dict[str, str]) -> Question | None:
        """The question the card asks now: the type's next, after the answers given so far."""
        product = self.place.products.get(title or "")
        if product is None:
            return None
        return self.place.task_type.next_question(product.payload, given, self.place.context)

    async def _give(self, card: BotMessage, question: Question, meant: str) -> bool:
        """Press or type the answer as the card offers it; False when it could not be given."""
        if question.kind == QuestionKind.TEXT:
            await self.say(meant)
            return True
        if question.kind == QuestionKind.CHOICE:
            label = texts.button_label(texts.label_text(meant))
            if not self.has_button(card, label):
                return False
            await self.tap(label, card.message_id)
            return True
        return await self._find_category(int(meant))

    async def _find_category(self, node_id: int) -> bool:
        """Type the category's name, then tap it among the matches (its parent's name too when needed)."""
        path = [node.name for node in self.place.tree.path(node_id)]
        for words in (path[-1], " ".join(path[-2:])):
            matches = await self.say(words)
            label = _matching_button(matches, " › ".join(path))
            if matches is not None and label is not None:
                await self.tap(label, matches.message_id)
                return True
        return False


def _title(card: BotMessage) -> str | None:
    for line in card.body.splitlines():
        if line.startswith(CARD_MARK):
            return line.removeprefix(CARD_MARK)
    return None


def _as_value(question: Question, meant: str) -> str:
    """The answer as its button carries it: a CHOICE question's option by its place."""
    return str(question.options.index(meant)) if question.kind == QuestionKind.CHOICE else meant


def _matching_button(message: BotMessage | None, full_path: str) -> str | None:
    """The match whose path (relative to the batch's root, maybe shortened at its start) ends the category's."""
    if message is None:
        return None
    for row in message.buttons:
        for label in row:
            shown = re.sub(r" ›$", "", label)
            whole = full_path == shown or full_path.endswith(" › " + shown)
            if whole or (shown.startswith("…") and full_path.endswith(shown.removeprefix("…"))):
                return label
    return None
