"""A local Telegram Bot API server: the test suite, the demo and the sandbox talk to it.

The real python-telegram-bot ``Application`` talks to this server over real HTTP on
127.0.0.1, exactly as it would talk to ``api.telegram.org``::

    fake = FakeTelegram()
    await fake.start()
    app = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    ...  # add handlers, start polling
    ann = fake.user(1001, "Ann")
    await ann.send("/start")
    await fake.idle(application=app)
    assert "Welcome" in ann.last.text
    await ann.press("Next task")

What the server does:

* Every request is validated against the vendored Bot API schema
  (``bot_api_schema.json``, produced by ``vendor_schema.py``): unknown methods get 404,
  missing required parameters and wrongly typed values get 400, unknown parameters are
  ignored - like the real server.
* The methods the bot uses are emulated with the real server's semantics and error
  texts: message ids per chat, HTML entity parsing (Markdown is refused: the bot writes HTML), length limits, inline
  keyboard rules, edits ("message is not modified" ...), callback query answers (refused
  once answered, or older than ``callback_query_ttl`` seconds by the server's clock),
  blocked users, file upload/download and the 20 MB download limit, long polling with
  offsets and "Conflict" for competing getUpdates calls.
* A test plays Telegram users through :meth:`FakeTelegram.user` and inspects what the bot
  sent through :class:`FakeUser` and :attr:`FakeTelegram.requests`.

Waiting for the bot: :meth:`FakeTelegram.idle` returns when no update is pending, no
API request is in flight and none arrived for ``quiet`` seconds.  A handler that works
without calling the API for longer than ``quiet`` (a slow query) would look idle, so
pass the Application (``idle(application=app)`` or set ``fake.application = app``):
idle() then also waits until the Application's update queue has no update that is
fetched but not yet fully processed.  Tasks a handler starts on its own
(``block=False`` handlers, ``application.create_task``) are only covered by ``quiet``.

Webhooks: after ``setWebhook`` the server POSTs each update to the webhook (JSON, with the
``X-Telegram-Bot-Api-Secret-Token`` header when a secret was set, at most ``max_connections`` at a
time) and keeps it until an answer is 2xx, sending it again ``webhook_retry_delay`` seconds after
any other answer, a refused connection or ``webhook_timeout`` seconds without an answer, as Telegram
does; ``getUpdates`` then gets 409. Unlike Telegram it accepts ``http://`` webhooks on loopback
addresses. ``balance_webhook`` spreads the posts over several addresses as a load balancer in front
of several instances would; ``webhook_posts`` records each post and its outcome; ``stall`` holds the
next call of a method until the test releases it (a bot caught mid-update).

Beyond the Bot API itself, tests can use: ``FakeTelegram.enqueue`` (a raw update),
Beyond the Bot API itself, tests can use: ``FakeTelegram.enqueue`` (a raw update), ``take_updates``
(hand pending updates to bot instances of the test's choice), ``pending_from`` (one user's updates not yet
delivered),
``advance`` (move the server's clock forward, e.g. past ``callback_query_ttl``),
``broken_photo_urls`` (addresses whose content is no image) and ``unreachable_photo_urls`` (addresses
Telegram cannot download: a dead link, a host it cannot reach), refused as Telegram refuses them,
``fail_next`` (inject an error such as a 429 flood wait), ``fail_at_random``, ``slow_at_random`` and
``reset_at_random`` (calls that answer late, or whose connection is reset), ``register_file``,
``commands()``, ``errors``, ``callback_queries``, ``files``; ``FakeUser.send_photo``,
``message(id)``, ``texts``, ``chat_actions``, ``reply_keyboard``, ``sent``; and
``BotMessage.buttons``/``callback_data``/``entities``/``source``/``raw``/``history``.

Everything runs on the test's event loop; request handlers mutate state only in
synchronous sections, so updates handled concurrently by the bot cannot interleave
half-done changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import itertools
import json
import logging
import mimetypes
import random
import re
import struct
import time
import traceback
import urllib.parse
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

__all__ = [
    "ApiCall",
    "ApiError",
    "BotMessage",
    "FakeTelegram",
    "FakeUser",
    "Stall",
    "UploadedFile",
    "WebhookPost",
    "png_bytes",
]

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).with_name("bot_api_schema.json")

#: Bots may download files up to this size with getFile.
DOWNLOAD_LIMIT = 20 * 1024 * 1024
#: Bots may upload files up to this size (photos are limited further by Telegram).
UPLOAD_LIMIT = 50 * 1024 * 1024
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
MAX_BUTTONS = 100
MAX_CALLBACK_DATA_BYTES = 64
#: Telegram refuses to answer a callback query this many seconds after the press.
CALLBACK_QUERY_TTL = 15.0

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

# Update types a bot receives when it does not pass allowed_updates.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


# --------------------------------------------------------------------------------------
# errors and small records
# --------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error response of the Bot API."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(problem: str) -> ApiError:
    return ApiError(400, f"Bad Request: {problem}")


def forbidden(problem: str) -> ApiError:
    return ApiError(403, f"Forbidden: {problem}")


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    def __repr__(self) -> str:  # keep ApiCall reprs short
        return f"UploadedFile({self.name!r}, {self.filename!r}, {len(self.data)} bytes)"


@dataclass
class ApiCall:
    """One request the bot made, with the decoded parameters and the response sent."""

    method: str
    params: dict
    status: int
    response: dict
    files: dict[str, UploadedFile] = field(default_factory=dict)  # every uploaded part
    at: float = 0.0  # when the request arrived (time.monotonic()), to see how long the bot waited between calls

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        return self.response.get("description")


@dataclass
class BotMessage:
    """A message the bot sent to a chat, in its current state (after edits).

    ``text``/``caption`` are what the user sees, i.e. after parse_mode parsing; the
    markup as the bot sent it is in ``source`` and the formatting in ``entities``.
    ``reply_markup`` is the markup of the last send/edit (an inline keyboard, or on a
    send also a reply keyboard / remove / force reply object).  ``raw`` is the Message
    object the Bot API would return now; ``history`` holds its earlier versions.
    """

    message_id: int
    text: str | None = None
    caption: str | None = None
    photo: str | None = None  # URL or file_id the bot sent (an upload: the new file_id)
    document: dict | None = None  # the Document object
    reply_markup: dict | None = None
    edited: bool = False
    deleted: bool = False
    entities: list[dict] = field(default_factory=list)
    source: str | None = None  # text/caption as sent, before parse_mode parsing
    parse_mode: str | None = None
    photo_bytes: bytes | None = field(default=None, repr=False)
    document_bytes: bytes | None = field(default=None, repr=False)
    raw: dict = field(default_factory=dict, repr=False)
    history: list[dict] = field(default_factory=list, repr=False)

    @property
    def body(self) -> str:
        """Text or caption (empty string if neither)."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def inline_keyboard(self) -> list[list[dict]]:
        markup = self.raw.get("reply_markup") or {}
        return markup.get("inline_keyboard") or []

    @property
    def buttons(self) -> list[list[str]]:
        """Visible inline button texts by row."""
        return [[b["text"] for b in row] for row in self.inline_keyboard]

    @property
    def callback_data(self) -> list[list[str | None]]:
        return [[b.get("callback_data") for b in row] for row in self.inline_keyboard]


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # photo, document, ...
    data: bytes | None = field(repr=False)
    size: int
    file_name: str | None = None
    mime_type: str | None = None
    file_path: str | None = None


@dataclass
class CallbackQueryRecord:
    query: dict
    pressed_at: float  # the server's clock, see FakeTelegram.now()
    answered: bool = False
    answer: dict | None = None


@dataclass
class WebhookPost:
    """One POST of an update to the webhook: its answer's status, or what went wrong (None: no answer)."""

    update_id: int
    url: str
    status: int | None
    error: str | None = None


@dataclass
class Stall:
    """The next call of ``method`` waits (``reached`` is set) until the test calls ``release()``."""

    method: str
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


