package apply

import (
	"slices"
	"sync"

	"github.com/lockstep-dev/lockstep/internal/plan"
)

// parallel bounds the requests one Observe or Apply has in flight. One at a
// time, an Application of thousands of objects waits out thousands of round
// trips; a few at a time hide them, while the client's rate limit and the API
// server's priority and fairness still pace what one sync may ask.
const parallel = 8

// forEach calls fn(i) for every i in [0, n), at most parallel at a time, and
// returns once every call has returned. fn must write only what index i owns
// (a slot of a results slice) or what a lock guards: callers merge the results
// in index order afterwards, so what they return does not depend on which call
// finished first.
func forEach(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

// runs splits the steps with one of the actions into runs of consecutive steps
// of one sync wave and kind rank, in plan order. The steps of a run do not need
// each other (plan.Rank), so a run may be carried out at once; a run may need
// the runs before it, so runs go one after the other.
func runs(steps []plan.Step, actions ...plan.Action) [][]plan.Step {
	var out [][]plan.Step
	for _, s := range steps {
		if !slices.Contains(actions, s.Action) {
			continue
		}
		if n := len(out); n > 0 && out[n-1][0].Wave == s.Wave && plan.Rank(out[n-1][0].Key) == plan.Rank(s.Key) {
			out[n-1] = append(out[n-1], s)
			continue
		}
		out = append(out, []plan.Step{s})
	}
	return out
}
