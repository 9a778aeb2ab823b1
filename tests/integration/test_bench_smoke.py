"""The benchmarks still run: each main at its smallest size, figures present.

Only completion and the reported keys are checked, never a time: speed is read from the
benchmarks' printed tables (bench/README.md), not asserted here.
"""

from __future__ import annotations

import json

from bench import plan_sync, renewals, sandbox_startup, webhook_ingest


def test_webhook_ingest_runs_and_reports_its_figures(capsys):
    figures = webhook_ingest.main(["--events", "5", "--threads", "2"])
    assert set(webhook_ingest.KEYS) <= set(figures)
    assert "accepted / s" in capsys.readouterr().out


def test_renewals_runs_and_reports_its_figures(capsys):
    figures = renewals.main(["--customers", "2", "--months", "1"])
    assert set(renewals.KEYS) <= set(figures)
    assert len(figures["per_month"]) == 1
    assert "Caspio calls / renewal" in capsys.readouterr().out


def test_plan_sync_runs_and_reports_its_figures(capsys):
    figures = plan_sync.main(["--plans", "3"])
    assert set(plan_sync.KEYS) <= set(figures)
    for sync in ("first", "second"):
        assert set(plan_sync.PASS_KEYS) <= set(figures[sync])
    out = capsys.readouterr().out
    assert "second (no-op) sync" in out
    # The last line is the figures as JSON, as every benchmark prints them.
    printed = json.loads(out.strip().splitlines()[-1])
    assert printed["second"]["caspio_writes"] == figures["second"]["caspio_writes"] == 0


def test_sandbox_startup_runs_and_reports_its_figures(capsys):
    figures = sandbox_startup.main(["--runs", "1"])
    assert set(sandbox_startup.KEYS) <= set(figures)
    assert "fresh start to URL" in capsys.readouterr().out


def test_intake_runs_under_the_deployed_server_and_reports_its_figures(capsys):
    from bench import intake

    figures = intake.main(["--rates", "20", "--duration", "1", "--max-events", "40",
                           "--connections", "4", "--database", "sqlite"])
    assert [row["offered_per_s"] for row in figures["runs"]] == [20.0, 0.0]
    for row in figures["runs"]:
        assert set(intake.KEYS) <= set(row)
        assert row["errors"] == 0
    assert "accepted / s" in capsys.readouterr().out


def test_drain_runs_both_ways_and_reports_the_ratio(capsys):
    from bench import drain

    figures = drain.main(["--events", "150", "--latency", "0.005", "--workers", "2",
                          "--baseline", "20"])
    assert set(drain.KEYS) <= set(figures)
    assert figures["handled"] == figures["events"] > 0
    assert figures["dead"] == 0 and figures["left"] == 0
    assert "speedup" in capsys.readouterr().out


def test_reconcile_at_scale_repairs_everything_then_finds_nothing(capsys):
    # 60 GUID keys make an IN (...) longer than Caspio's 2,047-character URI limit in one
    # request: reconcile must split its reads (this failed with HTTP 414 before).
    from bench import reconcile_scale

    figures = reconcile_scale.main(["--subscriptions", "60"])
    first, second = figures["first"], figures["second"]
    assert first["failures"] == 0 and first["rows_written"] >= 60
    assert second["differences"] == 0 and second["caspio_writes"] == 0
    assert "second reconcile" in capsys.readouterr().out


def test_a_benchmark_stopped_with_sigterm_runs_its_cleanup(tmp_path):
    """`kill` (SIGTERM) ends a benchmark through its finally blocks, as Ctrl-C does, so the
    servers it started stop and its PostgreSQL schema is dropped (bench._common.run_main)."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    marker = tmp_path / "cleaned-up"
    script = (
        "import sys, threading\n"
        "from bench._common import run_main\n"
        "def main(argv):\n"
        "    try:\n"
        "        print('measuring', flush=True)\n"
        "        threading.Event().wait()\n"
        "    finally:\n"
        f"        open({str(marker)!r}, 'w').write('stopped')\n"
        "run_main(main)\n"
    )
    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE,
                          text=True) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "measuring"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 128 + signal.SIGTERM
    assert marker.read_text() == "stopped"


def test_bad_benchmark_options_are_refused_in_one_line(capsys):
    import pytest

    from bench import drain, intake

    for main, argv in ((intake.main, ["--rates", "-5"]), (intake.main, ["--database", "both"]),
                       (intake.main, ["--duration", "0"]), (drain.main, ["--workers", "0"]),
                       (drain.main, ["--latency", "-1"])):
        with pytest.raises(SystemExit) as refused:
            main(argv)
        assert refused.value.code == 2
        assert "error: argument" in capsys.readouterr().err
