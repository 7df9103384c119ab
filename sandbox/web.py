"""The sandbox's web page: each simulated person's chat with the bot, as Telegram would show it.

Served by the local Bot API server beside the API (``FakeTelegram.start(routes=...)``). The page is
rendered on the server; each action (a text, a button, a file) is a form post that acts through
:class:`~sandbox.telegram_server.FakeUser`, waits until the bot has answered and sends the browser back
to the chat. A little JavaScript polls ``/chat/<id>/state`` and swaps in the chat when it changed
(messages the bot sends on its own: a payout request, a finished batch).

The bot's messages are shown from their text and entities, as Telegram parsed them, turned into HTML
by python-telegram-bot (which escapes the text); the page forbids inline scripts, so a link in a
message can never run one.
"""

import contextlib
import hashlib
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import jinja2
from aiohttp import web
from markupsafe import Markup
from telegram import Message

from sandbox.cast import Person, Role
from sandbox.telegram_server import BotMessage, FakeTelegram, FakeUser, is_http_url

HERE = Path(__file__).parent
SAMPLE_BATCH = HERE / "data" / "sample_batch.csv"
# The sample's 200 products, one answer each, no quiz: $4.10 of work and checks, so $20 of funds is plenty.
SAMPLE_CAPTION = 'reward=0.02 overlap=1 qualification=0 name="Sample"'
# How long an action waits for the bot's answer before showing the chat anyway (polling brings the rest).
SETTLE_SECONDS = 10.0
# The bot is done with an action once it has made no Bot API call for this long (see FakeTelegram.idle).
QUIET_SECONDS = 0.2
# Everything from this server, and no inline script: nothing in a message can run (javascript: links included).
CONTENT_SECURITY_POLICY = "default-src 'self'"

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class Button:
    """An inline button: pressed through the page (`data`), opened (`url`), or shown only."""

    text: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Attachment:
    name: str
    href: str
    size: str


@dataclass(frozen=True)
class Bubble:
    """One message of the chat, from the bot or from the person."""

    message_id: int
    from_bot: bool
    html: Markup
    time: str
    photo: str | None = None  # the address of the picture on this server
    photo_url: str | None = None  # the address the bot sent, when it sent one
    document: Attachment | None = None
    keyboard: tuple[tuple[Button, ...], ...] = ()
    edited: bool = False


def routes(telegram: FakeTelegram, people: Sequence[Person]) -> list[web.AbstractRouteDef]:
    """The page's routes, to serve beside the Bot API."""
    chats = Chats(telegram, tuple(people))
    return [
        web.get("/", chats.page),
        web.get("/chat/{user_id}/state", chats.state),
        web.post("/chat/{user_id}/send", chats.send),
        web.post("/chat/{user_id}/press", chats.press),
        web.post("/chat/{user_id}/upload", chats.upload),
        web.post("/chat/{user_id}/sample", chats.sample),
        web.get("/files/{file_id}", chats.file),
        web.static("/static", HERE / "static"),
    ]


def api_address(telegram: FakeTelegram) -> str:
    """Where a Bot API client sends its calls, token included: what https://api.telegram.org/bot<token>/ is."""
    return f"{telegram.base_url}{telegram.token}/"


