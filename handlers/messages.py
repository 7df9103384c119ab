"""The words of every code the core gives: refusals (ERRORS), what is wrong with an input (PROBLEMS) and
stored reasons (REASONS), one English template each (with its plural, where a count chooses the form),
translated into the reader's language (handlers.i18n) and filled in with `str.format` from the code's
parameters. Another language is another catalogue; the core does not change.

Parameters reach a template as they are, except: a Place is "line 4" (`{place:head}`: "Line 4"); an
amount under a name ending in `_micros` is money in the parameters' `currency`; a number is written the
language's way (`{x:,}` groups its digits, `{x:.1f}` keeps one decimal, `{x:percent}` reads 73 as
"73%"); a list is joined with ", " (`{x:or}`, `{x:and}` join with a word, `{x:200}` cuts the listing at
200 characters, `{x:,/or}` joins a list of lists); a nested Problem or Reason is its own words.
"""

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.errors import DomainError, InvalidInput, Place, Problem
from bot.reasons import Reason
from handlers import formatting
from handlers.i18n import N_, Nn_, Plural, plural_text
from handlers.i18n import gettext as _

ERRORS: dict[str, str | Plural] = {
    # anywhere
    "task_unavailable": N_("This task is no longer available."),
    "already_answered": N_("This task is no longer available."),
    "not_allowed": N_("You are not allowed to do that."),
    "settings_invalid": N_("Some settings are not valid."),
    "batch_settings_invalid": N_("The batch settings are not valid."),
    "value_invalid": "{problem}",
    "not_an_answer": N_("That was not taken as the answer: type the value alone, in a few words."),
    "usage": N_("Usage: {usage}"),
    # product files
    "file_not_utf8": N_(
        "The file is not UTF-8 text (byte {byte} cannot be read). Save it as UTF-8, e.g. “CSV UTF-8” in Excel."
    ),
    "file_empty": N_("The file is empty."),
    "file_no_products": N_("The file has no products in it."),
    "file_missing_columns": Nn_(
        "The header row lacks the required column {missing}. "
        "Columns: {columns} and the task type's own (item_id and title are required).",
        "The header row lacks the required columns {missing}. "
        "Columns: {columns} and the task type's own (item_id and title are required).",
        "missing",
    ),
    "file_extra_cells": N_("{place:head} has more cells than the header row."),
    "file_cell_too_long": N_(
        "{place:head} has a cell longer than {limit:,} characters; "
        "a product's description may have at most {description_limit:,}."
    ),
    "file_json_invalid": N_("The JSON is not valid: {detail} at line {line}, column {column}."),
    "file_json_not_a_list": N_(
        'A JSON batch file must be a list of product objects: [{{"item_id": …, "title": …}}, …].'
    ),
    "file_json_line_invalid": N_("{place:head} is not valid JSON: {detail}."),
    "file_not_an_object": N_("{place:head} is not an object with product fields."),
    "file_not_a_single_value": N_("{place:head}: {key!r} must be a single value, not a list or object."),
    "file_rows_rejected": Nn_(
        "The file was rejected: {rows} row has problems. Nothing was stored.",
        "The file was rejected: {rows} rows have problems. Nothing was stored.",
        "rows",
    ),
    # batches
    "caption_unreadable": N_('The settings could not be read: {detail}. Quote values with spaces: name="My batch".'),
    "quizzes_not_under_way": N_("This batch is {status}: only a running or paused batch takes more quizzes."),
    "no_quiz": N_("This batch has no quiz: every worker starts on paid work at once."),
    "quiz_top_up_range": N_("Add between 1 and {most} quizzes at a time."),
    "batch_not_yours": N_("That batch is not yours, or it does not exist."),
    "draft_decided": N_("This batch was already launched or discarded."),
    "choice_unavailable": N_("That choice is not available."),
    "batch_already": N_("This batch is already {status}."),
    "reward_overlap_missing": N_("Choose the reward and the overlap first."),
    "discard_not_draft": N_("Only a draft can be discarded; this batch is {status}."),
    "cannot_pause": N_("This batch is {status}; it cannot be paused."),
    "cannot_resume": N_("This batch is {status}; it cannot be resumed."),
    "cancel_not_under_way": N_("This batch is {status}; only a running or paused batch can be cancelled."),
    # money
    "funds_short_for_batch": N_(
        "Not enough funds: this batch needs {needed_micros}, {short_micros} more than you have available."
    ),
    "funds_short_for_restore": N_("The requester no longer has the money to restore this credit."),
    "funds_short_for_payout": N_("Your available balance is {available_micros}; that is less than {amount_micros}."),
    "credit_no_answer": N_("There is no answer to reject."),
    "credit_already_released": N_("This answer's credit was already released to the worker."),
    "method_unknown_kind": N_("Unknown payout method {kind!r}."),
    "method_not_an_email": N_("“{text}” is not an e-mail address. Please send it like name@example.com."),
    "method_not_an_iban": N_(
        "That is not an IBAN: it starts with a country code and two check digits, e.g. DE89 3704 0044 0532 0130 00."
    ),
    "method_iban_length": N_("An IBAN from {country} has {expected} characters; this one has {given}."),
    "method_iban_checksum": N_("The IBAN's check digits do not match: please check it for a typo."),
    "method_bech32_checksum": N_("That Bitcoin address (bc1…) has a typo: its checksum does not match."),
    "method_base58_checksum": N_("That Bitcoin address has a typo: its checksum does not match."),
    "method_not_a_wallet": N_(
        "Send a Bitcoin address (starting with bc1, 1 or 3) or an Ethereum address (0x and 40 hex digits)."
    ),
    "payout_suspended": N_("Your account is suspended ({reason}); payouts are paused."),
    "payout_whole_cents": N_("Payouts move whole cents: ask for {suggested_micros}, say."),
    "payout_under_threshold": N_("Payouts start at {threshold_micros}: ask for at least that."),
    "payout_threshold_not_reached": N_(
        "Payouts start at {threshold_micros}. You have {available_micros} available; {missing_micros} to go."
    ),
    "payout_no_method": N_("Set where your money goes first: /payout_method."),
    "payout_unknown": N_("There is no payout #{payout_id}."),
    "payout_already_decided": N_("Payout #{payout_id} was already {status}."),
    "payout_reference_not_approved": N_("Only an approved payout can carry a transaction id."),
    # work and quality
    "work_suspended": N_("Your account is suspended: {reason}. Contact the admins if you think this is a mistake."),
    "dispute_check_already_fixed": N_("This check was already corrected or dropped."),
    "dispute_not_a_judge": N_("Only the batch's requester or an admin can decide on its gold."),
    "dispute_already_decided": N_("This dispute was already decided: {status}."),
    # admin
    "admin_not_stopped": N_("{user_id} is not held or removed in batch {batch_id}."),
    "admin_no_user": N_("No user {reference!r} has talked to the bot yet (use their numeric id or @username)."),
    "admin_amount_not_positive": N_("The amount must be more than zero."),
    "admin_not_a_requester": N_("{name} is not a requester; grant the role first: /grant {user_id} requester"),
    "admin_unknown_role": N_("Unknown role {role!r}; roles: {roles}."),
    # the command line
    "taxonomy_no_name": N_("A taxonomy needs a name."),
    "taxonomy_name_taken": N_("A taxonomy named {name!r} already exists; choose another name."),
    "aggregation_too_many_cells": N_(
        "Dawid–Skene would need {cells:,} confusion cells ({workers} workers, "
        "{labels} labels); use one_coin for a label space this large"
    ),
    "csv_missing_column": N_("{file} CSV is missing column {missing:,/or}; expected a header like {expected}"),
    "csv_empty_cell": N_("{file} CSV line {line}: every column needs a value, got {row!r}"),
    "csv_two_gold_answers": N_("gold CSV line {line}: item {item!r} has two answers, {first!r} and {second!r}"),
    "config_invalid": N_("crowdshelf: configuration:"),
    "config_no_token": N_(
        "BOT_TOKEN is not set: create a bot with @BotFather in Telegram (send /newbot), "
        "then put BOT_TOKEN=<the token it gives you> in .env"
    ),
    "token_rejected": N_("Telegram rejected BOT_TOKEN ({token}): copy the token @BotFather gave you into .env again"),
    "webhook_is_set": N_(
        "Telegram has a webhook set ({url}), so the bot's updates go there: set WEBHOOK_URL to serve it, "
        "or run `crowdshelf webhook delete` to take them by polling"
    ),
    "cli_no_tables": N_("DATABASE_URL holds no crowdshelf tables yet: run `crowdshelf db upgrade` first."),
    "cli_setting_needed": N_("Give {flags:and}: the command line cannot ask for it as the chat does."),
    "cli_no_taxonomy": N_("No taxonomy named {name!r}; load it with `crowdshelf taxonomy load`."),
    "cli_loaded_before": N_(
        "Requester {requester} already loaded this file as batch {batch_id}; add --again to load it once more."
    ),
    "cli_webhook_url_needed": N_("WEBHOOK_URL is not set: put the webhook's public URL (and WEBHOOK_SECRET) in .env"),
    "cli_telegram_refused": N_("Telegram refused: {reason}"),
    "cli_telegram_unreachable": N_("Telegram is not reachable at {api}: {reason}"),
}

