"""How answers are named in messages: by their question, worded from its key or as the requester wrote it."""

import pytest

from handlers import texts


@pytest.mark.parametrize(
    ("labels", "said"),
    [
        ((("category", "Cookware › Woks"),), "Cookware › Woks"),
        ((("verdict", "no"),), "✖ No"),
        ((("person", "no"),), "Person: ✖ No"),  # one graded question of several: which one matters
        ((("color", "red"), ("brand", "acme")), "Color: red; Brand: acme"),
    ],
)
def test_answers_are_named_by_their_question_unless_the_card_asks_one(labels: tuple, said: str) -> None:
    assert texts.described(labels) == said


def test_a_question_is_named_by_its_key_or_as_the_requester_wrote_it() -> None:
    assert texts.question_name("white_background") == "White background"
    assert texts.question_name("Is the Nike logo_mark there?") == "Is the Nike logo_mark there?"
