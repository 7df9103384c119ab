"""Message texts: task cards fit Telegram's limits and user-supplied text is escaped for HTML."""

from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from bot.quality.gold import QuizPlace, QuizStep
from bot.tasks import categorize
from bot.tasks.base import Question, QuestionKind
from bot.work import Card, Choice, SearchScreen, TaskScreen
from handlers import texts
from taxonomy import load_default

ALLOWED_TAGS = {"b", "i"}


class Rendered(HTMLParser):
    """What Telegram would show: the text after entity parsing, and the tags used (checked for balance)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags: list[str] = []
        self.open: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"unbalanced </{tag}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def telegram_length(text: str) -> int:
    """Telegram limits the text left after entity parsing, counted in UTF-16 code units (an emoji is often two)."""
    return len(text.encode("utf-16-le")) // 2


def deepest_breadcrumb() -> tuple[str, ...]:
    tree = load_default()
    deepest = max(tree, key=lambda node: len(tree.path_names(node.id)))
    return tuple(node.name for node in tree.path(deepest.id))


def screen(
    card: Card,
    breadcrumb: tuple[str, ...] = ("Home & Garden", "Kitchen & Dining"),
    note: str = "",
    instructions: str = "",
) -> TaskScreen:
    choices = tuple(Choice(n, f"Category {n}", n % 2 == 0) for n in range(8))
    return TaskScreen(
        assignment_id=1,
        batch_id=1,
        batch_name="Kitchen",
        card=card,
        reward_micros=20_000,
        question=categorize.CATEGORY,
        question_index=0,
        question_count=1,
        breadcrumb=breadcrumb,
        here=638,
        parent=536,
        choices=choices,
        page=2,
        pages=12,
        can_go_back=True,
        accept_here=False,
        instructions=instructions,
        first_in_batch=bool(instructions),
        note=note,
    )


LONG_CARDS = {
    "plain": Card("T" * 5000, "D" * 20000, "B" * 1000, "P" * 500, ""),
    "ampersands": Card("&" * 5000, "&" * 20000, "&" * 1000, "&" * 500, ""),
    "angles": Card("<" * 5000, "<>" * 10000, "<" * 1000, ">" * 500, ""),
    "emoji": Card("🍳" * 5000, "🥘" * 20000, "🔪" * 1000, "💲" * 500, ""),
    "words": Card("Cast iron skillet " * 300, "Pre-seasoned & ready <to> use. " * 800, "Lodge", "19.90", ""),
}


@pytest.mark.parametrize("limit", [texts.CAPTION_LIMIT, texts.TEXT_LIMIT])
@pytest.mark.parametrize("kind", sorted(LONG_CARDS))
def test_task_text_fits_limit(kind: str, limit: int) -> None:
    """With huge titles, descriptions, brands and prices, the shown text fits in a caption (1024) or message (4096)."""
    note = texts.answer_note(20_000, 1_234_560_000, "USD")
    instructions = "Read the whole title & <description> first. " * 200
    rendered = Rendered(texts.task(screen(LONG_CARDS[kind], deepest_breadcrumb(), note, instructions), "USD", limit))
    assert telegram_length(rendered.text) <= limit
    assert not rendered.open, "a tag was left open"
    assert set(rendered.tags) <= ALLOWED_TAGS


@pytest.mark.parametrize("limit", [texts.CAPTION_LIMIT, texts.TEXT_LIMIT])
def test_quiz_card_with_long_names_fits_limit(limit: int) -> None:
    """A quiz head with a long emoji batch name and a long note leaves less room: the card shrinks to fit."""
    note = texts.answer_note(20_000, 1_234_560_000, "USD") + "\n" + "🎯" * 200
    quiz = replace(screen(LONG_CARDS["emoji"], deepest_breadcrumb(), note), batch_name="🍳" * 256)
    quiz = replace(quiz, quiz=QuizPlace(place=1, size=5, questions=5, needed=4, retry=True))
    rendered = Rendered(texts.task(quiz, "USD", limit))
    assert telegram_length(rendered.text) <= limit and not rendered.open
    assert "🛒 🍳" in rendered.text and "Reward $0.02." in rendered.text


@pytest.mark.parametrize("limit", [texts.CAPTION_LIMIT, texts.TEXT_LIMIT])
def test_long_card_keeps_title_and_category_place(limit: int) -> None:
    """Shortening keeps the start of the title and the breadcrumb/instructions tail, and marks cuts with an ellipsis."""
    card = LONG_CARDS["words"]
    shown = Rendered(texts.task(screen(card), "USD", limit)).text
    assert shown.startswith("🛒 Cast iron skillet")
    assert "…" in shown
    assert "Home & Garden › Kitchen & Dining" in shown
    assert "$0.02" in shown


def test_title_and_fields_are_escaped() -> None:
    """A title with <b> and & (and other fields with markup) is shown literally, never as markup."""
    card = Card(
        title="Pots <b>&</b> Pans & more",
        description="<i>oops</i> 5 < 6 && 7 > 3",
        brand="Smith & Sons <script>",
        price="<1$",
        image_url="",
    )
    html = texts.task(
        screen(card, breadcrumb=("Home & Garden", "<Kitchen>"), note="<note> & co"), "USD", texts.TEXT_LIMIT
    )
    rendered = Rendered(html)
    assert set(rendered.tags) <= ALLOWED_TAGS
    assert "&amp;" in html and "&lt;b&gt;" in html
    for literal in (card.title, card.description, card.brand, card.price, "Home & Garden › <Kitchen>", "<note> & co"):
        assert literal in rendered.text


def test_short_card_shows_everything() -> None:
    """A normal product card shows title, brand, price and description unshortened."""
    card = Card("Cast Iron Skillet", "Pre-seasoned.", "Lodge", "19.90", "")
    shown = Rendered(texts.task(screen(card), "USD", texts.CAPTION_LIMIT)).text
    for part in ("Cast Iron Skillet", "Brand: Lodge", "Price: 19.90", "Pre-seasoned.", "page 3/12"):
        assert part in shown
    assert "…" not in shown


def test_welcome_escapes_name() -> None:
    """A user's first name is escaped in the welcome text."""
    rendered = Rendered(texts.welcome("<b>Eve</b> & co"))
    assert "<b>Eve</b> & co" in rendered.text
    assert set(rendered.tags) <= ALLOWED_TAGS


