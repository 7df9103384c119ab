"""Worker commands and buttons: parse the update, call bot.work, render the result."""

from dataclasses import replace
from html import escape

from telegram import Message, Update

from bot import work
from bot.errors import AlreadyAnswered, DomainError
from bot.quality import gold
from bot.quality import rules as quality
from handlers import callbacks, common, display, keyboards, notify, texts
from handlers.callbacks import Browse, Pick, Skip, StartWork, Stop
from handlers.common import BotContext
from handlers.i18n import gettext as _

# The task buttons act() handles: it answers their presses itself, after the use case.
TASK_ACTIONS = (Browse, Pick, Skip, Stop, StartWork)


async def start(update: Update, context: BotContext) -> None:
    person = await common.register(update, context.services)
    await common.message(update).reply_text(texts.welcome(person.first_name), reply_markup=keyboards.start_working())


async def help_command(update: Update, context: BotContext) -> None:
    settings = context.services.settings
    await common.message(update).reply_text(
        texts.help_text(settings.assignment_ttl_seconds, settings.payout_threshold_micros, settings.currency)
    )


async def work_command(update: Update, context: BotContext) -> None:
    services = context.services
    await common.register(update, services)
    with context.metrics.claim_seconds.time():
        screen = await work.next_task(services, common.sender(update).id)
    await _send_screen(context, common.chat_id(update), screen, services.settings.currency)


async def act(update: Update, context: BotContext, action: callbacks.Action, message: Message | None) -> None:
    """A task button: browse, pick, skip, stop or start. The press is answered once the use case has
    decided, so a double tap or replayed update, which the first press already did, hears just that;
    refusals are said in the chat (by the error handler)."""
    try:
        await _act(update, context, action, message)
    except AlreadyAnswered:
        await common.answer_press(update, context, _(texts.ALREADY_RECORDED), or_message=False)
        services = context.services
        # By polling, a spent query means the same update came twice: the worker saw the outcome the first
        # time. A webhook never hands a processed update over twice (bot.updates), so here it is a stale
        # copy pressed, or Telegram's next try of an update whose first run recorded the answer and was cut
        # short (an instance killed, the database gone) before the worker saw what follows: the press
        # shows the worker's open product, or the next.
        if services.settings.webhook_url:
            following = await work.next_task(services, common.sender(update).id)
            note = _(texts.ALREADY_RECORDED)
            await _show_next(context, common.chat_id(update), message, following, note, services.settings.currency)
    except DomainError:
        await common.answer_press(update, context)
        raise


async def typed(update: Update, context: BotContext) -> None:
    """Typed words answer the open product's typed question, or search its categories."""
    services = context.services
    found = await work.typed(services, common.sender(update).id, common.typed(update))
    message = common.message(update)
    match found:
        case None:
            await message.reply_text(_(texts.NO_OPEN_TASK))
        case work.ButtonsOnly():
            await message.reply_text(_(texts.USE_THE_BUTTONS))
        case work.SearchScreen():
            await message.reply_text(texts.search_results(found), reply_markup=keyboards.search(found))
        case work.Answered():
            context.metrics.answers.inc()
            await _answered(context, common.chat_id(update), None, found, services.settings.currency)


