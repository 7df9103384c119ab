"""The words of every code the core gives: refusals (ERRORS), what is wrong with an input (PROBLEMS) and
stored reasons (REASONS), one English template each, filled in with `str.format` from the code's
parameters. Another language is another set of these dicts; the core does not change.

Parameters reach a template as they are, except: a Place is "line 4" (`{place:head}`: "Line 4"); an
amount under a name ending in `_micros` is money in the parameters' `currency`; a list is joined with
", " (`{x:or}`, `{x:and}` join with a word, `{x:200}` cuts the listing at 200 characters, `{x:,/or}` joins
a list of lists); a nested Problem or Reason is its own words.
"""

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.errors import DomainError, InvalidInput, Place, Problem
from bot.money.amounts import format_money
from bot.reasons import Reason

ERRORS = {
    # anywhere
    "task_unavailable": "This task is no longer available.",
    "already_answered": "This task is no longer available.",
    "not_allowed": "You are not allowed to do that.",
    "settings_invalid": "Some settings are not valid.",
    "batch_settings_invalid": "The batch settings are not valid.",
    "value_invalid": "{problem}",
    "not_an_answer": "That was not taken as the answer: type the value alone, in a few words.",
    "usage": "Usage: {usage}",
    # product files
    "file_not_utf8": "The file is not UTF-8 text (byte {byte} cannot be read). "
    "Save it as UTF-8, e.g. “CSV UTF-8” in Excel.",
    "file_empty": "The file is empty.",
    "file_no_products": "The file has no products in it.",
    "file_missing_columns": "The header row lacks the required column(s) {missing}. "
    "Columns: {columns} and the task type's own (item_id and title are required).",
    "file_extra_cells": "{place:head} has more cells than the header row.",
    "file_cell_too_long": "{place:head} has a cell longer than {limit:,} characters; "
    "a product's description may have at most {description_limit:,}.",
    "file_json_invalid": "The JSON is not valid: {detail} at line {line}, column {column}.",
    "file_json_not_a_list": 'A JSON batch file must be a list of product objects: [{{"item_id": …, "title": …}}, …].',
    "file_json_line_invalid": "{place:head} is not valid JSON: {detail}.",
    "file_not_an_object": "{place:head} is not an object with product fields.",
    "file_not_a_single_value": "{place:head}: {key!r} must be a single value, not a list or object.",
    "file_rows_rejected": "The file was rejected: {rows} row(s) have problems. Nothing was stored.",
    # batches
    "caption_unreadable": 'The settings could not be read: {detail}. Quote values with spaces: name="My batch".',
    "quizzes_not_under_way": "This batch is {status}: only a running or paused batch takes more quizzes.",
    "no_quiz": "This batch has no quiz: every worker starts on paid work at once.",
    "quiz_top_up_range": "Add between 1 and {most} quizzes at a time.",
    "batch_not_yours": "That batch is not yours, or it does not exist.",
    "draft_decided": "This batch was already launched or discarded.",
    "choice_unavailable": "That choice is not available.",
    "batch_already": "This batch is already {status}.",
    "reward_overlap_missing": "Choose the reward and the overlap first.",
    "discard_not_draft": "Only a draft can be discarded; this batch is {status}.",
    "cannot_pause": "This batch is {status}; it cannot be paused.",
    "cannot_resume": "This batch is {status}; it cannot be resumed.",
    "cancel_not_under_way": "This batch is {status}; only a running or paused batch can be cancelled.",
    # money
    "funds_short_for_batch": "Not enough funds: this batch needs {needed_micros}, "
    "{short_micros} more than you have available.",
    "funds_short_for_restore": "The requester no longer has the money to restore this credit.",
    "funds_short_for_payout": "Your available balance is {available_micros}; that is less than {amount_micros}.",
    "credit_no_answer": "There is no answer to reject.",
    "credit_already_released": "This answer's credit was already released to the worker.",
    "method_unknown_kind": "Unknown payout method {kind!r}.",
    "method_not_an_email": "“{text}” is not an e-mail address. Please send it like name@example.com.",
    "method_not_an_iban": "That is not an IBAN: it starts with a country code and two check digits, "
    "e.g. DE89 3704 0044 0532 0130 00.",
    "method_iban_length": "An IBAN from {country} has {expected} characters; this one has {given}.",
    "method_iban_checksum": "The IBAN's check digits do not match: please check it for a typo.",
    "method_bech32_checksum": "That Bitcoin address (bc1…) has a typo: its checksum does not match.",
    "method_base58_checksum": "That Bitcoin address has a typo: its checksum does not match.",
    "method_not_a_wallet": "Send a Bitcoin address (starting with bc1, 1 or 3) "
    "or an Ethereum address (0x and 40 hex digits).",
    "payout_suspended": "Your account is suspended ({reason}); payouts are paused.",
    "payout_whole_cents": "Payouts move whole cents: ask for {suggested_micros}, say.",
    "payout_under_threshold": "Payouts start at {threshold_micros}: ask for at least that.",
    "payout_threshold_not_reached": "Payouts start at {threshold_micros}. You have {available_micros} available; "
    "{missing_micros} to go.",
    "payout_no_method": "Set where your money goes first: /payout_method.",
    "payout_unknown": "There is no payout #{payout_id}.",
    "payout_already_decided": "Payout #{payout_id} was already {status}.",
    "payout_reference_not_approved": "Only an approved payout can carry a transaction id.",
    # work and quality
    "work_suspended": "Your account is suspended: {reason}. Contact the admins if you think this is a mistake.",
    "dispute_check_already_fixed": "This check was already corrected or dropped.",
    "dispute_not_a_judge": "Only the batch's requester or an admin can decide on its gold.",
    "dispute_already_decided": "This dispute was already decided: {status}.",
    # admin
    "admin_not_stopped": "{user_id} is not held or removed in batch {batch_id}.",
    "admin_no_user": "No user {reference!r} has talked to the bot yet (use their numeric id or @username).",
    "admin_amount_not_positive": "The amount must be more than zero.",
    "admin_not_a_requester": "{name} is not a requester; grant the role first: /grant {user_id} requester",
    "admin_unknown_role": "Unknown role {role!r}; roles: {roles}.",
    # the command line
    "taxonomy_no_name": "A taxonomy needs a name.",
    "taxonomy_name_taken": "A taxonomy named {name!r} already exists; choose another name.",
    "aggregation_too_many_cells": "Dawid–Skene would need {cells:,} confusion cells ({workers} workers, "
    "{labels} labels); use one_coin for a label space this large",
    "csv_missing_column": "{file} CSV is missing column {missing:,/or}; expected a header like {expected}",
    "csv_empty_cell": "{file} CSV line {line}: every column needs a value, got {row!r}",
    "csv_two_gold_answers": "gold CSV line {line}: item {item!r} has two answers, {first!r} and {second!r}",
    "config_invalid": "crowdshelf: configuration:",
    "config_no_token": "BOT_TOKEN is not set: create a bot with @BotFather in Telegram (send /newbot), "
    "then put BOT_TOKEN=<the token it gives you> in .env",
    "token_rejected": "Telegram rejected BOT_TOKEN ({token}): copy the token @BotFather gave you into .env again",
    "cli_no_tables": "DATABASE_URL holds no crowdshelf tables yet: run `crowdshelf db upgrade` first.",
    "cli_setting_needed": "Give {flags:and}: the command line cannot ask for it as the chat does.",
    "cli_no_taxonomy": "No taxonomy named {name!r}; load it with `crowdshelf taxonomy load`.",
    "cli_loaded_before": "Requester {requester} already loaded this file as batch {batch_id}; "
    "add --again to load it once more.",
    "cli_webhook_url_needed": "WEBHOOK_URL is not set: put the webhook's public URL (and WEBHOOK_SECRET) in .env",
    "cli_telegram_refused": "Telegram refused: {reason}",
    "cli_telegram_unreachable": "Telegram is not reachable at {api}: {reason}",
}

