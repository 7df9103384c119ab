"""Every task type's card stays within Telegram's limits at the extremes its settings allow: callback data
of at most 64 bytes, at most 8 buttons a row and 100 in all, and a text that fits a photo's caption or a
message. Each card is the one the core makes, question after question, with the longest answers given."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from telegram import InlineKeyboardMarkup

from bot import taxonomies, users, work
from bot.batches import files as batch_files
from bot.batches import lifecycle as batches
from bot.batches.lifecycle import BatchSpec
from bot.quality.gold import QuizPlace
from bot.tasks import registry
from bot.tasks.base import QuestionKind
from bot.wiring.services import Services
from handlers import callbacks, keyboards, texts
from taxonomy import load_default
from tests.handlers.test_texts import Rendered, telegram_length

BIG = 9_999_999_999_999_999_999  # the largest id the callbacks codec takes
MAX_ROW, MAX_BUTTONS = 8, 100  # Telegram's inline keyboard limits
WORKER, REQUESTER = 101, 9001


def key(n: int) -> str:
    return f"k{n:02d}_" + "x" * 28  # 32 characters, the longest key


def value(n: int) -> str:
    return f"{n:02d} " + "🍳<&>" * 9 + "x"  # 40 characters, emoji and markup among them


def prompt(n: int) -> str:
    return f"Q{n:02d} " + "Is the <b>&amp; 🍳 logo there? " * 6 + "y" * 16  # 200 characters, no comma


ATTRIBUTES = "; ".join(
    f"{key(n)}:text" if n % 2 else f"{key(n)}:" + "|".join(value(v) for v in range(30)) for n in range(20)
)
QUESTIONS = ",".join(f"{key(n)}:{prompt(n)}" for n in range(10))
TREE = load_default()
DEEPEST = max(TREE, key=lambda node: len(TREE.path_names(node.id)))
# Each type at its extremes: its caption settings, the columns of its one product, and how many
# questions the longest answers lead through.
EXTREMES: dict[str, tuple[dict[str, str], dict[str, str], int]] = {
    "categorize": ({}, {}, 1),
    "validate": ({"correct": "true"}, {"proposed_category": str(DEEPEST.id)}, 2),
    "attributes": ({"attributes": ATTRIBUTES}, {}, 20),
    "image_match": ({}, {}, 1),
    "image_quality": ({"questions": QUESTIONS}, {}, 10),
}
# The product card at the file's limits, with emoji and markup.
CARD = {
    "item_id": "p1",
    "title": ("🍳 & <b>" * 200)[: batch_files.LIMITS["title"]],
    "description": ("<i>Cast iron & co</i> " * 300)[: batch_files.LIMITS["description"]],
    "brand": ("B&" * 200)[: batch_files.LIMITS["brand"]],
    "price": "9" * batch_files.LIMITS["price"],
    "image_url": ("https://img.example.com/" + "a" * 2000)[: batch_files.LIMITS["image_url"]],
}


def test_every_type_is_tried_at_its_extremes() -> None:
    assert set(EXTREMES) == set(registry.TYPES), "a new type is added to EXTREMES"
    assert len(prompt(0)) == 200 and len(value(0)) == 40 and len(key(0)) == 32


def check_keyboard(markup: InlineKeyboardMarkup) -> None:
    buttons = [button for row in markup.inline_keyboard for button in row]
    assert len(buttons) <= MAX_BUTTONS
    assert all(1 <= len(row) <= MAX_ROW for row in markup.inline_keyboard)
    for button in buttons:
        assert button.text.strip()
        data = button.callback_data
        assert isinstance(data, str) and 1 <= len(data.encode()) <= callbacks.MAX_BYTES
        assert callbacks.decode(data) is not None


def check_text(html: str, limit: int) -> None:
    rendered = Rendered(html)
    assert telegram_length(rendered.text) <= limit
    assert not rendered.open, "a tag was left open"


def check(screen: work.TaskScreen) -> None:
    """The card as every chat shows it: as a photo's caption, as a message, and as a message linking a
    photo that did not load; with the largest ids and a quiz head and an answer note above."""
    note = texts.answer_note(1_000_000, 1_234_560_000, "USD")
    quiz = QuizPlace(place=BIG, size=BIG, questions=BIG, needed=BIG, retry=True)
    for shown in (screen, replace(screen, assignment_id=BIG, batch_id=BIG, note=note, quiz=quiz)):
        check_keyboard(keyboards.task(shown))
        check_text(texts.task(shown, "USD", texts.CAPTION_LIMIT), texts.CAPTION_LIMIT)
        check_text(texts.task(shown, "USD", texts.TEXT_LIMIT), texts.TEXT_LIMIT)
        check_text(texts.task(shown, "USD", texts.TEXT_LIMIT, photo_link=True), texts.TEXT_LIMIT)


async def browse_widest(services: Services, screen: work.TaskScreen) -> None:
    """A tree question's every page of the category with the most children."""
    tree = (await services.taxonomies.get(1)).tree
    widest = max((node for node in tree if not tree.is_leaf(node.id)), key=lambda node: len(tree.children(node.id)))
    pages = -(-len(tree.children(widest.id)) // work.PAGE_SIZE)
    for page in range(pages):
        check(await work.browse(services, WORKER, screen.assignment_id, widest.id, page))


def longest_answer(screen: work.TaskScreen) -> str:
    """The answer that keeps the card going longest, with the longest label where there is a choice."""
    question = screen.question
    if question.kind == QuestionKind.TREE:
        return str(DEEPEST.id)
    if question.kind == QuestionKind.TEXT:
        return "🍳" * 200
    if "no_image" in question.options or "no" in question.options:  # "does not load" ends the card
        return str(question.options.index("no"))  # and a verdict's no goes on to the category
    return str(max(range(len(question.options)), key=lambda place: len(question.options[place])))


@pytest.mark.parametrize("type_name", sorted(EXTREMES))
async def test_every_card_of_a_type_fits_telegram(services: Services, type_name: str) -> None:
    settings, columns, questions = EXTREMES[type_name]
    taxonomy_id = await taxonomies.ensure_default(services.db)
    spec = BatchSpec(
        name="N&<" * 60,
        task_type=type_name,
        reward_micros=999_999_000_000,
        overlap=1,
        leaf_only=False,  # a category's page offers the category itself too
        qualification=0,
        gold_rate=0,
        instructions="Rules & <rules> " * 300,
        task_settings=tuple(settings.items()),
    )
    rows = [batch_files.Row("line 2", {**CARD, **columns})]
    tree = (await services.taxonomies.get(taxonomy_id)).tree
    async with services.db.write() as session:
        await batches.load_funded_batch(session, REQUESTER, taxonomy_id, tree, spec, rows, "USD", datetime.now(UTC))
    await users.register_user(services, WORKER, "Ann", None)
    screen = await work.next_task(services, WORKER)
    asked = 0
    while screen is not None:
        asked += 1
        check(screen)
        if screen.question.kind == QuestionKind.TREE:
            await browse_widest(services, screen)
        answered = await work.answer(
            services, WORKER, screen.assignment_id, screen.question_index, longest_answer(screen)
        )
        screen = answered.next_task if answered.partial else None
    assert asked == questions
