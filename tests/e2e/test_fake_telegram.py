"""Self-tests of the fake Bot API server, driven by python-telegram-bot itself."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, InvalidToken, RetryAfter
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from sandbox.telegram_server import SCHEMA_PATH, FakeTelegram, png_bytes
from sandbox.vendor_schema import METHODS, base_type

pytestmark = [
    # do_api_request() on methods Bot has wrappers for is how we send malformed requests
    pytest.mark.filterwarnings("ignore:Please use 'Bot.:telegram.warnings.PTBUserWarning"),
    pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"),
]


@pytest.fixture
async def fake():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake):
    """A plain telegram.Bot talking to the fake (named so as not to shadow conftest's bot)."""
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as client:
        yield client


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in row] for row in rows])


@contextlib.asynccontextmanager
async def running(app):
    """Run an Application with polling inside the test's event loop."""
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=5)
        await app.start()
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def raw_call(fake, method: str, *, token: str | None = None, **kwargs) -> tuple[int, dict]:
    url = f"{fake.base_url}{token or fake.token}/{method}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(kwargs.pop("http_method", "POST"), url, **kwargs) as response,
    ):
        return response.status, await response.json()


# --- schema and transport -----------------------------------------------------------------


def test_vendored_schema_is_complete():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert sorted(schema["methods"]) == sorted(METHODS)
    for entry in [*schema["methods"].values(), *schema["types"].values()]:
        assert set(entry) <= {"name", "fields", "subtypes"}
        for spec in entry["fields"]:
            assert set(spec) == {"name", "types", "required"}
            for type_name in spec["types"]:
                name = base_type(type_name)
                assert name in schema["types"] or name in {"Integer", "String", "Boolean", "Float", "True"}
        for member in entry.get("subtypes", []):
            assert member in schema["types"]


async def test_unknown_method_wrong_token_and_404(fake, client):
    assert await raw_call(fake, "sendSticker", data={"chat_id": "1"}) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    with pytest.raises(EndPointNotFound):
        await client.do_api_request("sendHologram", api_kwargs={"chat_id": 1})
    status, body = await raw_call(fake, "getMe", token="123456:WRONG")
    assert (status, body["description"]) == (401, "Unauthorized")
    with pytest.raises(InvalidToken):
        async with Bot("123456:WRONG", base_url=fake.base_url):
            pass


async def test_get_me_methods_are_case_insensitive_and_accept_get_json(fake, client):
    me = await client.get_me()
    assert me.is_bot and me.username == "crowdshelf_test_bot"
    fake.user(7)
    status, body = await raw_call(fake, "SENDMESSAGE", http_method="GET", params={"chat_id": "7", "text": "q"})
    assert status == 200 and body["result"]["text"] == "q"
    status, body = await raw_call(
        fake,
        "sendMessage",
        json={"chat_id": 7, "text": 42, "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "x"}]]}},
    )
    assert status == 200 and body["result"]["text"] == "42"
    assert body["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "x"
    assert [c.method for c in fake.requests][-2:] == ["sendMessage", "sendMessage"]


async def test_missing_required_and_wrong_types_are_rejected(fake, client):
    ann = fake.user(1)
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await client.do_api_request("sendMessage", api_kwargs={"chat_id": ann.id})
    with pytest.raises(BadRequest, match="(?i)chat_id is empty"):
        await client.do_api_request("sendMessage", api_kwargs={"text": "hi"})
    with pytest.raises(BadRequest, match='(?i)parameter "action" is required'):
        await client.do_api_request("sendChatAction", api_kwargs={"chat_id": ann.id})
    with pytest.raises(BadRequest, match='(?i)"message_id" must be of type Integer'):
        await client.edit_message_text("x", chat_id=ann.id, message_id="abc")
    with pytest.raises(BadRequest, match='(?i)"disable_notification" must be of type Boolean'):
        await client.do_api_request(
            "sendMessage", api_kwargs={"chat_id": ann.id, "text": "x", "disable_notification": "maybe"}
        )
    with pytest.raises(BadRequest, match=r'(?i)"reply_markup.inline_keyboard\[0\]" must be of type Array'):
        await client.do_api_request(
            "sendMessage",
            api_kwargs={"chat_id": ann.id, "text": "x", "reply_markup": {"inline_keyboard": [{"text": "a"}]}},
        )
    with pytest.raises(BadRequest, match=r'(?i)"reply_markup.inline_keyboard\[0\]\[0\].text" is required'):
        await client.do_api_request(
            "sendMessage",
            api_kwargs={
                "chat_id": ann.id,
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"callback_data": "a"}]]},
            },
        )
    with pytest.raises(BadRequest, match="(?i)can't parse reply_markup JSON object"):
        await client.do_api_request("sendMessage", api_kwargs={"chat_id": ann.id, "text": "x", "reply_markup": "{oops"})
    with pytest.raises(BadRequest, match='(?i)"media.type" must be one of'):
        await client.do_api_request(
            "editMessageMedia",
            api_kwargs={"chat_id": ann.id, "message_id": 1, "media": {"type": "sticker", "media": "x"}},
        )
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await client.send_message(999, "nobody")
    # unknown parameters are ignored, like the real server does
    await client.do_api_request("sendMessage", api_kwargs={"chat_id": ann.id, "text": "ok", "no_such_param": "1"})
    assert ann.last.text == "ok"
    assert [c.status for c in fake.requests[-3:]] == [400, 400, 200]
    assert fake.errors and all(c.response["ok"] is False for c in fake.errors)