PROBLEMS: dict[str, str | Plural] = {
    # a file's rows
    "column_empty": N_("{column} is empty"),
    "no_photo": N_("image_url is empty: {type} needs a photo"),
    "gold_not_yes_no": N_("{column} {value!r} is not yes or no"),
    "gold_not_yes_no_no_image": N_("{column} {value!r} is not yes, no or no_image"),
    "item_id_repeats": N_("item_id {item_id!r} repeats {first}"),
    "column_too_long": N_("{column} is longer than {limit} characters"),
    "column_formula": N_("{column} starts with {start!r}, which spreadsheets run as a formula"),
    "column_control_character": N_("{column} contains a control character (U+{codepoint:04X})"),
    "column_half_character": N_("{column} contains half of a character (U+{codepoint:04X})"),
    "image_url_not_web": N_("image_url {url!r} is not an http(s) address"),
    "column_of_another_type": N_("{column} is not read by type {type}; its columns: {columns}"),
    "category_unknown": N_("{column} {reference!r} is not a category of the taxonomy"),
    "category_outside_root": N_("{column} {reference!r} is outside the batch's root category"),
    "category_not_a_leaf": N_("{column} {reference!r} has subcategories, but this batch accepts leaves only"),
    "validate_yes_but_another_category": N_(
        "gold_answer {answer!r} disagrees with gold_category {reference!r}, which is not the proposed category"
    ),
    "validate_no_but_the_proposed_category": N_(
        "gold_answer {answer!r} disagrees with gold_category {reference!r}, which is the proposed category"
    ),
    "attributes_gold_not_a_value": N_("{column} {value!r} is not a value of {key}; use one of: {values:200}"),
    "attributes_gold_not_typed": N_("{column} {value!r} is no typed value: it must have 1 to {most} characters"),
    "image_quality_no_image_mixed": N_(
        "no_image is mixed with yes/no in the gold columns: a photo that does not load "
        "answers the whole item, so give no_image alone"
    ),
    # the task types' settings
    "type_unknown": N_("type {type!r} is not supported; use one of: {types}"),
    "type_setting_unknown": N_("{key} is not a setting of type {type}"),
    "validate_correct_not_a_flag": N_("{key} must be true or false"),
    "question_key_not_a_key": N_(
        "{setting}: the key {key!r} must be 1–32 lower-case letters, digits or underscores, starting with a letter"
    ),
    "question_key_repeated": N_("{setting}: the key {key!r} is given more than once"),
    "attributes_required": N_(
        'attributes is required for type attributes, e.g. attributes="color:black|white|other; brand:text"'
    ),
    "attributes_too_many": N_("attributes: at most {most} attributes, not {given}"),
    "attributes_no_values": N_("attributes: {key!r} has no values; write {key}:value|value|… or {key}:{typed}"),
    "attributes_empty_value": N_("attributes: {key} has an empty value"),
    "attributes_value_count": N_("attributes: {key} needs {fewest} to {most} values, not {given}"),
    "attributes_value_too_long": N_("attributes: {key}'s value {value!r} is longer than {most} characters"),
    "attributes_value_repeated": N_("attributes: {key}'s value {value!r} is given more than once"),
    "image_quality_too_many": N_("questions: at most {most} questions, not {given}"),
    "image_quality_not_built_in": N_(
        "questions: {key!r} is not a built-in question ({built_in}); write your own as key:Question text?"
    ),
    "image_quality_no_prompt": N_("questions: {key!r} has no question; write {key}:Question text?"),
    "image_quality_prompt_too_long": N_("questions: the question of {key!r} is longer than {most} characters"),
    # batch settings, one by one and together
    "caption_not_key_value": N_("“{word}” is not key=value"),
    "caption_unknown_setting": N_("unknown setting “{key}”; settings: {keys}"),
    "setting_invalid": N_("{key} {problem}"),
    "setting_not_read": N_("{key} {detail}"),
    "value_not_a_number": N_("must be a number, e.g. 0.5"),
    "value_not_whole": N_("must be a whole number, e.g. 3"),
    "value_not_a_share": N_("must be between 0 and 1"),
    "value_negative": N_("must not be negative"),
    "value_out_of_range": N_("must be between {fewest} and {most}"),
    "value_hours_out_of_range": N_("must be between 0 and {most} hours"),
    "value_not_positive": N_("must be more than zero"),
    "value_not_a_level": N_("must be one of {levels}"),
    "value_not_yes_no": N_("must be true or false"),
    "spec_reward_not_positive": N_("reward must be more than zero"),
    "spec_overlap_range": N_("overlap must be between 1 and {most}"),
    "spec_min_overlap_range": N_("min_overlap must be between 1 and overlap"),
    "spec_gold_rate_too_high": N_("gold_rate must be at most {most}: checks are a sample of the work, not the work"),
    "spec_bonus_negative": N_("bonuses must not be negative"),
    "spec_no_name": N_("the batch needs a name"),
    "spec_root_unknown": N_("root {root!r} is not a category of the taxonomy"),
    "spec_root_is_leaf": N_("root {root!r} has no subcategories to choose from"),
    # amounts, wherever they are typed
    "amount_not_an_amount": N_("{amount!r} is not an amount of money"),
    "amount_negative": N_("{amount!r} is not a non-negative amount of money"),
    "amount_too_large": N_("{amount!r} is more than {most:,}, the largest amount accepted"),
    "amount_too_precise": N_("{amount!r} has more than 6 decimal places"),
    # the bot's own settings (environment, .env)
    "config_setting_invalid": N_("{key} {problem}"),
    "config_setting_not_read": N_("{key} {detail}"),
    "config_not_a_database_url": N_("is not a database URL, e.g. sqlite+aiosqlite:///crowdshelf.db"),
    "config_unknown_backend": N_("must start with {drivers:or}"),
    "config_no_async_driver": N_("has no async driver: write {wanted}:// instead of {given}://"),
    "config_no_such_folder": N_("names a SQLite file in {folder!r}, a directory that does not exist"),
    "config_not_a_log_level": N_("must be one of {levels}"),
    "config_not_user_ids": N_("must be Telegram user ids (numbers) separated by commas, not {text!r}"),
    "config_not_a_language": N_("must be a language the bot speaks: {languages:or}"),
    "config_not_host_port": N_("must be host:port, e.g. 0.0.0.0:8080, not {text!r}"),
    "config_not_a_path": N_("must be a URL path starting with /, e.g. /telegram"),
    "config_not_a_url": N_("must be the webhook's public URL, e.g. https://bot.example.com/telegram"),
    "config_secret_needed": N_(
        "must be set when WEBHOOK_URL is: Telegram sends it with every update, and requests without it are refused"
    ),
    "config_not_a_secret": N_("must be 1-256 characters, each a letter, a digit, _ or - (what Telegram accepts)"),
}