class _Poll:
    """A getUpdates request waiting for updates."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.superseded = False


# --------------------------------------------------------------------------------------
# helpers: text measurement, images
# --------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


def png_bytes(width: int = 1, height: int = 1, rgb: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A valid, tiny, single-colour PNG image (for sendPhoto uploads in tests)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG/JPEG/GIF/WebP/BMP image, None if not an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return 512, 512  # good enough: the layout differs between WebP flavours
    if data.startswith(b"\xff\xd8\xff"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return width, height
            i += 2 + length
        return 800, 600  # a JPEG we could not measure; still an image
    return None


def is_http_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


# --------------------------------------------------------------------------------------
# entity parsing (parse_mode)
# --------------------------------------------------------------------------------------


class _EntityError(Exception):
    pass


class _Builder:
    """Accumulates parsed text and measures it in UTF-16 code units."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[dict] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += utf16_len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append({"type": kind, "offset": start, "length": self.pos - start, **extra})

    def result(self) -> tuple[str, list[dict]]:
        ents = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ents


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode("utf-8"))


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);")
_ATTR_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _html_unescape(text: str) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name.startswith(("#x", "#X")):
            code = int(name[2:], 16)
        elif name.startswith("#"):
            code = int(name[1:])
        else:
            return _HTML_NAMED.get(name, match.group(0))
        return chr(code) if 0 < code <= 0x10FFFF else match.group(0)

    return _HTML_ENTITY.sub(one, text)


def parse_html(src: str) -> tuple[str, list[dict]]:
    """Parse Telegram-flavoured HTML into (text, entities); raise _EntityError."""
    out = _Builder()
    stack: list[tuple[str, int, dict]] = []  # (tag, start position, attributes)
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "&":
            match = _HTML_ENTITY.match(src, i)
            if match:
                out.add(_html_unescape(match.group(0)))
                i = match.end()
            else:
                out.add("&")
                i += 1
            continue
        if c != "<":
            j = i
            while j < n and src[j] not in "<&":
                j += 1
            out.add(src[i:j])
            i = j
            continue

        offset = _byte_offset(src, i)
        if src.startswith("</", i):
            close = src.find(">", i)
            if close == -1:
                raise _EntityError(f"Unclosed end tag at byte offset {offset}")
            name = src[i + 2 : close].strip().lower()
            if not stack:
                raise _EntityError(f'Unexpected end tag "{name}" at byte offset {offset}')
            tag, start, attrs = stack[-1]
            if name != tag:
                raise _EntityError(f'Unmatched end tag at byte offset {offset}, expected "</{tag}>", found "</{name}>"')
            stack.pop()
            _close_html_tag(out, stack, tag, start, attrs)
            i = close + 1
            continue

        j = i + 1
        while j < n and src[j] not in " \t\r\n>/=\"'":
            j += 1
        name = src[i + 1 : j].lower()
        if name not in _HTML_TAGS:
            raise _EntityError(f'Unsupported start tag "{name}" at byte offset {offset}')
        attrs = {}
        while True:
            while j < n and src[j] in " \t\r\n":
                j += 1
            if j >= n:
                raise _EntityError(f"Unclosed start tag at byte offset {offset}")
            if src[j] == ">":
                j += 1
                break
            match = _ATTR_NAME.match(src, j)
            if not match:
                raise _EntityError(f'Empty attribute name in the tag "{name}" at byte offset {offset}')
            attr = match.group(0).lower()
            j = match.end()
            while j < n and src[j] in " \t\r\n":
                j += 1
            value = ""
            if j < n and src[j] == "=":
                j += 1
                while j < n and src[j] in " \t\r\n":
                    j += 1
                if j >= n:
                    raise _EntityError(f"Unclosed start tag at byte offset {offset}")
                if src[j] in "\"'":
                    end = src.find(src[j], j + 1)
                    if end == -1:
                        raise _EntityError(f"Unclosed start tag at byte offset {offset}")
                    value = src[j + 1 : end]
                    j = end + 1
                else:
                    k = j
                    while k < n and src[k] not in " \t\r\n>":
                        k += 1
                    value = src[j:k]
                    j = k
            attrs[attr] = _html_unescape(value)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _EntityError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise _EntityError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}')
        stack.append((name, out.pos, attrs))
        i = j
    if stack:
        raise _EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _close_html_tag(out: _Builder, stack: list[tuple[str, int, dict]], tag: str, start: int, attrs: dict) -> None:
    kind = _HTML_TAGS[tag]
    if kind == "text_link":
        url = attrs.get("href", "")
        match = re.fullmatch(r"tg://user\?id=(\d+)", url)
        if match:
            out.entity("text_mention", start, user={"id": int(match.group(1)), "is_bot": False, "first_name": ""})
        elif url:
            out.entity("text_link", start, url=url)
    elif kind == "code" and stack and stack[-1][0] == "pre":
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1][2]["language"] = language[len("language-") :]
    elif kind == "pre":
        if attrs.get("language"):
            out.entity("pre", start, language=attrs["language"])
        else:
            out.entity("pre", start)
    elif kind == "blockquote":
        out.entity("expandable_blockquote" if "expandable" in attrs else "blockquote", start)
    elif kind == "custom_emoji":
        out.entity("custom_emoji", start, custom_emoji_id=attrs["emoji-id"])
    else:
        out.entity(kind, start)


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


# The bot writes HTML only (Defaults(parse_mode=HTML)); Markdown, which Telegram also parses, is
# refused here with a plain error rather than emulated.
_PARSERS: dict[str, Callable[[str], tuple[str, list[dict]]]] = {"html": parse_html}