PROBLEMS = {
    # a file's rows
    "column_empty": "{column} is empty",
    "no_photo": "image_url is empty: {type} needs a photo",
    "gold_not_yes_no": "{column} {value!r} is not yes or no",
    "gold_not_yes_no_no_image": "{column} {value!r} is not yes, no or no_image",
    "item_id_repeats": "item_id {item_id!r} repeats {first}",
    "column_too_long": "{column} is longer than {limit} characters",
    "column_formula": "{column} starts with {start!r}, which spreadsheets run as a formula",
    "column_control_character": "{column} contains a control character (U+{codepoint:04X})",
    "column_half_character": "{column} contains half of a character (U+{codepoint:04X})",
    "image_url_not_web": "image_url {url!r} is not an http(s) address",
    "column_of_another_type": "{column} is not read by type {type}; its columns: {columns}",
    "category_unknown": "{column} {reference!r} is not a category of the taxonomy",
    "category_outside_root": "{column} {reference!r} is outside the batch's root category",
    "category_not_a_leaf": "{column} {reference!r} has subcategories, but this batch accepts leaves only",
    "validate_yes_but_another_category": "gold_answer {answer!r} disagrees with gold_category {reference!r}, "
    "which is not the proposed category",
    "validate_no_but_the_proposed_category": "gold_answer {answer!r} disagrees with gold_category {reference!r}, "
    "which is the proposed category",
    "attributes_gold_not_a_value": "{column} {value!r} is not a value of {key}; use one of: {values:200}",
    "attributes_gold_not_typed": "{column} {value!r} is no typed value: it must have 1 to {most} characters",
    "image_quality_no_image_mixed": "no_image is mixed with yes/no in the gold columns: a photo that does not load "
    "answers the whole item, so give no_image alone",
    # the task types' settings
    "type_unknown": "type {type!r} is not supported; use one of: {types}",
    "type_setting_unknown": "{key} is not a setting of type {type}",
    "validate_correct_not_a_flag": "{key} must be true or false",
    "question_key_not_a_key": "{setting}: the key {key!r} must be 1–32 lower-case letters, digits or underscores, "
    "starting with a letter",
    "question_key_repeated": "{setting}: the key {key!r} is given more than once",
    "attributes_required": 'attributes is required for type attributes, e.g. attributes="color:black|white|other; '
    'brand:text"',
    "attributes_too_many": "attributes: at most {most} attributes, not {given}",
    "attributes_no_values": "attributes: {key!r} has no values; write {key}:value|value|… or {key}:{typed}",
    "attributes_empty_value": "attributes: {key} has an empty value",
    "attributes_value_count": "attributes: {key} needs {fewest} to {most} values, not {given}",
    "attributes_value_too_long": "attributes: {key}'s value {value!r} is longer than {most} characters",
    "attributes_value_repeated": "attributes: {key}'s value {value!r} is given more than once",
    "image_quality_too_many": "questions: at most {most} questions, not {given}",
    "image_quality_not_built_in": "questions: {key!r} is not a built-in question ({built_in}); "
    "write your own as key:Question text?",
    "image_quality_no_prompt": "questions: {key!r} has no question; write {key}:Question text?",
    "image_quality_prompt_too_long": "questions: the question of {key!r} is longer than {most} characters",
    # batch settings, one by one and together
    "caption_not_key_value": "“{word}” is not key=value",
    "caption_unknown_setting": "unknown setting “{key}”; settings: {keys}",
    "setting_invalid": "{key} {problem}",
    "setting_not_read": "{key} {detail}",
    "value_not_a_number": "must be a number, e.g. 0.5",
    "value_not_whole": "must be a whole number, e.g. 3",
    "value_not_a_share": "must be between 0 and 1",
    "value_negative": "must not be negative",
    "value_out_of_range": "must be between {fewest} and {most}",
    "value_hours_out_of_range": "must be between 0 and {most} hours",
    "value_not_positive": "must be more than zero",
    "value_not_a_level": "must be one of {levels}",
    "value_not_yes_no": "must be true or false",
    "spec_reward_not_positive": "reward must be more than zero",
    "spec_overlap_range": "overlap must be between 1 and {most}",
    "spec_min_overlap_range": "min_overlap must be between 1 and overlap",
    "spec_gold_rate_too_high": "gold_rate must be at most {most}: checks are a sample of the work, not the work",
    "spec_bonus_negative": "bonuses must not be negative",
    "spec_no_name": "the batch needs a name",
    "spec_root_unknown": "root {root!r} is not a category of the taxonomy",
    "spec_root_is_leaf": "root {root!r} has no subcategories to choose from",
    # amounts, wherever they are typed
    "amount_not_an_amount": "{amount!r} is not an amount of money",
    "amount_negative": "{amount!r} is not a non-negative amount of money",
    "amount_too_large": "{amount!r} is more than {most:,}, the largest amount accepted",
    "amount_too_precise": "{amount!r} has more than 6 decimal places",
    # the bot's own settings (environment, .env)
    "config_setting_invalid": "{key} {problem}",
    "config_setting_not_read": "{key} {detail}",
    "config_not_a_database_url": "is not a database URL, e.g. sqlite+aiosqlite:///crowdshelf.db",
    "config_unknown_backend": "must start with {drivers:or}",
    "config_no_async_driver": "has no async driver: write {wanted}:// instead of {given}://",
    "config_no_such_folder": "names a SQLite file in {folder!r}, a directory that does not exist",
    "config_not_a_log_level": "must be one of {levels}",
    "config_not_user_ids": "must be Telegram user ids (numbers) separated by commas, not {text!r}",
    "config_not_host_port": "must be host:port, e.g. 0.0.0.0:8080, not {text!r}",
    "config_not_a_path": "must be a URL path starting with /, e.g. /telegram",
    "config_not_a_url": "must be the webhook's public URL, e.g. https://bot.example.com/telegram",
    "config_secret_needed": "must be set when WEBHOOK_URL is: Telegram sends it with every update, "
    "and requests without it are refused",
    "config_not_a_secret": "must be 1-256 characters, each a letter, a digit, _ or - (what Telegram accepts)",
}

