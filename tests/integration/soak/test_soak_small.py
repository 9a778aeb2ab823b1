"""The soak's CI size: about 1,000 events through the whole stack with duplicated and
reordered deliveries, Caspio failing 10 % of calls, rate-limiting 5 % and down for 10 s, and
the bridge SIGKILLed once; then Caspio must equal what the Stripe emulator implies.

The full size (10,000 events, two kills, a 60 s outage) is `python -m bench.soak`.
"""

from __future__ import annotations

import pytest

from bench import soak

pytestmark = pytest.mark.slow


def test_nothing_lost_duplicated_or_wrong_after_faults_and_a_kill():
    figures = soak.run(events=1000, kills=1, outage_seconds=10, seed=11)
    assert figures["restarts"] == 1
    assert figures["events_sent"] >= 900
    assert figures["duplicates"] > 0 and figures["faults_injected"] > 0
    assert figures["examples"] == []
    assert (figures["rows_lost"], figures["rows_duplicated"], figures["rows_wrong"]) == (0, 0, 0)
    assert figures["dead_events"] == 0 and figures["unsettled_events"] == 0
    assert figures["rows_checked"] > 100