REASONS: dict[str, str | Plural] = {
    "text": "{text}",
    "gold_below": N_("gold answers right {right}/{total}, at best {percent:percent}"),
    "no_check_since_quiz": N_("no check right since the quiz, 0/{total}, at best {percent:percent}"),
    "too_fast": N_("{strikes} of their last {window} answers took under {seconds:.1f} s"),
    "too_fast_per_question": N_("{strikes} of their last {window} answers took under {seconds:.1f} s a question"),
    "same_answer": N_("the same answer for {run} products in a row"),
    "confirmed_by_admin": N_("{reason}; confirmed by an admin"),
    "payout_no_reason_given": N_("no reason given"),
    "payout_moved_no_money": N_("its request moved no money (found by db check --repair)"),
    "suspended_by_admin": N_("suspended by an admin"),
}

# What each batch setting means, by the key a caption types (`crowdshelf batch load --help` shows them).
SETTING_HELP = {
    "type": N_("the task type: categorize, validate, attributes, image_match or image_quality"),
    "reward": N_("pay per answer, e.g. 0.02"),
    "overlap": N_("answers wanted per product, 1 to 100"),
    "gold_rate": N_("share of a worker's tasks that are hidden checks on gold items, at most 0.5"),
    "root": N_("the category workers start from, id or path (default: the whole taxonomy)"),
    "name": N_("the batch's name (default: the file's name)"),
    "leaf_only": N_("only final categories are answers"),
    "confidence": N_("stop asking about a product once its label is this sure, after min_overlap answers"),
    "min_overlap": N_("answers every product gets before confidence may stop it"),
    "instructions": N_("rules shown to workers before they start"),
    "min_gold": N_("hidden checks a worker answers before min_accuracy applies"),
    "min_accuracy": N_("workers proven less accurate on the checks are removed"),
    "min_seconds": N_("answers faster than this per question are held (default: a third of the median time)"),
    "max_share": N_("the share of the products one worker may answer (default: 1, no cap)"),
    "min_level": N_("the lowest worker level let in: newcomer, qualified, expert (default: newcomer, everyone)"),
    "qualification": N_("quiz questions on gold items before paid work, 0 for none"),
    "pass": N_("the share of the quiz to get right"),
    "retry_hours": N_("hours before a failed quiz may be taken again"),
    "bonus_qualified": N_("extra pay per answer for Qualified workers"),
    "bonus_expert": N_("extra pay per answer for Expert workers"),
    "correct": N_("validate: a No goes on to pick the right category (true/false)"),
    "attributes": N_('attributes: what to tag, e.g. "color:black|white|other; brand:text"'),
    "questions": N_("image_quality: yes/no questions, e.g. blurry,person,logo:Is there a logo?"),
}

