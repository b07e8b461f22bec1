"""Availability: series and parallel formulas, the nines, downtime
budgets, and a seeded Monte Carlo run that checks the formula."""

import math
import random
from dataclasses import dataclass


# series: every component must be up, so availabilities multiply.
def series(*availabilities: float) -> float:
    return math.prod(availabilities)


# parallel: the group is down only when every member is down, so the
# unavailabilities (1 - a) multiply.
def parallel(*availabilities: float) -> float:
    return 1 - math.prod(1 - a for a in availabilities)


def nines(a: float) -> float:
    """Return -log10(1 - a): 3 for 99.9%, 4 for 99.99%."""
    return -math.log10(1 - a)


def hms(seconds: float) -> str:
    """Format seconds, rounded to whole seconds, as "8h 45m 36s"."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h {s // 60 % 60:02d}m {s % 60:02d}s"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


LB = 0.999  # load balancer
APP = 0.99  # each application replica
DB = 0.999  # database, and its standby when there is one
MTTR = 1.0  # mean time to repair of every component, hours
YEAR = 8760.0


@dataclass
class Component:
    """Alternates between up and down. Time to failure and time to
    repair are exponential, with means mtbf and mttr."""

    mtbf: float
    mttr: float
    tier: int  # 0: load balancer, 1: replicas, 2: database
    up: bool = True
    next: float = 0.0  # hours until it fails or is repaired


# Derive the MTBF from availability = MTBF / (MTBF + MTTR).
def new_component(a: float, tier: int) -> Component:
    return Component(mtbf=MTTR * a / (1 - a), mttr=MTTR, tier=tier)


def system_up(comps: list[Component]) -> bool:
    tiers = [False, False, False]
    for c in comps:
        tiers[c.tier] = tiers[c.tier] or c.up
    return all(tiers)


# Run the topology for years of simulated time and return the share of
# time it was up: every tier needs one component up.
def simulate(rng: random.Random, comps: list[Component], years: float) -> float:
    for c in comps:
        c.up = True
        c.next = rng.expovariate(1 / c.mtbf)
    now, up_time, end = 0.0, 0.0, years * YEAR
    while now < end:
        # => the next event is the component that changes state first
        k = min(range(len(comps)), key=lambda i: comps[i].next)
        step = min(comps[k].next, end - now)
        if system_up(comps):
            up_time += step
        now += step
        for c in comps:
            c.next -= step
        if now >= end:
            break
        c = comps[k]
        c.up = not c.up
        c.next = rng.expovariate(1 / (c.mtbf if c.up else c.mttr))
    return up_time / end


def main() -> None:
    # Series and parallel, then the whole topology:
    # load balancer -> 2 replicas in parallel -> database.
    print(f"series LB and DB:     {100 * series(LB, DB):.4f}%")
    # => prints: series LB and DB:     99.8001%
    print(f"2 replicas parallel:  {100 * parallel(APP, APP):.4f}%")
    # => prints: 2 replicas parallel:  99.9900%
    system = series(LB, parallel(APP, APP), DB)
    print(
        f"LB -> 2 apps -> DB:   {100 * system:.4f}% ({nines(system):.2f} nines)"
    )
    # => prints: LB -> 2 apps -> DB:   99.7901% (2.68 nines)

    # A standby database in parallel removes most of the database's
    # downtime. The load balancer, now alone in series, dominates.
    standby = series(LB, parallel(APP, APP), parallel(DB, DB))
    print(
        f"with a DB standby:    {100 * standby:.4f}% "
        f"({nines(standby):.2f} nines)"
    )
    # => prints: with a DB standby:    99.8899% (2.96 nines)

    # The downtime budget: what each target allows per year and per
    # 30 days (about the monthly billing cycle that AWS SLAs measure).
    print("target     per year      per 30 days")
    for label, down in [("99.9%", 1e-3), ("99.99%", 1e-4), ("99.999%", 1e-5)]:
        print(
            f"{label:<9}  {hms(down * YEAR * 3600):<12}  "
            f"{hms(down * 720 * 3600)}"
        )
    # => prints: target     per year      per 30 days
    # => prints: 99.9%      8h 45m 36s    43m 12s
    # => prints: 99.99%     52m 34s       4m 19s
    # => prints: 99.999%    5m 15s        26s

    # Monte Carlo: 1,000 simulated years of the same topology with a
    # fixed seed. The run is repeatable, but its digits differ from the
    # Go version because the two languages' generators differ.
    rng = random.Random(42)
    comps = [
        new_component(LB, 0),
        new_component(APP, 1),
        new_component(APP, 1),
        new_component(DB, 2),
    ]
    measured = simulate(rng, comps, 1000)
    print(f"Monte Carlo, 1000 years: {100 * measured:.4f}%")
    # => prints: Monte Carlo, 1000 years: 99.7901% (varies)

    # => the unavailabilities agree within 5%: about 1% is expected
    # from 17,500 load balancer and database outages
    ratio = (1 - measured) / (1 - system)
    agrees = "yes" if abs(ratio - 1) < 0.05 else "no"
    print("agrees with the formula within 5%:", agrees)
    # => prints: agrees with the formula within 5%: yes


if __name__ == "__main__":
    main()
