"""The `crowdshelf` command: run the bot, migrate the database, load taxonomies and batches."""

import argparse
import asyncio
import dataclasses
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy import inspect
from telegram import Bot, WebhookInfo
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError

from bot import taxonomies
from bot.aggregation import files as aggregation_files
from bot.aggregation import methods as aggregation
from bot.batches import files as batch_files
from bot.batches import lifecycle as batches
from bot.batches.settings import SETTING_KEYS, BatchSettings
from bot.errors import DomainError, ErrorCode, InvalidInput
from bot.money import books, payouts
from bot.money.amounts import MICROS
from bot.tasks import registry
from bot.wiring import log_masking
from bot.wiring.app import TokenRejected, allowed_updates, build_application, serve
from bot.wiring.config import ConfigError, Settings, load_settings
from bot.wiring.services import SystemClock, build_services
from handlers import formatting, i18n, messages, texts
from handlers.i18n import gettext as _
from sandbox.options import DemoOptions
from storage import migrate
from storage.db import connect
from storage.states import PayoutStatus
from taxonomy import DEFAULT_TAXONOMY_NAME, TaxonomyError, parse_file

T = TypeVar("T")


class CliRefusal(ErrorCode):
    NO_TABLES = "cli_no_tables"
    SETTING_NEEDED = "cli_setting_needed"  # {flags}
    NO_TAXONOMY = "cli_no_taxonomy"  # {name}
    LOADED_BEFORE = "cli_loaded_before"  # {requester, batch_id}
    WEBHOOK_URL_NEEDED = "cli_webhook_url_needed"
    TELEGRAM_REFUSED = "cli_telegram_refused"  # {reason}: Telegram's own words
    TELEGRAM_UNREACHABLE = "cli_telegram_unreachable"  # {api, reason}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(messages.one_line(error), file=sys.stderr)
        return 2
    i18n.set_language(settings.default_language)  # the command line speaks the default language
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO; that drowns the bot's own log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    log_masking.install(settings)
    try:
        return args.handler(settings, args) or 0
    except DomainError as error:  # MissingToken and TokenRejected too
        print(messages.plain(error), file=sys.stderr)
        return 2
    except TaxonomyError as error:
        print(error, file=sys.stderr)
        return 2
    except OSError as error:  # a file that is missing or unreadable: say which, no traceback
        print(f"crowdshelf: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crowdshelf", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="apply migrations and run the bot (long polling, or webhook mode when WEBHOOK_URL is set)"
    )
    run.add_argument(
        "--demo-without-token",
        action="store_true",
        help="without a BOT_TOKEN, show the demo instead of refusing (what `make run` does)",
    )
    run.set_defaults(handler=_run)

    demo = commands.add_parser(
        "demo", help="see the bot at work without Telegram: a simulated crowd labels a batch on a local server"
    )
    demo.add_argument("--workers", type=_count, default=DEMO.workers, help="simulated workers (default: %(default)s)")
    demo.add_argument(
        "--spammers",
        type=_count,
        default=DEMO.spammers,
        help="of the workers, spammers: random clickers, constant answerers, too-fast bots and copiers in turn "
        "(default: %(default)s)",
    )
    demo.add_argument(
        "--items", type=_count, help="products (default: the whole sample file; 120 drawn for the other types)"
    )
    demo.add_argument(
        "--seed", type=int, default=DEMO.seed, help="the same seed, the same crowd (default: %(default)s)"
    )
    demo.add_argument(
        "--type",
        dest="task_type",
        choices=tuple(registry.TYPES),
        default=DEMO.task_type,
        help="the task type (default: %(default)s, on the bundled sample; the others on products drawn for them)",
    )
    demo.add_argument(
        "--batch", type=Path, help="your own product file (CSV, JSON or JSON Lines) instead of the sample"
    )
    demo.add_argument("--caption", help="its settings, as a file's caption in the chat: reward=0.02 overlap=3 …")
    demo.add_argument("--keep", action="store_true", help="keep the database beside the results files")
    demo.set_defaults(handler=_demo)

    hook = commands.add_parser("webhook", help="Telegram's webhook, registered once per deploy")
    hooks = hook.add_subparsers(required=True, metavar="ACTION")
    set_hook = hooks.add_parser(
        "set", help="register WEBHOOK_URL with WEBHOOK_SECRET and the update types the bot handles"
    )
    set_hook.add_argument(
        "--max-connections",
        type=_connections,
        default=DEFAULT_MAX_CONNECTIONS,
        help=f"requests Telegram sends at once, 1-100 (default: {DEFAULT_MAX_CONNECTIONS})",
    )
    set_hook.add_argument("--drop-pending-updates", action="store_true", help="drop the updates Telegram holds")
    set_hook.set_defaults(handler=_webhook_set)
    hooks.add_parser("info", help="what Telegram has registered, and its last delivery error").set_defaults(
        handler=_webhook_info
    )
    delete_hook = hooks.add_parser("delete", help="remove the webhook (the bot can poll again)")
    delete_hook.add_argument("--drop-pending-updates", action="store_true", help="drop the updates Telegram holds")
    delete_hook.set_defaults(handler=_webhook_delete)

    db = commands.add_parser("db", help="database schema").add_subparsers(required=True, metavar="ACTION")
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(handler=_db_upgrade)
    check = db.add_parser(
        "check", help="report every broken invariant of the books (read-only, safe while the bot runs)"
    )
    check.add_argument(
        "--repair",
        action="store_true",
        help="first mend, in one transaction, what a half-written posting left: phantom payouts, "
        "transactions without entries, cached balances that differ from their entries",
    )
    check.set_defaults(handler=_db_check)

    taxonomy = commands.add_parser("taxonomy", help="category trees").add_subparsers(required=True, metavar="ACTION")
    load = taxonomy.add_parser(
        "load", help="load a taxonomy: Google `ID - A > B` text, CSV id,parent_id,name, or nested JSON"
    )
    load.add_argument("file", type=Path)
    load.add_argument("--name", required=True)
    load.set_defaults(handler=_taxonomy_load)

    batch = commands.add_parser("batch", help="batches of products").add_subparsers(required=True, metavar="ACTION")
    load_batch = batch.add_parser("load", help="load a CSV/JSON/JSONL product file as a funded, running batch")
    load_batch.add_argument("file", type=Path)
    load_batch.add_argument("--requester", type=int, required=True, help="the requester's Telegram user id")
    load_batch.add_argument("--taxonomy", default=DEFAULT_TAXONOMY_NAME)
    load_batch.add_argument(
        "--again", action="store_true", help="load a file the requester already loaded, as one more batch"
    )
    _add_setting_flags(load_batch)
    load_batch.set_defaults(handler=_batch_load)

    aggregate = commands.add_parser("aggregate", help="aggregate crowd answers (item,worker,answer CSV) into labels")
    aggregate.add_argument("answers", type=Path)
    aggregate.add_argument("--method", default="auto", choices=("auto", "ds", "one-coin", "mv"))
    aggregate.add_argument("--gold", type=Path, help="known answers: CSV item,answer")
    aggregate.add_argument(
        "--question", help="in the answers file of a type with several questions, the question's column to aggregate"
    )
    aggregate.add_argument("--out", type=Path, required=True, help="labels CSV to write: item,label,confidence,answers")
    aggregate.set_defaults(handler=_aggregate)

    payout = commands.add_parser("payouts", help="payout requests").add_subparsers(required=True, metavar="ACTION")
    export = payout.add_parser("export", help="write PayPal payouts as a PayPal mass-payout CSV")
    export.add_argument(
        "--status",
        default=PayoutStatus.APPROVED,
        choices=(PayoutStatus.REQUESTED, PayoutStatus.APPROVED, PayoutStatus.REJECTED),
    )
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    export.set_defaults(handler=_payouts_export)

    sandbox = commands.add_parser(
        "sandbox",
        help="try the bot without Telegram: a local Bot API server, the bot on a fresh database, and a web page "
        "to act as its admin, requester and workers",
    )
    sandbox.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 for the page and the Bot API")
    sandbox.set_defaults(handler=_sandbox)
    return parser


