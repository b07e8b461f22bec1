// Availability: series and parallel formulas, the nines, downtime
// budgets, and a seeded Monte Carlo run that checks the formula.
package main

import (
	"fmt"
	"math"
	"math/rand"
)

// series: every component must be up, so availabilities multiply.
func series(as ...float64) float64 {
	p := 1.0
	for _, a := range as {
		p *= a
	}
	return p
}

// parallel: the group is down only when every member is down, so the
// unavailabilities (1 - a) multiply.
func parallel(as ...float64) float64 {
	q := 1.0
	for _, a := range as {
		q *= 1 - a
	}
	return 1 - q
}

// nines returns -log10(1 - a): 3 for 99.9%, 4 for 99.99%.
func nines(a float64) float64 { return -math.Log10(1 - a) }

// hms formats seconds, rounded to whole seconds, as "8h 45m 36s".
func hms(seconds float64) string {
	s := int(math.Round(seconds))
	switch {
	case s >= 3600:
		return fmt.Sprintf("%dh %02dm %02ds", s/3600, s/60%60, s%60)
	case s >= 60:
		return fmt.Sprintf("%dm %02ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}

const (
	lb   = 0.999 // load balancer
	app  = 0.99  // each application replica
	db   = 0.999 // database, and its standby when there is one
	mttr = 1.0   // mean time to repair of every component, hours
	year = 8760.0
)

// component alternates between up and down. Time to failure and time
// to repair are exponential, with means mtbf and mttr.
type component struct {
	mtbf, mttr float64
	up         bool
	next       float64 // hours until it fails or is repaired
	tier       int     // 0: load balancer, 1: replicas, 2: database
}

// simulate runs the topology for years of simulated time and returns
// the share of time it was up: every tier needs one component up.
func simulate(rng *rand.Rand, comps []component, years float64) float64 {
	for i := range comps {
		comps[i].up = true
		comps[i].next = rng.ExpFloat64() * comps[i].mtbf
	}
	now, upTime, end := 0.0, 0.0, years*year
	for now < end {
		// => the next event is the component that changes state first
		k := 0
		for i := range comps {
			if comps[i].next < comps[k].next {
				k = i
			}
		}
		step := min(comps[k].next, end-now)
		if systemUp(comps) {
			upTime += step
		}
		now += step
		for i := range comps {
			comps[i].next -= step
		}
		if now >= end {
			break
		}
		c := &comps[k]
		c.up = !c.up
		if c.up {
			c.next = rng.ExpFloat64() * c.mtbf
		} else {
			c.next = rng.ExpFloat64() * c.mttr
		}
	}
	return upTime / end
}

func systemUp(comps []component) bool {
	var tierUp [3]bool
	for _, c := range comps {
		tierUp[c.tier] = tierUp[c.tier] || c.up
	}
	return tierUp[0] && tierUp[1] && tierUp[2]
}

// newComponent derives the MTBF from availability = MTBF / (MTBF + MTTR).
func newComponent(a float64, tier int) component {
	return component{mtbf: mttr * a / (1 - a), mttr: mttr, tier: tier}
}

func main() {
	// Series and parallel, then the whole topology:
	// load balancer -> 2 replicas in parallel -> database.
	fmt.Printf("series LB and DB:     %.4f%%\n", 100*series(lb, db))
	// => prints: series LB and DB:     99.8001%
	fmt.Printf("2 replicas parallel:  %.4f%%\n", 100*parallel(app, app))
	// => prints: 2 replicas parallel:  99.9900%
	system := series(lb, parallel(app, app), db)
	fmt.Printf("LB -> 2 apps -> DB:   %.4f%% (%.2f nines)\n",
		100*system, nines(system))
	// => prints: LB -> 2 apps -> DB:   99.7901% (2.68 nines)

	// A standby database in parallel removes most of the database's
	// downtime. The load balancer, now alone in series, dominates.
	standby := series(lb, parallel(app, app), parallel(db, db))
	fmt.Printf("with a DB standby:    %.4f%% (%.2f nines)\n",
		100*standby, nines(standby))
	// => prints: with a DB standby:    99.8899% (2.96 nines)

	// The downtime budget: what each target allows per year and per
	// 30 days (about the monthly billing cycle that AWS SLAs measure).
	fmt.Println("target     per year      per 30 days")
	targets := []struct {
		label string
		down  float64 // unavailability, 1 - target
	}{{"99.9%", 1e-3}, {"99.99%", 1e-4}, {"99.999%", 1e-5}}
	for _, t := range targets {
		fmt.Printf("%-9s  %-12s  %s\n", t.label,
			hms(t.down*year*3600), hms(t.down*720*3600))
	}
	// => prints: target     per year      per 30 days
	// => prints: 99.9%      8h 45m 36s    43m 12s
	// => prints: 99.99%     52m 34s       4m 19s
	// => prints: 99.999%    5m 15s        26s

	// Monte Carlo: 1,000 simulated years of the same topology with a
	// fixed seed. The run is repeatable, but its digits differ from the
	// Python version because the two languages' generators differ.
	rng := rand.New(rand.NewSource(42))
	comps := []component{newComponent(lb, 0), newComponent(app, 1),
		newComponent(app, 1), newComponent(db, 2)}
	measured := simulate(rng, comps, 1000)
	fmt.Printf("Monte Carlo, 1000 years: %.4f%%\n", 100*measured)
	// => prints: Monte Carlo, 1000 years: 99.7901% (varies)

	// => the unavailabilities agree within 5%: about 1% is expected
	// from 17,500 load balancer and database outages
	ratio := (1 - measured) / (1 - system)
	agrees := "no"
	if math.Abs(ratio-1) < 0.05 {
		agrees = "yes"
	}
	fmt.Println("agrees with the formula within 5%:", agrees)
	// => prints: agrees with the formula within 5%: yes
}
