#!/usr/bin/env python3
"""Check hallwatch's MQTT payload schemas and the examples that document them.

Run from anywhere:  python3 mqtt/check_schemas.py
Needs:              pip install jsonschema rfc3339-validator

It checks that
  * every schema in schemas/ is valid JSON Schema draft 2020-12 and carries $id,
    title, description and examples, and never forbids additional properties
    (the contract says unknown fields are ignored);
  * every schema example validates, also with an unknown field added;
  * every JSON payload in README.md validates against its schema: ```json blocks
    (each preceded by a `<!-- schema: NAME -->` line), the payloads of the
    mosquitto_pub commands in ```sh blocks (matched to a schema by topic, will
    payloads included), and inline `{"...}` snippets;
  * every topic in the README's mosquitto commands is a topic of the contract;
  * every payload fits in 4096 bytes;
  * a list of known-bad payloads is refused by its schema.

Exits 1 on any problem, 0 otherwise.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

try:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
except ImportError:  # pragma: no cover - a setup problem, not a check failure
    sys.exit("jsonschema is missing: pip install jsonschema rfc3339-validator")

HERE = Path(__file__).resolve().parent
SCHEMA_DIR = HERE / "schemas"
README = HERE / "README.md"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://hallwatch.invalid/schemas/"
MAX_PAYLOAD = 4096

EXPECTED = [
    "kiosk-request", "kiosk-reply", "window-command", "window-reply", "window-state",
    "rating", "rating-reply", "device-status", "call", "summary", "alert",
]

# Topic templates of the contract, with the default prefix. "{id}" is a hall,
# kiosk, window or device id: [A-Za-z0-9_-]{1,32}.
TOPICS = {
    "{prefix}/{id}/kiosk/{id}/request": "kiosk-request",
    "{prefix}/{id}/kiosk/{id}/reply": "kiosk-reply",
    "{prefix}/{id}/window/{id}/command": "window-command",
    "{prefix}/{id}/window/{id}/reply": "window-reply",
    "{prefix}/{id}/window/{id}/state": "window-state",
    "{prefix}/{id}/rater/{id}/rating": "rating",
    "{prefix}/{id}/rater/{id}/reply": "rating-reply",
    "{prefix}/{id}/device/{id}/status": "device-status",
    "{prefix}/{id}/call": "call",
    "{prefix}/{id}/summary": "summary",
    "{prefix}/{id}/alert": "alert",
    "{prefix}/{id}/case/{id}/event": "case-event",
    "{prefix}/{id}/case/{id}/reply": "case-reply",
    "{prefix}/{id}/card": "card",
    "{prefix}/{id}/audit/head": "audit-head",
}
PREFIX = "hallwatch"
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

# Payloads that must be refused: (schema, payload, why).
BAD = [
    ("kiosk-request", {"id": "k1-1"}, "no service"),
    ("kiosk-request", {"id": "k1-1", "service": "SB", "priority": "vip"}, "priority vip"),
    ("kiosk-request", {"id": "k1-1", "service": "SB", "priority": "appointment"}, "appointment priority without booking ref"),
    ("kiosk-request", {"id": "k1-1", "service": "SB", "priority": "appointment", "appointment": None}, "appointment priority with null booking ref"),
    ("kiosk-request", {"id": "", "service": "SB"}, "empty id"),
    ("kiosk-request", {"id": "k" * 65, "service": "SB"}, "id over 64 chars"),
    ("kiosk-request", {"service": "SB"}, "no id"),
    ("kiosk-request", {"id": 123, "service": "SB"}, "numeric id"),
    ("kiosk-request", {"id": "k1-1", "service": 7}, "numeric service"),
    ("kiosk-request", {"id": "k1-1", "service": "SB", "at": "2026-11-22T09:00:01"}, "time without offset"),
    ("kiosk-request", {"id": "k1-1", "service": "SB", "at": "2026-11-22 09:00:01+08:00"}, "time with a space"),
    ("kiosk-request", ["k1-1", "SB"], "not an object"),
    ("kiosk-request", {"id": "k1\n1", "service": "SB"}, "control character in id"),
    ("kiosk-request", {"id": "k1-1", "service": "SB", "priority": "appointment", "appointment": "Y" * 65}, "booking ref over 64 chars"),
    ("kiosk-reply", {"request": "k1-1", "ok": True, "ticket": "B023"}, "ok without the ticket details"),
    ("kiosk-reply", {"request": "k1-1", "ok": False, "error": "unknown_service"}, "failure without message"),
    ("kiosk-reply", {"request": "k1-1", "ok": False, "error": "no_such_code", "message": "x"}, "unknown reason code"),
    ("kiosk-reply", {"ok": True, "ticket": "B023", "service": "SB", "service_name": "社会保障", "waiting_ahead": 0, "estimated_wait_s": 0, "issued_at": "2026-11-22T09:00:01+08:00"}, "no request id"),
    ("kiosk-reply", {"request": "k1-1", "ok": True, "ticket": "b023", "service": "SB", "service_name": "社会保障", "waiting_ahead": 0, "estimated_wait_s": 0, "issued_at": "2026-11-22T09:00:01+08:00"}, "lower-case ticket"),
    ("kiosk-reply", {"request": "k1-1", "ok": True, "ticket": "B23", "service": "SB", "service_name": "社会保障", "waiting_ahead": 0, "estimated_wait_s": 0, "issued_at": "2026-11-22T09:00:01+08:00"}, "two-digit ticket"),
    ("kiosk-reply", {"request": "k1-1", "ok": True, "ticket": "B023", "service": "SB", "service_name": "社会保障", "waiting_ahead": -1, "estimated_wait_s": 0, "issued_at": "2026-11-22T09:00:01+08:00"}, "negative waiting_ahead"),
    ("window-command", {"id": "w05-1", "op": "finish"}, "finish without outcome"),
    ("window-command", {"id": "w05-1", "op": "finish", "outcome": "done"}, "finish with unknown outcome"),
    ("window-command", {"id": "w05-1", "op": "finish", "outcome": "accepted", "case": "JL1"}, "case not an object"),
    ("window-command", {"id": "w05-1", "op": "finish", "outcome": "accepted", "case": {"promised_days": "5"}}, "promised_days as a string"),
    ("window-command", {"id": "w05-1", "op": "login"}, "login without staff"),
    ("window-command", {"id": "w05-1", "op": "login", "staff": ""}, "login with empty staff"),
    ("window-command", {"id": "w05-1", "op": "login", "staff": "S 001"}, "staff id with a space"),
    ("window-command", {"id": "w05-1", "op": "login", "staff": "S001", "staff_name": "李" * 33}, "staff_name over 32 chars"),
    ("window-command", {"id": "w05-1", "op": "finish", "outcome": "accepted", "case": {"item": "x", "promised_days": 5}}, "case without ref"),
    ("window-command", {"id": "w05-1", "op": "pause"}, "pause without reason"),
    ("window-command", {"id": "w05-1", "op": "pause", "reason": "lunch"}, "pause with unknown reason"),
    ("window-command", {"id": "w05-1", "op": "call"}, "call without ticket"),
    ("window-command", {"id": "w05-1", "op": "call", "ticket": "23"}, "call with malformed ticket"),
    ("window-command", {"id": "w05-1", "op": "transfer"}, "transfer without to_service"),
    ("window-command", {"id": "w05-1", "op": "call_last"}, "unknown op"),
    ("window-command", {"op": "call_next"}, "no id"),
    ("window-command", {"id": "w05-1"}, "no op"),
    ("window-reply", {"command": "w05-1", "ok": False}, "failure without error and message"),
    ("window-reply", {"command": "w05-1", "ok": True, "ticket": 23}, "numeric ticket"),
    ("window-reply", {"ok": True, "ticket": None}, "no command id"),
    ("window-state", {"window": "05", "status": "busy", "since": "2026-11-22T09:03:12+08:00", "served_today": 1, "benchmark": 25}, "unknown status"),
    ("window-state", {"window": "05", "status": "idle", "served_today": 1, "benchmark": 25}, "no since"),
    ("window-state", {"window": "05", "status": "idle", "since": "2026-11-22T09:03:12+08:00", "served_today": -1, "benchmark": 25}, "negative served_today"),
    ("window-state", {"window": "05", "status": "idle", "since": "2026-11-22T09:03:12+08:00", "served_today": 1, "benchmark": 0}, "benchmark 0"),
    ("window-state", {"window": "5号", "status": "idle", "since": "2026-11-22T09:03:12+08:00", "served_today": 1, "benchmark": 25}, "window id outside [A-Za-z0-9_-]"),
    ("rating", {"id": "r05-1", "ticket": "B023", "score": 6}, "score 6"),
    ("rating", {"id": "r05-1", "ticket": "B023", "score": 0}, "score 0"),
    ("rating", {"id": "r05-1", "score": "5"}, "score as a string"),
    ("rating", {"id": "r05-1", "score": 4.5}, "fractional score"),
    ("rating", {"id": "r05-1", "ticket": "B023"}, "no score"),
    ("rating", {"id": "r05-1", "score": 3, "comment": "好" * 501}, "comment over 500 chars"),
    ("rating", {"id": "r05-1", "ticket": "023", "score": 5}, "ticket without prefix"),
    ("rating-reply", {"rating": "r05-1", "ok": True}, "success without ticket and score"),
    ("rating-reply", {"rating": "r05-1", "ok": False, "error": "rated", "message": "x"}, "unknown reason code"),
    ("rating-reply", {"rating": "r05-1", "ok": False, "message": "x"}, "failure without error"),
    ("device-status", {"online": "yes"}, "online as a string"),
    ("device-status", {}, "no online"),
    ("call", {"type": "call", "ticket": "B023", "window": "05", "window_name": "5号窗口", "service": "SB", "at": "2026-11-22T09:03:00+08:00"}, "no recall"),
    ("call", {"type": "queue", "ticket": "B023", "window": "05", "window_name": "5号窗口", "service": "SB", "at": "2026-11-22T09:03:00+08:00", "recall": False}, "wrong type"),
    ("call", {"type": "call", "ticket": "B023", "window": "05", "service": "SB", "at": "2026-11-22T09:03:00+08:00", "recall": False}, "no window_name"),
    ("summary", {"at": "2026-11-22T09:30:00+08:00"}, "no hall"),
    ("summary", {"hall": "jl center", "at": "2026-11-22T09:30:00+08:00"}, "hall id with a space"),
    ("summary", {"hall": "jl-center", "at": "2026-11-22T09:30:00+08:00", "waiting": {"SB": -1}}, "negative waiting count"),
    ("alert", {"type": "alert", "id": "a1", "rule": "wait_timeout", "severity": "major", "state": "open", "hall": "jl-center", "message": "x", "opened_at": "2026-11-22T09:31:01+08:00", "updated_at": "2026-11-22T09:31:01+08:00"}, "unknown severity"),
    ("alert", {"type": "alert", "id": "a1", "rule": "wait_timeout", "severity": "warning", "state": "closed", "hall": "jl-center", "message": "x", "opened_at": "2026-11-22T09:31:01+08:00", "updated_at": "2026-11-22T09:31:01+08:00"}, "unknown state"),
    ("alert", {"type": "alert", "id": "a1", "severity": "warning", "state": "open", "hall": "jl-center", "message": "x", "opened_at": "2026-11-22T09:31:01+08:00", "updated_at": "2026-11-22T09:31:01+08:00"}, "no rule"),
]


class Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.passed = 0
        self.schemas: dict[str, dict] = {}
        self.validators: dict[str, Draft202012Validator] = {}
        self.format_checker = Draft202012Validator.FORMAT_CHECKER
        # Without rfc3339-validator, jsonschema silently accepts any date-time.
        self.date_time_checked = not self.format_checker.conforms("not a time", "date-time")

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def ok(self) -> None:
        self.passed += 1

    # ---- schemas -------------------------------------------------------------
    def load_schemas(self) -> None:
        found = {p.stem: p for p in sorted(SCHEMA_DIR.glob("*.json"))}
        for name in EXPECTED:
            if name not in found:
                self.fail(f"schemas/{name}.json", "missing")
        for name, path in found.items():
            where = f"schemas/{path.name}"
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                self.fail(where, f"not JSON: {e}")
                continue
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as e:
                self.fail(where, f"not a valid draft 2020-12 schema: {e.message}")
                continue
            if schema.get("$schema") != DRAFT:
                self.fail(where, f"$schema is not {DRAFT}")
            if schema.get("$id") != f"{ID_BASE}{path.name}":
                self.fail(where, f"$id is not {ID_BASE}{path.name}")
            for key in ("title", "description"):
                if not isinstance(schema.get(key), str) or not schema[key].strip():
                    self.fail(where, f"no {key}")
            if not isinstance(schema.get("examples"), list) or not schema["examples"]:
                self.fail(where, "no examples")
            for pointer in closed_objects(schema):
                self.fail(where, f"forbids unknown fields at {pointer or '/'}")
            self.schemas[name] = schema
            self.validators[name] = Draft202012Validator(schema, format_checker=self.format_checker)
            self.ok()

    def check_examples(self) -> None:
        for name, schema in self.schemas.items():
            for i, example in enumerate(schema.get("examples", [])):
                where = f"schemas/{name}.json examples[{i}]"
                self.expect_valid(name, example, where)
                if isinstance(example, dict):
                    extended = dict(example, x_vendor_field={"anything": [1, 2]})
                    self.expect_valid(name, extended, where + " + unknown field")

    # ---- validation ----------------------------------------------------------
    def expect_valid(self, name: str, payload, where: str, raw: str | None = None) -> None:
        validator = self.validators.get(name)
        if validator is None:
            self.fail(where, f"no schema {name!r}")
            return
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.path))
        if errors:
            for e in errors:
                path = "/".join(str(p) for p in e.absolute_path)
                self.fail(where, f"invalid against {name} at /{path}: {e.message}")
            return
        size = len((raw if raw is not None else json.dumps(payload, ensure_ascii=False)).encode("utf-8"))
        if size > MAX_PAYLOAD:
            self.fail(where, f"{size} bytes, over {MAX_PAYLOAD}")
            return
        self.ok()

    def check_bad(self) -> None:
        for name, payload, why in BAD:
            validator = self.validators.get(name)
            if validator is None:
                self.fail(f"known-bad ({why})", f"no schema {name!r}")
                continue
            if validator.is_valid(payload):
                self.fail(f"known-bad {name} ({why})", f"was accepted: {json.dumps(payload, ensure_ascii=False)}")
            else:
                self.ok()

    # ---- README --------------------------------------------------------------
    def check_readme(self) -> None:
        lines = README.read_text(encoding="utf-8").splitlines()
        marker_re = re.compile(r"^<!--\s*schema:\s*([a-z-]+)\s*-->\s*$")
        i = 0
        in_block = None
        block_start = 0
        block: list[str] = []
        marker = None
        pending_marker = None
        while i < len(lines):
            line = lines[i]
            if in_block is None:
                m = marker_re.match(line.strip())
                if m:
                    pending_marker = m.group(1)
                elif line.startswith("```"):
                    in_block = line[3:].strip()
                    block_start = i + 1
                    block = []
                    marker, pending_marker = pending_marker, None
                else:
                    self.check_inline(line, i + 1)
                    if line.strip():
                        pending_marker = None
            elif line.startswith("```"):
                self.check_block(in_block, block, block_start, marker)
                in_block = None
            else:
                block.append(line)
            i += 1
        if in_block is not None:
            self.fail(f"README.md:{block_start}", "unclosed code block")

    def check_block(self, lang: str, block: list[str], start: int, marker: str | None) -> None:
        where = f"README.md:{start}"
        if lang == "json":
            if marker is None:
                self.fail(where, "```json block without a <!-- schema: NAME --> line before it")
                return
            text = "\n".join(block)
            for offset, payload, raw in json_values(text, where, self):
                self.expect_valid(marker, payload, f"README.md:{start + text.count(chr(10), 0, offset) + 1}", raw)
        elif lang == "sh":
            if marker is not None:
                self.fail(where, "schema marker before a ```sh block (payloads are matched by topic)")
            for lineno, cmd in shell_commands(block, start):
                self.check_command(cmd, f"README.md:{lineno}")
        elif marker is not None:
            self.fail(where, f"schema marker before a ```{lang} block")

    def check_command(self, cmd: str, where: str) -> None:
        try:
            argv = shlex.split(cmd)
        except ValueError as e:
            self.fail(where, f"cannot parse shell command: {e}")
            return
        if not argv or argv[0] not in ("mosquitto_pub", "mosquitto_sub"):
            return
        opts: dict[str, list[str]] = {}
        j = 1
        while j < len(argv):
            arg = argv[j]
            if arg in ("-r", "-v", "--will-retain", "-c", "-d", "--quiet", "-n", "-l", "-s"):
                opts.setdefault(arg, []).append("")
                j += 1
            elif arg.startswith("-"):
                if j + 1 >= len(argv):
                    self.fail(where, f"option {arg} without a value")
                    return
                opts.setdefault(arg, []).append(argv[j + 1])
                j += 2
            else:
                self.fail(where, f"stray argument {arg!r}")
                return
        if opts.get("-q", ["1"]) != ["1"]:
            self.fail(where, "QoS is not 1")
        topics = opts.get("-t", [])
        if not topics:
            self.fail(where, "no -t topic")
            return
        if argv[0] == "mosquitto_pub":
            if len(topics) != 1:
                self.fail(where, "mosquitto_pub with more than one -t")
                return
            if "-m" not in opts:
                self.fail(where, "mosquitto_pub without -m payload")
                return
            if opts.get("-q") != ["1"]:
                self.fail(where, "devices publish with QoS 1: add -q 1")
            self.check_publish(topics[0], opts["-m"][0], where)
        else:
            for t in topics:
                if topic_schema(t, allow_wildcards=True) is None:
                    self.fail(where, f"topic filter {t!r} matches no topic of the contract")
                else:
                    self.ok()
        if "--will-topic" in opts:
            if "--will-payload" not in opts:
                self.fail(where, "--will-topic without --will-payload")
            else:
                self.check_publish(opts["--will-topic"][0], opts["--will-payload"][0], where + " (will)")
            if topic_schema(opts["--will-topic"][0]) != "device-status":
                self.fail(where, "the last will is not on a device status topic")
            if "--will-retain" not in opts:
                self.fail(where, "the last will is not retained")

    def check_publish(self, topic: str, raw: str, where: str) -> None:
        name = topic_schema(topic)
        if name is None:
            self.fail(where, f"topic {topic!r} is not a topic of the contract")
            return
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError as e:
            self.fail(where, f"payload is not JSON: {e}")
            return
        self.expect_valid(name, payload, where, raw)

    def check_inline(self, line: str, lineno: int) -> None:
        """Inline `{"...}` snippets in prose and tables."""
        for m in re.finditer(r"`(\{\".*?\})`", line):
            raw = m.group(1)
            where = f"README.md:{lineno} inline"
            try:
                payload = json.loads(raw)
            except json.JSONDecodeError as e:
                self.fail(where, f"not JSON: {raw} ({e})")
                continue
            kind = payload.get("type") if isinstance(payload, dict) else None
            keys = set(payload) if isinstance(payload, dict) else set()
            if kind in ("call", "alert"):
                self.expect_valid(kind, payload, where, raw)
            elif keys == {"online"}:
                self.expect_valid("device-status", payload, where, raw)
            elif keys and keys <= {"ref", "item", "promised_days"}:
                command = {"id": "w05-x", "op": "finish", "outcome": "accepted", "case": payload}
                self.expect_valid("window-command", command, where + " (as finish case)")
            elif kind == "queue":
                # Display WebSocket delta; no MQTT schema. Check its shape here.
                if isinstance(payload.get("service"), str) and isinstance(payload.get("waiting"), int):
                    self.ok()
                else:
                    self.fail(where, "queue message needs service (string) and waiting (integer)")
            else:
                self.fail(where, f"cannot tell which schema {raw} belongs to")


def closed_objects(node, pointer: str = ""):
    """JSON pointers of every place where a schema sets additionalProperties or
    unevaluatedProperties to false."""
    if isinstance(node, dict):
        for key in ("additionalProperties", "unevaluatedProperties"):
            if node.get(key) is False:
                yield pointer
        for k, v in node.items():
            if k in ("examples", "const", "enum", "default"):
                continue
            yield from closed_objects(v, f"{pointer}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from closed_objects(v, f"{pointer}/{i}")


def json_values(text: str, where: str, checker: Checker):
    """Every JSON value in text, one after another (a block may hold several)."""
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            checker.fail(where, f"not JSON: {e}")
            return
        yield pos, value, text[pos:end]
        pos = end


def shell_commands(block: list[str], start: int):
    """(line number, command) for each command of a shell block, joining
    backslash continuations and skipping comments."""
    cmd, first = "", None
    for n, line in enumerate(block):
        if first is None:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            first = start + n
        if line.endswith("\\"):
            cmd += line[:-1] + " "
            continue
        cmd += line
        yield first, cmd
        cmd, first = "", None
    if cmd:
        yield first, cmd


def topic_schema(topic: str, allow_wildcards: bool = False) -> str | None:
    """The schema of the payloads on a topic (or topic filter), or None."""
    levels = topic.split("/")
    for template, name in TOPICS.items():
        tlevels = template.replace("{prefix}", PREFIX).split("/")
        if topic_matches(levels, tlevels, allow_wildcards):
            return name
    if allow_wildcards and levels and levels[-1] == "#":
        # A filter ending in # is fine when its fixed part is a prefix of some topic.
        head = levels[:-1]
        for template in TOPICS:
            tlevels = template.replace("{prefix}", PREFIX).split("/")
            if len(head) <= len(tlevels) and topic_matches(head, tlevels[: len(head)], allow_wildcards):
                return "#"
    return None


def topic_matches(levels: list[str], tlevels: list[str], allow_wildcards: bool) -> bool:
    if len(levels) != len(tlevels):
        return False
    for level, tlevel in zip(levels, tlevels):
        if allow_wildcards and level == "+":
            continue
        if tlevel == "{id}":
            if not ID_RE.match(level):
                return False
        elif level != tlevel:
            return False
    return True


def main() -> int:
    checker = Checker()
    checker.load_schemas()
    checker.check_examples()
    checker.check_bad()
    checker.check_readme()
    if not checker.date_time_checked:
        print("warning: date-time formats checked by pattern only; "
              "pip install rfc3339-validator for the full RFC 3339 check", file=sys.stderr)
    for problem in checker.problems:
        print(f"FAIL {problem}")
    print(f"{len(checker.schemas)} schemas, {checker.passed} checks passed, "
          f"{len(checker.problems)} problems")
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main())
