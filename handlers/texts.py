"""Every user-facing string, and the functions that turn domain views into message text (HTML)."""

import math
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
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
from bot.money.amounts import format_money
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
from handlers import messages

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

WELCOME = (
    "👋 Hi {name}! This is <b>crowdshelf</b>: you sort products into categories and earn money for every answer.\n\n"
    "<b>How it works</b>\n"
    "• You see one product at a time. Tap through the categories until the one that fits best, "
    "or type a word (e.g. <i>skillet</i>) to search.\n"
    "• Every accepted answer adds to your balance. Earnings are pending for a while, then become available.\n"
    "• A new batch may start with a short paid quiz; some later products are checks with known answers. "
    "Careful work keeps you in. Think a check is wrong? Tap ⚖ to contest it.\n"
    "• Not sure? Tap ⏭ Skip: there is no penalty.\n"
)
HELP = (
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
    "A product is kept for you for {ttl} minutes; after that it goes back to the pool."
)
START_BUTTON = "▶ Start working"
NO_TASKS = "🎉 No tasks right now. Everything available is done; try /work again later."
SKIPPED = "⏭ Skipped"
SAVED = "✔ Saved"
STOPPED = "⏹ Stopped. Your answers are saved. Send /work whenever you want to continue."
TASK_UNAVAILABLE = "This task is no longer available."
ALREADY_RECORDED = "✔ Already recorded."
NO_OPEN_TASK = "There is no product open for you. Send /work to get one."
USE_THE_BUTTONS = "This question is answered with the buttons under the product."
NO_MATCHES = "No category under this batch matches “{query}”. Try another word, or use the buttons above."
SEARCH_HEADER = "🔎 Categories matching “{query}”: tap one to answer."
SEARCH_OPEN_HINT = " (› opens a category)"
BACK_TO_TREE = "⬅ Back to categories"
SOMETHING_WENT_WRONG = (
    "Sorry, something went wrong on our side, and what you just did may not have been completed. "
    "Check with /work or /balance, then try again if it is missing."
)
BUTTON_BACK = "⬅ Back"
BUTTON_SKIP = "⏭ Skip"
BUTTON_RULES = "ℹ Rules"
BUTTON_STOP = "⏹ Stop"
BUTTON_PREVIOUS = "◀"
BUTTON_NEXT = "▶"
COMMANDS = [
    ("work", "Get the next product to categorize"),
    ("balance", "Pending, available and paid money"),
    ("earnings", "Earnings by period and yearly statements"),
    ("stats", "Your accuracy, level, hourly rate"),
    ("target", "Set a daily earnings goal"),
    ("payout_method", "Where your money goes"),
    ("payout", "Request a payout"),
    ("help", "How it works"),
]


def welcome(first_name: str) -> str:
    return WELCOME.format(name=escape(first_name or "there"))