REASONS = {
    "text": "{text}",
    "gold_below": "gold answers right {right}/{total}, at best {percent}%",
    "no_check_since_quiz": "no check right since the quiz, 0/{total}, at best {percent}%",
    "too_fast": "{strikes} of their last {window} answers took under {seconds:.1f} s",
    "too_fast_per_question": "{strikes} of their last {window} answers took under {seconds:.1f} s a question",
    "same_answer": "the same answer for {run} products in a row",
    "confirmed_by_admin": "{reason}; confirmed by an admin",
    "payout_no_reason_given": "no reason given",
    "payout_moved_no_money": "its request moved no money (found by db check --repair)",
    "suspended_by_admin": "suspended by an admin",
}

# What each batch setting means, by the key a caption types (`crowdshelf batch load --help` shows them).
SETTING_HELP = {
    "type": "the task type: categorize, validate, attributes, image_match or image_quality",
    "reward": "pay per answer, e.g. 0.02",
    "overlap": "answers wanted per product, 1 to 100",
    "gold_rate": "share of a worker's tasks that are hidden checks on gold items, at most 0.5",
    "root": "the category workers start from, id or path (default: the whole taxonomy)",
    "name": "the batch's name (default: the file's name)",
    "leaf_only": "only final categories are answers",
    "confidence": "stop asking about a product once its label is this sure, after min_overlap answers",
    "min_overlap": "answers every product gets before confidence may stop it",
    "instructions": "rules shown to workers before they start",
    "min_gold": "hidden checks a worker answers before min_accuracy applies",
    "min_accuracy": "workers proven less accurate on the checks are removed",
    "min_seconds": "answers faster than this per question are held (default: a third of the median time)",
    "max_share": "the share of the products one worker may answer (default: 1, no cap)",
    "min_level": "the lowest worker level let in: newcomer, qualified, expert (default: newcomer, everyone)",
    "qualification": "quiz questions on gold items before paid work, 0 for none",
    "pass": "the share of the quiz to get right",
    "retry_hours": "hours before a failed quiz may be taken again",
    "bonus_qualified": "extra pay per answer for Qualified workers",
    "bonus_expert": "extra pay per answer for Expert workers",
    "correct": "validate: a No goes on to pick the right category (true/false)",
    "attributes": 'attributes: what to tag, e.g. "color:black|white|other; brand:text"',
    "questions": "image_quality: yes/no questions, e.g. blurry,person,logo:Is there a logo?",
}

