"""Requesters: batches by file upload, missing settings by buttons, preview, launch, progress, results."""

import asyncio
from functools import partial
from pathlib import PurePath
from typing import Any

from telegram import Update
from telegram.ext import ExtBot

from bot import users, work
from bot.batches import chart, results
from bot.batches import lifecycle as batches
from bot.wiring.services import Services
from handlers import chart as charts
from handlers import common, display, keyboards, notify, texts
from handlers.common import BotContext
from handlers.formatting import money
from handlers.i18n import gettext as _
from handlers.i18n import plural_text

BOT_DOWNLOAD_LIMIT = 20 * 1024 * 1024
BATCH_SUFFIXES = (".csv", ".json", ".jsonl", ".ndjson", ".txt")


async def new_batch(update: Update, context: BotContext) -> None:
    person = await common.register(update, context.services)
    await common.message(update).reply_text(_(texts.NEW_BATCH) if person.is_requester else _(texts.REQUESTERS_ONLY))


async def _requester(update: Update, services: Services) -> users.Person | None:
    """The sender, registered; None (and a refusal sent) when they are not a requester."""
    person = await common.register(update, services)
    if person.is_requester:
        return person
    await common.message(update).reply_text(_(texts.REQUESTERS_ONLY))
    return None


async def on_document(update: Update, context: BotContext) -> None:
    """A product file: checked whole; stored as a draft only when every row is valid."""
    services = context.services
    message = common.message(update)
    person = await _requester(update, services)
    if person is None:
        return
    document = message.document
    if document is None:  # registered for messages with a document only
        raise ValueError(f"update {update.update_id} has no document")
    name = document.file_name or "products.csv"
    if PurePath(name).suffix.lower() not in BATCH_SUFFIXES:
        await message.reply_text(_(texts.NOT_A_BATCH_FILE))
        return
    size = document.file_size or 0
    if size > BOT_DOWNLOAD_LIMIT:
        await message.reply_text(texts.file_too_big(size / 1024 / 1024))
        return
    spec, reward_to_confirm = batches.reward_to_confirm(
        batches.parse_settings(message.caption or "", default_name=PurePath(name).stem)
    )
    data = bytes(await (await document.get_file()).download_as_bytearray())
    batch_id = await batches.load_draft(services, person.id, spec, data, name)
    await _next_step(update, context, batch_id, reward_to_confirm)


async def on_choice(update: Update, context: BotContext, batch_id: int, setting: str, value: int) -> None:
    await batches.choose_setting(context.services, batch_id, common.sender(update).id, setting, value)
    await _next_step(update, context, batch_id)


async def _next_step(update: Update, context: BotContext, batch_id: int, reward_to_confirm: int = 0) -> None:
    """Ask for what is missing (or a caption's reward to confirm), else show the preview with the cost and
    Launch / Cancel."""
    services = context.services
    chat_id = common.chat_id(update)
    batch = await batches.draft(services, batch_id, common.sender(update).id)
    currency = services.settings.currency
    if not batch.reward_micros:
        question = texts.confirm_reward(reward_to_confirm, currency) if reward_to_confirm else _(texts.ASK_REWARD)
        keyboard = keyboards.ask_reward(batch.id, currency, reward_to_confirm)
        await context.bot.send_message(chat_id, question, reply_markup=keyboard)
        return
    if not batch.overlap:
        await context.bot.send_message(chat_id, texts.ask_overlap(), reply_markup=keyboards.ask_overlap(batch.id))
        return
    await context.bot.send_message(chat_id, texts.preview_head(batch.id, batch.name))
    await display.send_task(context.bot, chat_id, await work.preview(services, batch.id), currency)
    await context.bot.send_message(
        chat_id,
        texts.preview_cost(batch.cost, batch.available_micros, currency, batch.instructions),
        reply_markup=keyboards.launch_or_discard(batch.id),
    )


async def on_control(update: Update, context: BotContext, batch_id: int, op: str) -> None:
    services = context.services
    requester_id = common.sender(update).id
    chat_id = common.chat_id(update)
    currency = services.settings.currency
    if op in ("results", "jsonl"):
        await send_results(context, services, chat_id, batch_id, requester_id, jsonl=op == "jsonl")
        return
    if op == "chart":
        await send_chart(context, chat_id, batch_id, requester_id)
        return
    if op == "launch":
        reserved = await batches.launch_batch(services, batch_id, requester_id)
        reply = _(texts.LAUNCHED).format(id=batch_id, amount=money(reserved, currency))
    elif op == "discard":
        await batches.discard_batch(services, batch_id, requester_id)
        reply = _(texts.DISCARDED)
    elif op in ("pause", "resume"):
        await batches.pause_batch(services, batch_id, requester_id, paused=op == "pause")
        reply = (_(texts.PAUSED) if op == "pause" else _(texts.RESUMED)).format(id=batch_id)
    else:
        refund = await batches.cancel_batch(services, batch_id, requester_id)
        reply = _(texts.CANCELLED).format(id=batch_id, refund=money(refund, currency))
    await context.bot.send_message(chat_id, reply)


