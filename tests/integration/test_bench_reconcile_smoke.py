"""bench.reconcile still runs at its smallest size and reports its figures (never a time)."""

from __future__ import annotations

from bench import reconcile


def test_reconcile_bench_runs_and_a_second_repair_finds_nothing(capsys):
    figures = reconcile.main(["--customers", "2", "--months", "1"])
    assert set(reconcile.KEYS) <= set(figures)
    for run in figures["runs"].values():
        assert set(reconcile.RUN_KEYS) <= set(run)
    assert figures["runs"]["second repair"]["differences"] == 0
    assert "reconcile second repair" in capsys.readouterr().out
