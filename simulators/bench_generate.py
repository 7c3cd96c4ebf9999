"""How fast the simulators make fleets and pages (a benchmark, not a test: run it by hand).

.venv/bin/python simulators/bench_generate.py
"""

from __future__ import annotations

import time

from mdm_sim.graph import generate_devices
from mdm_sim.jamf import JamfSim, SimConfig, generate_computers, generate_mobiles


def best_of(n: int, fn: object) -> float:
    assert callable(fn)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    print(f"graph: 100,000 devices        {best_of(3, lambda: generate_devices(100_000, seed=1)):.2f} s")
    both = best_of(3, lambda: (generate_computers(10_000, seed=1), generate_mobiles(10_000, seed=1)))
    print(f"jamf: 10,000 + 10,000 devices {both:.2f} s")
    sim = JamfSim(generate_computers(20_000, seed=1), [], SimConfig())
    sections = ["GENERAL", "HARDWARE", "OPERATING_SYSTEM", "USER_AND_LOCATION", "STORAGE"]
    page = best_of(3, lambda: sim.page("computer", 1, 2000, "id:asc", sections))
    print(f"jamf: one 2,000-device page   {page * 1000:.0f} ms")


if __name__ == "__main__":
    main()
