"""Key text as Caspio compares it: one normalisation for every key the bridge remembers.

Caspio tables live in SQL Server with its default collation: text comparisons ignore case,
and `=` ignores trailing spaces (ANSI padding). So `ck1-alice`, `CK1-ALICE` and
`ck1-alice ` name one Caspio row, and a unique key refuses the second of them. The bridge's
own memory (rows written, subscription records grouped by customer, cached plan facts) is
keyed by `caspio_key(text)`, so that keys Caspio treats as one are one key in the bridge
too; what the bridge writes to Caspio keeps the text it was given.
"""

from __future__ import annotations


def caspio_key(text: str) -> str:
    """`text` lower-cased, trailing spaces (U+0020 only, as SQL Server pads) removed."""
    return text.rstrip(" ").lower()
