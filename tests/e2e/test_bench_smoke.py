"""The benchmark harness end to end on the seed estate with no added delay: shape of its output, not its timings."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.report import write_all
from bench.run import SCENARIOS, run


def test_bench_harness_on_the_seed_estate(tmp_path: Path) -> None:
    # GIVEN the seed estate and a local AWS with no delay
    # WHEN the harness runs every scenario once and writes its three files
    quick = {"calibration_calls": 20, "cpu_repeats": 1, "seed_repeats": 1, "heal_repeats": 1, "construction_repeats": 2}
    estate_before = os.environ.get("SELFHEAL_ESTATE")
    data = run(0, [15], seq_budget_s=60, import_runs=1, log=lambda *_: None, **quick)
    # the time-to-heal measurement runs the handler in this process: the estate the session named is still named
    assert os.environ.get("SELFHEAL_ESTATE") == estate_before
    write_all(data, tmp_path)

    # THEN the JSON has the expected keys and plausible numbers
    saved = json.loads((tmp_path / "benchmarks.json").read_text())
    assert {"delay_ms", "per_call", "chains", "estates", "cold_start", "machine"} <= saved.keys()
    assert saved["per_call"]["at_0ms"]["wall_ms"] > 0
    (estate,) = saved["estates"]
    assert (estate["size"], estate["tables"], estate["buckets"]) == (15, 13, 2)
    assert set(estate["scenarios"]) == set(SCENARIOS)
    for name, s in estate["scenarios"].items():
        assert s["wall_s"] > 0 and s["bound_s"] > 0 and s["sequential"]["wall_s"] > 0, name
        assert s["calls"]["reads"] > 0, name
        assert s["summary"]["checked"] == 15, name
        assert {"table", "bucket", "account"} <= s["calls"]["by_kind"].keys()
    healthy = estate["scenarios"]["healthy"]
    assert healthy["calls"]["writes"] == 0
    assert healthy["summary"].get("ok") == 15
    assert estate["scenarios"]["fresh"]["summary"].get("created") == 15
    assert estate["scenarios"]["drift"]["summary"].get("repaired") == 15
    cold = saved["cold_start"]
    assert cold["handler_import_cpu_ms"] > 0 and cold["boto3_import_cpu_ms"] > 0 and cold["version_cpu_ms"] > 0
    # the cold init's first run is a healthy pass of the shipped estate (the seed's 15 and their AWS Backup plan), and
    # it builds exactly the clients measured
    (init,) = cold["cold_init_runs"]
    assert init["summary"]["ok"] == 16 and init["api_calls"]["writes"] == 0
    built = saved["client_construction"]
    assert init["clients_built"] == sorted([*built["services"], built["sixth"]])  # the seed's five, and backup
    assert cold["cold_init_uncompiled"]["summary"]["ok"] == 16
    # the built package as Lambda gets it (make test builds first): its own bytecode, botocore's data parsed at build
    assert cold["bytecode"] == "shipped" and cold["function_pyc_files"] > 0 and cold["layer_pyc_files"] > 0
    assert init["service_data"] == "CachedLoader" and cold["service_data_bytes"] > 0
    assert saved["client_construction"]["cpu_ms"] > 0
    md = (tmp_path / "benchmarks.md").read_text()
    assert "| target | met | measured |" in md and "| cold init: the first five clients |" in md
    # each phase counts the fresh memory it faulted in: the clients' row says how much
    faults = cold["cold_init"]["clients"]["page_faults"]
    assert init["clients"]["page_faults"] > 0 and f"; {faults:.0f} page faults" in md
    assert (tmp_path / "benchmarks.png").stat().st_size > 0
    # time to heal after each change of the demo: the deleted table is restored in two runs, the others repaired
    healing = saved["time_to_heal"]
    assert {k: h["outcome"] for k, h in healing.items()} == {
        "table deleted": "restored", "PITR switched off": "repaired", "bucket made public": "repaired"}
    assert healing["table deleted"]["followup_run_s"] > 0 and healing["PITR switched off"]["followup_run_s"] == 0
    assert "## Time to heal after a change" in (tmp_path / "benchmarks.md").read_text()
