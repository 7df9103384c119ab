"""The `crowdshelf` command, run in-process: exit codes, messages, and what ends up in the database."""

import json
import sqlite3
from pathlib import Path

import pytest

from bot.batches import lifecycle as batches
from bot.batches.settings import BatchSettings
from bot.wiring import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kitchen.csv"
KITCHEN = "Home & Garden > Kitchen & Dining"
CONFIG_KEYS = ("BOT_TOKEN", "DATABASE_URL", "ADMIN_IDS", "REQUESTER_IDS", "CURRENCY", "PAYOUT_THRESHOLD", "LOG_LEVEL")


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SQLite file as DATABASE_URL; the working directory has no .env to leak settings in."""
    for key in CONFIG_KEYS:
        monkeypatch.delenv(key, raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    path = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    return path


def run(*argv: str) -> int:
    try:
        return cli.main(list(argv))
    except SystemExit as exit:  # argparse errors exit instead of returning
        return exit.code if isinstance(exit.code, int) else 1


def query(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def count(path: Path, table: str) -> int:
    return query(path, f"SELECT count(*) FROM {table}")[0][0]


def tables(path: Path) -> set[str]:
    return {name for (name,) in query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.mark.parametrize("token", [None, "", "changeme"])
def test_run_without_token_explains_in_one_line(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], token: str | None
) -> None:
    """`run` without a usable BOT_TOKEN exits 2 with one line pointing at @BotFather, no traceback,
    and does not touch the database."""
    if token is not None:
        monkeypatch.setenv("BOT_TOKEN", token)
    assert run("run") == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "@BotFather" in lines[0] and "BOT_TOKEN" in lines[0]
    assert "Traceback" not in out + err
    assert not database.exists()


def test_db_upgrade_creates_schema(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`db upgrade` creates every table and is safe to run twice."""
    assert run("db", "upgrade") == 0
    assert run("db", "upgrade") == 0
    assert {
        "users",
        "taxonomies",
        "taxonomy_nodes",
        "batches",
        "items",
        "assignments",
        "accounts",
        "ledger_transactions",
        "ledger_entries",
        "alembic_version",
    } <= tables(database)
    assert "up to date" in capsys.readouterr().out


GOOGLE = "# a comment\n1 - Kitchen\n2 - Kitchen > Pans\n3 - Kitchen > Pans > Woks\n4 - Garden\n"
CSV = "id,parent_id,name\n1,,Kitchen\n2,1,Pans\n3,2,Woks\n4,,Garden\n"
JSON = json.dumps(
    [
        {"id": 1, "name": "Kitchen", "children": [{"id": 2, "name": "Pans", "children": [{"id": 3, "name": "Woks"}]}]},
        {"id": 4, "name": "Garden"},
    ],
    indent=2,
)


@pytest.mark.parametrize(("filename", "content"), [("google.txt", GOOGLE), ("tree.csv", CSV), ("tree.json", JSON)])
def test_taxonomy_load_formats(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], filename: str, content: str
) -> None:
    """`taxonomy load` reads Google text, CSV and nested JSON, prints the number of categories and stores them."""
    file = tmp_path / filename
    file.write_text(content, encoding="utf-8")
    assert run("taxonomy", "load", str(file), "--name", "shop") == 0
    out = capsys.readouterr().out
    assert "'shop'" in out and "4 categories" in out
    assert query(database, "SELECT name, node_count FROM taxonomies") == [("shop", 4)]
    assert sorted(query(database, "SELECT id, parent_id, name FROM taxonomy_nodes")) == [
        (1, None, "Kitchen"),
        (2, 1, "Pans"),
        (3, 2, "Woks"),
        (4, None, "Garden"),
    ]