# What `crowdshelf` prints besides refusals.
CLI_UP_TO_DATE = N_("Database is up to date.")
CLI_BOOKS_SOUND = N_("The books are sound.")
CLI_BROKEN = Nn_(
    "{count} broken invariant; `crowdshelf db check --repair` mends phantom payouts, "
    "transactions without entries and cached balances.",
    "{count} broken invariants; `crowdshelf db check --repair` mends phantom payouts, "
    "transactions without entries and cached balances.",
)
CLI_BROKEN_AFTER_REPAIR = Nn_(
    "{count} broken invariant left that --repair does not mend: it needs a person.",
    "{count} broken invariants left that --repair does not mend: they need a person.",
)
CLI_NOTHING_TO_REPAIR = N_("Nothing to repair.")
CLI_REPAIRING = N_("Repairing, in one transaction:")
CLI_REJECT_PHANTOM = N_("  reject payout {payout} of worker {worker} ({amount}): its request moved no money")
CLI_DELETE_EMPTY = N_("  delete ledger transaction {transaction} ({key}): it has no entries")
CLI_SET_BALANCE = N_("  set account {kind}/{owner} from {before} to {after}, the sum of its entries")
CLI_TAXONOMY_LOADED = Nn_(
    "Loaded taxonomy {name!r} (id {id}): {count} category.", "Loaded taxonomy {name!r} (id {id}): {count} categories."
)
CLI_BATCH_LOADED = Nn_(
    "Batch {id} {name!r}: {items} product, {amount} reserved. Workers can start now.",
    "Batch {id} {name!r}: {items} products, {amount} reserved. Workers can start now.",
    "items",
)
CLI_COST = N_("Cost:")
CLI_AGGREGATED = N_("Wrote {labels} labels from {answers} answers to {out}.")
CLI_PAYOUTS_WRITTEN = Nn_("Wrote {count} PayPal payout to {out}.", "Wrote {count} PayPal payouts to {out}.")
CLI_COUNT = N_("must be a whole number of at least 1, not {text!r}")
CLI_CONNECTIONS = N_("must be a whole number from 1 to 100, not {text!r}")
CLI_WEBHOOK_SET = N_("Webhook set: Telegram posts {updates} to {url} with the secret, at most {connections} at a time.")
CLI_WEBHOOK_DELETED = N_("Webhook deleted: the bot takes its updates by polling again.")
CLI_WEBHOOK_NONE = N_("No webhook is set: the bot takes its updates by polling.")
CLI_WEBHOOK_INFO = N_("Webhook: {url}\nPending updates: {pending}\nMax connections: {connections}\nUpdates: {updates}")
CLI_WEBHOOK_LAST_ERROR = N_("Last error: {message} ({when})")
CLI_DEMO_INSTEAD = N_(
    "No BOT_TOKEN in .env, so here is the demo: a simulated crowd at work on a local Telegram. For your own bot, "
    "create one with @BotFather in Telegram (send /newbot) and put BOT_TOKEN=<the token it gives you> in .env."
)
CLI_DEMO_FAILED = N_("The demo's batch did not launch; the bot said: {said}")