def test_search_results_escape_query() -> None:
    """A search query with markup is echoed literally."""
    for matches in ((), (Choice(1, "Woks", True),)):
        html = texts.search_results(SearchScreen(1, 0, "<b>wok</b> & pan", matches, True))
        rendered = Rendered(html)
        assert "<b>wok</b> & pan" in rendered.text
        assert not rendered.tags


def failed_quiz(attempt: int, correct: int, needed: int, next_needed: int, retries_left: int) -> QuizStep:
    return QuizStep(
        batch_name="Pots & <Pans>",
        assignment_id=1,
        title="Pan",
        correct=False,
        right=(("category", "Skillets"),),
        wrong=(("category", "Skillets"),),
        item_graded=1,
        item_right=0,
        answered=5,
        correct_so_far=correct,
        size=5,
        questions=5,
        passed=False,
        needed=needed,
        attempt=attempt,
        next_needed=next_needed,
        next_questions=5,
        retry_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC) if retries_left else None,
        retries_left=retries_left,
    )


@pytest.mark.parametrize(
    ("step", "said"),
    [
        (
            failed_quiz(1, 3, 4, 5, 2),
            "📕 You did not qualify for “Pots & <Pans>” yet (3 of 5 right; 4 are needed). Your quiz answers in a "
            "batch count together, so next time 5 of 5 are needed. You may try again after Jan 2, 2026, 03:04 UTC "
            "(2 tries left). Other batches are open to you: /work",
        ),
        (
            failed_quiz(1, 2, 4, 6, 0),
            "📕 You did not qualify for “Pots & <Pans>” (2 of 5 right; 4 are needed): even 5 of 5 on a next try "
            "would leave your quiz answers here under the pass mark, so it is closed to you. Other batches: /work",
        ),
        (
            failed_quiz(3, 4, 5, 5, 0),
            "📕 You did not qualify for “Pots & <Pans>” (4 of 5 right; with your earlier tries, 5 were needed): "
            "that was the last try, so it is closed to you. Other batches: /work",
        ),
    ],
    ids=["retry", "out of reach", "last try"],
)
def test_a_failed_quiz_says_what_the_next_try_needs_or_why_there_is_none(step: QuizStep, said: str) -> None:
    assert Rendered(texts.quiz_failed(step)).text == said


