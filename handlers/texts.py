"""Every user-facing string, and the functions that turn domain views into message text (HTML)."""

from html import escape

from bot.ledger import WorkerBalance
from bot.money import format_money
from bot.work import Card, SearchScreen, TaskScreen

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

WELCOME = (
    "👋 Hi {name}! This is <b>crowdshelf</b>: you sort products into categories and earn money for every answer.\n\n"
    "<b>How it works</b>\n"
    "• You see one product at a time. Tap through the categories until the one that fits best, "
    "or type a word (e.g. <i>skillet</i>) to search.\n"
    "• Every accepted answer adds to your balance. Earnings are pending for a while, then become available.\n"
    "• Some products are checks with known answers; careful work keeps you qualified.\n"
    "• Not sure? Tap ⏭ Skip: there is no penalty.\n"
)
HELP = (
    "<b>What you can do</b>\n"
    "/work: get the next product to categorize\n"
    "/balance: your pending and available earnings\n"
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
STOPPED = "⏹ Stopped. Your answers are saved. Send /work whenever you want to continue."
TASK_UNAVAILABLE = "This task is no longer available."
NO_OPEN_TASK = "There is no product open for you. Send /work to get one, then type a word to search its categories."
NO_MATCHES = "No category under this batch matches “{query}”. Try another word, or use the buttons above."
SEARCH_HEADER = "🔎 Categories matching “{query}”: tap one to answer."
SEARCH_OPEN_HINT = " (› opens a category)"
BACK_TO_TREE = "⬅ Back to categories"
SOMETHING_WENT_WRONG = "Sorry, something went wrong on our side. Nothing you did was lost; please try again."
BUTTON_BACK = "⬅ Back"
BUTTON_SKIP = "⏭ Skip"
BUTTON_STOP = "⏹ Stop"
BUTTON_PREVIOUS = "◀"
BUTTON_NEXT = "▶"
COMMANDS = [
    ("work", "Get the next product to categorize"),
    ("balance", "Your earnings"),
    ("help", "How it works"),
]


def welcome(first_name: str) -> str:
    return WELCOME.format(name=escape(first_name or "there"))


def help_text(ttl_seconds: int) -> str:
    return HELP.format(ttl=max(1, ttl_seconds // 60))


def balance(b: WorkerBalance, currency: str) -> str:
    money = lambda micros: format_money(micros, currency)  # noqa: E731
    return (
        "💰 <b>Your balance</b>\n"
        f"Pending: {money(b.pending)} (becomes available after the review window)\n"
        f"Available: {money(b.available)}"
    )


def answer_note(credited: int, pending: int, currency: str) -> str:
    return f"✔ +{format_money(credited, currency)} · pending {format_money(pending, currency)}"


def task(screen: TaskScreen, currency: str, limit: int) -> str:
    """The product card, where the worker is in the tree, and what to do; fits in `limit` characters."""
    head = f"<i>{escape(screen.note)}</i>\n\n" if screen.note else ""
    where = " › ".join(screen.breadcrumb) or "All categories"
    pages = f" · page {screen.page + 1}/{screen.pages}" if screen.pages > 1 else ""
    tail = (
        f"\n\n📂 <b>{escape(where)}</b>{pages}\n"
        f"Pick the category that fits best, or type a word to search. "
        f"Reward {format_money(screen.reward_micros, currency)}."
    )
    return head + _card(screen.card, limit - len(head) - len(tail)) + tail


def _card(card: Card, room: int) -> str:
    title = f"🛒 <b>{escape(_shorten(card.title, 300))}</b>"
    facts = " · ".join(
        f"{label}: {escape(_shorten(value, 100))}" for label, value in (("Brand", card.brand), ("Price", card.price)) if value
    )
    lines = [title] + ([facts] if facts else [])
    used = sum(len(line) + 1 for line in lines)
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


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
