package scenarios

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Failed counts the results whose behaviour did not hold.
func Failed(results []Result) int {
	n := 0
	for _, r := range results {
		if !r.Passed() && !r.Skipped() {
			n++
		}
	}
	return n
}

// WriteTable prints the behaviour table: behaviour, result, duration and the
// documentation section it proves.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BEHAVIOUR\tRESULT\tDURATION\tFIGURES\tDOCUMENTATION SECTION")
	var total time.Duration
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Scenario.Name, verdict(r), r.Duration, r.Figures, r.Scenario.Section)
		total += r.Duration
	}
	fmt.Fprintf(tw, "\t%d/%d passed%s\t%s\t\t\n", len(results)-Failed(results)-Skipped(results), len(results), skippedNote(results), total.Round(time.Second))
	return tw.Flush()
}

// WriteMarkdown writes the same table as a Markdown report, with the failure
// messages below it.
func WriteMarkdown(w io.Writer, target string, results []Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# kvcsi behaviour report (target %s)\n\n", target)
	fmt.Fprintf(&b, "%d of %d behaviours hold%s.\n\n", len(results)-Failed(results)-Skipped(results), len(results), skippedNote(results))
	b.WriteString("| Behaviour | Result | Duration | Figures | Documentation section | Implemented by |\n|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| `%s` — %s | %s | %s | %s | %s | %s |\n", r.Scenario.Name, mdEscape(r.Scenario.Summary),
			verdict(r), r.Duration, mdEscape(r.Figures), mdEscape(r.Scenario.Section), mdEscape(strings.Join(r.Scenario.Code, ", ")))
	}
	if Failed(results) > 0 {
		b.WriteString("\n## Failures\n")
		for _, r := range results {
			if !r.Passed() && !r.Skipped() {
				fmt.Fprintf(&b, "\n### `%s`\n\n```\n%s\n```\n", r.Scenario.Name, r.Err)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// skippedNote is ", N skipped" when any scenario was skipped.
func skippedNote(results []Result) string {
	if n := Skipped(results); n > 0 {
		return fmt.Sprintf(", %d skipped", n)
	}
	return ""
}

func verdict(r Result) string {
	if r.Skipped() {
		return "SKIP (" + strings.TrimPrefix(r.Err.Error(), "skipped: ") + ")"
	}
	if r.Passed() {
		return "PASS"
	}
	return "FAIL"
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