# What `crowdshelf` prints besides refusals.
CLI_UP_TO_DATE = "Database is up to date."
CLI_BOOKS_SOUND = "The books are sound."
CLI_BROKEN = (
    "{count} broken invariant(s); `crowdshelf db check --repair` mends phantom payouts, "
    "transactions without entries and cached balances."
)
CLI_BROKEN_AFTER_REPAIR = "{count} broken invariant(s) left that --repair does not mend: they need a person."
CLI_NOTHING_TO_REPAIR = "Nothing to repair."
CLI_REPAIRING = "Repairing, in one transaction:"
CLI_REJECT_PHANTOM = "  reject payout {payout} of worker {worker} ({amount}): its request moved no money"
CLI_DELETE_EMPTY = "  delete ledger transaction {transaction} ({key}): it has no entries"
CLI_SET_BALANCE = "  set account {kind}/{owner} from {before} to {after}, the sum of its entries"
CLI_TAXONOMY_LOADED = "Loaded taxonomy {name!r} (id {id}): {count} categories."
CLI_BATCH_LOADED = "Batch {id} {name!r}: {items} products, {amount} reserved. Workers can start now."
CLI_COST = "Cost:"
CLI_AGGREGATED = "Wrote {labels} labels from {answers} answers to {out}."
CLI_PAYOUTS_WRITTEN = "Wrote {count} PayPal payout(s) to {out}."
CLI_CONNECTIONS = "must be a whole number from 1 to 100, not {text!r}"
CLI_WEBHOOK_SET = "Webhook set: Telegram posts {updates} to {url} with the secret, at most {connections} at a time."
CLI_WEBHOOK_DELETED = "Webhook deleted: the bot takes its updates by polling again."
CLI_WEBHOOK_NONE = "No webhook is set: the bot takes its updates by polling."
CLI_WEBHOOK_INFO = "Webhook: {url}\nPending updates: {pending}\nMax connections: {connections}\nUpdates: {updates}"
CLI_WEBHOOK_LAST_ERROR = "Last error: {message} ({when:%Y-%m-%d %H:%M:%S} UTC)"