DEFAULT_MAX_CONNECTIONS = 40  # Telegram's own default
DEMO = DemoOptions()  # the demo's defaults, as `make run` without a token shows it


def _connections(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(messages.fill(messages.CLI_CONNECTIONS, text=text))
    return int(text)


SPEC_DEFAULTS = {field.name: field.default for field in dataclasses.fields(batches.BatchSpec)}
# The chat asks for a missing overlap with buttons; the command line cannot ask, so it takes this one.
CLI_OVERLAP = "3"


def setting_flag(key: str) -> str:
    """The command line's flag for a caption setting: `min_gold` → `--min-gold`."""
    return "--" + key.replace("_", "-")


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per caption setting, read and checked by the same model as the caption."""
    group = parser.add_argument_group("batch settings", "the settings a file's caption takes in the chat")
    for name, field in BatchSettings.model_fields.items():
        key = field.alias or name
        help_text = _(messages.SETTING_HELP[key]) + _default_note(key, name)
        if field.annotation == bool | None:
            group.add_argument(setting_flag(key), dest=key, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            group.add_argument(setting_flag(key), dest=key, metavar=key.upper(), help=help_text)


def _default_note(key: str, name: str) -> str:
    """A flag's default, from BatchSpec where the description does not say it in words."""
    if key == "overlap":
        return f" (default: {CLI_OVERLAP})"
    default = SPEC_DEFAULTS.get(name)
    if key == "reward" or "default" in messages.SETTING_HELP[key]:
        return ""
    if isinstance(default, bool):
        return f" (default: {str(default).lower()})"
    if isinstance(default, int | float):
        return f" (default: {default / MICROS if name.endswith('_micros') else default:g})"
    return ""


def _settings_given(args: argparse.Namespace) -> dict[str, str]:
    """The settings flags given, as the caption's texts (a yes/no flag as true or false)."""
    given = {key: getattr(args, key) for key in SETTING_KEYS if getattr(args, key) is not None}
    typed = {key: str(value).lower() if isinstance(value, bool) else value for key, value in given.items()}
    return {"overlap": CLI_OVERLAP} | typed


def wants_demo(settings: Settings, demo_without_token: bool) -> bool:
    """`make run` (`run --demo-without-token`) with no token shows the demo; with one it runs the bot."""
    return demo_without_token and not settings.has_token


def _run(settings: Settings, args: argparse.Namespace) -> int | None:
    if wants_demo(settings, args.demo_without_token):
        print(_(messages.CLI_DEMO_INSTEAD))
        return _start_demo(DEMO)
    settings.require_token()
    migrate.upgrade(settings.database_url)
    db = connect(settings.database_url, max_connections=settings.database_max_connections)
    application = build_application(build_services(settings, db))
    asyncio.run(serve(application))
    return None


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    options = DemoOptions(
        workers=args.workers,
        spammers=min(args.spammers, args.workers),
        items=args.items,
        seed=args.seed,
        task_type=args.task_type,
        batch=args.batch,
        caption=args.caption,
        keep=args.keep,
    )
    return _start_demo(options)


def _start_demo(options: DemoOptions) -> int:
    from rich.console import Console  # the demo's own dependencies load only for it

    from sandbox.demo import DemoFailed, run_demo

    logging.getLogger().setLevel(logging.WARNING)  # the bot's own log would scroll the progress away
    try:
        asyncio.run(run_demo(options, Console()))
    except DemoFailed as failed:
        print(messages.fill(messages.CLI_DEMO_FAILED, said=str(failed)), file=sys.stderr)
        return 2
    return 0


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(messages.fill(messages.CLI_COUNT, text=text))
    return int(text)


def _webhook_set(settings: Settings, args: argparse.Namespace) -> None:
    if not settings.webhook_url:
        raise DomainError(CliRefusal.WEBHOOK_URL_NEEDED)
    kinds = allowed_updates()

    async def register(bot: Bot) -> None:
        await bot.set_webhook(
            url=settings.webhook_url,
            secret_token=settings.webhook_secret,
            max_connections=args.max_connections,
            allowed_updates=kinds,
            drop_pending_updates=args.drop_pending_updates,
        )

    _with_bot(settings, register)
    print(
        messages.fill(
            messages.CLI_WEBHOOK_SET,
            updates=", ".join(kinds),
            url=settings.webhook_url,
            connections=args.max_connections,
        )
    )


def _webhook_info(settings: Settings, args: argparse.Namespace) -> None:
    async def read(bot: Bot) -> WebhookInfo:
        return await bot.get_webhook_info()

    info = _with_bot(settings, read)
    if not info.url:
        print(_(messages.CLI_WEBHOOK_NONE))
        return
    kinds = ", ".join(info.allowed_updates) if info.allowed_updates else "-"
    print(
        messages.fill(
            messages.CLI_WEBHOOK_INFO,
            url=info.url,
            pending=info.pending_update_count,
            connections=info.max_connections,
            updates=kinds,
        )
    )
    if info.last_error_message and info.last_error_date:
        when = formatting.moment(info.last_error_date)
        print(messages.fill(messages.CLI_WEBHOOK_LAST_ERROR, message=info.last_error_message, when=when))


def _webhook_delete(settings: Settings, args: argparse.Namespace) -> None:
    async def remove(bot: Bot) -> None:
        await bot.delete_webhook(drop_pending_updates=args.drop_pending_updates)

    _with_bot(settings, remove)
    print(_(messages.CLI_WEBHOOK_DELETED))


def _with_bot(settings: Settings, call: Callable[[Bot], Awaitable[T]]) -> T:
    """One call to the Bot API, its refusal or an outage said in one line."""
    api = settings.telegram_api_url.rstrip("/")
    bot = Bot(settings.require_token(), base_url=f"{api}/bot", base_file_url=f"{api}/file/bot")

    async def run() -> T:
        async with bot:
            return await call(bot)

    try:
        return asyncio.run(run())
    except InvalidToken:
        token = log_masking.mask(bot.token, log_masking.secrets_of(settings))
        raise TokenRejected(token=token) from None
    except BadRequest as error:  # python-telegram-bot counts it a network error; it is Telegram's answer
        raise DomainError(CliRefusal.TELEGRAM_REFUSED, reason=error.message) from None
    except NetworkError as error:  # TimedOut and Telegram's 5xx too
        raise DomainError(CliRefusal.TELEGRAM_UNREACHABLE, api=api, reason=str(error)) from None
    except TelegramError as error:
        raise DomainError(CliRefusal.TELEGRAM_REFUSED, reason=error.message) from None


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> None:
    migrate.upgrade(settings.database_url)
    print(_(messages.CLI_UP_TO_DATE))


def _db_check(settings: Settings, args: argparse.Namespace) -> int:
    currency = settings.currency

    async def check() -> list[str]:
        db = connect(settings.database_url)
        try:
            async with db.engine.connect() as connection:
                migrated = await connection.run_sync(lambda sync: inspect(sync).has_table("ledger_transactions"))
            if not migrated:
                raise DomainError(CliRefusal.NO_TABLES)
            if not args.repair:
                async with db.snapshot() as session:
                    return await books.problems(session)
            async with db.write() as session:
                plan = await books.plan_repair(session)
                _print_repair(plan, currency)
                await books.repair(session, plan, SystemClock().now())
                return await books.problems(session)
        finally:
            await db.dispose()

    found = asyncio.run(check())
    for problem in found:
        print(problem)
    if not found:
        print(_(messages.CLI_BOOKS_SOUND))
        return 0
    print(messages.fill(messages.CLI_BROKEN_AFTER_REPAIR if args.repair else messages.CLI_BROKEN, count=len(found)))
    return 1


def _print_repair(plan: books.Repair, currency: str) -> None:
    """The change about to be made, before it is made (in the same transaction)."""
    if not plan:
        print(_(messages.CLI_NOTHING_TO_REPAIR))
        return
    print(_(messages.CLI_REPAIRING))
    for phantom in plan.phantoms:
        amount = formatting.money(phantom.amount_micros, currency)
        print(
            messages.fill(
                messages.CLI_REJECT_PHANTOM, payout=phantom.payout_id, worker=phantom.worker_id, amount=amount
            )
        )
    for transaction_id, key in plan.empty_transactions:
        print(messages.fill(messages.CLI_DELETE_EMPTY, transaction=transaction_id, key=key))
    for account in plan.balances:
        before, after = formatting.money(account.cached, currency), formatting.money(account.total, currency)
        print(
            messages.fill(
                messages.CLI_SET_BALANCE, kind=account.kind, owner=account.owner_id, before=before, after=after
            )
        )


def _taxonomy_load(settings: Settings, args: argparse.Namespace) -> None:
    nodes = parse_file(args.file)
    migrate.upgrade(settings.database_url)

    async def store() -> int:
        db = connect(settings.database_url)
        try:
            async with db.write() as session:
                return await taxonomies.store(session, args.name, nodes, str(args.file.name))
        finally:
            await db.dispose()

    taxonomy_id = asyncio.run(store())
    print(messages.fill(messages.CLI_TAXONOMY_LOADED, name=args.name, id=taxonomy_id, count=len(nodes)))


def _batch_load(settings: Settings, args: argparse.Namespace) -> None:
    spec = batches.spec_of(BatchSettings.read(_settings_given(args), named=setting_flag), args.file.stem)
    if spec.missing:
        raise DomainError(CliRefusal.SETTING_NEEDED, flags=[setting_flag(key) for key in spec.missing])
    data = args.file.read_bytes()
    rows = batch_files.read_rows(data, args.file.name)
    source_hash = batches.content_hash(data)
    migrate.upgrade(settings.database_url)

    async def load() -> tuple[int, int, batches.Cost]:
        db = connect(settings.database_url)
        try:
            if args.taxonomy == DEFAULT_TAXONOMY_NAME:
                await taxonomies.ensure_default(db)
            async with db.write() as session:
                taxonomy_id = await taxonomies.find_by_name(session, args.taxonomy)
                if taxonomy_id is None:
                    raise DomainError(CliRefusal.NO_TAXONOMY, name=args.taxonomy)
                earlier = await batches.loaded_before(session, args.requester, source_hash)
                if earlier is not None and not args.again:
                    raise DomainError(CliRefusal.LOADED_BEFORE, requester=args.requester, batch_id=earlier)
                tree = await taxonomies.read_tree(session, taxonomy_id)
                batch = await batches.load_funded_batch(
                    session,
                    args.requester,
                    taxonomy_id,
                    tree,
                    spec,
                    rows,
                    settings.currency,
                    SystemClock().now(),
                    args.file.name,
                    source_hash,
                )
                loaded = batch.id, batch.item_count, await batches.cost_of(session, batch)
            await batches.items_opened(db)
            return loaded
        finally:
            await db.dispose()

    batch_id, items, cost = asyncio.run(load())
    reserved = formatting.money(cost.total, settings.currency)
    print(messages.fill(messages.CLI_BATCH_LOADED, id=batch_id, name=spec.name, items=items, amount=reserved))
    print(_(messages.CLI_COST))
    for line in texts.cost_lines(cost, settings.currency):
        print(f"  {line}")


def _aggregate(settings: Settings, args: argparse.Namespace) -> None:
    answers = aggregation_files.read_answers_csv(_text_of(args.answers), args.question)
    gold = aggregation_files.read_gold_csv(_text_of(args.gold)) if args.gold else None
    labels = aggregation.aggregate(answers, method=args.method, gold=gold)
    args.out.write_text(aggregation_files.labels_csv(labels), encoding="utf-8")
    print(messages.fill(messages.CLI_AGGREGATED, labels=len(labels), answers=len(answers), out=args.out))


def _text_of(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(batch_files.FileRefusal.NOT_UTF8, byte=error.start) from None


def _payouts_export(settings: Settings, args: argparse.Namespace) -> None:
    async def export() -> str:
        db = connect(settings.database_url)
        try:
            async with db.read() as session:
                found = await payouts.queue(session, status=args.status, limit=1_000_000)
        finally:
            await db.dispose()
        return payouts.paypal_mass_payout_csv(found, settings.currency, texts.PAYPAL_NOTE)

    migrate.upgrade(settings.database_url)
    content = asyncio.run(export())
    if args.out is None:
        sys.stdout.write(content)
    else:
        args.out.write_text(content, encoding="utf-8")
        print(messages.fill(messages.CLI_PAYOUTS_WRITTEN, count=content.count(chr(10)), out=args.out), file=sys.stderr)


def _sandbox(settings: Settings, args: argparse.Namespace) -> None:
    from sandbox import live  # the sandbox's own dependencies load only for this command

    live.run(settings, args.port)


if __name__ == "__main__":
    sys.exit(main())
