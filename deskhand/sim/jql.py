"""A JQL subset: parser and evaluator for the Jira simulator.

Hand-written recursive descent: there is no maintained Python JQL library (PyPI has only client
wrappers that send JQL to a server), and the grammar we need is small:

    query   := [or_expr] [ORDER BY key [ASC|DESC] {, key [ASC|DESC]}]
    or_expr := and_expr {(OR | "||" | "|") and_expr}
    and_expr:= not_expr {(AND | "&&" | "&") not_expr}
    not_expr:= (NOT | "!") not_expr | "(" or_expr ")" | clause
    clause  := field op value | field [NOT] IN "(" value {, value} ")" | field IS [NOT] (EMPTY|NULL)
    op      := = | != | > | >= | < | <= | ~ | !~
    value   := "quoted" | 'quoted' | word | function "()" | EMPTY | NULL

The evaluator works on *facts*: a plain dict per issue built by the simulator (see `Facts`), so it
knows nothing about the simulator's storage. Errors are `JqlError` with Jira's own wording; the
simulator answers them as HTTP 400 `{"errorMessages": [message], "errors": {}}`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")
Facts = dict[str, Any]
"""Per issue: list fields -> list[str] (any value matches, case-insensitive); text fields -> str;
date fields -> datetime; optional "_sort" -> {field: sortable} overriding the default sort key."""


class JqlError(ValueError):
    """Invalid or unsupported JQL; the message is what Jira would put in `errorMessages`."""


LIST_FIELDS = {"project", "status", "statuscategory", "labels", "assignee", "reporter", "priority",
               "issuetype", "key", "id", "resolution"}
TEXT_FIELDS = {"text", "summary", "description", "comment"}
DATE_FIELDS = {"created", "updated", "resolved"}
USER_FIELDS = {"assignee", "reporter"}
ALIASES = {"issuekey": "key", "type": "issuetype", "createddate": "created", "updateddate": "updated",
           "resolutiondate": "resolved", "category": "statuscategory"}
_FIELD_NAMES = {"statuscategory": "statusCategory", "issuetype": "issuetype"}
KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
FUNCTIONS = {"currentuser", "now", "startofday", "endofday"}


@dataclass(frozen=True)
class Value:
    text: str
    kind: str = "word"  # word | string | func | empty


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # = != > >= < <= ~ !~ in "not in" is "is not"
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Bool:
    op: str  # and | or | not
    items: tuple[Expr, ...]


Expr = Clause | Bool


@dataclass(frozen=True)
class OrderKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    where: Expr | None = None
    order_by: tuple[OrderKey, ...] = field(default_factory=tuple)

    def clauses(self) -> Iterator[Clause]:
        """Every clause, for callers that validate values (e.g. that a project exists)."""
        stack: list[Expr] = [self.where] if self.where is not None else []
        while stack:
            node = stack.pop()
            if isinstance(node, Clause):
                yield node
            else:
                stack.extend(node.items)


# ------------------------------------------------------------------------------------------ lexer

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|!~|&&|\|\||=|>|<|~|\(|\)|,|!|&|\|)
      | (?P<word>[^\s"'=!<>~(),&|]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | op | word | end
    text: str
    pos: int


def tokenize(jql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(jql):
        if jql[pos:].strip() == "":
            break
        match = _TOKEN.match(jql, pos)
        if not match or match.end() == pos:
            raise JqlError(f"Error in the JQL Query: The character '{jql[pos]}' is a reserved JQL character.")
        kind = match.lastgroup or "word"
        text = match.group(kind)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        tokens.append(Token(kind, text, match.start(kind)))
        pos = match.end()
    tokens.append(Token("end", "", len(jql)))
    return tokens


# ------------------------------------------------------------------------------------------ parser


def parse(jql: str) -> Query:
    """Parse a JQL string; raises JqlError with Jira's wording on bad or unsupported syntax."""
    return _Parser(tokenize(jql or "")).query()


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.i = 0

    def peek(self, word: str | None = None) -> bool:
        tok = self.tokens[self.i]
        if word is None:
            return tok.kind != "end"
        return tok.kind in ("word", "op") and tok.text.lower() == word

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, word: str) -> None:
        if not self.peek(word):
            raise self.error(f"'{word.upper() if word.isalpha() else word}'")
        self.take()

    def error(self, expected: str) -> JqlError:
        tok = self.tokens[self.i]
        got = "the end of the query" if tok.kind == "end" else f"'{tok.text}'"
        where = f"(line 1, character {tok.pos + 1})"
        return JqlError(f"Error in the JQL Query: Expecting {expected} but got {got}. {where}")

    def query(self) -> Query:
        where = None if self.peek("order") or not self.peek() else self.or_expr()
        order: list[OrderKey] = []
        if self.peek("order"):
            self.take()
            self.expect("by")
            while True:
                name = self.field_name()
                descending = False
                if self.peek("asc") or self.peek("desc"):
                    descending = self.take().text.lower() == "desc"
                order.append(OrderKey(name, descending))
                if not self.peek(","):
                    break
                self.take()
        if self.peek():
            raise self.error("either 'AND', 'OR', 'ORDER BY' or the end of the query")
        return Query(where, tuple(order))

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.peek("or") or self.peek("|") or self.peek("||"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Bool("or", tuple(items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.peek("and") or self.peek("&") or self.peek("&&"):
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else Bool("and", tuple(items))

    def not_expr(self) -> Expr:
        if self.peek("not") or self.peek("!"):
            self.take()
            return Bool("not", (self.not_expr(),))
        if self.peek("("):
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.clause()

    def field_name(self) -> str:
        tok = self.tokens[self.i]
        if tok.kind not in ("word", "string") or (tok.kind == "word" and tok.text.lower() in KEYWORDS):
            raise self.error("a field name")
        self.take()
        name = ALIASES.get(tok.text.lower(), tok.text.lower())
        if name not in LIST_FIELDS | TEXT_FIELDS | DATE_FIELDS:
            raise JqlError(f"Field '{tok.text}' does not exist or you do not have permission to view it.")
        return name

    def clause(self) -> Clause:
        name = self.field_name()
        tok = self.tokens[self.i]
        if self.peek("is"):
            self.take()
            negate = self.peek("not")
            if negate:
                self.take()
            if not (self.peek("empty") or self.peek("null")):
                raise self.error("'EMPTY' or 'NULL'")
            self.take()
            return self.checked(Clause(name, "is not" if negate else "is", (Value("", "empty"),)))
        if self.peek("not") or self.peek("in"):
            negate = self.take().text.lower() == "not"
            if negate:
                self.expect("in")
            return self.checked(Clause(name, "not in" if negate else "in", self.value_list()))
        if tok.kind == "op" and tok.text in ("=", "!=", ">", ">=", "<", "<=", "~", "!~"):
            self.take()
            return self.checked(Clause(name, tok.text, (self.value(),)))
        raise self.error("operator")

    def value_list(self) -> tuple[Value, ...]:
        self.expect("(")
        values = [self.value()]
        while self.peek(","):
            self.take()
            values.append(self.value())
        self.expect(")")
        return tuple(values)

    def value(self) -> Value:
        tok = self.tokens[self.i]
        if tok.kind == "string":
            self.take()
            return Value(tok.text, "string")
        if tok.kind != "word" or tok.text.lower() in KEYWORDS - {"empty", "null"}:
            raise self.error("either a value, 'EMPTY' or a function")
        self.take()
        if tok.text.lower() in ("empty", "null"):
            return Value("", "empty")
        if self.peek("("):
            self.take()
            self.expect(")")
            if tok.text.lower() not in FUNCTIONS:
                raise JqlError(f"Unable to find JQL function '{tok.text}()'.")
            return Value(tok.text.lower(), "func")
        return Value(tok.text, "word")

    @staticmethod
    def checked(clause: Clause) -> Clause:
        shown = _FIELD_NAMES.get(clause.field, clause.field)
        text_op = clause.op in ("~", "!~")
        if (clause.field in TEXT_FIELDS) != text_op and clause.op not in ("is", "is not"):
            raise JqlError(f"The operator '{clause.op}' is not supported by the '{shown}' field.")
        if clause.field in DATE_FIELDS and clause.op in ("in", "not in"):
            raise JqlError(f"The operator '{clause.op.upper()}' is not supported by the '{shown}' field.")
        if clause.field not in DATE_FIELDS | {"key", "id"} and clause.op in (">", ">=", "<", "<="):
            raise JqlError(f"The operator '{clause.op}' is not supported by the '{shown}' field.")
        for value in clause.values:
            if value.kind == "func" and value.text == "currentuser" and clause.field not in USER_FIELDS:
                raise JqlError(f"The function 'currentUser' is not supported by the '{shown}' field.")
            if clause.field in DATE_FIELDS and value.kind not in ("empty", "func"):
                parse_date(value.text, datetime(2000, 1, 1, tzinfo=UTC))  # validate early
        return clause


# -------------------------------------------------------------------------------------- evaluator

_RELATIVE = re.compile(r"^([+-]?)(\d+)([wdhm])$", re.IGNORECASE)
_ABSOLUTE = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def parse_date(text: str, now: datetime) -> datetime:
    """'-7d' / '2h' / '-1w' / '-30m' relative to now; '2024-01-31' or '2024-01-31 12:30' (UTC)."""
    text = text.strip()
    rel = _RELATIVE.match(text)
    if rel:
        delta = timedelta(**{_UNITS[rel.group(3).lower()]: int(rel.group(2))})
        return now - delta if rel.group(1) == "-" else now + delta
    return _absolute_date(text)


@functools.lru_cache(maxsize=256)
def _absolute_date(text: str) -> datetime:  # a search compares one literal with every issue: parse it once
    for fmt in _ABSOLUTE:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{text}' for field is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
        "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )


@dataclass(frozen=True)
class Context:
    now: datetime
    current_user: str | None = None


def matches(query: Query | Expr | None, facts: Facts, ctx: Context) -> bool:
    node = query.where if isinstance(query, Query) else query
    if node is None:
        return True
    if isinstance(node, Bool):
        if node.op == "and":
            return all(matches(item, facts, ctx) for item in node.items)
        if node.op == "or":
            return any(matches(item, facts, ctx) for item in node.items)
        return not matches(node.items[0], facts, ctx)
    return clause_matches(node, facts, ctx)


def clause_matches(clause: Clause, facts: Facts, ctx: Context) -> bool:
    """One clause against one issue's facts."""
    actual = facts.get(clause.field)
    if clause.op in ("is", "is not"):
        empty = actual is None or actual == [] or actual == ""
        return empty if clause.op == "is" else not empty
    if clause.field in TEXT_FIELDS:
        found = _text_match(str(actual or ""), clause.values[0].text)
        return found if clause.op == "~" else not found
    if clause.field in DATE_FIELDS:
        return _date_clause(clause, actual, ctx)
    have = [str(v).lower() for v in (actual or [])]
    wanted = [_resolve(v, ctx) for v in clause.values]
    if clause.op in (">", ">=", "<", "<="):
        return any(_compare(_key_order(h), clause.op, _key_order(w or "")) for h in have for w in wanted)
    hit = any((w is None and not have) or (w is not None and w in have) for w in wanted)
    if clause.op in ("=", "in"):
        return hit
    # Jira: != and NOT IN never match an issue whose field is empty, unless EMPTY is in the list.
    if not have and all(w is not None for w in wanted):
        return False
    return not hit


def _resolve(value: Value, ctx: Context) -> str | None:
    if value.kind == "empty":
        return None
    if value.kind == "func" and value.text == "currentuser":
        return (ctx.current_user or "").lower()
    return value.text.lower()


def _key_order(text: str) -> tuple[str, int]:
    project, _, number = text.rpartition("-")
    return (project.lower(), int(number)) if number.isdigit() else (text.lower(), 0)


def _compare(left: Any, op: str, right: Any) -> bool:
    return {"=": left == right, "!=": left != right, ">": left > right, ">=": left >= right,
            "<": left < right, "<=": left <= right}[op]


def _date_clause(clause: Clause, actual: Any, ctx: Context) -> bool:
    value = clause.values[0]
    if value.kind == "empty":
        return (actual is None) == (clause.op == "=")
    if actual is None:
        return False
    return _compare(actual, clause.op, date_bound(clause, ctx))


def date_bound(clause: Clause, ctx: Context) -> datetime:
    """The instant a date clause compares with (its value: a function, a relative or absolute date)."""
    value = clause.values[0]
    if value.kind == "func":
        day = ctx.now.replace(hour=0, minute=0, second=0, microsecond=0)
        when = {"now": ctx.now, "startofday": day, "endofday": day + timedelta(days=1, microseconds=-1)}.get(
            value.text
        )
        if when is None:
            raise JqlError(f"The function '{value.text}' is not supported by the '{clause.field}' field.")
        return when
    return parse_date(value.text, ctx.now)


def contextual(clause: Clause) -> bool:
    """Whether a clause's answer depends on the Context (a function, a date relative to now)."""
    return any(v.kind == "func" or (clause.field in DATE_FIELDS and bool(_RELATIVE.match(v.text.strip())))
               for v in clause.values)


_WORD = re.compile(r"[\w*?]+", re.UNICODE)


def _text_match(haystack: str, needle: str) -> bool:
    """Jira-like text search: every term present as a word (prefix with `*`), or a quoted phrase."""
    hay = haystack.lower()
    needle = needle.strip().lower()
    if len(needle) > 1 and needle[0] == needle[-1] == '"':
        return needle[1:-1] in hay
    words = set(_WORD.findall(hay))
    for term in _WORD.findall(needle):
        if term.endswith("*"):
            if not any(w.startswith(term.rstrip("*")) for w in words):
                return False
        elif term not in words and not any(w.startswith(term) and len(w) - len(term) <= 2 for w in words):
            return False  # a little stemming: "password" finds "passwords"
    return True


def _sort_value(facts: Facts, name: str) -> Any:
    override = facts.get("_sort", {})
    if name in override:
        return override[name]
    value = facts.get(name)
    if name == "key" and value:
        return _key_order(str(value[0]))
    if isinstance(value, list):
        return str(value[0]).lower() if value else ""
    return value


def order(items: Sequence[T], query: Query, facts_of: Callable[[T], Facts]) -> list[T]:
    """Sort by ORDER BY keys (stable; empty values last ascending, as Jira does)."""
    result = list(items)
    for key in reversed(query.order_by):
        present = [i for i in result if _sort_value(facts_of(i), key.field) not in (None, "")]
        absent = [i for i in result if _sort_value(facts_of(i), key.field) in (None, "")]
        field_name = key.field

        def sort_key(item: T, name: str = field_name) -> Any:
            return _sort_value(facts_of(item), name)

        present.sort(key=sort_key, reverse=key.descending)
        result = absent + present if key.descending else present + absent
    return result


def search(
    jql: str | Query, items: Sequence[T], facts_of: Callable[[T], Facts], ctx: Context
) -> list[T]:
    """Filter and order items by a JQL query."""
    query = parse(jql) if isinstance(jql, str) else jql
    memo: dict[int, Facts] = {}

    def facts_once(item: T) -> Facts:  # one facts() per item per search (ordering asks again)
        key = id(item)
        if key not in memo:
            memo[key] = facts_of(item)
        return memo[key]

    return order([i for i in items if matches(query, facts_once(i), ctx)], query, facts_once)
