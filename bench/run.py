"""`python -m bench.run [--quick] [--out DIR]`: every benchmark, then bench/results.json and BENCHMARKS.md.

--quick runs tiny sizes (a smoke test of the harness, figures not meaningful) and, unless --out is
given, writes into a temporary directory so that the committed figures stay as they are.

Every run also keeps its figures and details in the temporary directory (`LAST_RUN`); `--render FILE`
writes BENCHMARKS.md and bench/results.json again from such a file, without measuring anything (when
only the report's wording changed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, machine, mocked_world, progress


@dataclass(frozen=True)
class Sizes:
    cold_rounds: int = 10
    cold_warmup: bool = True
    cold_profile: bool = True
    latency_runs: int = 100
    contracts: int = 100_000
    due: int = 1_000


FULL = Sizes()
QUICK = Sizes(cold_rounds=1, cold_warmup=False, cold_profile=False, latency_runs=2, contracts=200, due=10)


def run(sizes: Sizes) -> tuple[dict[str, Any], dict[str, Any]]:
    """All four benchmarks: (results in the documented format, details for the report)."""
    from bench import cold_start, latency, renewal, requests

    warnings.filterwarnings("ignore", message="No application metrics to publish")
    progress(f"cold start: {sizes.cold_rounds} rounds of every function and the floor")
    cold = cold_start.measure(sizes.cold_rounds, warmup=sizes.cold_warmup, profile=sizes.cold_profile)
    with mocked_world() as world:
        progress("requests per operation")
        counted = requests.measure(world)
        progress(f"warm latency: {sizes.latency_runs} runs per route")
        warm = latency.measure(world, sizes.latency_runs)
    with mocked_world() as world:
        progress(f"renewal at scale: {sizes.contracts} contracts, {sizes.due} due")
        try:
            scale = renewal.measure(world, sizes.contracts, sizes.due)
        except Exception as error:  # noqa: BLE001 - reported in BENCHMARKS.md
            scale = {"results": {}, "details": {"error": f"{type(error).__name__}: {error}"}}
    results = {
        "cold_start": cold["results"],
        "requests": counted["results"],
        "latency": {route: {k: r[k] for k in ("p50_ms", "p99_ms", "floor_p50_ms", "ratio")}
                    for route, r in warm.items() if "p50_ms" in r},
        "renewal": scale["results"],
    }
    details = {"cold_start": cold["details"], "requests": counted, "latency": warm, "renewal": scale["details"]}
    return results, details


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def write(results: dict[str, Any], details: dict[str, Any], run_info: dict[str, Any], out: Path) -> tuple[Path, Path]:
    from bench import report

    json_path = out / "bench" / "results.json"
    md_path = out / "BENCHMARKS.md"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(report.render(results, details, run_info), encoding="utf-8")
    return json_path, md_path


LAST_RUN = Path(tempfile.gettempdir()) / "seats-bench-last-run.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, not the code")
    parser.add_argument("--out", type=Path, help="directory for bench/results.json and BENCHMARKS.md")
    parser.add_argument("--render", type=Path, help="a kept run (see LAST_RUN) to write out again, unmeasured")
    args = parser.parse_args(argv)
    if args.render:
        kept = json.loads(args.render.read_text())
        json_path, md_path = write(kept["results"], kept["details"], kept["run_info"], args.out or ROOT)
        progress(f"rendered {args.render}: {json_path} and {md_path}")
        return 0
    sizes = QUICK if args.quick else FULL
    out = args.out or (Path(tempfile.mkdtemp(prefix="seats-bench-quick-")) if args.quick else ROOT)
    started = time.perf_counter()
    load_before = _load()
    with LoadWatch() as watch:
        results, details = run(sizes)
    run_info = {
        "quick": args.quick, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_s": time.perf_counter() - started, "machine": machine(), "load_before": load_before,
        "load_after": _load(), "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "cold_rounds": sizes.cold_rounds, "latency_runs": sizes.latency_runs, "load_during": watch.summary(),
    }
    LAST_RUN.write_text(json.dumps({"results": results, "details": details, "run_info": run_info}, default=str))
    json_path, md_path = write(results, details, run_info, out)
    progress(f"done in {run_info['wall_s']:.0f} s: {json_path} and {md_path}")
    return 0


class LoadWatch:
    """The 1-minute load average every `every` seconds while the benchmarks run (a daemon thread)."""

    def __init__(self, every: float = 15.0) -> None:
        import threading

        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-load", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                self.samples.append(os.getloadavg()[0])
            except OSError:
                return
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> LoadWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {}
        return {"mean": round(sum(self.samples) / len(self.samples), 2), "max": round(max(self.samples), 2),
                "samples": len(self.samples)}


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