async def _act(update: Update, context: BotContext, action: callbacks.Action, message: Message | None) -> None:
    services = context.services
    worker_id = common.sender(update).id
    currency = services.settings.currency
    chat_id = common.chat_id(update)
    match action:
        case StartWork():
            with context.metrics.claim_seconds.time():
                screen = await work.next_task(services, worker_id)
            await common.answer_press(update, context)
            await _send_screen(context, chat_id, screen, currency)
        case Browse(assignment_id, node, page):
            screen = await work.browse(services, worker_id, assignment_id, node, page)
            await common.answer_press(update, context)
            if message is None:
                await display.send_task(context.bot, chat_id, screen, currency)
            else:
                await display.redraw(message, screen, currency)
        case Pick(assignment_id, question, value):
            with context.metrics.answer_seconds.time():
                result = await work.answer(services, worker_id, assignment_id, question, str(value))
            context.metrics.answers.inc()
            await common.answer_press(update, context)
            await _answered(context, chat_id, message, result, currency)
        case Skip(assignment_id):
            following = await work.skip(services, worker_id, assignment_id)
            await common.answer_press(update, context)
            await _show_next(context, chat_id, message, following, _(texts.SKIPPED), currency)
        case Stop(assignment_id):
            await work.stop(services, worker_id, assignment_id)
            await common.answer_press(update, context)
            if message is not None:
                await display.edit_body(message, _(texts.STOPPED), None)
            else:
                await context.bot.send_message(chat_id, _(texts.STOPPED))


async def _answered(
    context: BotContext, chat_id: int, message: Message | None, result: work.Answered, currency: str
) -> None:
    """After an answer: the card's next question, or the outcome and the next product."""
    if result.partial and result.next_task is not None:
        if message is None:
            await display.send_task(context.bot, chat_id, result.next_task, currency)
        else:
            await display.redraw(message, result.next_task, currency)
        return
    note = texts.answer_note(result.credited_micros, result.pending_micros, currency, result.nudges)
    if isinstance(result.verdict, gold.QuizStep):
        await _quiz_feedback(context, chat_id, message, result.verdict, result.next_task, note, currency)
        return
    if result.verdict is not None:
        await quality_verdict(context, chat_id, result.verdict)
    await _show_next(context, chat_id, message, result.next_task, note, currency)


async def quality_verdict(context: BotContext, chat_id: int, verdict: quality.Removal | quality.Hold) -> None:
    """Tell the worker why quality control stopped them in a batch; a hold also goes to the admins."""
    if isinstance(verdict, quality.Removal):
        missed = [miss.assignment_id for miss in verdict.missed[: texts.MAX_CONTESTS]]
        markup = keyboards.contest(missed) if missed else None
        await context.bot.send_message(chat_id, texts.removed(verdict), reply_markup=markup)
        return
    await context.bot.send_message(chat_id, texts.held(verdict))
    notify.deliver_soon(context)  # the admins' notices, owed with the hold


async def _quiz_feedback(
    context: BotContext,
    chat_id: int,
    message: Message | None,
    step: gold.QuizStep,
    following: work.TaskScreen | None,
    note: str,
    currency: str,
) -> None:
    """A right quiz answer is confirmed above the next task; a wrong one keeps its product on screen
    with the right category and a way to contest it, and the next task comes below."""
    note = f"{texts.quiz_note(step)}\n{note}"
    if not step.correct:
        markup = keyboards.contest([step.assignment_id])
        if message is not None:
            await display.edit_body(message, texts.quiz_missed(step), markup)
        else:
            await context.bot.send_message(chat_id, texts.quiz_missed(step), reply_markup=markup)
        message = None
    if step.passed is False:
        await context.bot.send_message(chat_id, texts.quiz_failed(step))
    await _show_next(context, chat_id, message, following, note, currency)


async def _show_next(
    context: BotContext,
    chat_id: int,
    message: Message | None,
    screen: work.TaskScreen | None,
    note: str,
    currency: str,
) -> None:
    if screen is None:
        body = f"{escape(note)}\n\n{_(texts.NO_TASKS)}"
        if message is not None:
            await display.edit_body(message, body, None)
        else:
            await context.bot.send_message(chat_id, body)
        return
    await display.replace_task(context.bot, chat_id, message, replace(screen, note=note), currency)


async def _send_screen(context: BotContext, chat_id: int, screen: work.TaskScreen | None, currency: str) -> None:
    if screen is None:
        await context.bot.send_message(chat_id, _(texts.NO_TASKS))
        return
    await display.send_task(context.bot, chat_id, screen, currency)
