"""The compact codec for inline-button data (Telegram allows 64 bytes).

Buttons carry only ids; the server re-checks every one of them, so forged data buys nothing.
  b:<assignment>:<node or ->:<page>   browse a node's children
  p:<assignment>:<question>:<value>   answer the card's question (value: a category's id, or an option's place)
  s:<assignment>  skip   x:<assignment>  stop   w  start working
  m:<kind>  choose a payout method   a:<payout> / r:<payout>  approve / reject   e:<year>  statement
  d:<batch>:<r|o|a>:<value>  fill in a draft's reward, overlap or adaptive overlap (value: its most)
  c:<batch>:<op>  batch control (launch, pause, results, chart…)   i:<batch>  rules
  g:<assignment>  contest a missed check   k:<dispute>:<c|d|u>  correct, drop or uphold the contested gold
  h:<batch>:<worker>:<c|r>  a held worker continues, or is removed
"""

import re
from dataclasses import dataclass

MAX_BYTES = 64


@dataclass(frozen=True)
class Browse:
    assignment_id: int
    node: int | None
    page: int


@dataclass(frozen=True)
class Pick:
    assignment_id: int
    question: int  # the question's place among its type's questions, so a late press is known for one
    value: int  # a category's id, or the chosen option's place


@dataclass(frozen=True)
class Skip:
    assignment_id: int


@dataclass(frozen=True)
class Stop:
    assignment_id: int


@dataclass(frozen=True)
class StartWork:
    pass


@dataclass(frozen=True)
class ChooseMethod:
    kind: str


@dataclass(frozen=True)
class Decide:
    payout_id: int
    approve: bool


@dataclass(frozen=True)
class Statement:
    year: int


@dataclass(frozen=True)
class Choose:
    batch_id: int
    setting: str  # "reward", "overlap" or "adaptive" (overlap up to value, fewer while the crowd agrees)
    value: int


@dataclass(frozen=True)
class Control:
    batch_id: int
    op: str  # one of CONTROL_OPS


@dataclass(frozen=True)
class Rules:
    batch_id: int


@dataclass(frozen=True)
class ContestGold:
    assignment_id: int


@dataclass(frozen=True)
class Judge:
    dispute_id: int
    status: str  # one of JUDGE_CODES' values


@dataclass(frozen=True)
class ReviewHold:
    batch_id: int
    worker_id: int
    remove: bool


CONTROL_OPS = {
    "l": "launch",
    "d": "discard",
    "p": "pause",
    "u": "resume",
    "c": "cancel",
    "r": "results",
    "j": "jsonl",
    "g": "chart",
}
_OP_CODES = {op: code for code, op in CONTROL_OPS.items()}
_SETTING_CODES = {"reward": "r", "overlap": "o", "adaptive": "a"}
_SETTINGS = {code: setting for setting, code in _SETTING_CODES.items()}
JUDGE_CODES = {"c": "corrected", "d": "dropped", "u": "upheld"}
_STATUS_CODES = {status: code for code, status in JUDGE_CODES.items()}

Action = (
    Browse
    | Pick
    | Skip
    | Stop
    | StartWork
    | ChooseMethod
    | Decide
    | Statement
    | Choose
    | Control
    | Rules
    | ContestGold
    | Judge
    | ReviewHold
)

_NUMBER = r"(0|[1-9][0-9]{0,18})"
_PATTERNS = {
    "b": re.compile(rf"b:{_NUMBER}:(-|{_NUMBER}):{_NUMBER}"),
    "p": re.compile(rf"p:{_NUMBER}:{_NUMBER}:{_NUMBER}"),
    "s": re.compile(rf"s:{_NUMBER}"),
    "x": re.compile(rf"x:{_NUMBER}"),
    "w": re.compile("w"),
    "m": re.compile("m:([a-z]{1,16})"),
    "a": re.compile(rf"a:{_NUMBER}"),
    "r": re.compile(rf"r:{_NUMBER}"),
    "e": re.compile("e:([0-9]{4})"),
    "d": re.compile(rf"d:{_NUMBER}:([{''.join(_SETTINGS)}]):{_NUMBER}"),
    "c": re.compile(rf"c:{_NUMBER}:([{''.join(CONTROL_OPS)}])"),
    "i": re.compile(rf"i:{_NUMBER}"),
    "g": re.compile(rf"g:{_NUMBER}"),
    "k": re.compile(rf"k:{_NUMBER}:([{''.join(JUDGE_CODES)}])"),
    "h": re.compile(rf"h:{_NUMBER}:{_NUMBER}:([cr])"),
}


def encode(action: Action) -> str:
    match action:
        case Browse(assignment_id, node, page):
            data = f"b:{assignment_id}:{'-' if node is None else node}:{page}"
        case Pick(assignment_id, question, value):
            data = f"p:{assignment_id}:{question}:{value}"
        case Skip(assignment_id):
            data = f"s:{assignment_id}"
        case Stop(assignment_id):
            data = f"x:{assignment_id}"
        case StartWork():
            data = "w"
        case ChooseMethod(kind):
            data = f"m:{kind}"
        case Decide(payout_id, approve):
            data = f"{'a' if approve else 'r'}:{payout_id}"
        case Statement(year):
            data = f"e:{year}"
        case Choose(batch_id, setting, value):
            data = f"d:{batch_id}:{_SETTING_CODES[setting]}:{value}"
        case Control(batch_id, op):
            data = f"c:{batch_id}:{_OP_CODES[op]}"
        case Rules(batch_id):
            data = f"i:{batch_id}"
        case ContestGold(assignment_id):
            data = f"g:{assignment_id}"
        case Judge(dispute_id, status):
            data = f"k:{dispute_id}:{_STATUS_CODES[status]}"
        case ReviewHold(batch_id, worker_id, remove):
            data = f"h:{batch_id}:{worker_id}:{'r' if remove else 'c'}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data}")
    return data


def decode(data: str | None) -> Action | None:
    """The action, or None for anything that is not data this bot made."""
    if not data:
        return None
    pattern = _PATTERNS.get(data[0])
    match = pattern.fullmatch(data) if pattern else None
    if match is None:
        return None
    if data[0] == "m":
        return ChooseMethod(match.group(1))
    if data[0] == "d":
        return Choose(int(match.group(1)), _SETTINGS[match.group(2)], int(match.group(3)))
    if data[0] == "c":
        return Control(int(match.group(1)), CONTROL_OPS[match.group(2)])
    if data[0] == "k":
        return Judge(int(match.group(1)), JUDGE_CODES[match.group(2)])
    if data[0] == "h":
        return ReviewHold(int(match.group(1)), int(match.group(2)), remove=match.group(3) == "r")
    if data[0] == "w":
        return StartWork()
    if data[0] == "b":
        node = match.group(3)
        return Browse(int(match.group(1)), None if node is None else int(node), int(match.group(4)))
    if data[0] == "p":
        return Pick(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    number = int(match.group(1))
    match data[0]:
        case "s":
            return Skip(number)
        case "x":
            return Stop(number)
        case "a" | "r":
            return Decide(number, approve=data[0] == "a")
        case "e":
            return Statement(number)
        case "i":
            return Rules(number)
    return ContestGold(number)  # "g", the one pattern left