# --- messages -----------------------------------------------------------------------------


async def test_send_and_edit_round_trip(fake, client):
    ann = fake.user(1001, "Ann", username="ann")
    sent = await client.send_message(ann.id, "Task 1", reply_markup=keyboard([("Yes", "y"), ("No", "n")]))
    first = await client.send_message(ann.id, "second")
    assert (sent.message_id, first.message_id) == (1, 2)
    assert sent.chat.type == "private" and sent.from_user.is_bot and isinstance(sent.to_dict()["date"], int)
    assert ann.buttons() == [["Yes", "No"]] and ann.buttons(2) == []

    edited = await client.edit_message_text(
        "Task 1 <b>done</b>",
        chat_id=ann.id,
        message_id=sent.message_id,
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard([("Undo", "u")]),
    )
    assert edited.edit_date is not None and edited.text == "Task 1 done"
    assert edited.text_html == "Task 1 <b>done</b>"
    msg = ann.message(1)
    assert (msg.text, msg.edited, msg.buttons, msg.source) == ("Task 1 done", True, [["Undo"]], "Task 1 <b>done</b>")
    assert len(msg.history) == 1 and msg.history[0]["text"] == "Task 1"

    # editing without reply_markup removes the inline keyboard, as on Telegram
    await client.edit_message_text("Task 1 closed", chat_id=ann.id, message_id=1)
    assert ann.message(1).reply_markup is None and ann.buttons() == []

    await client.edit_message_reply_markup(chat_id=ann.id, message_id=2, reply_markup=keyboard([("Go", "g")]))
    assert ann.buttons() == [["Go"]] and ann.last.body == "second"

    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await client.edit_message_text("x", chat_id=ann.id, message_id=99)
    with pytest.raises(BadRequest, match="(?i)there is no caption in the message to edit"):
        await client.edit_message_caption(chat_id=ann.id, message_id=1, caption="c")
    assert await client.delete_message(ann.id, 2)
    assert ann.message(2).deleted and ann.last.message_id == 1
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await client.delete_message(ann.id, 2)
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await client.edit_message_text("x", chat_id=ann.id, message_id=2)


async def test_message_is_not_modified(fake, client):
    ann = fake.user(1)
    markup = keyboard([("A", "a")])
    msg = await client.send_message(ann.id, "<i>same</i>", parse_mode="HTML", reply_markup=markup)
    with pytest.raises(
        BadRequest, match="(?i)^Message is not modified: specified new message content and reply markup"
    ):
        await client.edit_message_text(
            "<i>same</i>", chat_id=ann.id, message_id=msg.message_id, parse_mode="HTML", reply_markup=markup
        )
    with pytest.raises(BadRequest, match="(?i)not modified"):
        await client.edit_message_reply_markup(chat_id=ann.id, message_id=msg.message_id, reply_markup=markup)
    # different formatting or a different keyboard is a modification
    await client.edit_message_text("same", chat_id=ann.id, message_id=msg.message_id, reply_markup=markup)
    await client.edit_message_text("same", chat_id=ann.id, message_id=msg.message_id)
    assert ann.last.edited and ann.last.reply_markup is None