IMAGE_GOLD = (("blurry", "no"), ("person", "yes"), ("white_background", "yes"))


def image_quiz(wrong: tuple[tuple[str, str], ...], **counts: Any) -> QuizStep:
    """A quiz answer on an image_quality item of three questions, `wrong` the gold of those missed."""
    step = replace(failed_quiz(1, 0, 12, 15, 2), right=IMAGE_GOLD, wrong=wrong, correct=not wrong)
    step = replace(step, item_graded=3, item_right=3 - len(wrong))
    return replace(step, passed=None, retry_at=None, retries_left=0, **counts)


def test_a_partly_right_quiz_item_names_the_questions_missed() -> None:
    """One of three questions wrong: the feedback says 2 of 3 and gives the right answer of that one alone;
    all wrong, the right answer to each, as for a one-question item; all right, Correct."""
    one_wrong = image_quiz((("person", "yes"),), answered=3, correct_so_far=2)
    assert texts.quiz_note(one_wrong) == "✘ 2 of 3 right: the right answer is Person: ✔ Yes · 2 of 3 right so far"
    missed = Rendered(texts.quiz_missed(one_wrong))
    assert "✘ Not quite: 2 of 3 right: the right answer is Person: ✔ Yes." in missed.text
    assert missed.tags == ["b"]
    all_wrong = image_quiz(IMAGE_GOLD, answered=3, correct_so_far=0)
    assert texts.quiz_note(all_wrong).startswith("✘ The right answer is Blurry: ✖ No; Person: ✔ Yes;")
    assert texts.quiz_note(image_quiz((), answered=6, correct_so_far=5)) == "✔ Correct · 5 of 6 right so far"


def test_a_quiz_of_several_questions_an_item_counts_answers() -> None:
    """Passing and failing speak of gold answers where an item gives several, and of products where one."""
    passed = replace(image_quiz((), answered=15, correct_so_far=13, questions=15), passed=True)
    assert "Qualified for “Pots & <Pans>”: 13 of 15 answers right." in texts.quiz_note(passed)
    failed = replace(image_quiz((), correct_so_far=9, questions=15, needed=12, next_needed=15, next_questions=15))
    failed = replace(failed, passed=False, retry_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC), retries_left=2)
    said = Rendered(texts.quiz_failed(failed)).text
    assert "(9 of 15 answers right; 12 are needed)" in said and "next time 15 of 15 are needed" in said
    quiz = replace(screen(LONG_CARDS["angles"]), quiz=QuizPlace(place=2, size=5, questions=15, needed=12, retry=False))
    assert "(paid; pass with 12 of 15 answers right)" in Rendered(texts.task(quiz, "USD", texts.TEXT_LIMIT)).text


@pytest.mark.parametrize("limit", [texts.CAPTION_LIMIT, texts.TEXT_LIMIT])
def test_choice_card_with_long_answers_fits_and_escapes(limit: int) -> None:
    """A card's later question: the answers so far and a requester's own long question with markup are
    shown literally, shortened, and the whole fits the limit."""
    question = Question("logo", QuestionKind.CHOICE, ("yes", "no"), prompt="Is there a <logo> & more? " * 40)
    card = replace(
        screen(LONG_CARDS["angles"], note=texts.answer_note(20_000, 40_000, "USD")),
        question=question,
        question_index=2,
        question_count=3,
        answered=(("blurry", "no"), ("Tagline <i>", "<b>" * 100)),
    )
    rendered = Rendered(texts.task(card, "USD", limit))
    assert telegram_length(rendered.text) <= limit and not rendered.open
    assert set(rendered.tags) <= ALLOWED_TAGS
    assert "✔ Blurry: ✖ No" in rendered.text and "✔ Tagline <i>: <b><b>" in rendered.text
    assert "❓ Is there a <logo> & more?" in rendered.text and "(3 of 3)" in rendered.text
    assert "📂" not in rendered.text, "no tree on a choice"
