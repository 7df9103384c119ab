"""Every user-facing string, and the functions that turn domain views into message text (HTML).

Each string goes through gettext (handlers.i18n) into the reader's language, and each figure through
handlers.formatting; strings defined at import are marked with N_ and translated where they are used.
"""

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape

from bot.batches.lifecycle import (
    ADAPTIVE_CONFIDENCE,
    ADAPTIVE_MIN_OVERLAP,
    ADAPTIVE_OVERLAP,
    REWARD_TO_CONFIRM_MICROS,
    Cost,
    Progress,
    SpentQuizBudget,
)
from bot.errors import DomainError, InvalidInput
from bot.money.payout_methods import Method
from bot.money.payouts import PayoutView
from bot.progress import Nudges, Standing, WorkerStats
from bot.quality.disputes import Contest, Decision, Reinstated
from bot.quality.gold import QUIZ_ATTEMPTS, QuizStep
from bot.quality.levels import Level
from bot.quality.rules import HeldWorker, Hold, Removal, Review
from bot.reasons import Reason
from bot.tasks.base import Question, QuestionKind
from bot.work import Card, SearchScreen, TaskScreen
from handlers import formatting, messages
from handlers.formatting import money
from handlers.i18n import N_, Nn_, ngettext, plural_text
from handlers.i18n import gettext as _

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

WELCOME = N_(
    "👋 Hi {name}! This is <b>crowdshelf</b>: you sort products into categories and earn money for every answer.\n\n"
    "<b>How it works</b>\n"
    "• You see one product at a time. Tap through the categories until the one that fits best, "
    "or type a word (e.g. <i>skillet</i>) to search.\n"
    "• Every accepted answer adds to your balance. Earnings are pending for a while, then become available.\n"
    "• A new batch may start with a short paid quiz; some later products are checks with known answers. "
    "Careful work keeps you in. Think a check is wrong? Tap ⚖ to contest it.\n"
    "• Not sure? Tap ⏭ Skip: there is no penalty.\n"
)
HELP = N_(
    "<b>What you can do</b>\n"
    "/work: get the next product to categorize\n"
    "/balance: pending, available, in-flight and paid money\n"
    "/earnings: today, this week, this month, lifetime; yearly CSV statements\n"
    "/payout_method: where your money goes (PayPal, bank, crypto, gift card)\n"
    "/payout: request your available balance once it reaches {threshold} · /payout 15: part of it\n"
    "/stats: your tasks, accuracy, hourly rate and level · /target 15: a daily earnings goal\n"
    "/breaks off: no break reminders\n"
    "/help: this message\n\n"
    "<b>While a product is shown</b>\n"
    "• Tap a category to open it; tap a final category (one with no subcategories) to answer.\n"
    "• ◀ ▶ turn pages, ⬅ Back goes up one level.\n"
    "• Type a word to search the categories, then tap a match.\n"
    "• ⏭ Skip gives the product to someone else, with no penalty. ⏹ Stop ends your session.\n\n"
    "A product is kept for you for {ttl}; after that it goes back to the pool."
)
START_BUTTON = N_("▶ Start working")
NO_TASKS = N_("🎉 No tasks right now. Everything available is done; try /work again later.")
SKIPPED = N_("⏭ Skipped")
SAVED = N_("✔ Saved")
STOPPED = N_("⏹ Stopped. Your answers are saved. Send /work whenever you want to continue.")
TASK_UNAVAILABLE = N_("This task is no longer available.")
ALREADY_RECORDED = N_("✔ Already recorded.")
NO_OPEN_TASK = N_("There is no product open for you. Send /work to get one.")
USE_THE_BUTTONS = N_("This question is answered with the buttons under the product.")
NO_MATCHES = N_("No category under this batch matches “{query}”. Try another word, or use the buttons above.")
SEARCH_HEADER = N_("🔎 Categories matching “{query}”: tap one to answer.")
SEARCH_OPEN_HINT = N_(" (› opens a category)")
BACK_TO_TREE = N_("⬅ Back to categories")
SOMETHING_WENT_WRONG = N_(
    "Sorry, something went wrong on our side, and what you just did may not have been completed. "
    "Check with /work or /balance, then try again if it is missing."
)
BUTTON_BACK = N_("⬅ Back")
BUTTON_SKIP = N_("⏭ Skip")
BUTTON_RULES = N_("ℹ Rules")
BUTTON_STOP = N_("⏹ Stop")
BUTTON_PREVIOUS = "◀"
BUTTON_NEXT = "▶"
COMMANDS = [
    ("work", N_("Get the next product to categorize")),
    ("balance", N_("Pending, available and paid money")),
    ("earnings", N_("Earnings by period and yearly statements")),
    ("stats", N_("Your accuracy, level, hourly rate")),
    ("target", N_("Set a daily earnings goal")),
    ("payout_method", N_("Where your money goes")),
    ("payout", N_("Request a payout")),
    ("help", N_("How it works")),
]


def welcome(first_name: str) -> str:
    return _(WELCOME).format(name=escape(first_name or _("there")))


