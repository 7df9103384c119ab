"""A worker's money: balance, payout method, payout requests, earnings and statements."""

from telegram import InputFile, Update

from bot import users
from bot.money import earnings, wallet
from bot.money.amounts import typed_amount
from bot.money.payout_methods import KINDS
from handlers import common, keyboards, notify, texts
from handlers.common import BotContext
from handlers.i18n import gettext as _

METHOD_INPUT = "payout_method:"


async def balance(update: Update, context: BotContext) -> None:
    services = context.services
    found = await wallet.balance(services, common.sender(update).id)
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
    current = await wallet.payout_method(context.services, common.sender(update).id)
    text = texts.payout_method_current(texts.method_label(current)) if current else _(texts.PAYOUT_METHOD_CHOOSE)
    await common.message(update).reply_text(text, reply_markup=keyboards.payout_methods())


async def choose_method(update: Update, context: BotContext, kind: str) -> None:
    """After the kind is tapped, the next typed message is the address."""
    if kind not in KINDS:
        return
    services = context.services
    await common.register(update, services)
    await users.await_typed(services, common.sender(update).id, METHOD_INPUT + kind)
    await context.bot.send_message(common.chat_id(update), _(texts.METHOD_PROMPTS[kind]))


async def method_typed(update: Update, context: BotContext, kind: str) -> None:
    worker_id = common.sender(update).id
    previous, new = await wallet.set_payout_method(
        context.services, worker_id, kind, common.typed(update), retry=METHOD_INPUT + kind
    )
    message = common.message(update)
    if previous is None:
        await message.reply_text(texts.payout_method_set(texts.method_label(new)))
    else:
        await message.reply_text(texts.payout_method_changed(texts.method_label(previous), texts.method_label(new)))


async def request_payout(update: Update, context: BotContext) -> None:
    """/payout asks for the whole available balance; /payout 15 for part of it."""
    services = context.services
    settings = services.settings
    message = common.message(update)
    try:
        amount = typed_amount(context.args[0]) if context.args else None
    except ValueError:
        await message.reply_text(_(texts.PAYOUT_USAGE))
        return
    payout = await wallet.request_payout(services, common.sender(update).id, amount)
    await message.reply_text(texts.payout_requested(payout, settings.currency))
    notify.deliver_soon(context)


async def earnings_command(update: Update, context: BotContext) -> None:
    services = context.services
    worker_id = common.sender(update).id
    overview = await earnings.overview(services, worker_id)
    if not overview.years:
        await common.message(update).reply_text(_(texts.NO_EARNINGS))
        return
    await common.message(update).reply_text(
        texts.earnings(
            overview.totals.today,
            overview.totals.week,
            overview.totals.month,
            overview.totals.lifetime,
            services.settings.currency,
        ),
        reply_markup=keyboards.statement_years(overview.years),
    )


async def send_statement(update: Update, context: BotContext, year: int) -> None:
    services = context.services
    content = await earnings.statement(services, common.sender(update).id, year)
    await context.bot.send_document(
        common.chat_id(update),
        InputFile(content.encode(), filename=f"crowdshelf-statement-{year}.csv"),
        caption=_(texts.STATEMENT_CAPTION).format(year=year),
    )
