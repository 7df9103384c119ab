"""Vendor the slice of the Telegram Bot API schema that the fake server emulates.

Usage::

    python -m sandbox.vendor_schema SOURCE.json [OUTPUT.json]

SOURCE.json is a machine-readable Bot API description with the layout
``{"version": ..., "methods": {name: {name, fields: [...], returns}}, "types": {...}}``
where every field is ``{name, types: [...], required, description}`` and union types
list their members under ``subtypes``.

The script keeps only the methods the fake server implements (``METHODS``) plus every
type reachable from their parameters (recursively, through fields and union members),
and only the structural keys (names, field types, required flags, union members).
Descriptions are dropped to keep the file small.  OUTPUT defaults to
``bot_api_schema.json`` next to this script.

Union members are told apart by their ``type`` field.  The fake server derives the
expected value from the member's name (``InputMediaLivePhoto`` -> ``live_photo``); this
script checks that convention against the descriptions ("must be live_photo") so that a
future schema that breaks it fails here rather than in a test.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

METHODS = [
    "getMe",
    "getUpdates",
    "setWebhook",
    "getWebhookInfo",
    "deleteWebhook",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "sendMessage",
    "sendPhoto",
    "sendDocument",
    "sendChatAction",
    "editMessageText",
    "editMessageCaption",
    "editMessageMedia",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "getFile",
    "close",
    "logOut",
]

DEFAULT_OUTPUT = Path(__file__).with_name("bot_api_schema.json")


def base_type(type_name: str) -> str:
    """``Array of Array of PhotoSize`` -> ``PhotoSize``."""
    while type_name.startswith("Array of "):
        type_name = type_name[len("Array of ") :]
    return type_name


def discriminator(union: str, member: str) -> str:
    """Value of the ``type`` field of a union member, derived from the names."""
    suffix = member[len(union) :] if member.startswith(union) else member
    return re.sub(r"(?<!^)(?=[A-Z])", "_", suffix).lower()


def slim_fields(fields: list[dict]) -> list[dict]:
    return [{"name": f["name"], "types": list(f["types"]), "required": bool(f["required"])} for f in fields]


def description_text(field: dict) -> str:
    desc = field.get("description", "")
    return " ".join(desc) if isinstance(desc, list) else str(desc)


def check_discriminators(source_types: dict, union: str, members: list[str]) -> None:
    for member in members:
        fields = {f["name"]: f for f in source_types[member].get("fields", [])}
        if "type" not in fields:
            raise SystemExit(f"union member {member} of {union} has no 'type' field")
        expected = discriminator(union, member)
        match = re.search(r"must be ([A-Za-z_]+)", description_text(fields["type"]))
        if not match or match.group(1) != expected:
            found = match.group(1) if match else None
            raise SystemExit(
                f"{member}.type: description says {found!r}, the naming convention gives "
                f"{expected!r}; teach the fake server about this union"
            )


def vendor(source: dict) -> dict:
    source_methods = source["methods"]
    source_types = source["types"]

    missing = [m for m in METHODS if m not in source_methods]
    if missing:
        raise SystemExit(f"methods missing from the source schema: {missing}")

    methods = {}
    todo: list[str] = []
    for name in METHODS:
        entry = source_methods[name]
        fields = slim_fields(entry.get("fields", []))
        methods[name] = {"name": name, "fields": fields}
        todo.extend(base_type(t) for f in fields for t in f["types"])

    types: dict[str, dict] = {}
    while todo:
        name = todo.pop()
        if name in types or name not in source_types:
            continue  # already done, or a primitive (Integer, String, ...)
        entry = source_types[name]
        slim: dict = {"name": name, "fields": slim_fields(entry.get("fields", []))}
        if entry.get("subtypes"):
            slim["subtypes"] = list(entry["subtypes"])
            check_discriminators(source_types, name, slim["subtypes"])
            todo.extend(slim["subtypes"])
        types[name] = slim
        todo.extend(base_type(t) for f in slim["fields"] for t in f["types"])

    return {
        "version": source.get("version"),
        "methods": methods,
        "types": dict(sorted(types.items())),
    }


def render(vendored: dict) -> str:
    """Stable JSON with one field per line: small, and readable in a diff."""

    def dump(value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    def entry(item: dict) -> list[str]:
        head = {k: v for k, v in item.items() if k != "fields"}
        opening = "  " + dump(item["name"]) + ": " + dump(head)[:-1] + ', "fields": ['
        if not item["fields"]:
            return [opening + "]},"]
        lines = [opening]
        lines += ["   " + dump(f) + "," for f in item["fields"]]
        lines[-1] = lines[-1][:-1]
        lines.append("  ]},")
        return lines

    out = ["{", ' "version": ' + dump(vendored["version"]) + ","]
    for section in ("methods", "types"):
        out.append(" " + dump(section) + ": {")
        body = [line for item in vendored[section].values() for line in entry(item)]
        if body:
            body[-1] = body[-1][:-1]
        out += body
        out.append(" }" + ("," if section == "methods" else ""))
    out.append("}")
    text = "\n".join(out) + "\n"
    assert json.loads(text) == vendored  # the hand-rolled layout must stay valid JSON
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="full Bot API schema (JSON)")
    parser.add_argument("output", type=Path, nargs="?", default=DEFAULT_OUTPUT, help="vendored schema to write")
    args = parser.parse_args(argv)

    source = json.loads(args.source.read_text(encoding="utf-8"))
    vendored = vendor(source)
    args.output.write_text(render(vendored), encoding="utf-8")
    print(
        f"wrote {args.output.name}: {len(vendored['methods'])} methods, "
        f"{len(vendored['types'])} types ({vendored['version']})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