def _strip_text(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Drop leading/trailing whitespace like Telegram does, keeping entities aligned."""
    stripped = text.strip(" \t\r\n")
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip(" \t\r\n"))])
    end = utf16_len(stripped)
    kept = []
    for ent in entities:
        start = max(ent["offset"] - lead, 0)
        stop = min(ent["offset"] + ent["length"] - lead, end)
        if stop > start:
            kept.append({**ent, "offset": start, "length": stop - start})
    return stripped, kept


# --------------------------------------------------------------------------------------
# schema validation
# --------------------------------------------------------------------------------------


class SchemaError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message

    @property
    def depth(self) -> int:
        return self.path.count(".") + self.path.count("[")


_INTEGER = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SCALARS = ("Integer", "Float", "String", "Boolean", "True")
_MISSING_HINTS = {
    "chat_id": "chat_id is empty",
    "text": "message text is empty",
    "photo": "there is no photo in the request",
    "document": "there is no document in the request",
    "message_id": "message identifier is not specified",
    "media": "media not found",
}


def union_member_tag(union: str, member: str) -> str:
    """Value of the ``type`` field of a union member: InputMediaLivePhoto -> live_photo."""
    suffix = member[len(union) :] if member.startswith(union) else member
    return re.sub(r"(?<!^)(?=[A-Z])", "_", suffix).lower()


class Schema:
    """The vendored Bot API schema, with request decoding and validation."""

    def __init__(self, data: dict) -> None:
        self.version: str | None = data.get("version")
        self.methods: dict[str, dict] = data["methods"]
        self.types: dict[str, dict] = data["types"]
        self._by_lower = {name.lower(): name for name in self.methods}

    @classmethod
    @functools.cache
    def load(cls, path: Path = SCHEMA_PATH) -> Schema:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def canonical(self, method: str) -> str | None:
        """Method names are case-insensitive in the Bot API."""
        return self._by_lower.get(method.lower())

    def type_fields(self, type_name: str) -> list[str]:
        return [f["name"] for f in self.types[type_name]["fields"]]

    # -- top level: every value arrives as a string (or a file part) --------------------

    def decode(self, method: str, raw: dict[str, str], files: dict[str, UploadedFile]) -> dict:
        params: dict[str, Any] = {}
        for spec in self.methods[method]["fields"]:
            name = spec["name"]
            value: Any = raw.get(name)
            if value is None or value == "":  # the Bot API treats an empty value as absent
                value = files.get(name)
            if value is None:
                if spec["required"]:
                    hint = _MISSING_HINTS.get(name, f'parameter "{name}" is required')
                    raise bad_request(hint)
                continue
            try:
                params[name] = self._decode_top(value, spec["types"], name)
            except SchemaError as err:
                raise bad_request(err.message) from None
        return params

    def _decode_top(self, value: str | UploadedFile, types: list[str], name: str) -> Any:
        if isinstance(value, UploadedFile):
            if "InputFile" in types:
                return value
            raise SchemaError(name, f'field "{name}" must be of type {" or ".join(types)}, not a file')
        errors: list[SchemaError] = []
        parsed: Any = _UNSET
        for type_name in types:
            try:
                if type_name in _SCALARS:
                    return self._coerce_text(value, type_name, name)
                if type_name == "InputFile":
                    continue  # as a string it is a file_id or URL: covered by String
                if parsed is _UNSET:
                    try:
                        parsed = json.loads(value)
                    except ValueError:
                        parsed = _INVALID
                if parsed is _INVALID:
                    raise SchemaError(name, f"can't parse {name} JSON object")
                return self.check(parsed, type_name, name)
            except SchemaError as err:
                errors.append(err)
        raise self._pick(errors, types, name)

    @staticmethod
    def _coerce_text(value: str, type_name: str, path: str) -> Any:
        if type_name == "String":
            return value
        if type_name == "Integer" and _INTEGER.fullmatch(value.strip()):
            return int(value)
        if type_name == "Float" and _FLOAT.fullmatch(value.strip()):
            return float(value)
        if type_name in ("Boolean", "True"):
            lowered = value.strip().lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
        raise SchemaError(path, f'field "{path}" must be of type {type_name}')

    # -- nested JSON values ----------------------------------------------------------

    def check_union(self, value: Any, types: list[str], path: str) -> Any:
        if len(types) == 1:
            return self.check(value, types[0], path)
        errors = []
        for type_name in types:
            try:
                return self.check(value, type_name, path)
            except SchemaError as err:
                errors.append(err)
        raise self._pick(errors, types, path)

    def check(self, value: Any, type_name: str, path: str) -> Any:
        """Validate a JSON value against a schema type; return the normalized value."""

        def wrong() -> SchemaError:
            return SchemaError(path, f'field "{path}" must be of type {type_name}')

        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                raise wrong()
            inner = type_name[len("Array of ") :]
            return [self.check(item, inner, f"{path}[{i}]") for i, item in enumerate(value)]
        if type_name == "Integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and _INTEGER.fullmatch(value):
                return int(value)
            raise wrong()
        if type_name == "Float":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and _FLOAT.fullmatch(value):
                return float(value)
            raise wrong()
        if type_name == "String":
            if isinstance(value, str):
                return value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return json.dumps(value)  # the real server accepts numbers for strings
            raise wrong()
        if type_name in ("Boolean", "True"):
            if isinstance(value, bool):
                return value
            raise wrong()
        if type_name == "InputFile":
            if isinstance(value, UploadedFile):
                return value
            raise wrong()

        spec = self.types.get(type_name)
        if spec is None:
            return value  # a type the vendored schema does not describe
        if not isinstance(value, dict):
            raise SchemaError(path, f'field "{path}" must be a JSON object of type {type_name}')
        if spec.get("subtypes"):
            tags = {union_member_tag(type_name, m): m for m in spec["subtypes"]}
            tag = value.get("type")
            if tag is None:
                raise SchemaError(f"{path}.type", f'field "{path}.type" is required')
            if tag not in tags:
                raise SchemaError(
                    f"{path}.type",
                    f'field "{path}.type" must be one of {", ".join(sorted(tags))}, got {tag!r}',
                )
            return self.check(value, tags[tag], path)
        result: dict[str, Any] = {}
        for field_spec in spec["fields"]:
            name = field_spec["name"]
            sub = f"{path}.{name}"
            item = value.get(name)
            if item is None:
                if field_spec["required"]:
                    raise SchemaError(sub, f'field "{sub}" is required')
                continue
            result[name] = self.check_union(item, field_spec["types"], sub)
        return result

    @staticmethod
    def _pick(errors: list[SchemaError], types: list[str], path: str) -> SchemaError:
        if not errors:
            return SchemaError(path, f'field "{path}" must be of type {" or ".join(types)}')
        if len({e.message for e in errors}) == 1:
            return errors[0]
        deepest = max(errors, key=lambda e: e.depth)
        if deepest.depth > path.count(".") + path.count("["):
            return deepest
        return SchemaError(path, f'field "{path}" must be of type {" or ".join(types)}')


_UNSET = object()
_INVALID = object()


def _form_value(value: Any) -> str | None:
    """Flatten a JSON body value to the string the Bot API would see in a form field."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)


# --------------------------------------------------------------------------------------
# users
# --------------------------------------------------------------------------------------


class FakeUser:
    """A Telegram user in a private chat with the bot, driven by the test.

    ``messages`` lists every message the bot sent to this chat, oldest first, in its
    current state; deleted ones stay in the list with ``deleted=True`` but are skipped
    by ``last``, ``press()`` and ``buttons()``.
    """

    def __init__(self, fake: FakeTelegram, user_id: int, first_name: str, username: str | None):
        self.fake = fake
        self.id = user_id
        self.chat_id = user_id
        self.first_name = first_name
        self.username = username
        self.language_code = "en"  # what the user's Telegram app is set to; a test may change it
        self.blocked = False
        self.messages: list[BotMessage] = []
        self.sent: list[dict] = []  # Message objects this user sent to the bot
        self.chat_actions: list[str] = []
        self.reply_keyboard: dict | None = None  # current ReplyKeyboardMarkup, if any
        self._next_message_id = 1
        self._by_id: dict[int, BotMessage] = {}
        self._user_message_ids: set[int] = set()

    def __repr__(self) -> str:
        return f"FakeUser({self.id}, {self.first_name!r})"

    # -- Bot API objects ------------------------------------------------------------

    @property
    def user_dict(self) -> dict:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        user["language_code"] = self.language_code
        return user

    @property
    def chat_dict(self) -> dict:
        chat: dict[str, Any] = {"id": self.chat_id, "type": "private", "first_name": self.first_name}
        if self.username:
            chat["username"] = self.username
        return chat

    def _allocate_message_id(self) -> int:
        message_id = self._next_message_id
        self._next_message_id += 1
        return message_id

    # -- acting as the user -----------------------------------------------------------

    async def send(self, text: str, reply_to_message_id: int | None = None) -> dict:
        """Send a text message to the bot (optionally as a reply to one of its messages); returns the Message."""
        message = self._new_user_message(text=text)
        if reply_to_message_id is not None:
            message["reply_to_message"] = copy.deepcopy(self.message(reply_to_message_id).raw)
        entities = []
        match = re.match(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?", text)
        if match:
            entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))})
        if entities:
            message["entities"] = entities
        return await self._deliver(message)

    async def send_document(
        self,
        content: bytes,
        file_name: str,
        mime_type: str = "text/csv",
        caption: str | None = None,
    ) -> dict:
        """Send a file to the bot; the bot can getFile/download it (up to 20 MB)."""
        stored = self.fake.register_file(content, kind="document", file_name=file_name, mime_type=mime_type)
        message = self._new_user_message(document=self.fake._document_dict(stored))
        if caption:
            message["caption"] = caption
        return await self._deliver(message)

    async def send_photo(self, content: bytes | None = None, caption: str | None = None) -> dict:
        """Send a photo to the bot (a generated PNG if no content is given)."""
        content = content if content is not None else png_bytes(64, 48)
        if image_size(content) is None:
            raise ValueError("send_photo needs image bytes (see png_bytes())")
        message = self._new_user_message(photo=self.fake._photo_sizes(content))
        if caption:
            message["caption"] = caption
        return await self._deliver(message)

    async def press(self, button_text: str, message_id: int | None = None) -> dict:
        """Press the inline button labelled ``button_text``; returns the CallbackQuery."""
        message = self._keyboard_message(message_id)
        found = [b for row in message.inline_keyboard for b in row if b["text"] == button_text]
        if len(found) != 1:
            problem = "no button" if not found else f"{len(found)} buttons"
            raise AssertionError(
                f"{problem} labelled {button_text!r} in message {message.message_id} "
                f"({message.body[:60]!r}); visible buttons: {message.buttons}"
            )
        button = found[0]
        if "callback_data" not in button:
            kinds = [k for k in button if k != "text"]
            raise AssertionError(
                f"button {button_text!r} is not a callback button ({kinds}); pressing it sends nothing to the bot"
            )
        return await self._callback(message, button["callback_data"])

    async def press_data(self, data: str, message_id: int) -> dict:
        """Send a callback query with arbitrary (forged or stale) data for a message."""
        message = self._by_id.get(message_id)
        if message is None or message.deleted:
            raise AssertionError(f"bot message {message_id} does not exist in chat {self.chat_id}")
        return await self._callback(message, data)

    def callback_answer(self, query_id: str) -> dict | None:
        """What answerCallbackQuery said for that query ({text, show_alert}), or None."""
        record = self.fake.callback_queries.get(query_id)
        return dict(record.answer) if record and record.answer is not None else None

    # -- what the user sees -----------------------------------------------------------

    @property
    def last(self) -> BotMessage:
        """The newest bot message that is not deleted."""
        for message in reversed(self.messages):
            if not message.deleted:
                return message
        raise AssertionError(f"the bot has not sent any (undeleted) message to {self!r}")

    def message(self, message_id: int) -> BotMessage:
        try:
            return self._by_id[message_id]
        except KeyError:
            raise AssertionError(
                f"no bot message {message_id} in chat {self.chat_id}; ids: {[m.message_id for m in self.messages]}"
            ) from None

    def buttons(self, message_id: int | None = None) -> list[list[str]]:
        """Visible button texts by row of a message (default: as press() would pick)."""
        if message_id is None and not any(m.inline_keyboard for m in self.messages if not m.deleted):
            return []
        return self._keyboard_message(message_id).buttons

    @property
    def texts(self) -> list[str]:
        """Bodies of all undeleted bot messages, oldest first."""
        return [m.body for m in self.messages if not m.deleted]

    # -- internals --------------------------------------------------------------------

    def _keyboard_message(self, message_id: int | None) -> BotMessage:
        if message_id is not None:
            message = self.message(message_id)
            if message.deleted:
                raise AssertionError(f"bot message {message_id} was deleted")
            return message
        for message in reversed(self.messages):
            if not message.deleted and message.inline_keyboard:
                return message
        summary = [(m.message_id, m.body[:40]) for m in self.messages if not m.deleted]
        raise AssertionError(f"no bot message with an inline keyboard in chat {self.chat_id}: {summary}")

    def _new_user_message(self, **content: Any) -> dict:
        message_id = self._allocate_message_id()
        self._user_message_ids.add(message_id)
        return {
            "message_id": message_id,
            "from": self.user_dict,
            "chat": self.chat_dict,
            "date": int(time.time()),
            **content,
        }

    async def resend(self, message: dict) -> None:
        """Deliver the same message again under a new update id, as Telegram does after a lost confirmation."""
        self.fake.enqueue({"message": copy.deepcopy(message)})
        await asyncio.sleep(0)

    async def _deliver(self, message: dict) -> dict:
        self.sent.append(message)
        self.fake.enqueue({"message": message})
        await asyncio.sleep(0)
        return copy.deepcopy(message)

    async def _callback(self, message: BotMessage, data: str) -> dict:
        query = {
            "id": str(next(self.fake._query_ids)),
            "from": self.user_dict,
            "message": copy.deepcopy(message.raw),
            "chat_instance": str(-(self.fake.bot_user["id"] * 7919 + self.chat_id)),  # stable per chat
            "data": data,
        }
        self.fake.callback_queries[str(query["id"])] = CallbackQueryRecord(query=query, pressed_at=self.fake.now())
        self.fake.enqueue({"callback_query": query})
        await asyncio.sleep(0)
        return copy.deepcopy(query)


