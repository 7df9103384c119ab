"""One entry for buttons and one for typed text, sending each to the handler it belongs to."""

from telegram import Message, Update

from bot import users
from bot.money import wallet
from handlers import admin, callbacks, common, disputes, money, requester, texts, worker
from handlers.callbacks import (
    Choose,
    ChooseMethod,
    ContestGold,
    Control,
    Decide,
    Judge,
    ReviewHold,
    Rules,
    Statement,
)
from handlers.common import BotContext
from handlers.i18n import gettext as _


async def on_button(update: Update, context: BotContext) -> None:
    query = common.press(update)
    action = callbacks.decode(query.data)
    if action is None:
        await common.answer_press(update, context, _(texts.TASK_UNAVAILABLE))
        return
    message = query.message if isinstance(query.message, Message) else None
    if isinstance(action, worker.TASK_ACTIONS):
        # Answered once the outcome is known, so that a replayed press can say it was already recorded.
        await worker.act(update, context, action, message)
        return
    # Answer at once so the phone stops its spinner; the work below may take a moment.
    await common.answer_press(update, context)
    match action:
        case ChooseMethod(kind):
            await money.choose_method(update, context, kind)
        case Decide(payout_id, approve):
            await admin.on_decision(update, context, payout_id, approve)
        case Statement(year):
            await money.send_statement(update, context, year)
        case Choose(batch_id, setting, value):
            await requester.on_choice(update, context, batch_id, setting, value)
        case Control(batch_id, op):
            await requester.on_control(update, context, batch_id, op)
        case Rules(batch_id):
            await requester.show_rules(update, context, batch_id)
        case ContestGold(assignment_id):
            await disputes.on_contest(update, context, assignment_id)
        case Judge(dispute_id, status):
            await disputes.on_judge(update, context, dispute_id, status, message)
        case ReviewHold(batch_id, worker_id, remove):
            await admin.on_review(update, context, batch_id, worker_id, remove, message)


async def on_text(update: Update, context: BotContext) -> None:
    """Typed text answers a question the bot asked (stored in the database), else it searches."""
    services = context.services
    user_id = common.sender(update).id
    replied = common.message(update).reply_to_message
    if replied is not None and user_id in services.settings.admin_ids:
        payout_id = await wallet.payout_replied_to(services, user_id, replied.message_id)
        if payout_id is not None:
            await admin.reference_replied(update, context, payout_id)
            return
    awaiting = await users.question_answered(services, user_id)
    if awaiting and awaiting.startswith(money.METHOD_INPUT):
        await money.method_typed(update, context, awaiting.removeprefix(money.METHOD_INPUT))
    elif awaiting and awaiting.startswith(admin.REASON_INPUT):
        await admin.reason_typed(update, context, int(awaiting.removeprefix(admin.REASON_INPUT)))
    else:
        await worker.typed(update, context)