@pytest.mark.parametrize(
    ("filename", "content", "lines"),
    [
        ("bad.txt", "1 - Kitchen\nnot a category line\n3 - Kitchen > Pans\nx - Garden\n", ["line 2", "line 4"]),
        ("bad.csv", "id,parent_id,name\n1,,Kitchen\nabc,1,Pans\n3,1,\n", ["line 3", "line 4"]),
        ("bad.json", '[\n  {"id": 1, "name": "Kitchen"},\n  {"id": 2}\n]\n', ["line 3"]),
        ("orphan.txt", "1 - Kitchen\n2 - Garden > Tools\n", ["line 2"]),
    ],
)
def test_malformed_taxonomy_reports_lines_and_stores_nothing(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], filename: str, content: str, lines: list[str]
) -> None:
    """A malformed taxonomy file exits non-zero naming the bad lines, without a traceback, and stores nothing."""
    assert run("db", "upgrade") == 0
    file = tmp_path / filename
    file.write_text(content, encoding="utf-8")
    assert run("taxonomy", "load", str(file), "--name", "shop") != 0
    out, err = capsys.readouterr()
    for line in lines:
        assert line in err
    assert "Traceback" not in out + err
    assert count(database, "taxonomies") == 0 and count(database, "taxonomy_nodes") == 0


