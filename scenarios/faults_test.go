package scenarios

import (
	"errors"
	"strings"
	"testing"
)

func TestFiguresFormatAndReport(t *testing.T) {
	e := &Env{}
	e.Figure("reads", 10412)
	e.Figure("rotations", int64(112))
	e.Figure("torn", 0)
	e.Figure("errors counted", 1234567.0)
	e.Figure("skipped", "kind")
	want := "10,412 reads, 112 rotations, 0 torn, 1,234,567 errors counted, kind skipped"
	if got := e.Figures(); got != want {
		t.Fatalf("Figures() = %q, want %q", got, want)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -12345: "-12,345"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	results := []Result{
		{Scenario: Scenario{Name: "faults/torn-reads", Section: "S"}, Figures: want},
		{Scenario: Scenario{Name: "faults/other", Section: "S"}, Err: errors.New("broke")},
	}
	var tb, md strings.Builder
	if err := WriteTable(&tb, results); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tb.String(), "FIGURES") || !strings.Contains(tb.String(), "10,412 reads") {
		t.Errorf("table lacks the figures column:\n%s", tb.String())
	}
	if err := WriteMarkdown(&md, "local", results); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| Figures |") || !strings.Contains(md.String(), "| 10,412 reads, 112 rotations") {
		t.Errorf("Markdown report lacks the figures column:\n%s", md.String())
	}
}

// TestFaultsGroupRegistered: every faults/ scenario is in the catalogue,
// after the others and before the add-on is disabled.
func TestFaultsGroupRegistered(t *testing.T) {
	all := Catalogue()
	first, last, disable := -1, -1, -1
	for i, s := range all {
		if strings.HasPrefix(s.Name, "faults/") {
			if first < 0 {
				first = i
			}
			last = i
		}
		if strings.HasPrefix(s.Name, "addon/disable") && disable < 0 {
			disable = i
		}
	}
	if first < 0 {
		if len(faultScenarios) > 0 {
			t.Fatal("the faults/ group is not in the catalogue")
		}
		return
	}
	if disable >= 0 && last > disable {
		t.Errorf("faults/ scenarios run after addon/disable")
	}
	if last-first+1 != len(faultScenarios) {
		t.Errorf("faults/ scenarios are not one group: %d..%d for %d", first, last, len(faultScenarios))
	}
}