def help_text(ttl_seconds: int, threshold: int, currency: str) -> str:
    minutes = max(1, ttl_seconds // 60)
    ttl = ngettext("{count} minute", "{count} minutes", minutes).format(count=minutes)
    return _(HELP).format(ttl=ttl, threshold=money(threshold, currency))


def answer_note(credited: int, pending: int, currency: str, nudges: Nudges | None = None) -> str:
    note = _("✔ +{credited} · pending {pending}").format(
        credited=money(credited, currency), pending=money(pending, currency)
    )
    if nudges and nudges.target_reached_micros:
        target = money(nudges.target_reached_micros, currency)
        note += "\n" + _("🎯 Daily target of {target} reached. Well done!").format(target=target)
    if nudges and nudges.take_a_break:
        note += "\n" + _(BREAK_SUGGESTION)
    if nudges and nudges.level_reached:
        name = _(LEVEL_NAMES[nudges.level_reached])
        note += "\n" + _(LEVEL_REACHED).format(level=name, rank=name.lower())
    return note


# What each type's questions, labels and card facts say. A requester's own question or value is shown as written.
QUESTION_TEXTS = {
    "category": N_("Pick the category that fits best, or type a word to search."),
    "verdict": N_("Is the proposed category right for this product?"),
    "match": N_("Does the photo show this product?"),
    "blurry": N_("Is the photo blurry?"),
    "person": N_("Is there a person in the photo?"),
    "white_background": N_("Is the background white?"),
    "watermark": N_("Is there a watermark on the photo?"),
    "text_overlay": N_("Is there text over the photo?"),
    "cropped": N_("Is the product cut off at the edges?"),
    "multiple_products": N_("Does the photo show more than one product?"),
    "dark": N_("Is the photo too dark?"),
}
_KEY = re.compile(r"[a-z][a-z0-9_]*")  # a question's key, as types name them
LABEL_TEXTS = {"yes": N_("✔ Yes"), "no": N_("✖ No"), "no_image": N_("⚠ Photo does not load")}
FACT_TEXTS = {"proposed": N_("Proposed")}
PHOTO_LINK = N_("🖼 Photo: {url}")


def question_text(question: Question) -> str:
    """What the worker is asked: the requester's own words, the type's question, or one made from its name."""
    if question.prompt:
        return question.prompt
    if question.key in QUESTION_TEXTS:
        return _(QUESTION_TEXTS[question.key])
    name = question_name(question.key).lower()
    return (_("Type the {name}.") if question.kind == QuestionKind.TEXT else _("Choose the {name}:")).format(name=name)


def question_name(key: str) -> str:
    """A question's name in a list of answers: a key worded ("white_background" → "White background"), a
    requester's own question as they wrote it."""
    return key.replace("_", " ").capitalize() if _KEY.fullmatch(key) else key


def label_text(label: str) -> str:
    return _(LABEL_TEXTS[label]) if label in LABEL_TEXTS else label


# The questions of one-question types: their answer alone reads by itself ("✔ Yes", a category's path).
SELF_EXPLAINED = ("category", "verdict", "match")


def described(labels: Sequence[Sequence[str]]) -> str:
    """Answers as a person reads them, named by their question: a lone "✖ No" would not say to which of
    a card's questions (gold may give one of several). A lone category or verdict stands as it is."""
    if len(labels) == 1 and labels[0][0] in SELF_EXPLAINED:
        return label_text(labels[0][1])
    return "; ".join(
        _("{question}: {answer}").format(question=question_name(question), answer=label_text(label))
        for question, label in labels
    )


def task(screen: TaskScreen, currency: str, limit: int, photo_link: bool = False) -> str:
    """The product card and its open question (for a category, where the worker is in the tree);
    fits in `limit` UTF-16 units. `photo_link`: the photo could not be shown, so its address is."""
    head = f"<i>{escape(screen.note)}</i>\n\n" if screen.note else ""
    if screen.quiz is not None:
        quiz = screen.quiz
        qualification = (
            _(
                "🎓 <b>Qualification {place} of {size}</b> for “{name}” "
                "(paid; pass with {score}, counting your earlier tries)"
            )
            if quiz.retry
            else _("🎓 <b>Qualification {place} of {size}</b> for “{name}” (paid; pass with {score})")
        )
        name = escape(_shorten(screen.batch_name, 100))
        score = _score(quiz.needed, quiz.questions, quiz.size)
        head += qualification.format(place=quiz.place, size=quiz.size, name=name, score=score) + "\n"
    tail = _task_tail(screen, currency, limit // 4)
    if photo_link:
        tail = "\n" + _(PHOTO_LINK).format(url=escape(_shorten(screen.card.image_url, 300))) + tail
    return head + _card(screen.card, limit - utf16_len(head) - utf16_len(tail)) + tail


def _task_tail(screen: TaskScreen, currency: str, answers_room: int) -> str:
    reward = _("Reward {amount}.").format(amount=money(screen.reward_micros, currency))
    done = _answered(screen.answered, answers_room)
    if screen.question.kind == QuestionKind.TREE:
        where = " › ".join(screen.breadcrumb) or _("All categories")
        pages = _(" · page {page}/{pages}").format(page=screen.page + 1, pages=screen.pages) if screen.pages > 1 else ""
        ask = f"\n\n📂 <b>{escape(where)}</b>{pages}\n{escape(question_text(screen.question))} {reward}"
        return ("\n" + done.lstrip("\n") if done else "") + ask
    step = (
        _(" ({number} of {count})").format(number=screen.question_index + 1, count=screen.question_count)
        if screen.question_count > 1
        else ""
    )
    ask = f"\n\n❓ <b>{escape(_shorten(question_text(screen.question), 300))}</b>{step}\n{reward}"
    return ("\n" + done if done else "") + ask  # one blank line under the card, answers or none


def _answered(answered: Sequence[Sequence[str]], room: int) -> str:
    """The card's answers so far, a line each; the latest that fit in `room` (a card may ask twenty
    questions, and a caption holds 1,024 units), the earlier ones counted."""
    lines = [
        "\n✔ "
        + _("{question}: {answer}").format(
            question=escape(_shorten(question_name(question), 60)), answer=escape(_shorten(label_text(label), 60))
        )
        for question, label in answered
    ]
    shown: list[str] = []
    for line in reversed(lines):
        if utf16_len("".join([line, *shown])) > room:
            break
        shown.insert(0, line)
    hidden = len(lines) - len(shown)
    earlier = ngettext("{count} earlier answer", "{count} earlier answers", hidden).format(count=hidden)
    return (f"\n✔ {earlier}" if hidden else "") + "".join(shown)


def _card(card: Card, room: int) -> str:
    # The HTML is measured, which is never shorter than the text Telegram counts; with little room
    # (a long note or path) the title and facts shrink too, so the card always fits.
    title = f"🛒 <b>{escape(_shorten(card.title, min(300, room // 2)))}</b>"
    facts = " · ".join(
        template.format(value=escape(_shorten(value, min(100, room // 8))))
        for template, value in ((_("Brand: {value}"), card.brand), (_("Price: {value}"), card.price))
        if value
    )
    lines = [title] + ([facts] if facts else [])
    lines += [
        f"{_(FACT_TEXTS[code]) if code in FACT_TEXTS else code}: <b>{escape(_shorten(value, min(200, room // 4)))}</b>"
        for code, value in card.facts
    ]
    used = sum(utf16_len(line) + 1 for line in lines)
    # Descriptions give way first: the title and the tree matter more on a phone screen.
    if card.description and room - used > 40:
        lines.append(escape(_shorten(card.description, min(600, (room - used) // 2))))
    return "\n".join(lines)


def search_results(screen: SearchScreen) -> str:
    if not screen.matches:
        return _(NO_MATCHES).format(query=escape(_shorten(screen.query, 60)))
    hint = _(SEARCH_OPEN_HINT) if screen.leaf_only and any(not m.is_leaf for m in screen.matches) else ""
    return _(SEARCH_HEADER).format(query=escape(_shorten(screen.query, 60))) + hint


def button_label(name: str, limit: int = 40) -> str:
    return _shorten(name, limit)


def path_label(path: str, limit: int = 60) -> str:
    """Long paths lose their beginning: the last levels are what tells matches apart."""
    return path if len(path) <= limit else "…" + path[-(limit - 1) :]


def utf16_len(text: str) -> int:
    """A length as Telegram counts it, in UTF-16 code units: most emoji count two."""
    return len(text.encode("utf-16-le")) // 2


def _shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` UTF-16 units (Telegram's measure of every limit), cut between
    characters and ended with "…"; a cut joiner of an emoji sequence goes with the cut."""
    if utf16_len(text) <= limit:
        return text
    kept, used = 0, 1  # the "…"
    for char in text:
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            break
        kept += 1
    return text[:kept].rstrip().removesuffix("\u200d") + "…"


# ---- money -------------------------------------------------------------------------------

PAYOUT_METHOD_CHOOSE = N_("Where should your money go? Choose a payout method:")
METHOD_KINDS = {
    "paypal": N_("PayPal e-mail"),
    "iban": N_("Bank account (IBAN)"),
    "crypto": N_("Crypto wallet (BTC or ETH)"),
    "giftcard": N_("Gift card e-mail"),
}
METHOD_PROMPTS = {
    "paypal": N_("Send the e-mail address of your PayPal account."),
    "iban": N_("Send your IBAN, e.g. DE89 3704 0044 0532 0130 00."),
    "crypto": N_("Send your Bitcoin (bc1…, 1…, 3…) or Ethereum (0x…) wallet address."),
    "giftcard": N_("Send the e-mail address the gift card should go to."),
}
PAYPAL_NOTE = "crowdshelf earnings"  # what PayPal shows the payee beside a mass payout
PAYOUT_METHOD_REMINDER = N_(
    "💰 Your available balance reached the payout threshold, but we don't know where to send the money. "
    "Set a payout method with /payout_method."
)
PAYOUT_USAGE = N_("Send /payout for your whole available balance, or /payout 15 for part of it.")
STATEMENT_CAPTION = N_("Your {year} statement: earnings by day and batch, and payouts.")
NO_EARNINGS = N_("No earnings yet: /work to start.")


def method_label(method: Method) -> str:
    return _("{kind}: {address}").format(kind=_(METHOD_KINDS[method.kind]), address=method.address)


def payout_method_current(label: str) -> str:
    return _("Your payout method: <b>{method}</b>\nChoose below to change it.").format(method=escape(label))


def payout_method_set(label: str) -> str:
    return _("✔ Payout method saved: <b>{method}</b>").format(method=escape(label))


def payout_method_changed(old: str, new: str) -> str:
    return _("✔ Payout method changed from <b>{old}</b> to <b>{new}</b>.").format(old=escape(old), new=escape(new))


def payout_approved_worker(payout_id: int, amount: str, method: str) -> str:
    return _("✅ Your payout #{id} of {amount} to {method} was approved.").format(
        id=payout_id, amount=amount, method=escape(method)
    )


def payout_rejected_worker(payout_id: int, amount: str, reason: Reason | None) -> str:
    said = messages.reason_text(reason) if reason else ""
    return _(
        "❌ Your payout #{id} of {amount} was rejected: {reason}\nThe money is back in your available balance."
    ).format(id=payout_id, amount=amount, reason=escape(said))


def balance_full(pending: int, available: int, in_flight: int, paid: int, threshold: int, currency: str) -> str:
    share = min(available / threshold, 1.0) if threshold else 1.0
    if available >= threshold:
        progress = _("You can request a payout now: /payout")
    else:
        progress = _("{missing} more to the {threshold} payout threshold").format(
            missing=money(threshold - available, currency), threshold=money(threshold, currency)
        )
    return _(
        "💰 <b>Your balance</b>\n"
        "Pending: {pending} (available after the review window)\n"
        "Available: {available}\n"
        "In flight: {in_flight}\n"
        "Paid: {paid}\n\n"
        "{bar} {progress}"
    ).format(
        pending=money(pending, currency),
        available=money(available, currency),
        in_flight=money(in_flight, currency),
        paid=money(paid, currency),
        bar=progress_bar(share),
        progress=progress,
    )


def progress_bar(share: float, width: int = 10) -> str:
    filled = round(max(0.0, min(share, 1.0)) * width)
    return "▓" * filled + "░" * (width - filled)


def earnings(today: int, week: int, month: int, lifetime: int, currency: str) -> str:
    return _(
        "📈 <b>Your earnings</b>\n"
        "Today: {today}\nThis week: {week}\nThis month: {month}\nLifetime: {lifetime}\n\n"
        "Tap a year for a CSV statement (date, batch, tasks, amount; payouts with method and status)."
    ).format(
        today=money(today, currency),
        week=money(week, currency),
        month=money(month, currency),
        lifetime=money(lifetime, currency),
    )


# ---- admin -------------------------------------------------------------------------------

NOT_ALLOWED = N_("Sorry, only admins can do that.")
ADMIN_HELP = N_(
    "<b>Admin commands</b>\n"
    "/payouts: the payout queue · /payouts_csv: approved PayPal payouts as a mass-payout CSV\n"
    "/fund USER AMOUNT: credit a requester · /grant USER requester · /revoke USER requester\n"
    "/held: workers held by quality control, to let back in or remove\n"
    "/suspend USER [reason] · /unsuspend USER · /reinstate USER BATCH (after a hold or removal)\n"
    "/stats: platform figures (then your own) · /audit: latest admin actions\n"
    "USER is a numeric id or @username."
)
REJECT_REASON_PROMPT = N_("Send the reason for rejecting payout #{id}; the worker will read it.")
REFERENCE_SAVED = N_("✔ Transaction id saved for payout #{id}.")
QUEUE_EMPTY = N_("No payout requests are waiting.")


def credited(amount: int, currency: str, name: str, user_id: int) -> str:
    return _("✔ Credited {amount} to {name} ({id}).").format(
        amount=money(amount, currency), name=escape(name), id=user_id
    )


def role_set(name: str, user_id: int, role: str, granted: bool) -> str:
    said = _("✔ {name} ({id}) is now a {role}.") if granted else _("✔ {name} ({id}) is no longer a {role}.")
    return said.format(name=escape(name), id=user_id, role=escape(role))


def suspended_for_admin(user_id: int, reason: Reason) -> str:
    return _("✔ {id} is suspended: {reason}").format(id=user_id, reason=escape(messages.reason_text(reason)))


def unsuspended(user_id: int) -> str:
    return _("✔ {id} can work again.").format(id=user_id)


def reinstated_for_admin(user_id: int, batch_id: int) -> str:
    return _("✔ {id} can work on batch {batch} again.").format(id=user_id, batch=batch_id)


def platform_stats(
    active_workers: int,
    answers: int,
    pending_payouts: int,
    pending_micros: int,
    by_account: dict[str, int],
    currency: str,
) -> str:
    accounts = "\n".join(f"  {kind}: {money(total, currency)}" for kind, total in sorted(by_account.items()))
    return "\n".join(
        [
            ngettext(
                "📊 Last 24 hours: {workers} active worker, {answers}",
                "📊 Last 24 hours: {workers} active workers, {answers}",
                active_workers,
            ).format(
                workers=formatting.number(active_workers),
                answers=ngettext("{count} answer", "{count} answers", answers).format(count=formatting.number(answers)),
            ),
            _("Pending payouts: {count} ({amount})").format(
                count=formatting.number(pending_payouts), amount=money(pending_micros, currency)
            ),
            _("Money by account kind:"),
            accounts or "  " + _("none yet"),
        ]
    )


def audit_log(lines: Sequence[tuple[datetime, int, str, str, str]]) -> str:
    body = "\n".join(
        f"{formatting.moment(at)} {actor} {action} {target} {details}".rstrip()
        for at, actor, action, target, details in lines
    )
    return _("🧾 Latest admin actions:") + "\n" + (escape(body) or _("none yet"))


def paypal_file_caption(count: int) -> str:
    return ngettext("{count} approved PayPal payout", "{count} approved PayPal payouts", count).format(count=count)


def payout_requested(payout: PayoutView, currency: str) -> str:
    return _(
        "📤 Payout of {amount} to {method} requested (#{id}). An admin will review it; you'll get a message either way."
    ).format(amount=money(payout.amount_micros, currency), method=escape(method_label(payout.method)), id=payout.id)


def payout_notice(
    payout_id: int,
    worker: str,
    worker_id: int,
    amount: int,
    method: str,
    accuracy: float | None,
    gold: int,
    answers: int,
    paid_before: int,
    payouts_before: int,
    currency: str,
) -> str:
    return _(
        "💸 <b>Payout #{id}</b>: {amount}\n"
        "Worker: {worker} (id {worker_id})\n"
        "Method: {method}\n"
        "Accuracy: {quality} · answers: {answers}\n"
        "Paid before: {paid_before}"
    ).format(
        id=payout_id,
        amount=money(amount, currency),
        worker=escape(worker),
        worker_id=worker_id,
        method=escape(method),
        quality=_gold_accuracy(accuracy, gold),
        answers=formatting.number(answers),
        paid_before=ngettext("{amount} in {count} payout", "{amount} in {count} payouts", payouts_before).format(
            amount=money(paid_before, currency), count=payouts_before
        ),
    )


def _gold_accuracy(accuracy: float | None, gold: int) -> str:
    if accuracy is None:
        return _("no gold answers yet")
    return ngettext("{accuracy} on {count} gold answer", "{accuracy} on {count} gold answers", gold).format(
        accuracy=formatting.percent(accuracy), count=gold
    )


def payout_decided(notice: str, approved: bool, admin: str, detail: str | None) -> str:
    if not approved:
        tail = _("❌ Rejected by {admin}: {reason}").format(admin=escape(admin), reason=escape(detail or ""))
    elif detail:
        tail = _("✅ Approved by {admin}. Reference: {reference}").format(admin=escape(admin), reference=escape(detail))
    else:
        tail = _("✅ Approved by {admin}. Reply to this message with the transaction id to record it.").format(
            admin=escape(admin)
        )
    return f"{notice}\n\n{tail}"


# ---- requester -----------------------------------------------------------------------------

REQUESTERS_ONLY = N_("Only requesters can load batches. Ask an admin to grant you the requester role.")
NEW_BATCH = N_(
    "Send me the product file: CSV (UTF-8, header row), JSON (a list of objects) or JSON Lines.\n"
    "Columns: item_id, title (required); description, brand, price, image_url (optional); "
    "and by type: gold_category, proposed_category, gold_answer, gold_&lt;question&gt;.\n"
    "Put settings in the file's caption, e.g.\n"
    '<code>reward=0.02 overlap=3 root="Home &amp; Garden" name="Kitchen" '
    'instructions="Pick the most specific category"</code>\n'
    "Types (type=…): categorize (the default: pick a category), validate (confirm proposed_category; "
    'correct=true lets a No pick the right one), attributes (attributes="color:black|white|other; brand:text"), '
    "image_match (does the photo show the product?), image_quality (questions=blurry,person,white_background).\n"
    "Settings: type, reward, overlap, gold_rate, root, name, leaf_only, confidence, min_overlap, instructions; "
    "quality: qualification, pass, retry_hours, min_gold, min_accuracy, min_seconds, max_share, min_level, "
    "bonus_qualified, bonus_expert. Anything missing I will ask with buttons.\n"
    "Then: /batches for progress and controls, /results N for the labels, "
    "/quizzes N COUNT to fund more quizzes when new workers can no longer join."
)
NOT_A_BATCH_FILE = N_("Send the products as a .csv, .json or .jsonl file.")
ASK_REWARD = N_("How much should one answer pay?")


def ask_overlap() -> str:
    return _(
        "How many workers should answer each product? (More answers, more reliable labels.)\n"
        "Adaptive: {fewest} answers each, and up to {most} only while the workers disagree "
        "(overlap={most} min_overlap={fewest} confidence={confidence}): far fewer "
        "wrong labels for a few per cent more answers. The reserve covers {most} answers a product; "
        "what is not used comes back."
    ).format(fewest=ADAPTIVE_MIN_OVERLAP, most=ADAPTIVE_OVERLAP, confidence=ADAPTIVE_CONFIDENCE)


def adaptive_overlap_button() -> str:
    return _("{fewest}–{most}, adaptive (recommended)").format(fewest=ADAPTIVE_MIN_OVERLAP, most=ADAPTIVE_OVERLAP)


LAUNCHED = N_("🚀 Batch #{id} is live: {amount} reserved. Follow it with /batches.")
DISCARDED = N_("✖ Draft discarded; nothing was reserved.")
PAUSED = N_("⏸ Batch #{id} paused: workers get no new products from it.")
RESUMED = N_("▶ Batch #{id} resumed.")
CANCELLED = N_("⏹ Batch #{id} cancelled. {refund} refunded to your available funds.")
FUND_MORE_QUIZZES = N_("/quizzes {id} 10 funds ten more quizzes.")
QUIZ_BUDGET_SPENT = N_("⚠ Quiz budget spent: no new worker can join.")
QUIZZES_USAGE = N_("Usage: /quizzes BATCH COUNT, e.g. /quizzes 3 10 lets ten more new workers take batch 3's quiz.")
QUIZZES_ADDED = Nn_(
    "🎓 {amount} reserved: {count} more new worker can take the quiz of batch #{id}.",
    "🎓 {amount} reserved: {count} more new workers can take the quiz of batch #{id}.",
)
QUIZZES_ALREADY = N_("That top-up was already carried out; nothing more was reserved.")
NO_BATCHES = N_("You have no batches yet. Send a product file (see /new_batch).")
RESULTS_CAPTION = N_("Results of batch #{id}: one label per product, with confidence and agreement.")
RAW_CAPTION = N_("Every answer of batch #{id}: worker pseudonym, answer, seconds taken, gold correct or not.")
NO_ANSWERS_YET = N_("Batch #{id} has no answers yet.")
CHART_BUTTON = N_("📈 Chart")
CHART_CAPTION = N_(
    "📈 Batch #{id}: answers over time, how confident the crowd is on finished products, "
    "and each worker's accuracy on gold."
)
# The chart's own words (handlers.chart draws them into the picture: plain text, no HTML).
CHART_TITLE = N_("Batch #{id} “{name}”")
CHART_NOTHING_YET = N_("Nothing yet")
CHART_ANSWERS_TITLE = N_("Answers on products over time")
CHART_TIME_AXIS = N_("Time (UTC)")
CHART_ANSWERS_AXIS = N_("Answers")
CHART_NEEDED = N_("needed: {count}")
CHART_CONFIDENCE_TITLE = N_("Crowd's confidence on finished products")
CHART_CONFIDENCE_AXIS = N_("Confidence in the label")
CHART_LABELS_AXIS = N_("Labels")
CHART_ACCURACY_TITLE = N_("Each worker's accuracy on gold")
CHART_ACCURACY_SOME_TITLE = Nn_(
    "Accuracy on gold of the {count} worker with most gold answers",
    "Accuracy on gold of the {count} workers with most gold answers",
)
CHART_ACCURACY_AXIS = N_("Gold answers right (dashed: min_accuracy {share})")
PROBLEMS_SHOWN = 20  # more are not read; the requester fixes these and sends the file again
PROBLEM_LIMIT = 1000  # one bad row's line, so that several fit in a message
MORE_PROBLEMS = Nn_("\n… and {count} more problem", "\n… and {count} more problems")
RULES_HEAD = N_("ℹ <b>Rules of “{name}”</b>\n")


def file_too_big(megabytes: float) -> str:
    return _("That file is {size} MB; bots can download at most 20 MB. Split it into smaller batches.").format(
        size=formatting.decimal(megabytes, 1)
    )


def instructions(name: str, text: str) -> str:
    return _(RULES_HEAD).format(name=escape(name)) + escape(text)


def confirm_reward(typed_micros: int, currency: str) -> str:
    return _(
        "The caption asks {typed} per answer, more than the {limit} I take without asking. Is that right? "
        "Nothing is reserved until you launch."
    ).format(typed=money(typed_micros, currency), limit=money(REWARD_TO_CONFIRM_MICROS, currency))


def confirm_reward_button(typed: str) -> str:
    return _("Yes, {amount} per answer").format(amount=typed)


def refused(refusal: DomainError) -> str:
    """Why something cannot be done, in one message; for a refused file, as many whole problems as fit,
    then how many more. Escaped, as the words may quote what the person sent."""
    return escape(_refusal(refusal))


def _refusal(refusal: DomainError) -> str:
    # Telegram's limit counts the text as shown, so escaping does not change what fits.
    summary = messages.error_text(refusal)
    problems = messages.problem_lines(refusal.problems) if isinstance(refusal, InvalidInput) else []
    if not problems:
        return _shorten(summary, TEXT_LIMIT)
    lines = [_shorten(summary, PROBLEM_LIMIT)]
    room = TEXT_LIMIT - utf16_len(plural_text(MORE_PROBLEMS, len(problems)).format(count=len(problems)))
    for problem in problems[:PROBLEMS_SHOWN]:
        line = _shorten(problem, PROBLEM_LIMIT)
        if utf16_len("\n".join([*lines, line])) > room:
            break
        lines.append(line)
    hidden = len(problems) - (len(lines) - 1)
    return "\n".join(lines) + (plural_text(MORE_PROBLEMS, hidden).format(count=hidden) if hidden else "")


def cost_lines(cost: Cost, currency: str) -> list[str]:
    """The cost breakdown in plain text: in the chat's preview and printed by `crowdshelf batch load`."""
    answer = money(cost.answer_micros, currency)
    products = ngettext("{count} product", "{count} products", cost.regular_items).format(count=cost.regular_items)
    answers = ngettext("{count} answer", "{count} answers", cost.overlap).format(count=cost.overlap)
    lines = [f"{products} × {answers} × {answer}"]
    gold = []
    if cost.quiz_slots:
        quiz = ngettext("{count} quiz answer", "{count} quiz answers", cost.quiz_slots)
        gold.append(quiz.format(count=cost.quiz_slots))
    if cost.check_slots:
        gold.append(ngettext("{count} check", "{count} checks", cost.check_slots).format(count=cost.check_slots))
    if gold:
        lines.append(
            ngettext(
                "+ up to {slots} on your {count} gold item × {answer}",
                "+ up to {slots} on your {count} gold items × {answer}",
                cost.gold_items,
            ).format(slots=_(" and ").join(gold), count=cost.gold_items, answer=answer)
        )
    lines.append(
        _("= {total} at most; what is not spent comes back when the batch ends").format(
            total=money(cost.total, currency)
        )
    )
    return lines


def preview_cost(cost: Cost, available: int, currency: str, instructions_text: str) -> str:
    funds = _("Your available funds: {amount}").format(amount=money(available, currency))
    body = escape("\n".join([*cost_lines(cost, currency), funds]))
    rules = "\n\n" + _("<b>Instructions</b>") + f"\n{escape(instructions_text)}" if instructions_text else ""
    launch = _("Launch to reserve the money and open the batch to workers.")
    return _("💵 <b>Cost</b>") + f"\n{body}{_cap_hint(cost)}{_overlap_tip(cost)}{rules}\n\n{launch}"


def _overlap_tip(cost: Cost) -> str:
    """Dynamic overlap buys far fewer wrong labels for a few per cent more answers; say so where it is off."""
    if cost.dynamic or cost.overlap < 2:
        return ""
    more, n = cost.overlap + 2, cost.overlap
    return "\n\n" + _(
        "💡 With overlap={more} min_overlap={n} confidence=0.9 in the caption, a product gets more than {n} "
        "answers (up to {more}) only while its workers disagree: usually a few per cent more answers and far "
        "fewer wrong labels. The reserve then covers {more} answers a product; what is not used comes back."
    ).format(more=more, n=n)


def _cap_hint(cost: Cost) -> str:
    """Quizzes dearer than the work itself mean the per-worker cap is too small for this batch."""
    if cost.cap is None or cost.quiz_slots <= cost.overlap * cost.regular_items:
        return ""
    return "\n\n" + ngettext(
        "💡 Each worker may give only {count} answer here (max_share), so many must take the "
        "quiz first and the quizzes cost more than the work. For a small batch, leave max_share out of the "
        "caption: then a worker may answer every product.",
        "💡 Each worker may give only {count} answers here (max_share), so many must take the "
        "quiz first and the quizzes cost more than the work. For a small batch, leave max_share out of the "
        "caption: then a worker may answer every product.",
        cost.cap,
    ).format(count=cost.cap)


def batch_progress(p: Progress, currency: str) -> str:
    share = p.answers / p.answers_needed if p.answers_needed else 1.0
    if p.eta is None:
        eta = _("ETA unknown")
    else:
        eta = _("about {duration} left").format(duration=formatting.duration(p.eta)) if p.eta else _("done")
    products = ngettext("{count} product", "{count} products", p.items).format(count=formatting.number(p.items))
    return _(
        "📦 <b>#{id} {name}</b> · {status}\n"
        "{bar} {answers}/{needed} answers · {products}\n"
        "Spent {spent} of {reserved} reserved · {eta}\n"
        "Crowd accuracy: {accuracy}"
    ).format(
        id=p.id,
        name=escape(p.name),
        status=messages.status_text(p.status),
        bar=progress_bar(share),
        answers=formatting.number(p.answers),
        needed=formatting.number(p.answers_needed),
        products=products,
        spent=money(p.spent_micros, currency),
        reserved=money(p.reserved_micros, currency),
        eta=eta,
        accuracy=_gold_accuracy(p.gold_accuracy, p.gold_answers),
    ) + _quiz_budget(p)


def preview_head(batch_id: int, name: str) -> str:
    return _("👀 <b>Preview</b> of batch #{id} “{name}”: the first product exactly as workers will see it.").format(
        id=batch_id, name=escape(name)
    )


def batch_completed(batch_id: int, name: str, refund: str) -> str:
    return _("✅ Batch #{id} “{name}” is complete. {refund} unspent, refunded. Results attached.").format(
        id=batch_id, name=escape(name), refund=refund
    )


def _quiz_budget(p: Progress) -> str:
    if p.quizzes_left is None:
        return ""
    if p.quizzes_left:
        return "\n" + ngettext(
            "Quiz budget: {count} more new worker can take the quiz",
            "Quiz budget: {count} more new workers can take the quiz",
            p.quizzes_left,
        ).format(count=p.quizzes_left)
    return f"\n{_(QUIZ_BUDGET_SPENT)} " + _(FUND_MORE_QUIZZES).format(id=p.id)


def quiz_budget_alert(budget: SpentQuizBudget) -> str:
    return (
        ngettext(
            "⚠ Batch #{id} “{name}”: its quiz budget is spent, so no new worker can "
            "join, and {count} product still waits for answers.",
            "⚠ Batch #{id} “{name}”: its quiz budget is spent, so no new worker can "
            "join, and {count} products still wait for answers.",
            budget.open_items,
        ).format(id=budget.batch_id, name=escape(budget.name), count=budget.open_items)
        + " "
        + _(FUND_MORE_QUIZZES).format(id=budget.batch_id)
    )


def digest(progress: list[Progress], currency: str) -> str:
    return _("🗓 <b>Daily digest</b>") + "\n\n" + "\n\n".join(batch_progress(p, currency) for p in progress)


# ---- worker progression ----------------------------------------------------------------------

LEVEL_REACHED = N_(
    "🏅 You are now {level}: batches for {rank} workers are open to you, some with a bonus per answer. /stats"
)
LEVEL_NAMES = {"newcomer": N_("Newcomer"), "qualified": N_("Qualified"), "expert": N_("Expert")}
BREAK_SUGGESTION = N_("☕ 25 minutes of focus: a short break keeps your accuracy up. (/breaks off to stop these)")
BREAKS_ON = N_("☕ Break reminders are on.")
BREAKS_OFF = N_("Break reminders are off. /breaks on to bring them back.")
TARGET_USAGE = N_("Usage: /target 15 (your daily earnings goal) or /target off.")
TARGET_OFF = N_("Daily target removed.")


def worker_stats(s: WorkerStats, currency: str) -> str:
    if s.gold_answers:
        accuracy = ngettext("{accuracy} on {count} check", "{accuracy} on {count} checks", s.gold_answers).format(
            accuracy=formatting.percent(s.gold_correct / s.gold_answers), count=s.gold_answers
        )
    else:
        accuracy = _("no checks yet")
    if s.hourly_micros is None:
        hourly = _("not enough work yet")
    else:
        hourly = _("{amount}/hour").format(amount=money(s.hourly_micros, currency))
    level = _(LEVEL_NAMES[s.level.name])
    lines = [
        _("📊 <b>Your stats</b>"),
        _("Tasks: {today} today · {week} this week").format(today=s.tasks_today, week=s.tasks_week),
        _("Accuracy on hidden checks: {accuracy}").format(accuracy=accuracy),
        _("Rejected answers: {share}").format(share=formatting.percent(s.rejection_rate)),
        _("Earned: {amount} · effective rate {hourly}").format(amount=money(s.earned_micros, currency), hourly=hourly),
        _("Level: <b>{level}</b> → next: {next}").format(level=level, next=next_level(s.level, s.level.next_name))
        if s.level.next_name
        else _("Level: <b>{level}</b> (top level)").format(level=level),
    ]
    if s.target_micros:
        share = s.earned_today_micros / s.target_micros
        lines.append(
            _("Today's target: {bar} {earned} of {target}").format(
                bar=progress_bar(share),
                earned=money(s.earned_today_micros, currency),
                target=money(s.target_micros, currency),
            )
        )
    if s.standings:
        lines += ["", _("<b>Your running batches</b>"), *map(standing, s.standings)]
    return "\n".join(lines)


def standing(st: Standing) -> str:
    batch = f"#{st.batch_id} “{escape(st.batch_name)}”"
    reason = escape(messages.reason_text(st.reason)) if st.reason else ""
    match st.status:
        case "working":
            checks = (
                _("checks {right} of {count} right").format(right=st.checks_right, count=st.checks)
                if st.checks
                else _("no checks yet")
            )
            return _("✅ {batch}: working · {checks}").format(batch=batch, checks=checks)
        case "capped":
            return _("☑ {batch}: done, you gave the most answers one worker may give here ({most})").format(
                batch=batch, most=st.max_answers
            )
        case "qualifying":
            return _("🎓 {batch}: quiz under way, /work to go on").format(batch=batch)
        case "retry_later" if st.retry_at is not None:
            return _("📕 {batch}: quiz again after {when}").format(batch=batch, when=formatting.moment(st.retry_at))
        case "retry_now":
            return _("📕 {batch}: quiz open again, /work").format(batch=batch)
        case "closed":
            return _("📕 {batch}: quiz not passed, closed to you").format(batch=batch)
        case "held":
            return _("⏸ {batch}: paused for a review ({reason})").format(batch=batch, reason=reason)
    return _("✖ {batch}: removed ({reason})").format(batch=batch, reason=reason)


def next_level(level: Level, next_name: str) -> str:
    needs = []
    if level.gold_needed:
        needs.append(
            ngettext("{count} more checked answer", "{count} more checked answers", level.gold_needed).format(
                count=level.gold_needed
            )
        )
    if level.bound_needed is not None:
        needs.append(_("check accuracy reliably above {share}").format(share=formatting.percent(level.bound_needed)))
    return _("{level} ({needs})").format(level=_(LEVEL_NAMES[next_name]), needs=_(" and ").join(needs))


def target_set(target: int, earned_today: int, currency: str) -> str:
    share = earned_today / target if target else 1.0
    return _("🎯 Daily target: {target}\n{bar} {earned} earned today").format(
        target=money(target, currency), bar=progress_bar(share), earned=money(earned_today, currency)
    )


def account_suspended(reason: Reason) -> str:
    return _("Your account was suspended: {reason}").format(reason=escape(messages.reason_text(reason)))


ACCOUNT_ACTIVE = N_("Your account is active again: /work to continue.")
BATCH_REOPENED = N_("▶ You can work on that batch again: /work")


# ---- quality control ---------------------------------------------------------------------------


def removed(removal: Removal) -> str:
    missed = "\n".join(
        _("{n}. {title}: you chose {answered}; right: {right}").format(
            n=n,
            title=escape(_shorten(miss.title, 80)),
            answered=escape(described(miss.answered)),
            right=escape(described(miss.right)),
        )
        for n, miss in enumerate(removal.missed[:MAX_CONTESTS], 1)
    )
    rejected = ngettext(
        "{count} answer since your last correct check was rejected and its pending pay returned to the requester.",
        "{count} answers since your last correct check were rejected and their pending pay returned to the requester.",
        removal.rejected,
    ).format(count=removal.rejected)
    return _(
        "🚫 <b>You were removed from “{name}”.</b>\n"
        "Your answers to its known-answer questions show an accuracy of at best {bound}; "
        "this batch needs {needed}.\n\n<b>Questions you missed</b>\n{missed}\n\n"
        "{rejected} Other batches are still open to you: /work\n"
        "If a check itself was wrong, tap {button}: if the requester agrees, your accuracy is "
        "worked out again and the rejections are undone."
    ).format(
        name=escape(removal.batch_name),
        bound=formatting.percent_at_most(removal.bound),
        needed=formatting.percent(removal.min_accuracy),
        missed=missed,
        rejected=rejected,
        button=_(CONTEST_BUTTON),
    )


def held(hold: Hold) -> str:
    return _(
        "⏸ Your work on “{name}” is paused for a review ({reason}). "
        "An admin will look soon; other batches are still open to you."
    ).format(name=escape(hold.batch_name), reason=escape(messages.reason_text(hold.reason)))


HOLD_CONTINUE = N_("▶ Let them continue")
HOLD_REMOVE = N_("✖ Remove, reject answers")
NO_HOLDS = N_("No worker is held by quality control.")
MAX_HOLDS_SHOWN = 20


def held_for_admins(hold: Hold) -> str:
    return _(
        "⏸ Worker {worker} is held in batch #{batch} “{name}”: {reason}. "
        "To let them continue: /reinstate {worker} {batch}, or use the buttons; "
        "removing them rejects their answers in the batch whose pay is still in its hold."
    ).format(
        worker=hold.worker_id,
        batch=hold.batch_id,
        name=escape(hold.batch_name),
        reason=escape(messages.reason_text(hold.reason)),
    )


def hold_waiting(held: HeldWorker) -> str:
    return ngettext(
        "⏸ {worker} ({worker_id}) in batch #{batch} “{name}”, held since {since}: {reason}. "
        "{count} answer in the batch still in its hold.",
        "⏸ {worker} ({worker_id}) in batch #{batch} “{name}”, held since {since}: {reason}. "
        "{count} answers in the batch still in their hold.",
        held.pending,
    ).format(
        worker=escape(held.worker_name or str(held.worker_id)),
        worker_id=held.worker_id,
        batch=held.batch_id,
        name=escape(held.batch_name),
        since=formatting.moment(held.since),
        reason=escape(messages.reason_text(held.reason)),
        count=held.pending,
    )


def holds_listed(shown: int) -> str:
    listed = ngettext(
        "{count} worker held by quality control, oldest first.",
        "{count} workers held by quality control, oldest first.",
        shown,
    ).format(count=shown)
    if shown < MAX_HOLDS_SHOWN:
        return listed
    return listed + " " + _("The oldest {count} are shown; decide them to see more.").format(count=shown)


def hold_decided(review: Review, admin_name: str) -> str:
    if review.removed:
        return ngettext(
            "✖ Removed by {admin}: {count} answer rejected.",
            "✖ Removed by {admin}: {count} answers rejected.",
            review.rejected,
        ).format(admin=escape(admin_name), count=review.rejected)
    return _("▶ Let back in by {admin}.").format(admin=escape(admin_name))


def hold_already_decided(batch_id: int, worker_id: int) -> str:
    return _("Worker {worker} is not held in batch #{batch} any more: the hold was already decided.").format(
        worker=worker_id, batch=batch_id
    )


def hold_outcome(review: Review) -> str:
    """To the worker."""
    if not review.removed:
        return _("▶ Your work on “{name}” was reviewed: you can go on. /work").format(name=escape(review.batch_name))
    return ngettext(
        "✖ After a review you are removed from “{name}” ({reason}). "
        "{count} of your answers there, whose pay was still in its hold, is rejected and the money "
        "goes back to the requester. Other batches are still open to you: /work",
        "✖ After a review you are removed from “{name}” ({reason}). "
        "{count} of your answers there, whose pay was still in its hold, are rejected and the money "
        "goes back to the requester. Other batches are still open to you: /work",
        review.rejected,
    ).format(name=escape(review.batch_name), reason=escape(messages.reason_text(review.reason)), count=review.rejected)


# ---- qualification and contested gold ----------------------------------------------------------

MAX_CONTESTS = 8  # missed checks listed (and contestable) in one message
CONTEST_BUTTON = N_("⚖ I think this gold is wrong")
JUDGE_CORRECT = N_("✅ The worker is right: use their answer")
JUDGE_DROP = N_("🗑 Drop this gold item")
JUDGE_UPHOLD = N_("✖ The gold is right")


def _the_right(labels: Sequence[Sequence[str]]) -> str:
    """'The right category is {right}' or 'The right answer is {right}'."""
    if _is_category(labels):
        return _("The right category is {right}")
    return _("The right answer is {right}")


def _is_category(labels: Sequence[Sequence[str]]) -> bool:
    return [question for question, answer in labels] == ["category"]


def _score(right: int, questions: int, size: int) -> str:
    """ "4 of 5 right", or where a quiz item asks several questions, each counted, "7 of 9 answers right"."""
    if questions == size:
        return _("{right} of {total} right").format(right=right, total=questions)
    return _("{right} of {total} answers right").format(right=right, total=questions)


def _partly(step: QuizStep, shown: Callable[[str], str]) -> str:
    """The questions missed on a quiz item partly right, `shown` wrapping their right labels
    ("2 of 3 right: the right answer is Person: ✖ No")."""
    if _is_category(step.wrong):
        text = _("{right} of {graded} right: the right category is {wrong}")
    else:
        text = _("{right} of {graded} right: the right answer is {wrong}")
    return text.format(right=step.item_right, graded=step.item_graded, wrong=shown(described(step.wrong)))


def quiz_note(step: QuizStep) -> str:
    """Feedback on one quiz answer, shown above the next task (or with the corrected product)."""
    if step.correct:
        verdict = _("✔ Correct")
    elif step.item_right:
        verdict = "✘ " + _partly(step, str)
    else:
        verdict = "✘ " + _the_right(step.right).format(right=described(step.right))
    if step.passed is None:
        return _("{verdict} · {right} of {count} right so far").format(
            verdict=verdict, right=step.correct_so_far, count=step.answered
        )
    if step.passed:
        return _("{verdict}\n🎓 Qualified for “{name}”: {score}. Paid work follows.").format(
            verdict=verdict, name=step.batch_name, score=_score(step.correct_so_far, step.questions, step.size)
        )
    return verdict


def quiz_failed(step: QuizStep) -> str:
    name = escape(step.batch_name)
    score = _score(step.correct_so_far, step.questions, step.size)
    if step.attempt == 1:
        score = _("{score}; {needed} are needed").format(score=score, needed=step.needed)
    else:
        score = _("{score}; with your earlier tries, {needed} were needed").format(score=score, needed=step.needed)
    if step.retry_at is None:
        if step.attempt >= QUIZ_ATTEMPTS:
            why = _("that was the last try")
        else:
            why = _("even {size} of {size} on a next try would leave your quiz answers here under the pass mark")
        return _(
            "📕 You did not qualify for “{name}” ({score}): {why}, so it is closed to you. Other batches: /work"
        ).format(name=name, score=score, why=why.format(size=step.next_questions))
    return ngettext(
        "📕 You did not qualify for “{name}” yet ({score}). "
        "Your quiz answers in a batch count together, so next time {needed} of {size} are needed. "
        "You may try again after {when} ({count} try left). Other batches are open to you: /work",
        "📕 You did not qualify for “{name}” yet ({score}). "
        "Your quiz answers in a batch count together, so next time {needed} of {size} are needed. "
        "You may try again after {when} ({count} tries left). Other batches are open to you: /work",
        step.retries_left,
    ).format(
        name=name,
        score=score,
        needed=step.next_needed,
        size=step.next_questions,
        when=formatting.moment(step.retry_at),
        count=step.retries_left,
    )


def quiz_missed(step: QuizStep) -> str:
    bold: Callable[[str], str] = lambda labels: f"<b>{escape(labels)}</b>"  # noqa: E731
    if step.item_right:
        missed = _("✘ Not quite: {missed}.").format(missed=_partly(step, bold))
    elif _is_category(step.right):
        missed = _("✘ Not quite: the right category is {right}.").format(right=bold(described(step.right)))
    else:
        missed = _("✘ Not quite: the right answer is {right}.").format(right=bold(described(step.right)))
    return f"🛒 {escape(_shorten(step.title, 120))}\n{missed}\n" + _(
        "If you are sure the check itself is wrong, tap {button}."
    ).format(button=_(CONTEST_BUTTON))


def contest_sent(contest: Contest) -> str:
    if contest.already_sent:
        return _("⚖ You already contested this check; the requester will decide.")
    return _("⚖ Sent to the requester and the admins. You will hear what they decide.")


def contest_for_judges(contest: Contest) -> str:
    return _(
        "⚖ <b>A worker contests a gold item</b> in “{name}”\n"
        "Product: {title}\n"
        "Gold: {gold}\n"
        "The worker chose: {answered}\n\n"
        "If the gold is wrong, everyone it graded is graded again: accuracy, quizzes, removals and "
        "rejected pay follow."
    ).format(
        name=escape(contest.batch_name),
        title=escape(_shorten(contest.title, 200)),
        gold=escape(described(contest.gold)),
        answered=escape(described(contest.answered)),
    )


_DECIDED = {
    "corrected": N_("the gold now says what the worker chose"),
    "dropped": N_("the item is no longer a check"),
    "upheld": N_("the gold stands"),
}


def dispute_decided(decision: Decision) -> str:
    decided = _("⚖ Decided: {outcome}.").format(outcome=_(_DECIDED[decision.status]))
    if decision.status == "upheld":
        return decided
    regraded = ngettext("{count} answer regraded.", "{count} answers regraded.", decision.regraded)
    return f"{decided} {regraded.format(count=decision.regraded)}"


def dispute_outcome(status: str, title: str) -> str:
    """To the workers who contested the item, once its dispute was decided with `status`."""
    title = escape(_shorten(title, 80))
    if status == "upheld":
        return _("⚖ Your contest of the check “{title}” was reviewed: the gold stands.").format(title=title)
    return _("⚖ You were right about the check “{title}”: {outcome}, and your accuracy was worked out again.").format(
        title=title, outcome=_(_DECIDED[status])
    )


def reinstated(outcome: Reinstated, currency: str) -> str:
    name = escape(outcome.batch_name)
    if outcome.why == "quiz":
        return _("🎓 With the corrected check you passed the qualification for “{name}”: /work").format(name=name)
    if outcome.restored_micros:
        return _(
            "✅ With the corrected check you are back in “{name}”. {amount} of rejected pay is yours again. /work"
        ).format(name=name, amount=money(outcome.restored_micros, currency))
    return _("✅ With the corrected check you are back in “{name}”. /work").format(name=name)
