"""A worker's money: balance, payout method, payout requests, earnings and statements."""

from telegram import InputFile, Update

from bot import earnings, ledger, outbox, payouts, users
from bot.errors import DomainError
from bot.money import typed_amount
from bot.payout_methods import KINDS, PROMPTS
from handlers import common, keyboards, notify, texts
from handlers.common import BotContext

METHOD_INPUT = "payout_method:"


async def balance(update: Update, context: BotContext) -> None:
    services = context.services
    async with services.db.read() as session:
        found = await ledger.worker_balance(session, common.sender(update).id)
    settings = services.settings
    await common.message(update).reply_text(
        texts.balance_full(
            found.pending,
            found.available,
            found.in_flight,
            found.paid,
            settings.payout_threshold_micros,
            settings.currency,
        )
    )


async def payout_method(update: Update, context: BotContext) -> None:
    async with context.services.db.read() as session:
        current = await payouts.current_method(session, common.sender(update).id)
    text = texts.payout_method_current(current.label) if current else texts.PAYOUT_METHOD_CHOOSE
    await common.message(update).reply_text(text, reply_markup=keyboards.payout_methods())


async def choose_method(update: Update, context: BotContext, kind: str) -> None:
    """After the kind is tapped, the next typed message is the address."""
    if kind not in KINDS:
        return
    services = context.services
    await common.register(update, services)
    async with services.db.write() as session:
        await users.expect_input(session, common.sender(update).id, METHOD_INPUT + kind)
    await context.bot.send_message(common.chat_id(update), PROMPTS[kind])


async def method_typed(update: Update, context: BotContext, kind: str) -> None:
    services = context.services
    worker_id = common.sender(update).id
    try:
        async with services.db.write() as session:
            previous, new = await payouts.set_method(
                session, worker_id, kind, common.typed(update), services.clock.now()
            )
    except DomainError:
        async with services.db.write() as session:  # let them try again without tapping the kind anew
            await users.expect_input(session, worker_id, METHOD_INPUT + kind)
        raise
    message = common.message(update)
    if previous is None:
        await message.reply_text(texts.payout_method_set(new.label))
    else:
        await message.reply_text(texts.payout_method_changed(previous.label, new.label))


async def request_payout(update: Update, context: BotContext) -> None:
    """/payout asks for the whole available balance; /payout 15 for part of it."""
    services = context.services
    settings = services.settings
    message = common.message(update)
    try:
        amount = typed_amount(context.args[0]) if context.args else None
    except ValueError:
        await message.reply_text(texts.PAYOUT_USAGE)
        return
    async with services.db.write() as session:
        payout = await payouts.request(
            session, common.sender(update).id, settings.payout_threshold_micros, settings.currency, amount
        )
        await outbox.owe_payout_requested(session, payout.id, payout.worker_id, settings.admin_ids, tell_worker=False)
    await message.reply_text(texts.payout_requested(payout, settings.currency))
    notify.deliver_soon(context)


async def earnings_command(update: Update, context: BotContext) -> None:
    services = context.services
    worker_id = common.sender(update).id
    async with services.db.read() as session:
        totals = await earnings.summary(session, worker_id, services.clock.now())
        years = await earnings.years(session, worker_id)
    if not years:
        await common.message(update).reply_text(texts.NO_EARNINGS)
        return
    await common.message(update).reply_text(
        texts.earnings(totals.today, totals.week, totals.month, totals.lifetime, services.settings.currency),
        reply_markup=keyboards.statement_years(years),
    )


async def send_statement(update: Update, context: BotContext, year: int) -> None:
    services = context.services
    async with services.db.read() as session:
        content = await earnings.statement_csv(session, common.sender(update).id, year, services.settings.currency)
    await context.bot.send_document(
        common.chat_id(update),
        InputFile(content.encode(), filename=f"crowdshelf-statement-{year}.csv"),
        caption=texts.STATEMENT_CAPTION.format(year=year),
    )