def test_duplicate_taxonomy_name_refused(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Loading a second taxonomy under a name already taken is refused and keeps the first intact."""
    file = tmp_path / "tree.csv"
    file.write_text(CSV, encoding="utf-8")
    assert run("taxonomy", "load", str(file), "--name", "shop") == 0
    other = tmp_path / "other.txt"
    other.write_text("10 - Toys\n", encoding="utf-8")
    assert run("taxonomy", "load", str(other), "--name", "shop") != 0
    assert "already exists" in capsys.readouterr().err
    assert count(database, "taxonomies") == 1 and count(database, "taxonomy_nodes") == 4


def test_batch_load_example(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The repository's example file loads as a funded, active batch under the kitchen root."""
    code = run(
        "batch",
        "load",
        str(EXAMPLE),
        "--requester",
        "9001",
        "--reward",
        "0.02",
        "--overlap",
        "3",
        "--root",
        KITCHEN,
        "--name",
        "Kitchen demo",
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    products = len(EXAMPLE.read_text(encoding="utf-8").strip().splitlines()) - 1
    assert f"{products} products" in out and "'Kitchen demo'" in out
    # 9 products × 3 answers, plus gold: with no per-worker cap, a crowd of 10 workers × a 3-question
    # quiz, and 27 × 0.1 / 0.9 = 3 checks plus one per worker.
    reserve = 20_000 * ((products - 3) * 3 + 10 * 3 + 3 + 10)
    assert f"${reserve / 1e6:.2f} reserved" in out
    # the cost breakdown the chat's preview shows
    assert f"{products - 3} products × 3 answers × $0.02" in out
    assert "+ up to 30 quiz answers and 13 checks on your 3 gold items × $0.02" in out
    assert f"= ${reserve / 1e6:.2f} at most" in out
    assert query(database, "SELECT status, item_count, root_node_id FROM batches") == [("active", products, 638)]
    assert count(database, "items") == products
    assert query(database, "SELECT balance FROM accounts WHERE kind = 'requester_reserved' AND owner_id = 9001") == [
        (reserve,)
    ]
    gold = query(database, "SELECT external_id, gold FROM items WHERE gold IS NOT NULL ORDER BY external_id")
    assert [item for item, _ in gold] == ["sku-003", "sku-004", "sku-008"]
    assert json.loads(dict(gold)["sku-008"]) == {"category": "662"}  # given as a full path in the file
    assert query(database, "SELECT external_id FROM items WHERE is_gold ORDER BY external_id") == [
        (item,) for item, _ in gold
    ]


def test_batch_load_bad_file_names_rows(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A product file with bad rows exits non-zero, names each bad row and why, and stores no batch."""
    file = tmp_path / "bad.csv"
    file.write_text(
        "item_id,title,image_url\nsku-1,Skillet,\nsku-2,,\nsku-1,Again,\nsku-4,Wok,not-a-url\n", encoding="utf-8"
    )
    code = run(
        "batch", "load", str(file), "--requester", "9001", "--reward", "0.02", "--root", KITCHEN, "--name", "Bad"
    )
    out, err = capsys.readouterr()
    assert code != 0
    assert "Line 3: title is empty" in err
    assert "Line 4: item_id 'sku-1' repeats line 2" in err
    assert "Line 5: image_url" in err
    assert "Traceback" not in out + err
    assert count(database, "batches") == 0 and count(database, "items") == 0 and count(database, "ledger_entries") == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--reward", "abc"], "--reward"),
        (["--reward", "-0.02"], "--reward"),
        (["--reward", "0.02", "--overlap", "0"], "overlap"),
        (["--reward", "0.02", "--root", "No Such Category"], "root"),
        (["--reward", "0.02", "--taxonomy", "missing"], "No taxonomy named 'missing'"),
    ],
)
def test_batch_load_bad_options(
    database: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    """Bad settings on the command line exit non-zero with a message naming the setting."""
    code = run("batch", "load", str(EXAMPLE), "--requester", "9001", "--name", "K", *options)
    assert code != 0
    assert message in capsys.readouterr().err
    if database.exists() and "batches" in tables(database):
        assert count(database, "batches") == 0


# A text each caption setting takes (not its default), to give as a caption and as a flag.
SETTING_TEXTS = {
    "type": "validate",
    "reward": "0.05",
    "overlap": "4",
    "gold_rate": "0.2",
    "root": KITCHEN,
    "name": "Pans and pots",
    "leaf_only": "false",
    "confidence": "0.9",
    "min_overlap": "2",
    "instructions": "Look at the photo first",
    "min_gold": "3",
    "min_accuracy": "0.8",
    "min_seconds": "2.5",
    "max_share": "0.5",
    "min_level": "expert",
    "qualification": "2",
    "pass": "0.6",
    "retry_hours": "12",
    "bonus_qualified": "0.01",
    "bonus_expert": "0.02",
    # The types' own settings: kept as typed here, read by the batch's type when it is checked.
    "correct": "true",
    "attributes": "color:black|white|other; material:steel|wood; brand:text",
    "questions": "blurry,logo:Is there a logo?",
}


def flags_spec(*argv: str) -> batches.BatchSpec:
    """The spec `crowdshelf batch load FILE --requester 1 ARGV…` would load."""
    args = cli._parser().parse_args(["batch", "load", "products.csv", "--requester", "1", *argv])
    return batches.spec_of(BatchSettings.read(cli._settings_given(args)), "products")


@pytest.mark.parametrize("key", BatchSettings.keys())
def test_every_caption_setting_is_a_flag(key: str) -> None:
    """Each setting a caption takes is a `batch load` flag, read into the same spec as the caption's."""
    text = SETTING_TEXTS[key]
    argv = ["--no-leaf-only"] if key == "leaf_only" else [cli.setting_flag(key), text]
    from_caption = batches.parse_settings(f'overlap=3 {key}="{text}"', "products")
    assert flags_spec(*argv) == from_caption != batches.parse_settings("overlap=3", "products")


def test_setting_texts_cover_every_setting() -> None:
    assert set(SETTING_TEXTS) == set(BatchSettings.keys())


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["--overlap", "2.5"], "--overlap must be a whole number, e.g. 3"),
        (["--min-gold", "-5"], "--min-gold must not be negative"),
        (["--min-level", "boss"], "--min-level must be one of newcomer, qualified, expert"),
        (["--pass", "80%"], "--pass must be a number, e.g. 0.5"),
    ],
)
def test_batch_load_names_the_flag_as_the_caption_names_the_key(
    database: Path, capsys: pytest.CaptureFixture[str], options: list[str], problem: str
) -> None:
    """A bad flag is refused in the caption's words, naming the flag, and nothing is stored."""
    assert run("batch", "load", str(EXAMPLE), "--requester", "9001", "--reward", "0.02", *options) == 2
    _out, err = capsys.readouterr()
    assert err.splitlines() == ["Some settings are not valid.", problem]
    assert not database.exists() or count(database, "batches") == 0