async def list_batches(update: Update, context: BotContext) -> None:
    services = context.services
    message = common.message(update)
    progress = await batches.requester_batches(services, common.sender(update).id)
    if not progress:
        await message.reply_text(_(texts.NO_BATCHES))
        return
    for p in progress:
        await message.reply_text(
            texts.batch_progress(p, services.settings.currency), reply_markup=keyboards.batch_controls(p.id, p.status)
        )


async def quizzes_command(update: Update, context: BotContext) -> None:
    """/quizzes BATCH COUNT: fund more quiz attempts so new workers can join a running batch."""
    services = context.services
    message = common.message(update)
    person = await _requester(update, services)
    if person is None:
        return
    numbers = [arg.lstrip("#") for arg in context.args or []]
    if len(numbers) != 2 or not all(number.isdigit() for number in numbers):
        await message.reply_text(_(texts.QUIZZES_USAGE))
        return
    batch_id, count = map(int, numbers)
    # The message names the request: a replayed update reserves nothing twice.
    request = f"{message.chat_id}:{message.message_id}"
    currency = services.settings.currency
    amount = await batches.fund_quizzes(services, batch_id, person.id, count, request)
    reply = plural_text(texts.QUIZZES_ADDED, count).format(amount=money(amount, currency), count=count, id=batch_id)
    await message.reply_text(reply if amount else _(texts.QUIZZES_ALREADY))


async def results_command(update: Update, context: BotContext) -> None:
    """/results [batch id]: the files of one batch, or the list to choose from."""
    if context.args and context.args[0].lstrip("#").isdigit():
        batch_id = int(context.args[0].lstrip("#"))
        await send_results(context, context.services, common.chat_id(update), batch_id, common.sender(update).id)
        return
    await list_batches(update, context)


async def send_results(
    context: BotContext, services: Services, chat_id: int, batch_id: int, requester_id: int, jsonl: bool = False
) -> None:
    found = await results.batch_results(services, batch_id, requester_id)
    await send_files(context.bot, chat_id, batch_id, found.labels, found.raw, jsonl)


async def send_files(
    bot: ExtBot[Any], chat_id: int, batch_id: int, labels: results.Table, raw: results.Table, jsonl: bool = False
) -> None:
    await notify.send(bot, chat_id, await results_file(batch_id, labels, LABELS, jsonl))
    await notify.send(bot, chat_id, await results_file(batch_id, raw, RAW, jsonl))


LABELS, RAW = "results", "answers"  # the two files of a batch, by the name they carry
RESULT_CAPTIONS = {LABELS: texts.RESULTS_CAPTION, RAW: texts.RAW_CAPTION}


async def results_file(batch_id: int, table: results.Table, name: str, jsonl: bool = False) -> notify.Outgoing:
    """One of a batch's two files: its labels (LABELS) or every raw answer (RAW)."""
    write = partial(results.to_jsonl, table) if jsonl else partial(results.to_csv, table)
    # a big batch's file takes seconds to write: off the event loop, so other users are not kept waiting
    content = await asyncio.to_thread(write)
    if not content:  # Telegram refuses empty files
        return notify.Text(_(texts.NO_ANSWERS_YET).format(id=batch_id))
    suffix = "jsonl" if jsonl else "csv"
    return notify.Document(
        content.encode(), f"batch-{batch_id}-{name}.{suffix}", _(RESULT_CAPTIONS[name]).format(id=batch_id)
    )


async def send_chart(context: BotContext, chat_id: int, batch_id: int, requester_id: int) -> None:
    """📈 Chart: the batch's chart as a PNG file; a batch nobody has answered yet gets a line saying so."""
    data = await chart.batch_chart(context.services, batch_id, requester_id)
    if not data.answers:
        await context.bot.send_message(chat_id, _(texts.NO_ANSWERS_YET).format(id=batch_id))
        return
    # Drawing takes about a second: off the event loop, so other users are not kept waiting.
    png = await asyncio.to_thread(charts.render_chart, data)
    caption = _(texts.CHART_CAPTION).format(id=batch_id)
    await notify.send(context.bot, chat_id, notify.Document(png, f"batch-{batch_id}-chart.png", caption))


async def show_rules(update: Update, context: BotContext, batch_id: int) -> None:
    name, rules = await work.rules(context.services, batch_id, common.sender(update).id)
    body = texts.instructions(name, rules or _("No special rules."))
    await context.bot.send_message(common.chat_id(update), body)
