"""Parse the T-SQL subset Caspio clients send in ``q.where``, ``q.select``, ``q.orderBy``
and ``q.groupBy`` into small syntax trees.

Nothing here builds SQL: ``sqlite_compiler`` turns the trees into SQLite text whose every
value is a bound parameter. Syntax errors answer like SQL Server (400 ``SqlServerError``,
"Incorrect syntax near ..."); valid T-SQL outside the subset (subqueries, comments,
arithmetic, most functions) answers 400 ``IncorrectQueryParameter`` naming the construct.

Subset (reference §3.6): single-quoted strings with ``''`` escaping and an optional ``N``
prefix, numbers, NULL, ``[bracketed]`` or plain names, ``= != <> < > <= >=``, ``[NOT] LIKE``
(with ``ESCAPE``), ``IS [NOT] NULL``, ``[NOT] IN (...)``, ``[NOT] BETWEEN ... AND ...``,
``AND``/``OR``/``NOT``, parentheses, ``GETDATE()``/``GETUTCDATE()``; in the select list
``*``, ``DISTINCT``, ``COUNT/SUM/MIN/MAX/AVG`` and ``AS`` aliases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sandbox.caspio.errors import ApiError, sql_error, unsupported

# ---------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Literal:
    #: str for strings, int or Decimal for numbers, None for NULL.
    value: str | int | Decimal | None


@dataclass(frozen=True)
class Now:
    """GETDATE() / GETUTCDATE(): the emulator clock, in UTC."""


@dataclass(frozen=True)
class Aggregate:
    function: str  # COUNT, SUM, MIN, MAX, AVG
    argument: Column | None  # None means COUNT(*)
    distinct: bool = False


Operand = Column | Literal | Now | Aggregate


@dataclass(frozen=True)
class Compare:
    op: str  # = <> < > <= >=
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Like:
    value: Operand
    pattern: Operand
    escape: str | None
    negated: bool


@dataclass(frozen=True)
class IsNull:
    value: Operand
    negated: bool


@dataclass(frozen=True)
class In:
    value: Operand
    items: tuple[Operand, ...]
    negated: bool


@dataclass(frozen=True)
class Between:
    value: Operand
    low: Operand
    high: Operand
    negated: bool


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Compare | Like | IsNull | In | Between | And | Or | Not


@dataclass(frozen=True)
class SelectItem:
    expr: Column | Aggregate | None  # None is "*"
    alias: str | None


@dataclass(frozen=True)
class SelectList:
    distinct: bool
    items: tuple[SelectItem, ...]


@dataclass(frozen=True)
class OrderItem:
    expr: Column | Aggregate
    descending: bool


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, name, op, end
    text: str  # the source text (for messages)
    value: str  # decoded string, upper-cased keyword/name key, or operator


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--|/\*)
  | (?P<string>[Nn]?'(?:[^']|'')*')
  | (?P<unclosed>[Nn]?')
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<bracket>\[(?:[^\]]|\]\])+\])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|[=<>(),*+\-/%;.@])
    """,
    re.VERBOSE,
)

KEYWORDS = frozenset({
    "AND", "OR", "NOT", "LIKE", "ESCAPE", "IS", "NULL", "IN", "BETWEEN", "AS", "ASC", "DESC",
    "DISTINCT", "SELECT", "FROM", "EXISTS", "CASE", "WHEN", "THEN", "ELSE", "END", "UNION",
    "TOP", "ALL", "ANY", "SOME",
})
AGGREGATES = frozenset({"COUNT", "SUM", "MIN", "MAX", "AVG"})
_CLOCK_FUNCTIONS = frozenset({"GETDATE", "GETUTCDATE", "SYSDATETIME", "SYSUTCDATETIME"})


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _syntax_near(text[position])
        kind = match.lastgroup or ""
        source = match.group()
        position = match.end()
        if kind == "space":
            continue
        if kind == "comment":
            raise unsupported("A comment in a query parameter")
        if kind == "unclosed":
            rest = text[position:]
            raise sql_error(f"Unclosed quotation mark after the character string '{rest}'.")
        if kind == "string":
            body = source[2:-1] if source[0] in "Nn" else source[1:-1]
            tokens.append(Token("string", source, body.replace("''", "'")))
        elif kind == "number":
            tokens.append(Token("number", source, source))
        elif kind == "bracket":
            tokens.append(Token("name", source, source[1:-1].replace("]]", "]")))
        elif kind == "name":
            upper = source.upper()
            tokens.append(Token("keyword" if upper in KEYWORDS else "name", source,
                                upper if upper in KEYWORDS else source))
        else:
            tokens.append(Token("op", source, "<>" if source == "!=" else source))
    tokens.append(Token("end", "", ""))
    return tokens