PLACES = {"line": "line {number}", "item": "item {number}"}
PLACE_HEADS = {"line": "Line {number}", "item": "Item {number}"}  # at the start of a sentence
PLACED = "{place}: {problems}"  # a row's problems, on one line
PROBLEM_SEPARATOR = "; "
JOINERS = {"": ", ", ",": ", ", "or": " or ", "and": " and "}
NOTHING_LISTED = "none"
MORE = "\n… and {count} more"  # problems a plain listing leaves out


def error_text(error: DomainError) -> str:
    """What a refusal says, without the problems it lists."""
    return _fill(ERRORS[error.code], error.params)


def problem_text(problem: Problem) -> str:
    """One problem's words, without the row it belongs to."""
    return _fill(PROBLEMS[problem.code], problem.params)


def reason_text(reason: Reason) -> str:
    return _fill(REASONS[reason.code], reason.params)


def problem_lines(problems: Iterable[Problem]) -> list[str]:
    """A line per problem; the problems of one row (next to each other, as they are found) share its line."""
    lines: list[str] = []
    for place, group in itertools.groupby(problems, key=lambda problem: problem.place):
        said = [problem_text(problem) for problem in group]
        if place is None:
            lines += said
        else:
            lines.append(PLACED.format(place=_PlaceText(place).head(), problems=PROBLEM_SEPARATOR.join(said)))
    return lines


def plain(error: DomainError, shown: int = 20) -> str:
    """The refusal and the first `shown` problem lines, as a terminal prints them."""
    problems = problem_lines(error.problems) if isinstance(error, InvalidInput) else []
    more = MORE.format(count=len(problems) - shown) if len(problems) > shown else ""
    return "\n".join([error_text(error), *problems[:shown]]) + more


def one_line(error: InvalidInput) -> str:
    """The refusal and all its problems on one line (a setting of the bot itself, when it starts)."""
    return f"{error_text(error)} {PROBLEM_SEPARATOR.join(map(problem_text, error.problems))}".strip()


def _fill(template: str, params: Mapping[str, Any]) -> str:
    return template.format(**{key: _worded(key, value, params) for key, value in params.items()})


def _worded(key: str, value: object, params: Mapping[str, Any]) -> object:
    if isinstance(value, Place):
        return _PlaceText(value)
    if key.endswith("_micros") and isinstance(value, int):
        return format_money(value, params["currency"])  # an amount always comes with its currency
    if isinstance(value, Problem):
        return problem_text(value)
    if isinstance(value, Reason):
        return reason_text(value)
    if isinstance(value, list | tuple):
        return _Listed(value)
    return value


class _PlaceText:
    """A Place in a template: `{place}` is "line 4", `{place:head}` "Line 4"."""

    def __init__(self, place: Place) -> None:
        self.place = place

    def head(self) -> str:
        return PLACE_HEADS[self.place.kind].format(number=self.place.number)

    def __format__(self, spec: str) -> str:
        if spec == "head":
            return self.head()
        return PLACES[self.place.kind].format(number=self.place.number)


class _Listed:
    """A list in a template: joined with ", ", or per the spec (see the module's docstring)."""

    def __init__(self, values: Sequence[object]) -> None:
        self.values = values

    def __format__(self, spec: str) -> str:
        cut = int(spec) if spec.isdigit() else None
        joiners = [JOINERS[word] for word in ("" if cut else spec).split("/")]
        text = _joined(self.values, joiners) or NOTHING_LISTED
        return text if cut is None or len(text) <= cut else text[: cut - 1] + "…"


def _joined(values: Sequence[object], joiners: list[str]) -> str:
    inner = joiners[1:] or joiners
    return joiners[0].join(_joined(value, inner) if isinstance(value, list | tuple) else str(value) for value in values)