class Chats:
    """The request handlers: one person's chat shown, or acted in."""

    def __init__(self, telegram: FakeTelegram, people: tuple[Person, ...]) -> None:
        self.telegram = telegram
        self.people = {person.user_id: person for person in people}
        self.first = people[0]  # whom the page shows when it is not told
        # The last button each person pressed: its answer (a toast, as Telegram shows it) is shown once.
        self.pressed: dict[int, str] = {}

    # -- showing -----------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        me = self._person(request.query["as"]) if "as" in request.query else self.first
        user = self._user(me)
        query_id = self.pressed.pop(me.user_id, None)
        answer = user.callback_answer(query_id) if query_id else None
        html = TEMPLATES.get_template("page.html").render(
            me=me,
            people=list(self.people.values()),
            bot=self.telegram.bot_user,
            api_url=api_address(self.telegram),
            commands=self.telegram.commands(),
            requesters=[p for p in self.people.values() if p.role == Role.REQUESTER],
            toast=(answer or {}).get("text"),
            sample=SAMPLE_BATCH.is_file(),
            caption=SAMPLE_CAPTION,
            **self._chat(user),
        )
        return web.Response(
            text=html, content_type="text/html", headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY}
        )

    async def state(self, request: web.Request) -> web.Response:
        """The chat as the page shows it, and a version that changes whenever it does."""
        return web.json_response(self._chat(self._user(self._person(request.match_info["user_id"]))))

    async def file(self, request: web.Request) -> web.Response:
        """A photo or document of any chat, as the Telegram app would download it."""
        stored = self.telegram.files.get(request.match_info["file_id"])
        if stored is None or stored.data is None:
            raise web.HTTPNotFound()
        disposition = "inline"
        if stored.kind == "document":
            disposition = f"attachment; filename*=UTF-8''{urllib.parse.quote(stored.file_name or 'document')}"
        return web.Response(
            body=stored.data,
            content_type=stored.mime_type or "application/octet-stream",
            headers={"Content-Disposition": disposition},
        )

    def _chat(self, user: FakeUser) -> dict[str, str]:
        log = TEMPLATES.get_template("chat.html").render(bubbles=bubbles(user), user_id=user.id)
        keyboard = TEMPLATES.get_template("reply_keyboard.html").render(
            rows=reply_keyboard(user.reply_keyboard), user_id=user.id
        )
        version = hashlib.sha1((log + keyboard).encode()).hexdigest()[:16]
        return {"log": log, "keyboard": keyboard, "version": version}

    # -- acting --------------------------------------------------------------------------

    async def send(self, request: web.Request) -> web.Response:
        user = self._user(self._person(request.match_info["user_id"]))
        text = str((await request.post()).get("text", "")).strip()
        if text:
            await user.send(text)
        return await self._back(user)

    async def press(self, request: web.Request) -> web.Response:
        user = self._user(self._person(request.match_info["user_id"]))
        form = await request.post()
        message_id = int(str(form["message_id"]))
        if any(m.message_id == message_id and not m.deleted for m in user.messages):  # else the bot deleted it
            query = await user.press_data(str(form["data"]), message_id)
            self.pressed[user.id] = query["id"]
        return await self._back(user)

    async def upload(self, request: web.Request) -> web.Response:
        user = self._user(self._person(request.match_info["user_id"]))
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField) or not upload.filename:
            raise web.HTTPBadRequest(text="choose a file to send")
        content_type = upload.content_type or "application/octet-stream"
        caption = str(form.get("caption", "")).strip() or None
        await user.send_document(upload.file.read(), upload.filename, content_type, caption)
        return await self._back(user)

    async def sample(self, request: web.Request) -> web.Response:
        user = self._user(self._person(request.match_info["user_id"]))
        if not SAMPLE_BATCH.is_file():
            raise web.HTTPNotFound(text="no sample batch in this installation")
        await user.send_document(SAMPLE_BATCH.read_bytes(), SAMPLE_BATCH.name, "text/csv", SAMPLE_CAPTION)
        return await self._back(user)

    async def _back(self, user: FakeUser) -> NoReturn:
        """To the chat, once the bot has answered (or after SETTLE_SECONDS: the page polls for the rest)."""
        with contextlib.suppress(TimeoutError):
            await self.telegram.idle(quiet=QUIET_SECONDS, timeout=SETTLE_SECONDS)
        raise web.HTTPSeeOther(f"/?as={user.id}")

    # -- people --------------------------------------------------------------------------

    def _person(self, user_id: str | None) -> Person:
        person = self.people.get(int(user_id)) if user_id and user_id.isdigit() else None
        if person is None:
            raise web.HTTPNotFound(text="no such person in the sandbox")
        return person

    def _user(self, person: Person) -> FakeUser:
        return self.telegram.user(person.user_id, person.name)


# -- what a chat shows ------------------------------------------------------------------------


def bubbles(user: FakeUser) -> list[Bubble]:
    """The chat, oldest first: the person's messages and the bot's (deleted ones are gone, as on Telegram)."""
    mine = [person_bubble(message) for message in user.sent]
    bots = [bot_bubble(message) for message in user.messages if not message.deleted]
    return sorted(mine + bots, key=lambda bubble: bubble.message_id)  # one counter numbers both in a chat


def bot_bubble(message: BotMessage) -> Bubble:
    raw = message.raw
    parsed = Message.de_json(raw, None)
    html = parsed.text_html if parsed.text is not None else (parsed.caption_html or "")
    photo = photo_url = None
    if raw.get("photo"):
        photo = file_href(raw["photo"][-1]["file_id"])
        photo_url = message.photo if message.photo and is_http_url(message.photo) else None
    return Bubble(
        message_id=message.message_id,
        from_bot=True,
        html=Markup(html),  # python-telegram-bot escaped the text; only the entities' tags are markup
        time=clock(raw),
        photo=photo,
        photo_url=photo_url,
        document=attachment(raw.get("document")),
        keyboard=inline_keyboard(message.inline_keyboard),
        edited=message.edited,
    )


def person_bubble(message: dict[str, Any]) -> Bubble:
    """A message the person sent through the page: a text, or a file with its caption."""
    text = message.get("text") or message.get("caption") or ""
    return Bubble(
        message_id=message["message_id"],
        from_bot=False,
        html=Markup.escape(text),
        time=clock(message),
        document=attachment(message.get("document")),
    )


def inline_keyboard(rows: list[list[dict]]) -> tuple[tuple[Button, ...], ...]:
    return tuple(
        tuple(Button(button["text"], data=button.get("callback_data"), url=button.get("url")) for button in row)
        for row in rows
    )


def reply_keyboard(markup: dict | None) -> list[list[str]]:
    """The texts of a reply keyboard's buttons (each sends its text), by row."""
    rows = (markup or {}).get("keyboard") or []
    return [[button if isinstance(button, str) else button["text"] for button in row] for row in rows]


def attachment(document: dict | None) -> Attachment | None:
    if not document:
        return None
    name = document.get("file_name") or "document"
    return Attachment(name, file_href(document["file_id"]), size_text(document.get("file_size") or 0))


def file_href(file_id: str) -> str:
    return f"/files/{urllib.parse.quote(file_id)}"


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def clock(message: dict[str, Any]) -> str:
    return time.strftime("%H:%M", time.localtime(message["date"]))