# The words of a state the core names by its code (a batch "active", a payout "approved", …).
STATUSES = {
    "draft": N_("draft"),
    "active": N_("active"),
    "paused": N_("paused"),
    "completed": N_("completed"),
    "cancelled": N_("cancelled"),
    "requested": N_("requested"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "open": N_("open"),
    "corrected": N_("corrected"),
    "dropped": N_("dropped"),
    "upheld": N_("upheld"),
}

PLACES = {"line": N_("line {number}"), "item": N_("item {number}")}
PLACE_HEADS = {"line": N_("Line {number}"), "item": N_("Item {number}")}  # at the start of a sentence
PLACED = N_("{place}: {problems}")  # a row's problems, on one line
PROBLEM_SEPARATOR = "; "
JOINERS = {"": N_(", "), ",": N_(", "), "or": N_(" or "), "and": N_(" and ")}
NOTHING_LISTED = N_("none")
MORE = N_("\n… and {count} more")  # problems a plain listing leaves out


def error_text(error: DomainError) -> str:
    """What a refusal says, without the problems it lists."""
    return fill(ERRORS[error.code], **error.params)


def problem_text(problem: Problem) -> str:
    """One problem's words, without the row it belongs to."""
    return fill(PROBLEMS[problem.code], **problem.params)


def reason_text(reason: Reason) -> str:
    return fill(REASONS[reason.code], **reason.params)


def fill(template: str | Plural, **params: Any) -> str:
    """A template of this module in the reader's language, filled in with `params` as the module's
    docstring says."""
    return translated(template, params).format(**{key: _worded(key, value, params) for key, value in params.items()})


def translated(template: str | Plural, params: Mapping[str, Any]) -> str:
    if isinstance(template, Plural):
        count = params[template.count]
        return plural_text(template, len(count) if isinstance(count, list | tuple) else count)
    return _(template)


def status_text(status: str) -> str:
    return _(STATUSES[status]) if status in STATUSES else status


def problem_lines(problems: Iterable[Problem]) -> list[str]:
    """A line per problem; the problems of one row (next to each other, as they are found) share its line."""
    lines: list[str] = []
    for place, group in itertools.groupby(problems, key=lambda problem: problem.place):
        said = [problem_text(problem) for problem in group]
        if place is None:
            lines += said
        else:
            lines.append(_(PLACED).format(place=_PlaceText(place).head(), problems=PROBLEM_SEPARATOR.join(said)))
    return lines


def plain(error: DomainError, shown: int = 20) -> str:
    """The refusal and the first `shown` problem lines, as a terminal prints them."""
    problems = problem_lines(error.problems) if isinstance(error, InvalidInput) else []
    more = _(MORE).format(count=len(problems) - shown) if len(problems) > shown else ""
    return "\n".join([error_text(error), *problems[:shown]]) + more


def one_line(error: InvalidInput) -> str:
    """The refusal and all its problems on one line (a setting of the bot itself, when it starts)."""
    return f"{error_text(error)} {PROBLEM_SEPARATOR.join(map(problem_text, error.problems))}".strip()


def _worded(key: str, value: object, params: Mapping[str, Any]) -> object:
    if isinstance(value, Place):
        return _PlaceText(value)
    if key.endswith("_micros") and isinstance(value, int):
        return formatting.money(value, params["currency"])  # an amount always comes with its currency
    if isinstance(value, Problem):
        return problem_text(value)
    if isinstance(value, Reason):
        return reason_text(value)
    if key == "status" and isinstance(value, str):
        return status_text(value)
    if isinstance(value, list | tuple):
        return _Listed(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _Number(value)
    return value


class _PlaceText:
    """A Place in a template: `{place}` is "line 4", `{place:head}` "Line 4"."""

    def __init__(self, place: Place) -> None:
        self.place = place

    def head(self) -> str:
        return _(PLACE_HEADS[self.place.kind]).format(number=self.place.number)

    def __format__(self, spec: str) -> str:
        if spec == "head":
            return self.head()
        return _(PLACES[self.place.kind]).format(number=self.place.number)


class _Listed:
    """A list in a template: joined with ", ", or per the spec (see the module's docstring)."""

    def __init__(self, values: Sequence[object]) -> None:
        self.values = values

    def __format__(self, spec: str) -> str:
        cut = int(spec) if spec.isdigit() else None
        joiners = [_(JOINERS[word]) for word in ("" if cut else spec).split("/")]
        text = _joined(self.values, joiners) or _(NOTHING_LISTED)
        return text if cut is None or len(text) <= cut else text[: cut - 1] + "…"


def _joined(values: Sequence[object], joiners: list[str]) -> str:
    inner = joiners[1:] or joiners
    return joiners[0].join(_joined(value, inner) if isinstance(value, list | tuple) else str(value) for value in values)


class _Number:
    """A number in a template, written the reader's way: `{x:,}` grouped, `{x:.1f}` with one decimal,
    `{x:percent}` a whole percentage; any other spec is Python's (`{x:04X}`, a code point)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        if spec == ",":
            return formatting.number(self.value)
        if spec == "percent":
            return formatting.percent(self.value / 100)
        if spec.startswith(".") and spec.endswith("f") and spec[1:-1].isdigit():
            return formatting.decimal(self.value, int(spec[1:-1]))
        return format(self.value, spec)
