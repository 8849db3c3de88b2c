package sim

import (
	"strings"
	"testing"
)

// TestSteadyRotationBound checks the rotation invariant against figures a
// sharing provider produces (the CI run: 93 reads in 3 cycles of 5 nodes × 6
// objects) and against what a provider reading once per pod produces (100
// pods × 3 objects a cycle): the first holds, the second is reported.
func TestSteadyRotationBound(t *testing.T) {
	pass := func(reads, challenges int64) *Result {
		return &Result{Passes: []*PassResult{{
			Pods: 100, Running: 100, Nodes: 5, DistinctObjects: 6,
			Rotated: true, RotationPods: 50, RotationUpdated: 50, SyncedUpdated: true,
			SteadyCycles: 3, SteadyCycleKV: counts{KV: reads + challenges, Challenges: challenges},
		}}}
	}
	if b := CheckInvariants(pass(93, 10)); len(b) != 0 {
		t.Errorf("93 reads in 3 cycles (bound 90 + one round) reported broken: %v", b)
	}
	b := CheckInvariants(pass(900, 0))
	if len(b) != 1 || !strings.Contains(b[0], "900 Key Vault reads") {
		t.Errorf("a provider reading once per pod (900 reads in 3 cycles) was not reported: %v", b)
	}
}