def _syntax_near(text: str) -> ApiError:
    return sql_error(f"Incorrect syntax near '{text}'.")


# ---------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.position = 0

    # -- token helpers
    @property
    def current(self) -> Token:
        return self.tokens[self.position]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def at(self, kind: str, value: str | None = None) -> bool:
        token = self.current
        return token.kind == kind and (value is None or token.value == value)

    def accept(self, kind: str, value: str | None = None) -> bool:
        if self.at(kind, value):
            self.position += 1
            return True
        return False

    def expect(self, kind: str, value: str | None = None) -> Token:
        if not self.at(kind, value):
            raise self.error()
        return self.advance()

    def error(self) -> ApiError:
        token = self.current
        if token.kind == "end":
            previous = self.tokens[self.position - 1].text if self.position else ""
            return _syntax_near(previous)
        if token.kind == "keyword" and token.value in ("SELECT", "EXISTS"):
            return unsupported("A subquery")
        if token.kind == "keyword" and token.value == "CASE":
            return unsupported("CASE")
        if token.kind == "op" and token.value in ("+", "-", "*", "/", "%"):
            return unsupported("Arithmetic")
        if token.kind == "op" and token.value == "@":
            return unsupported("A variable")
        return _syntax_near(token.text)

    def finish(self) -> None:
        if not self.at("end"):
            raise self.error()

    # -- conditions
    def condition(self) -> Condition:
        items = [self.conjunction()]
        while self.accept("keyword", "OR"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Condition:
        items = [self.negation()]
        while self.accept("keyword", "AND"):
            items.append(self.negation())
        return items[0] if len(items) == 1 else And(tuple(items))

    def negation(self) -> Condition:
        if self.accept("keyword", "NOT"):
            return Not(self.negation())
        return self.predicate()

    def predicate(self) -> Condition:
        if self.at("op", "("):
            self.advance()
            if self.at("keyword", "SELECT"):
                raise unsupported("A subquery")
            inner = self.condition()
            self.expect("op", ")")
            return inner
        if self.at("keyword", "EXISTS"):
            raise unsupported("A subquery")
        left = self.operand()
        token = self.current
        if token.kind == "op" and token.value in ("=", "<>", "<", ">", "<=", ">="):
            self.advance()
            return Compare(token.value, left, self.operand())
        if self.accept("keyword", "IS"):
            negated = self.accept("keyword", "NOT")
            self.expect("keyword", "NULL")
            return IsNull(left, negated)
        negated = self.accept("keyword", "NOT")
        if self.accept("keyword", "LIKE"):
            pattern = self.operand()
            escape = None
            if self.accept("keyword", "ESCAPE"):
                escape = self.expect("string").value
                if len(escape) != 1:
                    raise sql_error("The invalid escape character was specified in a LIKE "
                                    "predicate.")
            return Like(left, pattern, escape, negated)
        if self.accept("keyword", "IN"):
            self.expect("op", "(")
            if self.at("keyword", "SELECT"):
                raise unsupported("A subquery")
            items = [self.operand()]
            while self.accept("op", ","):
                items.append(self.operand())
            self.expect("op", ")")
            return In(left, tuple(items), negated)
        if self.accept("keyword", "BETWEEN"):
            low = self.operand()
            self.expect("keyword", "AND")
            return Between(left, low, self.operand(), negated)
        raise self.error()

    def operand(self) -> Operand:
        token = self.current
        if token.kind == "string":
            self.advance()
            return Literal(token.value)
        if token.kind == "number" or (token.kind == "op" and token.value in ("-", "+")):
            return Literal(self.number())
        if self.accept("keyword", "NULL"):
            return Literal(None)
        if token.kind == "name":
            self.advance()
            if self.at("op", "("):
                return self.function(token)
            if self.at("op", "."):
                raise unsupported("A qualified column name")
            return Column(token.value)
        raise self.error()

    def number(self) -> int | Decimal:
        sign = -1 if self.accept("op", "-") else 1
        if sign == 1:
            self.accept("op", "+")
        text = self.expect("number").value
        if re.fullmatch(r"\d+", text):
            return sign * int(text)
        return sign * Decimal(text)

    def function(self, name: Token) -> Operand:
        upper = name.value.upper()
        self.expect("op", "(")
        if upper in _CLOCK_FUNCTIONS:
            self.expect("op", ")")
            return Now()
        if upper in AGGREGATES:
            return self.aggregate_body(upper)
        raise unsupported(f"The function {name.value}()")

    def aggregate_body(self, function: str) -> Aggregate:
        distinct = self.accept("keyword", "DISTINCT")
        argument: Column | None
        if function == "COUNT" and not distinct and self.accept("op", "*"):
            argument = None
        else:
            argument = Column(self.expect("name").value)
        self.expect("op", ")")
        return Aggregate(function, argument, distinct)

    # -- select, group by, order by
    def column_or_aggregate(self) -> Column | Aggregate:
        token = self.expect("name")
        if self.at("op", "("):
            result = self.function(token)
            if not isinstance(result, Aggregate):
                raise unsupported(f"The function {token.value}() in this list")
            return result
        if self.at("op", "."):
            raise unsupported("A qualified column name")
        return Column(token.value)

    def select_list(self) -> SelectList:
        distinct = self.accept("keyword", "DISTINCT")
        items = [self.select_item()]
        while self.accept("op", ","):
            items.append(self.select_item())
        return SelectList(distinct, tuple(items))

    def select_item(self) -> SelectItem:
        if self.accept("op", "*"):
            return SelectItem(None, None)
        if self.at("keyword", "SELECT") or self.at("op", "("):
            raise unsupported("A subquery or expression in q.select")
        expr = self.column_or_aggregate()
        alias = None
        if self.accept("keyword", "AS") or self.at("name") or self.at("string"):
            alias = self.alias()
        return SelectItem(expr, alias)

    def alias(self) -> str:
        token = self.current
        if token.kind in ("name", "string"):
            self.advance()
            return token.value
        raise self.error()

    def order_list(self) -> list[OrderItem]:
        items = []
        while True:
            expr = self.column_or_aggregate()
            descending = False
            if self.accept("keyword", "DESC"):
                descending = True
            else:
                self.accept("keyword", "ASC")
            items.append(OrderItem(expr, descending))
            if not self.accept("op", ","):
                return items

    def name_list(self) -> list[Column]:
        items = [Column(self.expect("name").value)]
        while self.accept("op", ","):
            items.append(Column(self.expect("name").value))
        return items


def parse_where(text: str) -> Condition:
    parser = _Parser(text)
    result = parser.condition()
    parser.finish()
    return result


def parse_select(text: str) -> SelectList:
    parser = _Parser(text)
    result = parser.select_list()
    parser.finish()
    return result


def parse_order_by(text: str) -> list[OrderItem]:
    parser = _Parser(text)
    result = parser.order_list()
    parser.finish()
    return result


def parse_group_by(text: str) -> list[Column]:
    parser = _Parser(text)
    result = parser.name_list()
    parser.finish()
    return result
