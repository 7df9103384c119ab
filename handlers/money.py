"""A worker's money: balance, payout method, payout requests, earnings and statements."""

from telegram import InputFile, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot import earnings, ledger, outbox, payouts, users
from bot.errors import DomainError
from bot.money import typed_amount
from bot.payout_methods import KINDS, PROMPTS
from handlers import common, keyboards, notify, texts
from storage.clock import utcnow

Context = ContextTypes.DEFAULT_TYPE
METHOD_INPUT = "payout_method:"


async def balance(update: Update, context: Context) -> None:
    services = common.services_of(context)
    async with services.db.read() as session:
        found = await ledger.worker_balance(session, update.effective_user.id)
    settings = services.settings
    await update.effective_message.reply_html(
        texts.balance_full(
            found.pending,
            found.available,
            found.in_flight,
            found.paid,
            settings.payout_threshold_micros,
            settings.currency,
        )
    )


async def payout_method(update: Update, context: Context) -> None:
    services = common.services_of(context)
    async with services.db.read() as session:
        current = await payouts.current_method(session, update.effective_user.id)
    text = texts.payout_method_current(current.label) if current else texts.PAYOUT_METHOD_CHOOSE
    await update.effective_message.reply_html(text, reply_markup=keyboards.payout_methods())


async def choose_method(update: Update, context: Context, kind: str) -> None:
    """After the kind is tapped, the next typed message is the address."""
    if kind not in KINDS:
        return
    services = common.services_of(context)
    await common.register(update, services)
    async with services.db.write() as session:
        await users.expect_input(session, update.effective_user.id, METHOD_INPUT + kind)
    await context.bot.send_message(update.effective_chat.id, PROMPTS[kind])


async def method_typed(update: Update, context: Context, kind: str) -> None:
    services = common.services_of(context)
    message = update.effective_message
    try:
        async with services.db.write() as session:
            previous, new = await payouts.set_method(session, update.effective_user.id, kind, message.text)
    except DomainError as problem:
        async with services.db.write() as session:  # let them try again without tapping the kind anew
            await users.expect_input(session, update.effective_user.id, METHOD_INPUT + kind)
        await message.reply_text(str(problem))
        return
    if previous is None:
        await message.reply_html(texts.payout_method_set(new.label))
    else:
        await message.reply_html(texts.payout_method_changed(previous.label, new.label))


async def request_payout(update: Update, context: Context) -> None:
    """/payout asks for the whole available balance; /payout 15 for part of it."""
    services = common.services_of(context)
    settings = services.settings
    try:
        amount = typed_amount(context.args[0]) if context.args else None
    except ValueError:
        await update.effective_message.reply_text(texts.PAYOUT_USAGE)
        return
    try:
        async with services.db.write() as session:
            payout = await payouts.request(
                session, update.effective_user.id, settings.payout_threshold_micros, settings.currency, amount
            )
            await outbox.owe_payout_requested(
                session, payout.id, payout.worker_id, settings.admin_ids, tell_worker=False
            )
    except DomainError as refusal:
        await update.effective_message.reply_text(str(refusal))
        return
    await update.effective_message.reply_text(
        texts.payout_requested(payout, settings.currency), parse_mode=ParseMode.HTML
    )
    notify.deliver_soon(context)


async def earnings_command(update: Update, context: Context) -> None:
    services = common.services_of(context)
    worker_id = update.effective_user.id
    async with services.db.read() as session:
        totals = await earnings.summary(session, worker_id, utcnow())
        years = await earnings.years(session, worker_id)
    if not years:
        await update.effective_message.reply_text(texts.NO_EARNINGS)
        return
    await update.effective_message.reply_html(
        texts.earnings(totals.today, totals.week, totals.month, totals.lifetime, services.settings.currency),
        reply_markup=keyboards.statement_years(years),
    )


async def send_statement(update: Update, context: Context, year: int) -> None:
    services = common.services_of(context)
    async with services.db.read() as session:
        content = await earnings.statement_csv(session, update.effective_user.id, year, services.settings.currency)
    await context.bot.send_document(
        update.effective_chat.id,
        InputFile(content.encode(), filename=f"crowdshelf-statement-{year}.csv"),
        caption=texts.STATEMENT_CAPTION.format(year=year),
    )