# --------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------


class FakeTelegram:
    """The fake Bot API server plus the state of all chats."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        bot_username: str = "crowdshelf_test_bot",
        first_update_id: int = 100_000_001,
    ) -> None:
        self.token = token
        self.schema = Schema.load()
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.bot_user: dict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_username.removesuffix("_bot").replace("_", " ").title() or "Bot",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.requests: list[ApiCall] = []
        #: URLs that serve something other than an image.
        self.broken_photo_urls: set[str] = set()
        #: URLs Telegram cannot download at all.
        self.unreachable_photo_urls: set[str] = set()
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.bot_commands: dict[tuple[str, str], list[dict]] = {}
        self.files: dict[str, StoredFile] = {}
        self.downloads: list[str] = []
        self.server_errors: list[str] = []
        #: Application whose update queue idle() also waits for (see idle()).
        self.application: Any = None
        self.base_url = ""
        self.base_file_url = ""
        self.port: int | None = None
        self.inflight = 0
        #: Seconds after a press when answerCallbackQuery starts to fail (tests may shorten it).
        self.callback_query_ttl = CALLBACK_QUERY_TTL
        #: The webhook set with setWebhook ({url, secret_token, max_connections}), or None.
        self.webhook: dict | None = None
        #: Every POST of an update to the webhook, in the order they were answered.
        self.webhook_posts: list[WebhookPost] = []
        #: Seconds before an update whose post failed is posted again, and to wait for an answer.
        self.webhook_retry_delay = 0.05
        self.webhook_timeout = 10.0
        #: Called with each recorded API call as it is answered (the sandbox logs them).
        self.observers: list[Callable[[ApiCall], None]] = []

        self._clock_offset = 0.0
        self._users: dict[int, FakeUser] = {}
        self._updates: list[dict] = []
        # Telegram's update ids only grow: a server standing in for the same bot again starts past the last one.
        self._update_ids = itertools.count(first_update_id)
        self._query_ids = itertools.count(4_200_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._allowed_updates: set[str] | None = None
        self._poll: _Poll | None = None
        self._faults: list[dict] = []
        self._random_faults: list[dict] = []
        self._disruptions: list[dict] = []  # slow_at_random, reset_at_random
        self._inflight_methods: dict[str, int] = {}
        self._last_activity = 0.0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._stalls: list[Stall] = []
        self._webhook_targets: list[str] | None = None
        self._webhook_turn = itertools.count()
        self._webhook_task: asyncio.Task | None = None
        self._webhook_wake = asyncio.Event()
        self._posting: set[int] = set()
        self._post_tasks: set[asyncio.Task] = set()
        self._retry_at: dict[int, float] = {}
        self._webhook_error: tuple[int, str] | None = None
        self._handlers: dict[str, Callable[[dict, dict[str, UploadedFile]], Any]] = {
            "getMe": lambda p, f: dict(self.bot_user),
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "deleteWebhook": self._delete_webhook,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageMedia": self._edit_message_media,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "close": lambda p, f: True,
            "logOut": lambda p, f: True,
        }
        self._action_fields = [
            name
            for name in self.schema.type_fields("InlineKeyboardButton")
            if name not in ("text", "icon_custom_emoji_id", "style")
        ]

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, port: int = 0, routes: Iterable[web.AbstractRouteDef] = ()) -> None:
        """Listen on 127.0.0.1 on `port`, or on a free port; ``routes`` are served beside the Bot API
        (the sandbox's web page)."""
        app = web.Application(client_max_size=UPLOAD_LIMIT + 8 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.add_routes(routes)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{self.port}/bot"
        self.base_file_url = f"http://127.0.0.1:{self.port}/file/bot"
        self._closing = False
        self._touch()

    async def stop(self) -> None:
        self._closing = True
        await self._stop_webhook()
        if self._poll is not None:
            self._poll.event.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- test-facing API --------------------------------------------------------------

    def user(self, user_id: int, first_name: str = "Ann", username: str | None = None) -> FakeUser:
        """The user with this id (created on first use; the same object afterwards)."""
        if user_id not in self._users:
            self._users[user_id] = FakeUser(self, user_id, first_name, username)
        return self._users[user_id]

    @property
    def users(self) -> list[FakeUser]:
        return list(self._users.values())

    def calls(self, method: str) -> list[ApiCall]:
        """Recorded calls of one method (name matched case-insensitively)."""
        wanted = method.lower()
        return [call for call in self.requests if call.method.lower() == wanted]

    @property
    def errors(self) -> list[ApiCall]:
        """Recorded calls that got an error response."""
        return [call for call in self.requests if call.status != 200]

    @property
    def bot_sender(self) -> dict:
        """The bot as the ``from`` of its messages (getMe's extra flags are not included)."""
        return {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}

    def now(self) -> float:
        """The server's clock (Unix seconds): the real time plus whatever advance() added."""
        return time.time() + self._clock_offset

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on the server's clock at once, e.g. while the bot is down."""
        self._clock_offset += seconds

    @property
    def pending_updates(self) -> int:
        """Updates enqueued but not yet confirmed by a later getUpdates offset."""
        return len(self._updates)

    def pending_from(self, user_id: int) -> int:
        """Updates from this user not yet delivered: one a test waits for is acknowledged when this is 0."""
        senders = (next(v for k, v in u.items() if k != "update_id").get("from", {}) for u in self._updates)
        return sum(sender.get("id") == user_id for sender in senders)

    def enqueue(self, update: dict) -> dict:
        """Queue a raw update (``update_id`` is assigned); wakes a waiting getUpdates."""
        update = {"update_id": next(self._update_ids), **copy.deepcopy(update)}
        self._updates.append(update)
        self._touch()
        if self._poll is not None:
            self._poll.event.set()
        self._webhook_wake.set()
        return update

    def balance_webhook(self, urls: list[str] | None) -> None:
        """Post each update to the next of these addresses instead of the webhook's URL (a load balancer in
        front of instances; None: the webhook's URL again)."""
        self._webhook_targets = list(urls) if urls else None

    def stall(self, method: str) -> Stall:
        """Hold the next valid call of ``method`` until the returned stall is released."""
        stall = Stall(method.lower())
        self._stalls.append(stall)
        return stall

    def posts_of(self, update_id: int) -> list[WebhookPost]:
        return [post for post in self.webhook_posts if post.update_id == update_id]

    def take_updates(self) -> list[dict]:
        """Hand out every pending update and forget it, as a load balancer in front of several bot
        instances would: the test gives each one to the instance of its choice instead of letting one poll."""
        taken, self._updates = self._updates, []
        return copy.deepcopy(taken)

    def fail_next(
        self,
        method: str,
        description: str = "Too Many Requests: retry after 1",
        status: int = 429,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` valid calls of ``method`` fail with this error.

        With status 429 ``parameters.retry_after`` defaults to the number in the
        description (python-telegram-bot raises ``RetryAfter``).
        """
        if status == 429 and retry_after is None:
            match = re.search(r"\d+", description)
            retry_after = int(match.group(0)) if match else 1
        self._faults.append(
            {
                "method": method.lower(),
                "error": ApiError(status, description, retry_after),
                "times": times,
            }
        )

    def fail_at_random(
        self,
        methods: Iterable[str],
        share: float,
        rng: random.Random,
        description: str = "Bad Gateway",
        status: int = 502,
    ) -> None:
        """Make each valid call of these methods fail with probability ``share``, drawn from ``rng``
        (seed it, and a run is reproducible)."""
        self._random_faults.append(
            {
                "methods": {method.lower() for method in methods},
                "share": share,
                "rng": rng,
                "error": ApiError(status, description),
            }
        )

    def slow_at_random(
        self, methods: Iterable[str], share: float, rng: random.Random, seconds: tuple[float, float] = (2.0, 5.0)
    ) -> None:
        """Make each valid call of these methods, with probability ``share``, wait a time drawn from
        ``seconds`` before it is carried out; one whose caller gave up meanwhile is not carried out."""
        self._disruptions.append({"methods": {m.lower() for m in methods}, "share": share, "rng": rng, "slow": seconds})

    def reset_at_random(self, methods: Iterable[str], share: float, rng: random.Random) -> None:
        """Reset the connection of each valid call of these methods, with probability ``share``, before it
        is carried out (the bot sees a network error; nothing happens)."""
        self._disruptions.append({"methods": {m.lower() for m in methods}, "share": share, "rng": rng, "slow": None})

    def register_file(
        self,
        content: bytes,
        *,
        kind: str = "document",
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        """Store a file on the "Telegram servers" and give it a file_id."""
        number = next(self._file_ids)
        prefix = {"photo": "AgAC", "document": "BQAC"}.get(kind, "CAAC")
        stored = StoredFile(
            file_id=f"{prefix}AgIAAxkBAAI{number:06d}FakeFileId{self.bot_user['id']}",
            file_unique_id=f"AQAD{number:06d}",
            kind=kind,
            data=content,
            size=len(content),
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        return stored

    def commands(self, scope: dict | None = None, language_code: str = "") -> list[dict]:
        """The command list set with setMyCommands for a scope/language."""
        return list(self.bot_commands.get(self._commands_key(scope, language_code), []))

    async def idle(self, quiet: float = 0.05, timeout: float = 10, application: Any = None) -> None:
        """Wait until the bot has nothing left to do.

        Returns once no update is pending (all were fetched *and* confirmed by a later
        getUpdates), no API request is being handled, there was no API request (other
        than getUpdates polls that returned nothing) for ``quiet`` seconds and - when an
        ``application`` is given or set as :attr:`application` - its update queue has no
        update that is fetched but not fully processed.  Raises ``TimeoutError`` with the
        reason after ``timeout`` seconds.
        """
        application = application if application is not None else self.application
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.server_errors:
                raise AssertionError("the fake Telegram server crashed:\n" + self.server_errors[0])
            busy = self._busy_reason(application)
            now = loop.time()
            if busy is None and now - self._last_activity >= quiet:
                return
            if now >= deadline:
                reason = busy or f"an API request less than {quiet}s ago"
                recent = ", ".join(f"{c.method}->{c.status}" for c in self.requests[-5:])
                raise TimeoutError(f"bot not idle after {timeout}s: {reason}. Last requests: [{recent}]")
            await asyncio.sleep(min(0.005, max(quiet / 4, 0.001)))

    def _busy_reason(self, application: Any) -> str | None:
        if self._updates:
            kinds = [next(k for k in u if k != "update_id") for u in self._updates]
            return (
                f"{len(self._updates)} update(s) not yet fetched and confirmed by getUpdates "
                f"({kinds}; is the Application polling?)"
            )
        if self.inflight:
            return f"{self.inflight} API request(s) in flight: {self._inflight_methods}"
        if application is not None:
            queue = application.update_queue
            unfinished = getattr(queue, "_unfinished_tasks", queue.qsize())
            if unfinished:
                return f"{unfinished} update(s) still being processed by the Application"
        return None

    # -- HTTP -------------------------------------------------------------------------

    def _touch(self) -> None:
        try:
            self._last_activity = asyncio.get_running_loop().time()
        except RuntimeError:
            self._last_activity = time.monotonic()

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _handle_api(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        method_name = request.match_info["method"]
        method = self.schema.canonical(method_name)
        counted = method != "getUpdates"
        if counted:
            self.inflight += 1
            self._inflight_methods[method_name] = self._inflight_methods.get(method_name, 0) + 1
            self._touch()
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        delivered = True
        try:
            raw, files = await self._read_params(request)
            params = {**raw, **files}  # what gets logged if the request is rejected
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if method is None:
                raise ApiError(404, "Not Found")
            params = self.schema.decode(method, raw, files)
            if not await self._wait_if_stalled(method, request):
                # The bot went away while its call was held (an instance killed mid-update): nothing happens.
                return web.Response(status=499)
            if not await self._maybe_disrupt(method, request):
                return web.Response(status=499)  # reset, or given up while slowed: nothing happens
            self._maybe_fail(method)
            if method == "getUpdates":
                result = await self._get_updates(params)
                delivered = bool(result)
            else:
                result = self._handlers[method](params, files)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as err:
            status, body = err.status, err.payload()
        except Exception:  # a bug in the fake: make it loud
            trace = traceback.format_exc()
            self.server_errors.append(trace)
            log.error("fake Telegram crashed handling %s:\n%s", method_name, trace)
            status = 500
            body = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        finally:
            if counted:
                self.inflight -= 1
                left = self._inflight_methods.get(method_name, 1) - 1
                if left:
                    self._inflight_methods[method_name] = left
                else:
                    self._inflight_methods.pop(method_name, None)
        body = json.loads(json.dumps(body))  # a snapshot: later edits must not change the log
        call = ApiCall(method or method_name, params, status, body, files, arrived)
        self.requests.append(call)
        for observe in self.observers:
            observe(call)
        if counted or delivered:
            self._touch()
        return web.json_response(body, status=status)

    async def _read_params(self, request: web.Request) -> tuple[dict[str, str], dict[str, UploadedFile]]:
        raw: dict[str, str] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if not request.can_read_body:
            return raw, files
        try:
            if request.content_type == "application/json":
                try:
                    data = json.loads(await request.read() or b"{}")
                except ValueError:
                    raise bad_request("can't parse JSON encoded request") from None
                if not isinstance(data, dict):
                    raise bad_request("JSON request body must be an object")
                for key, value in data.items():
                    flat = _form_value(value)
                    if flat is not None:
                        raw[key] = flat
            elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(key, value.filename, value.content_type, value.file.read())
                    elif isinstance(value, bytes | bytearray):
                        raw[key] = bytes(value).decode("utf-8", "replace")
                    else:
                        raw[key] = value
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, "Request Entity Too Large") from None
        return raw, files

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.file_path == path and stored.data is not None:
                self.downloads.append(path)
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _wait_if_stalled(self, method: str, request: web.Request) -> bool:
        """False when the caller went away while its call was held."""
        stall = next((stall for stall in self._stalls if stall.method == method.lower()), None)
        if stall is None:
            return True
        self._stalls.remove(stall)
        stall.reached.set()
        while not stall.released.is_set():
            if request.transport is None or request.transport.is_closing():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stall.released.wait(), 0.05)
        return True

    async def _maybe_disrupt(self, method: str, request: web.Request) -> bool:
        """False when the call is not to be carried out: its connection reset, or its caller gone."""
        for disruption in self._disruptions:
            if method.lower() not in disruption["methods"] or disruption["rng"].random() >= disruption["share"]:
                continue
            if disruption["slow"] is None:
                assert request.transport is not None
                request.transport.abort()
                return False
            deadline = time.monotonic() + disruption["rng"].uniform(*disruption["slow"])
            while time.monotonic() < deadline:
                if request.transport is None or request.transport.is_closing():
                    return False
                await asyncio.sleep(0.05)
        return True

    def _maybe_fail(self, method: str) -> None:
        for fault in self._random_faults:
            if method.lower() in fault["methods"] and fault["rng"].random() < fault["share"]:
                raise fault["error"]
        for fault in self._faults:
            if fault["method"] == method.lower():
                fault["times"] -= 1
                if fault["times"] <= 0:
                    self._faults.remove(fault)
                raise fault["error"]

    # -- updates ----------------------------------------------------------------------

    async def _get_updates(self, p: dict) -> list[dict]:
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
        offset = p.get("offset")
        limit = min(max(p.get("limit", 100), 1), 100)
        timeout = max(p.get("timeout", 0), 0)
        if "allowed_updates" in p:
            self._allowed_updates = set(p["allowed_updates"]) or None
        if offset:
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            else:
                self._updates = self._updates[offset:]
        if self._poll is not None:  # only one getUpdates at a time, like the real server
            self._poll.superseded = True
            self._poll.event.set()
        batch = self._deliverable(limit)
        if batch or timeout == 0 or self._closing:
            return batch
        poll = self._poll = _Poll()
        try:
            await asyncio.wait_for(poll.event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            if self._poll is poll:
                self._poll = None
        if poll.superseded:
            raise ApiError(409, CONFLICT)
        if self._closing:
            return []
        return self._deliverable(limit)

    def _deliverable(self, limit: int) -> list[dict]:
        return copy.deepcopy(self._allowed_pending()[:limit])

    def _allowed_pending(self) -> list[dict]:
        """The pending updates of the kinds the bot asked for (the others are dropped, as Telegram does)."""

        def allowed(update: dict) -> bool:
            kind = next(k for k in update if k != "update_id")
            if self._allowed_updates is None:
                return kind not in DEFAULT_EXCLUDED_UPDATES
            return kind in self._allowed_updates

        self._updates = [u for u in self._updates if allowed(u)]
        return self._updates

    def _delete_webhook(self, p: dict, files: dict) -> bool:
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = None
        self._webhook_error = None
        self._webhook_wake.set()  # the delivery loop sees there is no webhook and ends
        return True

    # -- webhooks ---------------------------------------------------------------------

    def _set_webhook(self, p: dict, files: dict) -> bool:
        url = p["url"]
        if not url:
            return self._delete_webhook(p, files)
        parts = urllib.parse.urlsplit(url)
        loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
        if not (parts.scheme == "https" and parts.hostname) and not loopback:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not SECRET_TOKEN.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        if "allowed_updates" in p:
            self._allowed_updates = set(p["allowed_updates"]) or None
        if p.get("drop_pending_updates"):
            self._updates.clear()
        connections = min(max(p.get("max_connections", 40), 1), 100)
        self.webhook = {"url": url, "secret_token": secret, "max_connections": connections}
        self._webhook_error = None
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_to_webhook())
        self._webhook_wake.set()
        return True

    def _get_webhook_info(self, p: dict, files: dict) -> dict:
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        if self.webhook is None:
            return info
        info.update(url=self.webhook["url"], max_connections=self.webhook["max_connections"])
        if self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        if self._webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    async def _deliver_to_webhook(self) -> None:
        """Post every deliverable update, at most max_connections at once, until the webhook is deleted."""
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session:
            while self.webhook is not None and not self._closing:
                self._webhook_wake.clear()
                now = loop.time()
                room = self.webhook["max_connections"] - len(self._posting)
                due = [
                    u
                    for u in self._allowed_pending()
                    if u["update_id"] not in self._posting and self._retry_at.get(u["update_id"], 0) <= now
                ]
                for update in due[: max(room, 0)]:
                    self._posting.add(update["update_id"])
                    task = loop.create_task(self._post_update(session, copy.deepcopy(update)))
                    self._post_tasks.add(task)
                    task.add_done_callback(self._post_tasks.discard)
                waits = [at - now for key, at in self._retry_at.items() if key not in self._posting and at > now]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._webhook_wake.wait(), min(waits, default=1.0))
            if self._post_tasks:
                await asyncio.gather(*self._post_tasks, return_exceptions=True)

    async def _post_update(self, session: aiohttp.ClientSession, update: dict) -> None:
        assert self.webhook is not None
        targets = self._webhook_targets or [self.webhook["url"]]
        url = targets[next(self._webhook_turn) % len(targets)]
        headers = {SECRET_HEADER: self.webhook["secret_token"]} if self.webhook["secret_token"] else {}
        post = WebhookPost(update["update_id"], url, None)
        try:
            timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
            async with session.post(url, json=update, headers=headers, timeout=timeout) as response:
                post.status = response.status
                if not 200 <= response.status < 300:
                    post.error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except TimeoutError:
            post.error = "Read timeout expired"
        except aiohttp.ClientError as error:
            post.error = f"Connection failed: {error}"
        finally:
            self._posting.discard(update["update_id"])
        self.webhook_posts.append(post)
        if post.error is None:
            self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
            self._retry_at.pop(update["update_id"], None)
        else:
            self._webhook_error = (int(self.now()), post.error)
            self._retry_at[update["update_id"]] = asyncio.get_running_loop().time() + self.webhook_retry_delay
        self._touch()
        self._webhook_wake.set()

    async def _stop_webhook(self) -> None:
        for stall in self._stalls:
            stall.release()
        task, self._webhook_task = self._webhook_task, None
        if task is None:
            return
        self._webhook_wake.set()
        for post in list(self._post_tasks):
            post.cancel()
        await asyncio.gather(task, return_exceptions=True)

    # -- commands ---------------------------------------------------------------------

    @staticmethod
    def _commands_key(scope: dict | None, language_code: str | None) -> tuple[str, str]:
        scope = scope or {"type": "default"}
        return json.dumps(scope, sort_keys=True), language_code or ""

    def _set_my_commands(self, p: dict, files: dict) -> bool:
        commands = p["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"].strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(p.get("scope"), p.get("language_code"))
        if commands:
            self.bot_commands[key] = [dict(c) for c in commands]
        else:
            self.bot_commands.pop(key, None)
        return True

    def _get_my_commands(self, p: dict, files: dict) -> list[dict]:
        return self.commands(p.get("scope"), p.get("language_code") or "")

    def _delete_my_commands(self, p: dict, files: dict) -> bool:
        self.bot_commands.pop(self._commands_key(p.get("scope"), p.get("language_code")), None)
        return True

    # -- shared checks ----------------------------------------------------------------

    def _chat(self, p: dict) -> FakeUser:
        chat_id = p.get("chat_id")
        if chat_id is None:
            raise bad_request("chat_id is empty")
        if isinstance(chat_id, str):
            if not _INTEGER.fullmatch(chat_id.strip()):
                raise bad_request("chat not found")  # @usernames resolve only for public chats
            chat_id = int(chat_id)
        user = self._users.get(chat_id)
        if user is None:
            raise bad_request("chat not found")
        if user.blocked:
            raise forbidden("bot was blocked by the user")
        return user

    def _format(self, text: str | None, parse_mode: str | None, entities: list[dict] | None) -> tuple[str, list[dict]]:
        text = text or ""
        if parse_mode:
            parser = _PARSERS.get(parse_mode.lower())
            if parser is None:
                raise bad_request(f"unsupported parse_mode {parse_mode!r}: this local server parses HTML only")
            try:
                text, found = parser(text)
            except _EntityError as err:
                raise bad_request(f"can't parse entities: {err}") from None
        else:
            found = [dict(e) for e in entities or []]
            limit = utf16_len(text)
            for ent in found:
                if ent["offset"] < 0 or ent["length"] <= 0 or ent["offset"] + ent["length"] > limit:
                    raise bad_request("can't parse entities: entity beyond the end of the text")
        return _strip_text(text, found)

    def _text(self, p: dict, key: str = "text") -> tuple[str, list[dict]]:
        text, entities = self._format(p.get(key), p.get("parse_mode"), p.get("entities"))
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        return text, entities

    def _caption(self, p: dict) -> tuple[str, list[dict]]:
        caption, entities = self._format(p.get("caption"), p.get("parse_mode"), p.get("caption_entities"))
        if utf16_len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return caption, entities

    def _markup(self, markup: dict | None, *, inline_only: bool = False) -> dict | None:
        """Validate a reply_markup; return the inline keyboard to store (or None)."""
        if markup is None:
            return None
        if "inline_keyboard" not in markup:
            if inline_only:  # the schema only allows InlineKeyboardMarkup here
                raise bad_request("can't parse reply_markup: an inline keyboard is expected")
            if "keyboard" in markup and not any(markup["keyboard"]):
                raise bad_request("keyboard must be non-empty")
            return None
        count = 0
        for row in markup["inline_keyboard"]:
            for button in row:
                count += 1
                self._check_button(button)
        if count > MAX_BUTTONS:
            raise bad_request("reply markup is too long")
        return markup if count else None

    def _check_button(self, button: dict) -> None:
        actions = [
            name for name in self._action_fields if name in button and not (name == "pay" and button[name] is False)
        ]
        if not actions:
            raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
        if len(actions) > 1:
            raise bad_request(
                "can't parse inline keyboard button: exactly one of the optional fields must be "
                f"used, got {', '.join(actions)}"
            )
        if "callback_data" in button:
            size = len(button["callback_data"].encode("utf-8"))
            if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                raise bad_request("BUTTON_DATA_INVALID")
        if "url" in button:
            url = button["url"]
            scheme = url.split("://", 1)[0].lower() if "://" in url else None
            if not url.strip() or " " in url or (scheme and scheme not in ("http", "https", "tg")):
                raise bad_request("BUTTON_URL_INVALID")
        if not button["text"].strip():
            raise bad_request("BUTTON_TEXT_INVALID")

    def _reply_to(self, user: FakeUser, p: dict) -> dict | None:
        params = p.get("reply_parameters")
        if not params:
            return None
        target = params["message_id"]
        exists = target in user._user_message_ids or (target in user._by_id and not user._by_id[target].deleted)
        if exists:
            if target in user._by_id:
                return copy.deepcopy(user._by_id[target].raw)
            return next((copy.deepcopy(m) for m in user.sent if m["message_id"] == target), None)
        if params.get("allow_sending_without_reply"):
            return None
        raise bad_request("message to be replied not found")

    def _resolve_file(self, value: Any, files: dict[str, UploadedFile], kind: str) -> tuple[Any, str | None]:
        """An InputFile|String value -> (UploadedFile | StoredFile | URL, what was sent)."""
        if isinstance(value, UploadedFile):
            return value, None
        if value.startswith("attach://"):
            name = value[len("attach://") :]
            if name not in files:
                raise bad_request(f"{kind} not found: no file attached as {name!r}")
            return files[name], None
        if is_http_url(value):
            if value in self.broken_photo_urls:
                raise bad_request("wrong type of the web page content")
            if value in self.unreachable_photo_urls:
                raise bad_request("wrong file identifier/HTTP URL specified")
            return value, value
        stored = self.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request("type of file mismatch")
        return stored, value

    # -- message construction -----------------------------------------------------------

    def _photo_sizes(self, data: bytes) -> list[dict]:
        width, height = image_size(data) or (800, 600)
        sizes = []
        if max(width, height) > 90:
            scale = 90 / max(width, height)
            sizes.append((max(int(width * scale), 1), max(int(height * scale), 1)))
        sizes.append((width, height))
        result = []
        for w, h in sizes:
            stored = self.register_file(data, kind="photo", mime_type="image/jpeg")
            result.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": w,
                    "height": h,
                    "file_size": stored.size,
                }
            )
        return result

    @staticmethod
    def _document_dict(stored: StoredFile) -> dict:
        document: dict[str, Any] = {}
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        document.update(file_id=stored.file_id, file_unique_id=stored.file_unique_id, file_size=stored.size)
        return document

    def _photo_content(self, value: Any) -> tuple[list[dict], bytes, str]:
        """-> (PhotoSize list, bytes, what BotMessage.photo shows)."""
        if isinstance(value, UploadedFile):
            if not value.data:
                raise bad_request("file must be non-empty")
            if image_size(value.data) is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            sizes = self._photo_sizes(value.data)
            return sizes, value.data, sizes[-1]["file_id"]
        if isinstance(value, StoredFile):
            data = value.data or b""
            sizes = [
                {
                    "file_id": value.file_id,
                    "file_unique_id": value.file_unique_id,
                    "width": (image_size(data) or (800, 600))[0],
                    "height": (image_size(data) or (800, 600))[1],
                    "file_size": value.size,
                }
            ]
            return sizes, data, value.file_id
        data = png_bytes(32, 24)  # a URL: Telegram downloads it; we make up the content
        return self._photo_sizes(data), data, value

    def _document_content(self, value: Any) -> tuple[dict, bytes | None, StoredFile]:
        if isinstance(value, UploadedFile):
            if not value.data:
                raise bad_request("file must be non-empty")
            if len(value.data) > UPLOAD_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
            name = value.filename or "document"
            mime = value.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
            stored = self.register_file(value.data, kind="document", file_name=name, mime_type=mime)
        elif isinstance(value, StoredFile):
            stored = value
        else:
            name = value.rstrip("/").rsplit("/", 1)[-1] or "document"
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
            stored = self.register_file(b"", kind="document", file_name=name, mime_type=mime)
        return self._document_dict(stored), stored.data, stored

    def _new_bot_message(
        self,
        user: FakeUser,
        content: dict,
        inline_markup: dict | None,
        sent_markup: dict | None,
        reply_to: dict | None,
        *,
        source: str | None,
        parse_mode: str | None,
    ) -> BotMessage:
        raw: dict[str, Any] = {
            "message_id": user._allocate_message_id(),
            "from": self.bot_sender,
            "chat": user.chat_dict,
            "date": int(time.time()),
        }
        if reply_to is not None:
            raw["reply_to_message"] = reply_to
        raw.update(content)
        if inline_markup is not None:
            raw["reply_markup"] = inline_markup
        message = BotMessage(message_id=raw["message_id"], raw=raw, source=source, parse_mode=parse_mode)
        self._sync(message)
        message.reply_markup = sent_markup
        user.messages.append(message)
        user._by_id[message.message_id] = message
        if sent_markup and "keyboard" in sent_markup:
            user.reply_keyboard = sent_markup
        elif sent_markup and sent_markup.get("remove_keyboard"):
            user.reply_keyboard = None
        return message

    @staticmethod
    def _sync(message: BotMessage) -> None:
        raw = message.raw
        message.text = raw.get("text")
        message.caption = raw.get("caption")
        message.entities = list(raw.get("entities") or raw.get("caption_entities") or [])
        message.reply_markup = raw.get("reply_markup")
        message.edited = "edit_date" in raw
        if "document" in raw:
            message.document = raw["document"]
        else:
            message.document = None
            message.document_bytes = None
        if "photo" not in raw:
            message.photo = None
            message.photo_bytes = None

    @staticmethod
    def _set_body(raw: dict, key: str, text: str, entities: list[dict]) -> None:
        entities_key = "entities" if key == "text" else "caption_entities"
        raw.pop(key, None)
        raw.pop(entities_key, None)
        if text:
            raw[key] = text
            if entities:
                raw[entities_key] = entities

    # -- sending ----------------------------------------------------------------------

    def _send_message(self, p: dict, files: dict) -> dict:
        user = self._chat(p)
        text, entities = self._text(p)
        inline = self._markup(p.get("reply_markup"))
        reply_to = self._reply_to(user, p)
        content: dict[str, Any] = {}
        self._set_body(content, "text", text, entities)
        message = self._new_bot_message(
            user,
            content,
            inline,
            p.get("reply_markup"),
            reply_to,
            source=p["text"],
            parse_mode=p.get("parse_mode"),
        )
        return message.raw

    def _send_photo(self, p: dict, files: dict) -> dict:
        user = self._chat(p)
        value, _ = self._resolve_file(p["photo"], files, "photo")
        caption, entities = self._caption(p)
        inline = self._markup(p.get("reply_markup"))
        reply_to = self._reply_to(user, p)
        sizes, data, shown = self._photo_content(value)
        content: dict[str, Any] = {"photo": sizes}
        self._set_body(content, "caption", caption, entities)
        if p.get("has_spoiler"):
            content["has_media_spoiler"] = True
        message = self._new_bot_message(
            user,
            content,
            inline,
            p.get("reply_markup"),
            reply_to,
            source=p.get("caption"),
            parse_mode=p.get("parse_mode"),
        )
        message.photo, message.photo_bytes = shown, data
        return message.raw

    def _send_document(self, p: dict, files: dict) -> dict:
        user = self._chat(p)
        value, _ = self._resolve_file(p["document"], files, "document")
        caption, entities = self._caption(p)
        inline = self._markup(p.get("reply_markup"))
        reply_to = self._reply_to(user, p)
        document, data, _ = self._document_content(value)
        content: dict[str, Any] = {"document": document}
        self._set_body(content, "caption", caption, entities)
        message = self._new_bot_message(
            user,
            content,
            inline,
            p.get("reply_markup"),
            reply_to,
            source=p.get("caption"),
            parse_mode=p.get("parse_mode"),
        )
        message.document_bytes = data
        return message.raw

    def _send_chat_action(self, p: dict, files: dict) -> bool:
        user = self._chat(p)
        if p["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        user.chat_actions.append(p["action"])
        return True

    # -- editing ----------------------------------------------------------------------

    def _edit_target(self, p: dict) -> tuple[FakeUser, BotMessage]:
        if p.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # the bot sends no inline messages here
        if "chat_id" not in p:
            raise bad_request("chat_id is empty")
        if "message_id" not in p:
            raise bad_request("message identifier is not specified")
        user = self._chat(p)
        message = user._by_id.get(p["message_id"])
        if message is None or message.deleted:
            if p["message_id"] in user._user_message_ids:
                raise bad_request("message can't be edited")
            raise bad_request("message to edit not found")
        return user, message

    def _finish_edit(self, message: BotMessage, new_raw: dict, p: dict, source: str | None) -> dict:
        message.history.append(copy.deepcopy(message.raw))
        new_raw["edit_date"] = int(time.time())
        message.raw = new_raw
        self._sync(message)
        if source is not None:
            message.source, message.parse_mode = source, p.get("parse_mode")
        return message.raw

    def _edit_message_text(self, p: dict, files: dict) -> dict:
        _, message = self._edit_target(p)
        if "text" not in message.raw:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._text(p)
        inline = self._markup(p.get("reply_markup"), inline_only=True)
        new_raw = copy.deepcopy(message.raw)
        self._set_body(new_raw, "text", text, entities)
        self._apply_markup(new_raw, inline)
        self._check_modified(message.raw, new_raw)
        return self._finish_edit(message, new_raw, p, p["text"])

    def _edit_message_caption(self, p: dict, files: dict) -> dict:
        _, message = self._edit_target(p)
        if "text" in message.raw:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._caption(p)
        inline = self._markup(p.get("reply_markup"), inline_only=True)
        new_raw = copy.deepcopy(message.raw)
        self._set_body(new_raw, "caption", caption, entities)
        self._apply_markup(new_raw, inline)
        self._check_modified(message.raw, new_raw)
        return self._finish_edit(message, new_raw, p, p.get("caption") or "")

    def _edit_message_reply_markup(self, p: dict, files: dict) -> dict:
        _, message = self._edit_target(p)
        inline = self._markup(p.get("reply_markup"), inline_only=True)
        new_raw = copy.deepcopy(message.raw)
        self._apply_markup(new_raw, inline)
        self._check_modified(message.raw, new_raw)
        return self._finish_edit(message, new_raw, p, None)

    def _edit_message_media(self, p: dict, files: dict) -> dict:
        _, message = self._edit_target(p)
        if "text" in message.raw:
            raise bad_request("there is no media in the message to edit")
        media = p["media"]
        kind = media["type"]
        value, sent = self._resolve_file(media["media"], files, kind)
        caption, entities = self._format(media.get("caption"), media.get("parse_mode"), media.get("caption_entities"))
        if utf16_len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        inline = self._markup(p.get("reply_markup"), inline_only=True)

        old = message.raw
        current_ids = {size["file_id"] for size in old.get("photo", [])}
        current_ids.add((old.get("document") or {}).get("file_id"))
        unchanged = (isinstance(value, StoredFile) and value.file_id in current_ids) or (
            sent is not None and sent == message.photo
        )
        new_raw = copy.deepcopy(old)
        for key in ("photo", "document", "video", "animation", "audio", "live_photo"):
            new_raw.pop(key, None)
        photo: tuple[str, bytes] | None = None
        document: tuple[dict, bytes | None] | None = None
        if unchanged and kind in old:
            new_raw[kind] = copy.deepcopy(old[kind])
        elif kind == "photo":
            sizes, data, shown = self._photo_content(value)
            new_raw["photo"] = sizes
            photo = (shown, data)
        elif kind == "document":
            doc, doc_data, _ = self._document_content(value)
            new_raw["document"] = doc
            document = (doc, doc_data)
        else:  # video, audio, ...: the bot does not use them; store a minimal object
            if isinstance(value, UploadedFile):
                stored = self.register_file(value.data, kind=kind, file_name=value.filename)
            elif isinstance(value, StoredFile):
                stored = value
            else:
                stored = self.register_file(b"", kind=kind)
            new_raw[kind] = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": stored.size,
            }
        self._set_body(new_raw, "caption", caption, entities)
        self._apply_markup(new_raw, inline)
        self._check_modified(old, new_raw)
        result = self._finish_edit(message, new_raw, p, media.get("caption") or "")
        if photo:
            message.photo, message.photo_bytes = photo
        if document:
            message.document, message.document_bytes = document
        return result

    @staticmethod
    def _apply_markup(raw: dict, inline: dict | None) -> None:
        # Editing without reply_markup removes the inline keyboard, as on Telegram.
        raw.pop("reply_markup", None)
        if inline is not None:
            raw["reply_markup"] = inline

    @staticmethod
    def _check_modified(old: dict, new: dict) -> None:
        keys = ("text", "entities", "caption", "caption_entities", "reply_markup")
        media = ("photo", "document", "video", "animation", "audio", "live_photo")
        if all(old.get(k) == new.get(k) for k in keys + media):
            raise bad_request(NOT_MODIFIED)

    def _delete_message(self, p: dict, files: dict) -> bool:
        chat_id = p["chat_id"]
        user = self._users.get(int(chat_id)) if _INTEGER.fullmatch(str(chat_id)) else None
        if user is None:
            raise bad_request("chat not found")
        message_id = p["message_id"]
        message = user._by_id.get(message_id)
        if message is not None and not message.deleted:
            message.deleted = True
            return True
        if message_id in user._user_message_ids:
            user._user_message_ids.discard(message_id)
            return True
        raise bad_request("message to delete not found")

    # -- callback queries and files -----------------------------------------------------

    def _answer_callback_query(self, p: dict, files: dict) -> bool:
        record = self.callback_queries.get(p["callback_query_id"])
        if record is None or record.answered or self.now() - record.pressed_at > self.callback_query_ttl:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = p.get("text")
        if text is not None and utf16_len(text) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answered = True
        record.answer = {"text": text, "show_alert": bool(p.get("show_alert", False))}
        if p.get("url"):
            record.answer["url"] = p["url"]
        return True

    def _get_file(self, p: dict, files: dict) -> dict:
        stored = self.files.get(p["file_id"])
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > DOWNLOAD_LIMIT:
            raise bad_request("file is too big")
        if stored.file_path is None:
            folder = {"photo": "photos", "document": "documents"}.get(stored.kind, f"{stored.kind}s")
            suffix = Path(stored.file_name or "").suffix or (".jpg" if stored.kind == "photo" else "")
            number = stored.file_unique_id[4:].lstrip("0") or "0"
            stored.file_path = f"{folder}/file_{number}{suffix}"
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }
