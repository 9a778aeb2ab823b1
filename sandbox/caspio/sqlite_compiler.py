"""Turn parsed T-SQL trees into SQLite text plus bound parameters.

Only names that resolved to a known column reach the SQL text (quoted); every literal,
including LIKE patterns and IN lists, becomes a ``?`` parameter. Literals are converted to
the compared column's type first, as SQL Server converts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sandbox.caspio import tsql
from sandbox.caspio.errors import ApiError, internal_error, sql_error
from sandbox.caspio.fieldtypes import (
    TypeSpec,
    currency_number,
    format_datetime,
    from_storage,
    literal_param,
)
from sandbox.caspio.schema import TableSchema, quote_identifier

Converter = Callable[[Any], Any]


@dataclass
class Fragment:
    """A piece of SQL and its parameters."""

    sql: str
    params: list[Any] = field(default_factory=list)


class WhereCompiler:
    def __init__(self, schema: TableSchema, now: Callable[[], Any]) -> None:
        self.schema = schema
        self.now = now

    def condition(self, node: tsql.Condition) -> Fragment:
        if isinstance(node, tsql.And | tsql.Or):
            parts = [self.condition(item) for item in node.items]
            joiner = " AND " if isinstance(node, tsql.And) else " OR "
            return Fragment("(" + joiner.join(p.sql for p in parts) + ")",
                            [param for p in parts for param in p.params])
        if isinstance(node, tsql.Not):
            inner = self.condition(node.item)
            return Fragment(f"(NOT {inner.sql})", inner.params)
        if isinstance(node, tsql.Compare):
            return self.compare(node)
        if isinstance(node, tsql.IsNull):
            value = self.operand(node.value, None)
            return Fragment(f"({value.sql} IS {'NOT ' if node.negated else ''}NULL)",
                            value.params)
        if isinstance(node, tsql.In):
            spec = self.spec_of(node.value)
            value = self.operand(node.value, None)
            items = [self.operand(item, spec) for item in node.items]
            sql = f"({value.sql} {'NOT ' if node.negated else ''}IN (" + \
                ", ".join(i.sql for i in items) + "))"
            return Fragment(sql, value.params + [p for i in items for p in i.params])
        if isinstance(node, tsql.Between):
            spec = self.spec_of(node.value)
            value = self.operand(node.value, None)
            low, high = self.operand(node.low, spec), self.operand(node.high, spec)
            sql = f"({value.sql} {'NOT ' if node.negated else ''}BETWEEN {low.sql} AND {high.sql})"
            return Fragment(sql, value.params + low.params + high.params)
        if isinstance(node, tsql.Like):
            value = self.operand(node.value, None)
            pattern = self.operand(node.pattern, None)
            sql = f"caspio_like({value.sql}, {pattern.sql}, ?)"
            if node.negated:
                sql = f"(NOT {sql})"
            return Fragment(sql, value.params + pattern.params + [node.escape])
        raise sql_error("Unsupported condition")  # pragma: no cover - parser makes no others

    def compare(self, node: tsql.Compare) -> Fragment:
        left_spec, right_spec = self.spec_of(node.left), self.spec_of(node.right)
        left = self.operand(node.left, right_spec)
        right = self.operand(node.right, left_spec)
        sql = f"({left.sql} {node.op} {right.sql})"
        both_literal = left_spec is None and right_spec is None
        if both_literal and any(isinstance(p, str) for p in left.params + right.params):
            # Two literals compare with the database collation: case-insensitive.
            sql = f"({left.sql} COLLATE CASPIO_CI {node.op} {right.sql})"
        return Fragment(sql, left.params + right.params)

    def spec_of(self, node: tsql.Operand) -> TypeSpec | None:
        if isinstance(node, tsql.Column):
            return self.schema.column(node.name)[1]
        return None

    def operand(self, node: tsql.Operand, context: TypeSpec | None) -> Fragment:
        """SQL for one operand; a literal is converted to the type of the other side."""
        if isinstance(node, tsql.Column):
            name, _ = self.schema.column(node.name)
            return Fragment(quote_identifier(name))
        if isinstance(node, tsql.Aggregate):
            raise sql_error("An aggregate may not appear in the WHERE clause.")
        if isinstance(node, tsql.Now):
            value: Any = format_datetime(self.now())
            return Fragment("?", [value])
        if context is not None:
            return Fragment("?", [literal_param(context, node.value)])
        value = node.value
        if isinstance(value, Decimal):
            value = float(value)
        return Fragment("?", [value])


# ---------------------------------------------------------------- SELECT


@dataclass
class OutputColumn:
    key: str
    sql: str
    convert: Converter


@dataclass
class CompiledSelect:
    sql: str
    params: list[Any]
    count_sql: str
    count_params: list[Any]
    outputs: list[OutputColumn]


def _spec_converter(spec: TypeSpec) -> Converter:
    return lambda stored: from_storage(spec, stored)


def _aggregate_converter(function: str, spec: TypeSpec | None) -> Converter:
    if function == "COUNT" or spec is None:
        return lambda value: value
    if function in ("MIN", "MAX"):
        return _spec_converter(spec)
    if spec.kind in ("text", "datetime", "bool"):
        raise sql_error(f"Operand data type for {spec.token} is invalid for "
                        f"{function.lower()} operator.")
    if spec.kind == "currency":
        return lambda value: None if value is None else currency_number(value)
    if spec.kind == "integer":
        # SQL Server's AVG of an int column is an int (truncated), SUM stays an int.
        return lambda value: None if value is None else int(value)
    return lambda value: None if value is None else float(value)


class SelectCompiler:
    def __init__(self, schema: TableSchema, now: Callable[[], Any]) -> None:
        self.schema = schema
        self.where = WhereCompiler(schema, now)
        self.table_sql = quote_identifier(schema.sql_name)

    def aggregate_sql(self, node: tsql.Aggregate) -> tuple[str, TypeSpec | None]:
        if node.argument is None:
            return "COUNT(*)", None
        name, spec = self.schema.column(node.argument.name)
        distinct = "DISTINCT " if node.distinct else ""
        return f"{node.function}({distinct}{quote_identifier(name)})", spec

    def outputs(self, select: tsql.SelectList | None,
                grouped_names: set[str] | None) -> list[OutputColumn]:
        items = select.items if select else (tsql.SelectItem(None, None),)
        outputs: list[OutputColumn] = []
        for item in items:
            if item.expr is None:
                if grouped_names is not None:
                    raise self.not_grouped(self.schema.output_columns()[0][0])
                outputs.extend(OutputColumn(name, quote_identifier(name), _spec_converter(spec))
                               for name, spec in self.schema.output_columns())
            elif isinstance(item.expr, tsql.Column):
                try:
                    name, spec = self.schema.column(item.expr.name)
                except ApiError:
                    # PIDX observed a 500 for an unknown field in q.select.
                    raise internal_error(f"Invalid column name '{item.expr.name}'.") from None
                if grouped_names is not None and name not in grouped_names:
                    raise self.not_grouped(name)
                outputs.append(OutputColumn(item.alias or name, quote_identifier(name),
                                            _spec_converter(spec)))
            else:
                sql, argument_spec = self.aggregate_sql(item.expr)
                key = item.alias or f"Column{len(outputs) + 1}"
                outputs.append(OutputColumn(
                    key, sql, _aggregate_converter(item.expr.function, argument_spec)))
        return outputs

    def not_grouped(self, name: str) -> ApiError:
        return sql_error(f"Column '{self.schema.name}.{name}' is invalid in the select list "
                         "because it is not contained in either an aggregate function or the "
                         "GROUP BY clause.")

    def compile(self, select: tsql.SelectList | None, where: tsql.Condition | None,
                group_by: list[tsql.Column] | None, order_by: list[tsql.OrderItem] | None,
                limit: int, offset: int, shuffle: bool) -> CompiledSelect:
        # An aggregate in ORDER BY also makes the query an aggregate one (SQL Server rules).
        has_aggregate = any(
            isinstance(item.expr, tsql.Aggregate)
            for item in [*(select.items if select else ()), *(order_by or ())]
        )
        grouped_names: set[str] | None = None
        group_sql = ""
        if group_by:
            grouped_names = {self.schema.column(c.name)[0] for c in group_by}
            group_sql = " GROUP BY " + ", ".join(quote_identifier(n) for n in
                                                 [self.schema.column(c.name)[0]
                                                  for c in group_by])
        elif has_aggregate:
            grouped_names = set()
        outputs = self.outputs(select, grouped_names)
        columns_sql = ", ".join(f"{o.sql} AS {quote_identifier(f'c{i}')}"
                                for i, o in enumerate(outputs))
        distinct = "DISTINCT " if select and select.distinct else ""
        body = f"SELECT {distinct}{columns_sql} FROM {self.table_sql}"
        params: list[Any] = []
        if where is not None:
            fragment = self.where.condition(where)
            body += f" WHERE {fragment.sql}"
            params = fragment.params
        body += group_sql
        order_sql = self.order_sql(order_by, outputs, grouped_names is not None or
                                   bool(distinct), shuffle)
        return CompiledSelect(
            sql=f"{body}{order_sql} LIMIT ? OFFSET ?",
            params=[*params, limit, offset],
            count_sql=f"SELECT COUNT(*) FROM ({body})",
            count_params=list(params),
            outputs=outputs,
        )

    def order_sql(self, order_by: list[tsql.OrderItem] | None, outputs: list[OutputColumn],
                  aggregated: bool, shuffle: bool) -> str:
        if not order_by:
            if shuffle:
                # Fault mode: SQL Server gives no stable order without ORDER BY.
                return " ORDER BY random()"
            return "" if aggregated else ' ORDER BY "PK_ID"'
        aliases = {o.key.lower(): quote_identifier(f"c{i}") for i, o in enumerate(outputs)}
        parts = []
        for item in order_by:
            if isinstance(item.expr, tsql.Aggregate):
                sql, _ = self.aggregate_sql(item.expr)
            else:
                lowered = item.expr.name.lower()
                try:
                    sql = quote_identifier(self.schema.column(item.expr.name)[0])
                except ApiError:
                    if lowered not in aliases:
                        raise
                    sql = aliases[lowered]
            parts.append(f"{sql} {'DESC' if item.descending else 'ASC'}")
        return " ORDER BY " + ", ".join(parts)


__all__ = ["CompiledSelect", "Fragment", "SelectCompiler", "WhereCompiler"]
