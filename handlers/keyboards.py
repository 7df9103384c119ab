"""Inline keyboards built from domain views; every button's data comes from the callbacks codec."""

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.batches.lifecycle import ADAPTIVE_OVERLAP
from bot.money.payout_methods import KINDS
from bot.tasks.base import QuestionKind
from bot.work import SearchScreen, TaskScreen
from handlers import callbacks, texts
from handlers.callbacks import (
    Browse,
    Choose,
    ChooseMethod,
    ContestGold,
    Control,
    Decide,
    Judge,
    Pick,
    ReviewHold,
    Rules,
    Skip,
    StartWork,
    Statement,
    Stop,
)
from handlers.formatting import money
from handlers.i18n import gettext as _
from storage.states import UNDER_WAY, BatchStatus


def _button(label: str, action: callbacks.Action) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=callbacks.encode(action))


def start_working() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button(_(texts.START_BUTTON), StartWork())]])


CHOICES_PER_ROW = 3  # option buttons side by side: short labels stay readable on a phone


def task(screen: TaskScreen) -> InlineKeyboardMarkup:
    """The card's buttons: answers to its open question (options, or a page of categories; none for a
    typed one), then skip, stop and the rules."""
    aid = screen.assignment_id
    if screen.question.kind == QuestionKind.TREE:
        rows = _tree_rows(screen)
    else:
        options = [
            _button(texts.button_label(texts.label_text(option)), Pick(aid, screen.question_index, place))
            for place, option in enumerate(screen.question.options)
        ]
        rows = [options[start : start + CHOICES_PER_ROW] for start in range(0, len(options), CHOICES_PER_ROW)]
    navigation = [_button(_(texts.BUTTON_SKIP), Skip(aid)), _button(_(texts.BUTTON_STOP), Stop(aid))]
    if screen.can_go_back:
        navigation.insert(0, _button(_(texts.BUTTON_BACK), Browse(aid, screen.parent, 0)))
    rows.append(navigation)
    if screen.instructions:
        rows.append([_button(_(texts.BUTTON_RULES), Rules(screen.batch_id))])
    return InlineKeyboardMarkup(rows)


def _tree_rows(screen: TaskScreen) -> list[list[InlineKeyboardButton]]:
    aid, question = screen.assignment_id, screen.question_index
    rows = [
        [_button(texts.button_label(choice.label), _choose(aid, question, choice.node_id, choice.is_leaf, True))]
        for choice in screen.choices
    ]
    paging = []
    if screen.page > 0:
        paging.append(_button(texts.BUTTON_PREVIOUS, Browse(aid, screen.here, screen.page - 1)))
    if screen.page + 1 < screen.pages:
        paging.append(_button(texts.BUTTON_NEXT, Browse(aid, screen.here, screen.page + 1)))
    if paging:
        rows.append(paging)
    if screen.accept_here and screen.here is not None:
        rows.append([_button("✅ " + texts.button_label(screen.breadcrumb[-1]), Pick(aid, question, screen.here))])
    return rows


def search(screen: SearchScreen) -> InlineKeyboardMarkup:
    aid = screen.assignment_id
    rows = [
        [
            _button(
                _search_label(m.label, opens=screen.leaf_only and not m.is_leaf),
                _choose(aid, screen.question_index, m.node_id, m.is_leaf, screen.leaf_only),
            )
        ]
        for m in screen.matches
    ]
    rows.append([_button(_(texts.BACK_TO_TREE), Browse(aid, None, 0))])
    return InlineKeyboardMarkup(rows)


def _search_label(path: str, opens: bool) -> str:
    return texts.path_label(path) + (" ›" if opens else "")


def _choose(aid: int, question: int, node: int, is_leaf: bool, leaf_only: bool) -> callbacks.Action:
    # Opening a branch and answering with a leaf are different presses of the same-looking button.
    return Pick(aid, question, node) if is_leaf or not leaf_only else Browse(aid, node, 0)


def payout_methods() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button(_(texts.METHOD_KINDS[kind]), ChooseMethod(kind))] for kind in KINDS])


def payout_decision(payout_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button(_("✅ Approve"), Decide(payout_id, True)), _button(_("❌ Reject"), Decide(payout_id, False))]]
    )


def hold_review(batch_id: int, worker_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                _button(_(texts.HOLD_CONTINUE), ReviewHold(batch_id, worker_id, remove=False)),
                _button(_(texts.HOLD_REMOVE), ReviewHold(batch_id, worker_id, remove=True)),
            ]
        ]
    )


def statement_years(years: list[int]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button(_("📄 {year} statement").format(year=year), Statement(year)) for year in years[:4]]]
    )


REWARD_CHOICES = (10_000, 20_000, 50_000, 100_000)
OVERLAP_CHOICES = (1, 3, 5)


def ask_reward(batch_id: int, currency: str, typed: int = 0) -> InlineKeyboardMarkup:
    """The usual rewards; above them, when the caption's reward waits to be confirmed, a button taking it."""
    rows = [[_button(money(micros, currency), Choose(batch_id, "reward", micros)) for micros in REWARD_CHOICES]]
    if typed:
        confirm = _button(texts.confirm_reward_button(money(typed, currency)), Choose(batch_id, "reward", typed))
        rows.insert(0, [confirm])
    return InlineKeyboardMarkup(rows)


def ask_overlap(batch_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [_button(texts.adaptive_overlap_button(), Choose(batch_id, "adaptive", ADAPTIVE_OVERLAP))],
            [_button(str(n), Choose(batch_id, "overlap", n)) for n in OVERLAP_CHOICES],
        ]
    )


def launch_or_discard(batch_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button(_("🚀 Launch"), Control(batch_id, "launch")), _button(_("✖ Cancel"), Control(batch_id, "discard"))]]
    )


def batch_controls(batch_id: int, status: str) -> InlineKeyboardMarkup:
    row = []
    if status == BatchStatus.ACTIVE:
        row.append(_button(_("⏸ Pause"), Control(batch_id, "pause")))
    if status == BatchStatus.PAUSED:
        row.append(_button(_("▶ Resume"), Control(batch_id, "resume")))
    if status in UNDER_WAY:
        row.append(_button(_("⏹ Cancel"), Control(batch_id, "cancel")))
    results = [
        _button(_("📥 Results"), Control(batch_id, "results")),
        _button(_("📥 JSONL"), Control(batch_id, "jsonl")),
        _button(_(texts.CHART_BUTTON), Control(batch_id, "chart")),
    ]
    return InlineKeyboardMarkup([row, results] if row else [results])


def contest(assignment_ids: list[int]) -> InlineKeyboardMarkup:
    """One "this gold is wrong" button per missed check (numbered when there are several)."""
    if len(assignment_ids) == 1:
        return InlineKeyboardMarkup([[_button(_(texts.CONTEST_BUTTON), ContestGold(assignment_ids[0]))]])
    return InlineKeyboardMarkup(
        [[_button(f"{_(texts.CONTEST_BUTTON)} ({n})", ContestGold(aid))] for n, aid in enumerate(assignment_ids, 1)]
    )


def judge(dispute_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [_button(_(texts.JUDGE_CORRECT), Judge(dispute_id, "corrected"))],
            [_button(_(texts.JUDGE_DROP), Judge(dispute_id, "dropped"))],
            [_button(_(texts.JUDGE_UPHOLD), Judge(dispute_id, "upheld"))],
        ]
    )
