package deploy

import (
	"fmt"
	"testing"
)

func rule(name string) MinimumHealthyHosts {
	c, ok := Predefined(name)
	if !ok {
		panic(name)
	}
	return c.MinimumHealthyHosts
}

func TestMinimumRoundsPercentagesUp(t *testing.T) {
	for _, tc := range []struct {
		rule MinimumHealthyHosts
		n    int
		want int
	}{
		{rule(HalfAtATime), 9, 5}, // the reference's example: batches of 4, 5 must stay
		{rule(HalfAtATime), 4, 2},
		{rule(HalfAtATime), 1, 1},
		{rule(AllAtOnce), 7, 0},
		{rule(OneAtATime), 3, 2},
		{MinimumHealthyHosts{FleetPercent, 95}, 10, 10},
		{MinimumHealthyHosts{FleetPercent, 34}, 3, 2},
		{MinimumHealthyHosts{HostCount, 2}, 5, 2},
	} {
		if got := tc.rule.minimum(tc.n); got != tc.want {
			t.Errorf("%+v of %d hosts: minimum %d, want %d", tc.rule, tc.n, got, tc.want)
		}
	}
}

func TestInvalidMinimumFailsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		rule    MinimumHealthyHosts
		n       int
		invalid bool
	}{
		{MinimumHealthyHosts{FleetPercent, 95}, 10, true}, // the reference's example
		{MinimumHealthyHosts{HostCount, 3}, 3, true},
		{MinimumHealthyHosts{HostCount, 2}, 3, false},
		{rule(HalfAtATime), 1, true},
		{rule(OneAtATime), 1, false},
		{rule(AllAtOnce), 1, false},
	} {
		if got := newPlan(tc.rule, tc.n).invalid() != ""; got != tc.invalid {
			t.Errorf("%+v of %d hosts: invalid = %v, want %v", tc.rule, tc.n, got, tc.invalid)
		}
	}
}

// outcome of a whole deployment, simulated: each target in turn succeeds
// or fails as fails says, starting as many as the plan allows and ending
// each batch at once.
func simulate(p plan, fails map[int]bool) (ok bool, started []int, reason string) {
	n := p.total
	status := make([]string, n)
	for i := range status {
		status[i] = Pending
	}
	countOf := func() counts {
		var c counts
		for _, s := range status {
			switch s {
			case Pending:
				c.pending++
			case InProgress:
				c.inProgress++
			case Succeeded:
				c.succeeded++
			case Failed:
				c.failed++
			}
		}
		return c
	}
	for {
		k := p.startable(countOf())
		var batch []int
		for i := 0; i < n && k > 0; i++ {
			if status[i] == Pending {
				status[i] = InProgress
				batch = append(batch, i)
				k--
			}
		}
		started = append(started, len(batch))
		for _, i := range batch {
			status[i] = Succeeded
			if fails[i] {
				status[i] = Failed
			}
		}
		if done, ok, why := p.outcome(countOf()); done {
			return ok, started, why
		}
		if len(batch) == 0 {
			panic("no progress")
		}
	}
}

func TestBatchesAndOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rule    MinimumHealthyHosts
		n       int
		fails   []int
		ok      bool
		batches string
	}{
		{"one at a time, all succeed", rule(OneAtATime), 3, nil, true, "[1 1 1]"},
		{"one at a time, the last may fail", rule(OneAtATime), 3, []int{2}, true, "[1 1 1]"},
		{"one at a time, an earlier failure stops it", rule(OneAtATime), 3, []int{0}, false, "[1]"},
		{"one at a time, a single instance must succeed", rule(OneAtATime), 1, []int{0}, false, "[1]"},
		{"half at a time, 9 hosts go 4 at once", rule(HalfAtATime), 9, nil, true, "[4 4 1]"},
		{"half at a time, 4 hosts, one failure is tolerated", rule(HalfAtATime), 4, []int{0}, true, "[2 1 1]"},
		{"half at a time, 4 hosts, two failures fail it", rule(HalfAtATime), 4, []int{0, 1}, false, "[2]"},
		{"half at a time, 2 hosts", rule(HalfAtATime), 2, nil, true, "[1 1]"},
		{"all at once", rule(AllAtOnce), 5, nil, true, "[5]"},
		{"all at once needs one success", rule(AllAtOnce), 2, []int{0, 1}, false, "[2]"},
		{"all at once, one success is enough", rule(AllAtOnce), 3, []int{0, 1}, true, "[3]"},
		{"host count 2 of 5", MinimumHealthyHosts{HostCount, 2}, 5, nil, true, "[3 2]"},
		{"host count 2 of 5, a first batch that fails leaves the minimum", MinimumHealthyHosts{HostCount, 2}, 5, []int{0, 1, 2}, false, "[3]"},
		{"host count 2 of 5, failures the minimum tolerates", MinimumHealthyHosts{HostCount, 2}, 5, []int{0, 3}, true, "[3 2]"},
		{"host count 2 of 5, below the minimum", MinimumHealthyHosts{HostCount, 2}, 5, []int{0, 1, 3, 4}, false, "[3 1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fails := map[int]bool{}
			for _, i := range tc.fails {
				fails[i] = true
			}
			ok, started, why := simulate(newPlan(tc.rule, tc.n), fails)
			if ok != tc.ok {
				t.Errorf("ok = %v (%s), want %v", ok, why, tc.ok)
			}
			if got := fmt.Sprint(started); got != tc.batches {
				t.Errorf("batches %s, want %s", got, tc.batches)
			}
			if !ok && why == "" {
				t.Error("a failed outcome gives no reason")
			}
		})
	}
}