async def test_text_limits_and_html_parsing(fake, client):
    ann = fake.user(1)
    await client.send_message(ann.id, "x" * 4096)
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await client.send_message(ann.id, "x" * 4097)
    # length is measured after parsing: markup does not count
    await client.send_message(ann.id, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await client.send_message(ann.id, "<b> </b>", parse_mode="HTML")
    for bad, problem in [
        ("<b>bold</i>", 'Unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("5 < 6", 'Unsupported start tag "" at byte offset 2'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ]:
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await client.send_message(ann.id, bad, parse_mode="HTML")
        assert fake.errors[-1].description == f"Bad Request: can't parse entities: {problem}"
    msg = await client.send_message(
        ann.id,
        '<b>B</b> <i>I</i> &lt;ok&gt; <a href="https://e.org">link</a> <tg-spoiler>s</tg-spoiler> '
        '<pre><code class="language-python">x = 1</code></pre>',
        parse_mode="HTML",
    )
    assert msg.text == "B I <ok> link s x = 1"
    kinds = [(e.type, e.offset, e.length) for e in msg.entities]
    assert kinds == [("bold", 0, 1), ("italic", 2, 1), ("text_link", 9, 4), ("spoiler", 14, 1), ("pre", 16, 5)]
    assert msg.entities[-1].language == "python"
    with pytest.raises(BadRequest, match="(?i)parses HTML only"):
        await client.send_message(ann.id, "*Hi*", parse_mode="MarkdownV2")
    with pytest.raises(BadRequest, match="(?i)message caption is too long"):
        await client.send_photo(ann.id, png_bytes(), caption="c" * 1025)


async def test_inline_keyboard_rules(fake, client):
    ann = fake.user(1)
    await client.send_message(ann.id, "ok", reply_markup=keyboard([("64", "d" * 64)]))
    with pytest.raises(BadRequest, match="(?i)^Button_data_invalid$"):
        await client.send_message(ann.id, "x", reply_markup=keyboard([("65", "d" * 65)]))
    # python-telegram-bot strips "Bad Request: " and .capitalize()s the rest; the wire has it exact
    assert fake.errors[-1].description == "Bad Request: BUTTON_DATA_INVALID"
    with pytest.raises(BadRequest, match="(?i)Button_data_invalid"):
        await client.send_message(ann.id, "x", reply_markup=keyboard([("bytes", "é" * 33)]))
    with pytest.raises(BadRequest, match="(?i)Text buttons are unallowed in the inline keyboard"):
        await client.do_api_request(
            "sendMessage",
            api_kwargs={"chat_id": 1, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "t"}]]}},
        )
    two_actions = {"inline_keyboard": [[{"text": "t", "callback_data": "a", "url": "https://e.org"}]]}
    with pytest.raises(BadRequest, match="(?i)exactly one of the optional fields"):
        await client.do_api_request("sendMessage", api_kwargs={"chat_id": 1, "text": "x", "reply_markup": two_actions})
    many = keyboard(*[[(f"{r}.{c}", f"{r}.{c}") for c in range(8)] for r in range(13)])
    with pytest.raises(BadRequest, match="(?i)reply markup is too long"):
        await client.send_message(ann.id, "x", reply_markup=many)
    assert len(ann.messages) == 1


async def test_blocked_user_is_forbidden(fake, client):
    ann = fake.user(1)
    msg = await client.send_message(ann.id, "hi")
    ann.blocked = True
    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        await client.send_message(ann.id, "still there?")
    with pytest.raises(Forbidden):
        await client.edit_message_text("edit", chat_id=ann.id, message_id=msg.message_id)
    with pytest.raises(Forbidden):
        await client.send_chat_action(ann.id, "typing")
    assert fake.calls("sendMessage")[-1].status == 403
    ann.blocked = False
    await client.send_chat_action(ann.id, "typing")
    assert ann.chat_actions == ["typing"]


# --- updates ------------------------------------------------------------------------------