def test_batch_load_without_reward_names_the_flag(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The chat asks for a missing reward with buttons; the command line says which flag to give."""
    assert run("batch", "load", str(EXAMPLE), "--requester", "9001") == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--reward" in line


def test_batch_load_takes_the_file_name_as_the_chat_does(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("batch", "load", str(EXAMPLE), "--requester", "9001", "--reward", "0.02") == 0
    assert query(database, "SELECT name, source_name, overlap FROM batches") == [("kitchen", "kitchen.csv", 3)]


def test_same_file_twice_needs_again(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same content for the same requester, under any name, is refused in one line naming --again;
    with --again it loads; another requester's load of it is not refused."""
    load = ("batch", "load", "--reward", "0.02", "--root", KITCHEN)
    assert run(*load, str(EXAMPLE), "--requester", "9001") == 0
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(EXAMPLE.read_bytes())
    capsys.readouterr()
    assert run(*load, str(copy), "--requester", "9001") == 2
    _out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert "--again" in line and "batch 1" in line
    assert count(database, "batches") == 1
    assert run(*load, str(copy), "--requester", "9001", "--again") == 0
    assert run(*load, str(EXAMPLE), "--requester", "9002") == 0
    assert query(database, "SELECT id, requester_id, status FROM batches ORDER BY id") == [
        (1, 9001, "active"),
        (2, 9001, "active"),
        (3, 9002, "active"),
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["taxonomy", "load", "missing.txt", "--name", "shop"],
        ["batch", "load", "missing.csv", "--requester", "9001", "--reward", "0.02", "--name", "K"],
    ],
    ids=["taxonomy", "batch"],
)
def test_missing_file_is_reported_not_raised(
    database: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """A file that does not exist gives a non-zero exit and a message naming the file, not an exception."""
    assert run(*argv) != 0
    assert "missing." in capsys.readouterr().err


def test_aggregate_answers_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The public truth-inference header is accepted; gold clamps; the labels file has the documented columns."""
    answers = tmp_path / "answers.csv"
    answers.write_text("question,worker,answer\nq1,a,1\nq1,b,1\nq1,c,0\nq2,a,0\nq2,b,0\nq2,c,1\n")
    gold = tmp_path / "gold.csv"
    gold.write_text("item,answer\nq2,1\n")
    out = tmp_path / "labels.csv"
    assert run("aggregate", str(answers), "--method", "mv", "--gold", str(gold), "--out", str(out)) == 0
    assert "Wrote 2 labels from 6 answers" in capsys.readouterr().out
    lines = out.read_text().splitlines()
    assert lines[0] == "item,label,confidence,answers"
    assert lines[1].startswith("q1,1,0.66") and lines[2].startswith("q2,1,1.0")


def test_aggregate_refuses_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = tmp_path / "answers.csv"
    answers.write_text("item,who\nq1,a\n")
    assert run("aggregate", str(answers), "--out", str(tmp_path / "labels.csv")) == 2
    assert "worker" in capsys.readouterr().err


def test_aggregate_refuses_a_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bytes that are not UTF-8 are a one-line refusal saying where, not a traceback."""
    answers = tmp_path / "answers.csv"
    answers.write_bytes(b"item,worker,answer\nq1,w1,caf\xe9\n")
    assert run("aggregate", str(answers), "--out", str(tmp_path / "labels.csv")) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("The file is not UTF-8 text (byte 28 cannot be read).")


def test_payouts_export_writes_paypal_rows(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("db", "upgrade") == 0
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO users (id, first_name, is_requester, is_reachable, created_at, last_seen_at, breaks_enabled,"
            " gold_answers, gold_correct, level) VALUES (7, 'W', 0, 1, '2026-01-01', '2026-01-01', 1, 0, 0, 0)"
        )
        connection.executemany(
            "INSERT INTO payouts (worker_id, amount_micros, method_kind, method_address, status, requested_at)"
            " VALUES (7, ?, ?, ?, ?, '2026-01-01')",
            [
                (12_340_000, "paypal", "w@example.com", "approved"),
                (5_000_000, "iban", "DE89 3704 0044 0532 0130 00", "approved"),
                (9_000_000, "paypal", "w@example.com", "requested"),
                (1_000_000, "paypal", "=1+1@example.com", "approved"),
            ],
        )
    out = tmp_path / "paypal.csv"
    assert run("payouts", "export", "--status", "approved", "--out", str(out)) == 0
    assert out.read_text() == (
        "w@example.com,12.34,USD,crowdshelf-1,crowdshelf earnings\n"
        "'=1+1@example.com,1.00,USD,crowdshelf-4,crowdshelf earnings\n"  # a formula-like address stays text
    )
    assert "Wrote 2 PayPal payouts" in capsys.readouterr().err