def help_text(ttl_seconds: int, threshold: int, currency: str) -> str:
    return HELP.format(ttl=max(1, ttl_seconds // 60), threshold=format_money(threshold, currency))


def answer_note(credited: int, pending: int, currency: str, nudges: Nudges | None = None) -> str:
    note = f"✔ +{format_money(credited, currency)} · pending {format_money(pending, currency)}"
    if nudges and nudges.target_reached_micros:
        note += f"\n🎯 Daily target of {format_money(nudges.target_reached_micros, currency)} reached. Well done!"
    if nudges and nudges.take_a_break:
        note += f"\n{BREAK_SUGGESTION}"
    if nudges and nudges.level_reached:
        name = LEVEL_NAMES[nudges.level_reached]
        note += "\n" + LEVEL_REACHED.format(level=name, rank=name.lower())
    return note


# What each type's questions, labels and card facts say. A requester's own question or value is shown as written.
QUESTION_TEXTS = {
    "category": "Pick the category that fits best, or type a word to search.",
    "verdict": "Is the proposed category right for this product?",
    "match": "Does the photo show this product?",
    "blurry": "Is the photo blurry?",
    "person": "Is there a person in the photo?",
    "white_background": "Is the background white?",
    "watermark": "Is there a watermark on the photo?",
    "text_overlay": "Is there text over the photo?",
    "cropped": "Is the product cut off at the edges?",
    "multiple_products": "Does the photo show more than one product?",
    "dark": "Is the photo too dark?",
}
_KEY = re.compile(r"[a-z][a-z0-9_]*")  # a question's key, as types name them
LABEL_TEXTS = {"yes": "✔ Yes", "no": "✖ No", "no_image": "⚠ Photo does not load"}
FACT_TEXTS = {"proposed": "Proposed"}
PHOTO_LINK = "🖼 Photo: {url}"


def question_text(question: Question) -> str:
    """What the worker is asked: the requester's own words, the type's question, or one made from its name."""
    if question.prompt:
        return question.prompt
    if question.key in QUESTION_TEXTS:
        return QUESTION_TEXTS[question.key]
    name = question_name(question.key).lower()
    return f"Type the {name}." if question.kind == QuestionKind.TEXT else f"Choose the {name}:"


def question_name(key: str) -> str:
    """A question's name in a list of answers: a key worded ("white_background" → "White background"), a
    requester's own question as they wrote it."""
    return key.replace("_", " ").capitalize() if _KEY.fullmatch(key) else key


def label_text(label: str) -> str:
    return LABEL_TEXTS.get(label, label)


# The questions of one-question types: their answer alone reads by itself ("✔ Yes", a category's path).
SELF_EXPLAINED = ("category", "verdict", "match")


def described(labels: Sequence[Sequence[str]]) -> str:
    """Answers as a person reads them, named by their question: a lone "✖ No" would not say to which of
    a card's questions (gold may give one of several). A lone category or verdict stands as it is."""
    if len(labels) == 1 and labels[0][0] in SELF_EXPLAINED:
        return label_text(labels[0][1])
    return "; ".join(f"{question_name(question)}: {label_text(label)}" for question, label in labels)


def task(screen: TaskScreen, currency: str, limit: int, photo_link: bool = False) -> str:
    """The product card and its open question (for a category, where the worker is in the tree);
    fits in `limit` UTF-16 units. `photo_link`: the photo could not be shown, so its address is."""
    head = f"<i>{escape(screen.note)}</i>\n\n" if screen.note else ""
    if screen.quiz is not None:
        quiz = screen.quiz
        earlier = ", counting your earlier tries" if quiz.retry else ""
        head += (
            f"🎓 <b>Qualification {quiz.place} of {quiz.size}</b> for “{escape(_shorten(screen.batch_name, 100))}” "
            f"(paid; pass with {quiz.needed} of {quiz.questions} {_answers(quiz.questions, quiz.size)}right{earlier})\n"
        )
    tail = _task_tail(screen, currency, limit // 4)
    if photo_link:
        tail = "\n" + PHOTO_LINK.format(url=escape(_shorten(screen.card.image_url, 300))) + tail
    return head + _card(screen.card, limit - utf16_len(head) - utf16_len(tail)) + tail


def _task_tail(screen: TaskScreen, currency: str, answers_room: int) -> str:
    reward = f"Reward {format_money(screen.reward_micros, currency)}."
    done = _answered(screen.answered, answers_room)
    if screen.question.kind == QuestionKind.TREE:
        where = " › ".join(screen.breadcrumb) or "All categories"
        pages = f" · page {screen.page + 1}/{screen.pages}" if screen.pages > 1 else ""
        ask = f"\n\n📂 <b>{escape(where)}</b>{pages}\n{escape(question_text(screen.question))} {reward}"
        return ("\n" + done.lstrip("\n") if done else "") + ask
    step = f" ({screen.question_index + 1} of {screen.question_count})" if screen.question_count > 1 else ""
    ask = f"\n\n❓ <b>{escape(_shorten(question_text(screen.question), 300))}</b>{step}\n{reward}"
    return ("\n" + done if done else "") + ask  # one blank line under the card, answers or none


def _answered(answered: Sequence[Sequence[str]], room: int) -> str:
    """The card's answers so far, a line each; the latest that fit in `room` (a card may ask twenty
    questions, and a caption holds 1,024 units), the earlier ones counted."""
    lines = [
        f"\n✔ {escape(_shorten(question_name(question), 60))}: {escape(_shorten(label_text(label), 60))}"
        for question, label in answered
    ]
    shown: list[str] = []
    for line in reversed(lines):
        if utf16_len("".join([line, *shown])) > room:
            break
        shown.insert(0, line)
    hidden = len(lines) - len(shown)
    return (f"\n✔ {hidden} earlier answer(s)" if hidden else "") + "".join(shown)


def _card(card: Card, room: int) -> str:
    # The HTML is measured, which is never shorter than the text Telegram counts; with little room
    # (a long note or path) the title and facts shrink too, so the card always fits.
    title = f"🛒 <b>{escape(_shorten(card.title, min(300, room // 2)))}</b>"
    facts = " · ".join(
        f"{label}: {escape(_shorten(value, min(100, room // 8)))}"
        for label, value in (("Brand", card.brand), ("Price", card.price))
        if value
    )
    lines = [title] + ([facts] if facts else [])
    lines += [
        f"{FACT_TEXTS.get(code, code)}: <b>{escape(_shorten(value, min(200, room // 4)))}</b>"
        for code, value in card.facts
    ]
    used = sum(utf16_len(line) + 1 for line in lines)
    # Descriptions give way first: the title and the tree matter more on a phone screen.
    if card.description and room - used > 40:
        lines.append(escape(_shorten(card.description, min(600, (room - used) // 2))))
    return "\n".join(lines)


def search_results(screen: SearchScreen) -> str:
    if not screen.matches:
        return NO_MATCHES.format(query=escape(_shorten(screen.query, 60)))
    hint = SEARCH_OPEN_HINT if screen.leaf_only and any(not m.is_leaf for m in screen.matches) else ""
    return SEARCH_HEADER.format(query=escape(_shorten(screen.query, 60))) + hint


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

PAYOUT_METHOD_CHOOSE = "Where should your money go? Choose a payout method:"
METHOD_KINDS = {
    "paypal": "PayPal e-mail",
    "iban": "Bank account (IBAN)",
    "crypto": "Crypto wallet (BTC or ETH)",
    "giftcard": "Gift card e-mail",
}
METHOD_PROMPTS = {
    "paypal": "Send the e-mail address of your PayPal account.",
    "iban": "Send your IBAN, e.g. DE89 3704 0044 0532 0130 00.",
    "crypto": "Send your Bitcoin (bc1…, 1…, 3…) or Ethereum (0x…) wallet address.",
    "giftcard": "Send the e-mail address the gift card should go to.",
}
PAYPAL_NOTE = "crowdshelf earnings"  # what PayPal shows the payee beside a mass payout
PAYOUT_METHOD_REMINDER = (
    "💰 Your available balance reached the payout threshold, but we don't know where to send the money. "
    "Set a payout method with /payout_method."
)
PAYOUT_USAGE = "Send /payout for your whole available balance, or /payout 15 for part of it."
STATEMENT_CAPTION = "Your {year} statement: earnings by day and batch, and payouts."
NO_EARNINGS = "No earnings yet: /work to start."


def method_label(method: Method) -> str:
    return f"{METHOD_KINDS[method.kind]}: {method.address}"


def payout_method_current(label: str) -> str:
    return f"Your payout method: <b>{escape(label)}</b>\nChoose below to change it."


def payout_method_set(label: str) -> str:
    return f"✔ Payout method saved: <b>{escape(label)}</b>"


def payout_method_changed(old: str, new: str) -> str:
    return f"✔ Payout method changed from <b>{escape(old)}</b> to <b>{escape(new)}</b>."


def payout_approved_worker(payout_id: int, amount: str, method: str) -> str:
    return f"✅ Your payout #{payout_id} of {amount} to {escape(method)} was approved."


def payout_rejected_worker(payout_id: int, amount: str, reason: Reason | None) -> str:
    said = messages.reason_text(reason) if reason else ""
    return (
        f"❌ Your payout #{payout_id} of {amount} was rejected: {escape(said)}\n"
        "The money is back in your available balance."
    )


def balance_full(pending: int, available: int, in_flight: int, paid: int, threshold: int, currency: str) -> str:
    money = lambda micros: format_money(micros, currency)  # noqa: E731
    share = min(available / threshold, 1.0) if threshold else 1.0
    if available >= threshold:
        progress = "You can request a payout now: /payout"
    else:
        progress = f"{money(threshold - available)} more to the {money(threshold)} payout threshold"
    return (
        "💰 <b>Your balance</b>\n"
        f"Pending: {money(pending)} (available after the review window)\n"
        f"Available: {money(available)}\n"
        f"In flight: {money(in_flight)}\n"
        f"Paid: {money(paid)}\n\n"
        f"{progress_bar(share)} {progress}"
    )


def progress_bar(share: float, width: int = 10) -> str:
    filled = round(max(0.0, min(share, 1.0)) * width)
    return "▓" * filled + "░" * (width - filled)


def earnings(today: int, week: int, month: int, lifetime: int, currency: str) -> str:
    money = lambda micros: format_money(micros, currency)  # noqa: E731
    return (
        "📈 <b>Your earnings</b>\n"
        f"Today: {money(today)}\nThis week: {money(week)}\nThis month: {money(month)}\nLifetime: {money(lifetime)}\n\n"
        "Tap a year for a CSV statement (date, batch, tasks, amount; payouts with method and status)."
    )


# ---- admin -------------------------------------------------------------------------------

NOT_ALLOWED = "Sorry, only admins can do that."
ADMIN_HELP = (
    "<b>Admin commands</b>\n"
    "/payouts: the payout queue · /payouts_csv: approved PayPal payouts as a mass-payout CSV\n"
    "/fund USER AMOUNT: credit a requester · /grant USER requester · /revoke USER requester\n"
    "/held: workers held by quality control, to let back in or remove\n"
    "/suspend USER [reason] · /unsuspend USER · /reinstate USER BATCH (after a hold or removal)\n"
    "/stats: platform figures (then your own) · /audit: latest admin actions\n"
    "USER is a numeric id or @username."
)
REJECT_REASON_PROMPT = "Send the reason for rejecting payout #{id}; the worker will read it."
REFERENCE_SAVED = "✔ Transaction id saved for payout #{id}."
QUEUE_EMPTY = "No payout requests are waiting."


def payout_requested(payout: PayoutView, currency: str) -> str:
    return (
        f"📤 Payout of {format_money(payout.amount_micros, currency)} to {escape(method_label(payout.method))} "
        f"requested (#{payout.id}). An admin will review it; you'll get a message either way."
    )


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
    quality = f"{accuracy:.0%} on {gold} gold" if accuracy is not None else "no gold answers yet"
    return (
        f"💸 <b>Payout #{payout_id}</b>: {format_money(amount, currency)}\n"
        f"Worker: {escape(worker)} (id {worker_id})\n"
        f"Method: {escape(method)}\n"
        f"Accuracy: {quality} · answers: {answers}\n"
        f"Paid before: {format_money(paid_before, currency)} in {payouts_before} payout(s)"
    )


def payout_decided(notice: str, approved: bool, admin: str, detail: str | None) -> str:
    if approved:
        tail = f"✅ Approved by {escape(admin)}." + (
            f" Reference: {escape(detail)}"
            if detail
            else " Reply to this message with the transaction id to record it."
        )
    else:
        tail = f"❌ Rejected by {escape(admin)}: {escape(detail or '')}"
    return f"{notice}\n\n{tail}"


# ---- requester -----------------------------------------------------------------------------

REQUESTERS_ONLY = "Only requesters can load batches. Ask an admin to grant you the requester role."
NEW_BATCH = (
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
FILE_TOO_BIG = "That file is {size:.1f} MB; bots can download at most 20 MB. Split it into smaller batches."
NOT_A_BATCH_FILE = "Send the products as a .csv, .json or .jsonl file."
ASK_REWARD = "How much should one answer pay?"
ASK_OVERLAP = (
    "How many workers should answer each product? (More answers, more reliable labels.)\n"
    f"Adaptive: {ADAPTIVE_MIN_OVERLAP} answers each, and up to {ADAPTIVE_OVERLAP} only while the workers disagree "
    f"(overlap={ADAPTIVE_OVERLAP} min_overlap={ADAPTIVE_MIN_OVERLAP} confidence={ADAPTIVE_CONFIDENCE}): far fewer "
    f"wrong labels for a few per cent more answers. The reserve covers {ADAPTIVE_OVERLAP} answers a product; "
    "what is not used comes back."
)
ADAPTIVE_OVERLAP_BUTTON = f"{ADAPTIVE_MIN_OVERLAP}–{ADAPTIVE_OVERLAP}, adaptive (recommended)"
LAUNCHED = "🚀 Batch #{id} is live: {amount} reserved. Follow it with /batches."
DISCARDED = "✖ Draft discarded; nothing was reserved."
PAUSED = "⏸ Batch #{id} paused: workers get no new products from it."
RESUMED = "▶ Batch #{id} resumed."
CANCELLED = "⏹ Batch #{id} cancelled. {refund} refunded to your available funds."
FUND_MORE_QUIZZES = "/quizzes {id} 10 funds ten more quizzes."
QUIZ_BUDGET_SPENT = "\n⚠ Quiz budget spent: no new worker can join. " + FUND_MORE_QUIZZES
QUIZZES_USAGE = "Usage: /quizzes BATCH COUNT, e.g. /quizzes 3 10 lets ten more new workers take batch 3's quiz."
QUIZZES_ADDED = "🎓 {amount} reserved: {count} more new worker(s) can take the quiz of batch #{id}."
QUIZZES_ALREADY = "That top-up was already carried out; nothing more was reserved."
NO_BATCHES = "You have no batches yet. Send a product file (see /new_batch)."
RESULTS_CAPTION = "Results of batch #{id}: one label per product, with confidence and agreement."
RAW_CAPTION = "Every answer of batch #{id}: worker pseudonym, answer, seconds taken, gold correct or not."
NO_ANSWERS_YET = "Batch #{id} has no answers yet."
PROBLEMS_SHOWN = 20  # more are not read; the requester fixes these and sends the file again
PROBLEM_LIMIT = 1000  # one bad row's line, so that several fit in a message
MORE_PROBLEMS = "\n… and {count} more problem(s)"
RULES_HEAD = "ℹ <b>Rules of “{name}”</b>\n"


def instructions(name: str, text: str) -> str:
    return RULES_HEAD.format(name=escape(name)) + escape(text)


def confirm_reward(typed_micros: int, currency: str) -> str:
    typed, limit = format_money(typed_micros, currency), format_money(REWARD_TO_CONFIRM_MICROS, currency)
    return (
        f"The caption asks {typed} per answer, more than the {limit} I take without asking. Is that right? "
        "Nothing is reserved until you launch."
    )


def confirm_reward_button(typed: str) -> str:
    return f"Yes, {typed} per answer"


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
    room = TEXT_LIMIT - utf16_len(MORE_PROBLEMS.format(count=len(problems)))
    for problem in problems[:PROBLEMS_SHOWN]:
        line = _shorten(problem, PROBLEM_LIMIT)
        if utf16_len("\n".join([*lines, line])) > room:
            break
        lines.append(line)
    hidden = len(problems) - (len(lines) - 1)
    return "\n".join(lines) + (MORE_PROBLEMS.format(count=hidden) if hidden else "")


def cost_lines(cost: Cost, currency: str) -> list[str]:
    """The cost breakdown in plain text: in the chat's preview and printed by `crowdshelf batch load`."""
    answer = format_money(cost.answer_micros, currency)
    lines = [f"{cost.regular_items} product(s) × {cost.overlap} answers × {answer}"]
    gold = [
        f"{count} {what}" for count, what in ((cost.quiz_slots, "quiz answers"), (cost.check_slots, "checks")) if count
    ]
    if gold:
        lines.append(f"+ up to {' and '.join(gold)} on your {cost.gold_items} gold item(s) × {answer}")
    lines.append(f"= {format_money(cost.total, currency)} at most; what is not spent comes back when the batch ends")
    return lines


def preview_cost(cost: Cost, available: int, currency: str, instructions_text: str) -> str:
    lines = [*cost_lines(cost, currency), f"Your available funds: {format_money(available, currency)}"]
    body = escape("\n".join(lines))
    rules = f"\n\n<b>Instructions</b>\n{escape(instructions_text)}" if instructions_text else ""
    return (
        f"💵 <b>Cost</b>\n{body}{_cap_hint(cost)}{_overlap_tip(cost)}{rules}\n\n"
        "Launch to reserve the money and open the batch to workers."
    )


def _overlap_tip(cost: Cost) -> str:
    """Dynamic overlap buys far fewer wrong labels for a few per cent more answers; say so where it is off."""
    if cost.dynamic or cost.overlap < 2:
        return ""
    more, n = cost.overlap + 2, cost.overlap
    return (
        f"\n\n💡 With overlap={more} min_overlap={n} confidence=0.9 in the caption, a product gets more than {n} "
        f"answers (up to {more}) only while its workers disagree: usually a few per cent more answers and far "
        f"fewer wrong labels. The reserve then covers {more} answers a product; what is not used comes back."
    )


def _cap_hint(cost: Cost) -> str:
    """Quizzes dearer than the work itself mean the per-worker cap is too small for this batch."""
    if cost.cap is None or cost.quiz_slots <= cost.overlap * cost.regular_items:
        return ""
    return (
        f"\n\n💡 Each worker may give only {cost.cap} answer(s) here (max_share), so many must take the "
        "quiz first and the quizzes cost more than the work. For a small batch, leave max_share out of the "
        "caption: then a worker may answer every product."
    )


def batch_progress(p: Progress, currency: str) -> str:
    share = p.answers / p.answers_needed if p.answers_needed else 1.0
    eta = "done" if p.eta is not None and not p.eta else (f"about {_duration(p.eta)} left" if p.eta else "ETA unknown")
    accuracy = (
        f"{p.gold_accuracy:.0%} on {p.gold_answers} gold" if p.gold_accuracy is not None else "no gold answers yet"
    )
    return (
        f"📦 <b>#{p.id} {escape(p.name)}</b> · {p.status}\n"
        f"{progress_bar(share)} {p.answers}/{p.answers_needed} answers · {p.items} products\n"
        f"Spent {format_money(p.spent_micros, currency)} of {format_money(p.reserved_micros, currency)} reserved"
        f" · {eta}\n"
        f"Crowd accuracy: {accuracy}" + _quiz_budget(p)
    )


def preview_head(batch_id: int, name: str) -> str:
    return f"👀 <b>Preview</b> of batch #{batch_id} “{escape(name)}”: the first product exactly as workers will see it."


def batch_completed(batch_id: int, name: str, refund: str) -> str:
    return f"✅ Batch #{batch_id} “{escape(name)}” is complete. {refund} unspent, refunded. Results attached."


def _quiz_budget(p: Progress) -> str:
    if p.quizzes_left is None:
        return ""
    if p.quizzes_left:
        return f"\nQuiz budget: {p.quizzes_left} more new worker(s) can take the quiz"
    return QUIZ_BUDGET_SPENT.format(id=p.id)


def quiz_budget_alert(budget: SpentQuizBudget) -> str:
    return (
        f"⚠ Batch #{budget.batch_id} “{escape(budget.name)}”: its quiz budget is spent, so no new worker can "
        f"join, and {budget.open_items} product(s) still wait for answers. "
        + FUND_MORE_QUIZZES.format(id=budget.batch_id)
    )


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{max(minutes, 1)} min"


def digest(progress: list[Progress], currency: str) -> str:
    return "🗓 <b>Daily digest</b>\n\n" + "\n\n".join(batch_progress(p, currency) for p in progress)


# ---- worker progression ----------------------------------------------------------------------

LEVEL_REACHED = (
    "🏅 You are now {level}: batches for {rank} workers are open to you, some with a bonus per answer. /stats"
)
LEVEL_NAMES = {"newcomer": "Newcomer", "qualified": "Qualified", "expert": "Expert"}
BREAK_SUGGESTION = "☕ 25 minutes of focus: a short break keeps your accuracy up. (/breaks off to stop these)"
BREAKS_ON = "☕ Break reminders are on."
BREAKS_OFF = "Break reminders are off. /breaks on to bring them back."
TARGET_USAGE = "Usage: /target 15 (your daily earnings goal) or /target off."
TARGET_OFF = "Daily target removed."


def worker_stats(s: WorkerStats, currency: str) -> str:
    money = lambda micros: format_money(micros, currency)  # noqa: E731
    accuracy = (
        f"{s.gold_correct / s.gold_answers:.0%} on {s.gold_answers} check(s)" if s.gold_answers else "no checks yet"
    )
    hourly = f"{money(s.hourly_micros)}/hour" if s.hourly_micros is not None else "not enough work yet"
    lines = [
        "📊 <b>Your stats</b>",
        f"Tasks: {s.tasks_today} today · {s.tasks_week} this week",
        f"Accuracy on hidden checks: {accuracy}",
        f"Rejected answers: {s.rejection_rate:.0%}",
        f"Earned: {money(s.earned_micros)} · effective rate {hourly}",
        f"Level: <b>{LEVEL_NAMES[s.level.name]}</b>"
        + (f" → next: {next_level(s.level, s.level.next_name)}" if s.level.next_name else " (top level)"),
    ]
    if s.target_micros:
        share = s.earned_today_micros / s.target_micros
        lines.append(
            f"Today's target: {progress_bar(share)} {money(s.earned_today_micros)} of {money(s.target_micros)}"
        )
    if s.standings:
        lines += ["", "<b>Your running batches</b>", *map(standing, s.standings)]
    return "\n".join(lines)


def standing(st: Standing) -> str:
    batch = f"#{st.batch_id} “{escape(st.batch_name)}”"
    reason = escape(messages.reason_text(st.reason)) if st.reason else ""
    match st.status:
        case "working":
            checks = f"checks {st.checks_right} of {st.checks} right" if st.checks else "no checks yet"
            return f"✅ {batch}: working · {checks}"
        case "capped":
            return f"☑ {batch}: done, you gave the most answers one worker may give here ({st.max_answers})"
        case "qualifying":
            return f"🎓 {batch}: quiz under way, /work to go on"
        case "retry_later":
            return f"📕 {batch}: quiz again after {st.retry_at:%Y-%m-%d %H:%M} UTC"
        case "retry_now":
            return f"📕 {batch}: quiz open again, /work"
        case "closed":
            return f"📕 {batch}: quiz not passed, closed to you"
        case "held":
            return f"⏸ {batch}: paused for a review ({reason})"
    return f"✖ {batch}: removed ({reason})"


def next_level(level: Level, next_name: str) -> str:
    needs = []
    if level.gold_needed:
        needs.append(f"{level.gold_needed} more checked answer(s)")
    if level.bound_needed is not None:
        needs.append(f"check accuracy reliably above {level.bound_needed:.0%}")
    return f"{LEVEL_NAMES[next_name]} ({' and '.join(needs)})"


def target_set(target: int, earned_today: int, currency: str) -> str:
    share = earned_today / target if target else 1.0
    return (
        f"🎯 Daily target: {format_money(target, currency)}\n"
        f"{progress_bar(share)} {format_money(earned_today, currency)} earned today"
    )


def account_suspended(reason: Reason) -> str:
    return f"Your account was suspended: {escape(messages.reason_text(reason))}"


ACCOUNT_ACTIVE = "Your account is active again: /work to continue."
BATCH_REOPENED = "▶ You can work on that batch again: /work"


# ---- quality control ---------------------------------------------------------------------------


def _at_best(bound: float) -> str:
    """An accuracy bound in whole percent, rounded down: 0.6994 must not read as the 70 % it falls short of."""
    return f"{math.floor(bound * 100)}%"


def removed(removal: Removal) -> str:
    missed = "\n".join(
        f"{n}. {escape(_shorten(miss.title, 80))}: you chose {escape(described(miss.answered))}; "
        f"right: {escape(described(miss.right))}"
        for n, miss in enumerate(removal.missed[:MAX_CONTESTS], 1)
    )
    return (
        f"🚫 <b>You were removed from “{escape(removal.batch_name)}”.</b>\n"
        f"Your answers to its known-answer questions show an accuracy of at best {_at_best(removal.bound)}; "
        f"this batch needs {removal.min_accuracy:.0%}.\n\n<b>Questions you missed</b>\n{missed}\n\n"
        f"{removal.rejected} answer(s) since your last correct check were rejected and their pending pay "
        "returned to the requester. Other batches are still open to you: /work\n"
        f"If a check itself was wrong, tap {CONTEST_BUTTON}: if the requester agrees, your accuracy is "
        "worked out again and the rejections are undone."
    )


def held(hold: Hold) -> str:
    return (
        f"⏸ Your work on “{escape(hold.batch_name)}” is paused for a review "
        f"({escape(messages.reason_text(hold.reason))}). "
        "An admin will look soon; other batches are still open to you."
    )


HOLD_CONTINUE = "▶ Let them continue"
HOLD_REMOVE = "✖ Remove, reject answers"
NO_HOLDS = "No worker is held by quality control."
MAX_HOLDS_SHOWN = 20


def held_for_admins(hold: Hold) -> str:
    return (
        f"⏸ Worker {hold.worker_id} is held in batch #{hold.batch_id} “{escape(hold.batch_name)}”: "
        f"{escape(messages.reason_text(hold.reason))}. "
        f"To let them continue: /reinstate {hold.worker_id} {hold.batch_id}, or use the buttons; "
        "removing them rejects their answers in the batch whose pay is still in its hold."
    )


def hold_waiting(held: HeldWorker) -> str:
    return (
        f"⏸ {escape(held.worker_name or str(held.worker_id))} ({held.worker_id}) in batch #{held.batch_id} "
        f"“{escape(held.batch_name)}”, held since {held.since:%Y-%m-%d %H:%M} UTC: "
        f"{escape(messages.reason_text(held.reason))}. "
        f"{held.pending} answer(s) in the batch still in their hold."
    )


def holds_listed(shown: int) -> str:
    more = f" The oldest {shown} are shown; decide them to see more." if shown >= MAX_HOLDS_SHOWN else ""
    return f"{shown} worker(s) held by quality control, oldest first.{more}"


def hold_decided(review: Review, admin_name: str) -> str:
    if review.removed:
        return f"✖ Removed by {escape(admin_name)}: {review.rejected} answer(s) rejected."
    return f"▶ Let back in by {escape(admin_name)}."


def hold_already_decided(batch_id: int, worker_id: int) -> str:
    return f"Worker {worker_id} is not held in batch #{batch_id} any more: the hold was already decided."


def hold_outcome(review: Review) -> str:
    """To the worker."""
    if not review.removed:
        return f"▶ Your work on “{escape(review.batch_name)}” was reviewed: you can go on. /work"
    return (
        f"✖ After a review you are removed from “{escape(review.batch_name)}” "
        f"({escape(messages.reason_text(review.reason))}). "
        f"{review.rejected} of your answers there, whose pay was still in its hold, are rejected and the money "
        "goes back to the requester. Other batches are still open to you: /work"
    )


# ---- qualification and contested gold ----------------------------------------------------------

MAX_CONTESTS = 8  # missed checks listed (and contestable) in one message
CONTEST_BUTTON = "⚖ I think this gold is wrong"
JUDGE_CORRECT = "✅ The worker is right: use their answer"
JUDGE_DROP = "🗑 Drop this gold item"
JUDGE_UPHOLD = "✖ The gold is right"


def _the_right(labels: Sequence[Sequence[str]]) -> str:
    return "The right category" if [question for question, _ in labels] == ["category"] else "The right answer"


def _answers(questions: int, size: int) -> str:
    """ "answers " where a quiz item asks several questions, each counted: "4 of 5 right" is of products."""
    return "" if questions == size else "answers "


def _missed(step: QuizStep, shown: Callable[[str], str] = str) -> str:
    """What was wrong on a missed quiz item, `shown` wrapping the right labels: the right answer, or where
    some of its questions were right, the ones missed ("2 of 3 right: the right answer is Person: ✖ No")."""
    if not step.item_right:
        return f"{_the_right(step.right)} is {shown(described(step.right))}"
    wrong = _the_right(step.wrong).lower()
    return f"{step.item_right} of {step.item_graded} right: {wrong} is {shown(described(step.wrong))}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def quiz_note(step: QuizStep) -> str:
    """Feedback on one quiz answer, shown above the next task (or with the corrected product)."""
    verdict = "✔ Correct" if step.correct else f"✘ {_missed(step)}"
    if step.passed is None:
        return f"{verdict} · {step.correct_so_far} of {step.answered} right so far"
    if step.passed:
        score = f"{step.correct_so_far} of {step.questions} {_answers(step.questions, step.size)}right"
        return f"{verdict}\n🎓 Qualified for “{step.batch_name}”: {score}. Paid work follows."
    return verdict


def quiz_failed(step: QuizStep) -> str:
    name = escape(step.batch_name)
    needed = f"{step.needed} are needed" if step.attempt == 1 else f"with your earlier tries, {step.needed} were needed"
    score = f"{step.correct_so_far} of {step.questions} {_answers(step.questions, step.size)}right; {needed}"
    if step.retry_at is None:
        if step.attempt >= QUIZ_ATTEMPTS:
            why = "that was the last try"
        else:
            perfect = f"{step.next_questions} of {step.next_questions}"
            why = f"even {perfect} on a next try would leave your quiz answers here under the pass mark"
        return f"📕 You did not qualify for “{name}” ({score}): {why}, so it is closed to you. Other batches: /work"
    return (
        f"📕 You did not qualify for “{name}” yet ({score}). "
        f"Your quiz answers in a batch count together, so next time {step.next_needed} of {step.next_questions} "
        "are needed. "
        f"You may try again after {step.retry_at:%Y-%m-%d %H:%M} UTC "
        f"({step.retries_left} {'try' if step.retries_left == 1 else 'tries'} left). "
        "Other batches are open to you: /work"
    )


def quiz_missed(step: QuizStep) -> str:
    return (
        f"🛒 {escape(_shorten(step.title, 120))}\n"
        f"✘ Not quite: {_lower_first(_missed(step, lambda labels: f'<b>{escape(labels)}</b>'))}.\n"
        f"If you are sure the check itself is wrong, tap {CONTEST_BUTTON}."
    )


def contest_sent(contest: Contest) -> str:
    if contest.already_sent:
        return "⚖ You already contested this check; the requester will decide."
    return "⚖ Sent to the requester and the admins. You will hear what they decide."


def contest_for_judges(contest: Contest) -> str:
    return (
        f"⚖ <b>A worker contests a gold item</b> in “{escape(contest.batch_name)}”\n"
        f"Product: {escape(_shorten(contest.title, 200))}\n"
        f"Gold: {escape(described(contest.gold))}\n"
        f"The worker chose: {escape(described(contest.answered))}\n\n"
        "If the gold is wrong, everyone it graded is graded again: accuracy, quizzes, removals and "
        "rejected pay follow."
    )


_DECIDED = {
    "corrected": "the gold now says what the worker chose",
    "dropped": "the item is no longer a check",
    "upheld": "the gold stands",
}


def dispute_decided(decision: Decision) -> str:
    regraded = f" {decision.regraded} answer(s) regraded." if decision.status != "upheld" else ""
    return f"⚖ Decided: {_DECIDED[decision.status]}.{regraded}"


def dispute_outcome(status: str, title: str) -> str:
    """To the workers who contested the item, once its dispute was decided with `status`."""
    if status == "upheld":
        return f"⚖ Your contest of the check “{escape(_shorten(title, 80))}” was reviewed: the gold stands."
    return (
        f"⚖ You were right about the check “{escape(_shorten(title, 80))}”: "
        f"{_DECIDED[status]}, and your accuracy was worked out again."
    )


def reinstated(outcome: Reinstated, currency: str) -> str:
    if outcome.why == "quiz":
        return f"🎓 With the corrected check you passed the qualification for “{escape(outcome.batch_name)}”: /work"
    restored = (
        f" {format_money(outcome.restored_micros, currency)} of rejected pay is yours again."
        if outcome.restored_micros
        else ""
    )
    return f"✅ With the corrected check you are back in “{escape(outcome.batch_name)}”.{restored} /work"