async def test_get_updates_long_poll_offsets_and_conflict(fake, client):
    ann = fake.user(5, "Ann")
    poll = asyncio.create_task(client.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    assert not poll.done() and fake.inflight == 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = await ann.send("/start@crowdshelf_test_bot now")
    updates = await asyncio.wait_for(poll, 2)
    assert loop.time() - started < 1
    assert [u.message.text for u in updates] == ["/start@crowdshelf_test_bot now"]
    entity = updates[0].message.entities[0]
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 26)
    assert updates[0].message.message_id == sent["message_id"] == 1

    # not confirmed yet: delivered again until a later offset confirms it
    assert fake.pending_updates == 1
    again = await client.get_updates()
    assert [u.update_id for u in again] == [updates[0].update_id]
    await ann.send("two")
    await ann.send("three")
    got = await client.get_updates(offset=updates[0].update_id + 1, limit=1)
    assert [u.message.text for u in got] == ["two"] and fake.pending_updates == 2
    got = await client.get_updates(offset=-1)
    assert [u.message.text for u in got] == ["three"] and fake.pending_updates == 1
    await client.get_updates(offset=got[0].update_id + 1)
    assert fake.pending_updates == 0

    # a second bot instance polling terminates the waiting getUpdates, like the real server
    first = asyncio.create_task(client.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    async with Bot(fake.token, base_url=fake.base_url) as other:
        await other.get_updates(timeout=0)
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first

    await ann.send("dropped")
    assert await client.delete_webhook(drop_pending_updates=True)
    assert fake.pending_updates == 0


async def test_press_reaches_callback_handler_and_answer_is_recorded(fake):
    seen: list[str] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(
            "Pick one", reply_markup=keyboard([("Red", "color:red"), ("Blue", "color:blue")])
        )

    async def on_color(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        seen.append(query.data)
        await query.answer(f"You chose {query.data.split(':')[1]}")
        await query.edit_message_text(f"Chosen: {query.data}")

    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).base_file_url(fake.base_file_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(on_color, pattern=r"^color:"))
    ann = fake.user(42, "Ann")
    async with running(app):
        await ann.send("/start")
        await fake.idle(application=app)
        assert ann.last.text == "Pick one" and ann.buttons() == [["Red", "Blue"]]
        with pytest.raises(AssertionError, match=r"(?i)visible buttons: \[\['Red', 'Blue'\]\]"):
            await ann.press("Green")
        query = await ann.press("Blue")
        await fake.idle(application=app)
        assert seen == ["color:blue"]
        assert ann.callback_answer(query["id"]) == {"text": "You chose blue", "show_alert": False}
        assert ann.last.text == "Chosen: color:blue" and ann.last.buttons == []

        stale = await ann.press_data("color:red", ann.last.message_id)
        await fake.idle(application=app)
        assert ann.callback_answer(stale["id"]) == {"text": "You chose red", "show_alert": False}
    assert fake.pending_updates == 0 and fake.inflight == 0
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        async with Bot(fake.token, base_url=fake.base_url) as client:
            await client.answer_callback_query(query["id"], "again")


async def test_a_query_is_refused_once_older_than_its_ttl_by_the_servers_clock(fake, client):
    ann = fake.user(42, "Ann")
    await client.send_message(ann.id, "Pick one", reply_markup=keyboard([("Red", "color:red")]))
    late = await ann.press("Red")
    fake.advance(15.5)
    with pytest.raises(BadRequest, match="(?i)query is too old and response timeout expired or query ID is invalid"):
        await client.answer_callback_query(late["id"], "too late")
    assert ann.callback_answer(late["id"]) is None
    in_time = await ann.press("Red")
    fake.advance(14)
    assert await client.answer_callback_query(in_time["id"], "in time")
    fake.callback_query_ttl = 1
    short = await ann.press("Red")
    fake.advance(2)
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await client.answer_callback_query(short["id"])


# --- files --------------------------------------------------------------------------------


async def test_document_upload_get_file_download_and_limit(fake, client):
    ann = fake.user(3)
    csv = b"sku,title\n1,Milk\n"
    incoming = await ann.send_document(csv, "products.csv", caption="batch 1")
    file = await client.get_file(incoming["document"]["file_id"])
    assert file.file_size == len(csv) and file.file_path.endswith(".csv")
    assert bytes(await file.download_as_bytearray()) == csv

    sent = await client.send_document(
        ann.id, b"report-bytes", filename="report.txt", caption="<b>done</b>", parse_mode="HTML"
    )
    assert sent.document.file_name == "report.txt" and sent.document.mime_type == "text/plain"
    assert sent.caption == "done"
    assert ann.last.document_bytes == b"report-bytes" and ann.last.document["file_name"] == "report.txt"
    again = await client.get_file(sent.document.file_id)
    assert bytes(await again.download_as_bytearray()) == b"report-bytes"
    # resend by file_id
    resent = await client.send_document(ann.id, sent.document.file_id)
    assert resent.document.file_unique_id == sent.document.file_unique_id

    with pytest.raises(BadRequest, match="(?i)there is no text in the message to edit"):
        await client.edit_message_text("x", chat_id=ann.id, message_id=sent.message_id)
    big = await ann.send_document(b"\0" * (20 * 1024 * 1024 + 1), "huge.bin", mime_type="application/octet-stream")
    with pytest.raises(BadRequest, match="(?i)File is too big"):
        await client.get_file(big["document"]["file_id"])
    with pytest.raises(BadRequest, match="(?i)invalid file_id"):
        await client.get_file("nope")


async def test_photos_urls_uploads_and_edits(fake, client):
    ann = fake.user(8)
    url = "https://img.example/ok.jpg"
    fake.broken_photo_urls.add("https://img.example/page.html")
    msg = await client.send_photo(ann.id, url, caption="first", reply_markup=keyboard([("Next", "n")]))
    assert ann.last.photo == url and ann.last.caption == "first"
    assert all(p.file_id and p.file_unique_id and p.width and p.height for p in msg.photo)
    with pytest.raises(BadRequest, match="(?i)^Wrong type of the web page content$"):
        await client.send_photo(ann.id, "https://img.example/page.html")
    with pytest.raises(BadRequest, match="(?i)IMAGE_PROCESS_FAILED"):
        await client.send_photo(ann.id, b"not an image")
    with pytest.raises(BadRequest, match="(?i)Wrong file identifier/http url specified"):
        await client.send_photo(ann.id, "unknown-file-id")

    uploaded = await client.send_photo(ann.id, png_bytes(120, 60))
    assert (uploaded.photo[-1].width, uploaded.photo[-1].height) == (120, 60)
    assert ann.last.photo == uploaded.photo[-1].file_id and ann.last.photo_bytes.startswith(b"\x89PNG")

    with pytest.raises(BadRequest, match="(?i)there is no text in the message to edit"):
        await client.edit_message_text("t", chat_id=ann.id, message_id=msg.message_id)
    await client.edit_message_caption(
        chat_id=ann.id, message_id=msg.message_id, caption="second", reply_markup=keyboard([("Next", "n")])
    )
    with pytest.raises(BadRequest, match="(?i)not modified"):
        await client.edit_message_caption(
            chat_id=ann.id, message_id=msg.message_id, caption="second", reply_markup=keyboard([("Next", "n")])
        )
    edited = await client.edit_message_media(
        InputMediaPhoto(png_bytes(10, 10), caption="third"),
        chat_id=ann.id,
        message_id=msg.message_id,
        reply_markup=keyboard([("Done", "d")]),
    )
    assert edited.caption == "third" and edited.photo[-1].width == 10
    current = ann.message(msg.message_id)
    assert current.photo == edited.photo[-1].file_id and current.buttons == [["Done"]]
    assert (await client.get_file(edited.photo[-1].file_id)).file_path.endswith("/photos/file_4.jpg")
    with pytest.raises(BadRequest, match="(?i)Wrong type of the web page content"):
        await client.edit_message_media(
            InputMediaPhoto("https://img.example/page.html"), chat_id=ann.id, message_id=msg.message_id
        )


async def test_a_photo_url_telegram_cannot_download_is_refused_everywhere(fake, client):
    ann = fake.user(8)
    dead = "https://img.example/gone.jpg"
    fake.unreachable_photo_urls.add(dead)
    with pytest.raises(BadRequest, match="(?i)^Wrong file identifier/http url specified$"):
        await client.send_photo(ann.id, dead, caption="gone")
    assert ann.messages == [], "nothing reaches the chat"
    sent = await client.send_photo(ann.id, "https://img.example/ok.jpg", caption="ok")
    with pytest.raises(BadRequest, match="(?i)^Wrong file identifier/http url specified$"):
        await client.edit_message_media(InputMediaPhoto(dead), chat_id=ann.id, message_id=sent.message_id)
    assert ann.last.photo == "https://img.example/ok.jpg", "the photo shown stays"


# --- misc ---------------------------------------------------------------------------------


async def test_commands_callback_errors_and_rate_limits(fake, client):
    assert await client.set_my_commands([("start", "Start working"), ("stats", "My earnings")])
    assert [c.command for c in await client.get_my_commands()] == ["start", "stats"]
    assert [c["command"] for c in fake.commands()] == ["start", "stats"]
    with pytest.raises(BadRequest, match="(?i)Bot_command_invalid"):
        await client.set_my_commands([("Start", "upper case is not allowed")])
    assert await client.delete_my_commands()
    assert await client.get_my_commands() == ()

    with pytest.raises(BadRequest, match="(?i)query is too old and response timeout expired or query ID is invalid"):
        await client.answer_callback_query("12345")

    ann = fake.user(2)
    fake.fail_next("sendMessage", "Too Many Requests: retry after 3")
    with pytest.raises(RetryAfter) as info:
        await client.send_message(ann.id, "flood")
    retry_after = info.value.retry_after
    assert getattr(retry_after, "total_seconds", lambda: retry_after)() == 3
    assert fake.calls("sendMessage")[-1].response["parameters"] == {"retry_after": 3}
    await client.send_message(ann.id, "after the flood wait")
    assert ann.texts == ["after the flood wait"]


async def test_idle_waits_for_the_bot_and_explains_timeouts(fake):
    ann = fake.user(9)
    await ann.send("nobody is polling")
    with pytest.raises(TimeoutError, match=r"(?i)1 update\(s\) not yet fetched and confirmed by getUpdates"):
        await fake.idle(timeout=0.2)

    async def slow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await asyncio.sleep(0.3)  # no API traffic for longer than `quiet`
        await update.message.reply_text("late answer")

    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).base_file_url(fake.base_file_url).build()
    app.add_handler(CommandHandler("slow", slow))
    async with running(app):
        await fake.idle(application=app)  # the queued non-command update is consumed
        await ann.send("/slow")
        await fake.idle(application=app)
        assert ann.last.text == "late answer"
        fake.application = app
        await ann.send("/slow")
        await fake.idle()
        assert ann.texts == ["late answer", "late answer"]


async def test_webhook_posts_updates_with_the_secret_until_answered_200(fake, client):
    """Like Telegram: the secret in a header, an update posted again until a 2xx, getUpdates refused meanwhile."""
    answers = [503, 500, 200, 200]
    received: list[tuple[int, str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        received.append((update["update_id"], request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.Response(status=answers.pop(0))

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        with pytest.raises(BadRequest, match="(?i)https url"):
            await client.set_webhook("http://bot.example.com/hook")
        with pytest.raises(BadRequest, match="(?i)secret token"):
            await client.set_webhook(url, secret_token="not allowed!")
        assert (await client.get_webhook_info()).url == ""
        assert await client.set_webhook(url, secret_token="s3cret", max_connections=2, allowed_updates=["message"])
        with pytest.raises(Conflict, match="webhook is active"):
            await client.get_updates()
        ann = fake.user(5, "Ann")
        await ann.send("hello")
        await fake.idle(timeout=10)
        (update_id,) = {update_id for update_id, _ in received}
        assert received == [(update_id, "s3cret")] * 3
        assert [post.status for post in fake.posts_of(update_id)] == [503, 500, 200]
        info = await client.get_webhook_info()
        assert (info.url, info.pending_update_count, info.max_connections) == (url, 0, 2)
        assert info.allowed_updates == ("message",)
        assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        assert await client.delete_webhook()
        assert (await client.get_webhook_info()).url == ""
        assert await client.get_updates() == ()
    finally:
        await runner.cleanup()


async def test_a_stalled_call_waits_for_its_release(fake, client):
    stall = fake.stall("sendMessage")
    fake.user(5, "Ann")
    sending = asyncio.create_task(client.send_message(5, "hi"))
    await asyncio.wait_for(stall.reached.wait(), 5)
    assert not sending.done() and not fake.user(5).messages
    stall.release()
    await sending
    assert fake.user(5).last.body == "hi"
