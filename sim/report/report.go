// Package report writes a sim run as Markdown with PNG plots (gonum/plot) and
// prints its summary table.
package report

import (
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Report is one run: its settings, one Pass per configuration, notes.
type Report struct {
	Title    string
	Settings [][2]string
	Passes   []Pass
	// Rows are the metric names, in order, shown for every pass.
	Rows  []string
	Notes []string
	// API tables: per pass, "verb resource" → count.
	APITitle string
}

// Pass is one configuration's numbers and time series.
type Pass struct {
	Label   string
	Values  map[string]string
	API     map[string]int64
	Kubelet map[string]int64
	// SteadyAPI are the drivers' requests in the steady rotation window
	// ("verb resource" → count), when the workload measured one.
	SteadyAPI map[string]int64
	Series    Series
}

// Series are per-second samples.
type Series struct {
	T           []float64
	Running     []float64
	KVps        []float64
	Entraps     []float64
	Propagation []float64 // nil when the workload rotates nothing
	// RSS per process name ("<node>/driver", "<node>/provider") in MiB.
	RSS map[string][]float64
	// Limit is the Key Vault service limit in requests per second (averaged
	// over its window).
	Limit float64
}

// Summary prints the metric table.
func (r *Report) Summary(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "metric")
	for _, p := range r.Passes {
		fmt.Fprintf(tw, "\t%s", p.Label)
	}
	fmt.Fprintln(tw)
	for _, row := range r.Rows {
		fmt.Fprint(tw, row)
		for _, p := range r.Passes {
			fmt.Fprintf(tw, "\t%s", p.Values[row])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// Write writes dir/report.md and its plots.
func Write(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	b.WriteString("| setting | value |\n|---|---|\n")
	for _, s := range r.Settings {
		fmt.Fprintf(&b, "| %s | %s |\n", s[0], s[1])
	}
	b.WriteString("\n## Summary\n\n| metric |")
	for _, p := range r.Passes {
		fmt.Fprintf(&b, " %s |", p.Label)
	}
	b.WriteString("\n|---|")
	for range r.Passes {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s |", row)
		for _, p := range r.Passes {
			fmt.Fprintf(&b, " %s |", p.Values[row])
		}
		b.WriteString("\n")
	}
	plots := []struct {
		file, title string
		fn          func(string) (bool, error)
	}{
		{"pods-running.png", "Pods Running over time", func(f string) (bool, error) {
			return r.plotLines(f, "Pods Running", "pods", func(s Series) []float64 { return s.Running }, 0)
		}},
		{"kv-requests.png", "Key Vault requests per second (service limit dashed)", func(f string) (bool, error) {
			lim := 0.0
			if len(r.Passes) > 0 {
				lim = r.Passes[0].Series.Limit
			}
			return r.plotLines(f, "Key Vault requests per second", "requests/s", func(s Series) []float64 { return s.KVps }, lim)
		}},
		{"rotation.png", "Rotation propagation", func(f string) (bool, error) {
			return r.plotLines(f, "Fraction of rotated pods on the new version", "fraction", func(s Series) []float64 { return s.Propagation }, 0)
		}},
		{"rss.png", "RSS per node process", r.plotRSS},
	}
	b.WriteString("\n## Plots\n\n")
	for _, p := range plots {
		ok, err := p.fn(filepath.Join(dir, p.file))
		if err != nil {
			return fmt.Errorf("plot %s: %w", p.file, err)
		}
		if ok {
			fmt.Fprintf(&b, "### %s\n\n![%s](%s)\n\n", p.title, p.title, p.file)
		}
	}
	for _, p := range r.Passes {
		if len(p.API) == 0 && len(p.Kubelet) == 0 {
			continue
		}
		fmt.Fprintf(&b, "## apiserver requests, %s\n\n| verb resource | drivers | simkubelets |\n|---|---|---|\n", p.Label)
		keys := map[string]bool{}
		for k := range p.API {
			keys[k] = true
		}
		for k := range p.Kubelet {
			keys[k] = true
		}
		for _, k := range sorted(keys) {
			fmt.Fprintf(&b, "| %s | %d | %d |\n", k, p.API[k], p.Kubelet[k])
		}
		b.WriteString("\n")
	}
	for _, p := range r.Passes {
		if len(p.SteadyAPI) == 0 {
			continue
		}
		fmt.Fprintf(&b, "## apiserver requests by the drivers in the steady rotation window, %s\n\n| verb resource | drivers |\n|---|---|\n", p.Label)
		keys := map[string]bool{}
		for k := range p.SteadyAPI {
			keys[k] = true
		}
		for _, k := range sorted(keys) {
			fmt.Fprintf(&b, "| %s | %d |\n", k, p.SteadyAPI[k])
		}
		b.WriteString("\n")
	}
	if len(r.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644)
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

var palette = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},
	color.RGBA{R: 214, G: 39, B: 40, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255},
	color.RGBA{R: 148, G: 103, B: 189, A: 255},
}

// plotLines draws one line per pass; limit > 0 adds a dashed horizontal line.
func (r *Report) plotLines(file, title, ylabel string, get func(Series) []float64, limit float64) (bool, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds since the pass started"
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	any := false
	maxT := 0.0
	for i, ps := range r.Passes {
		ys := get(ps.Series)
		if ys == nil {
			continue
		}
		pts := plotter.XYs{}
		for j, y := range ys {
			if j >= len(ps.Series.T) || y < 0 {
				continue
			}
			pts = append(pts, plotter.XY{X: ps.Series.T[j], Y: y})
			maxT = max(maxT, ps.Series.T[j])
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return false, err
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(ps.Label, l)
		any = true
	}
	if !any {
		return false, nil
	}
	if limit > 0 {
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: limit}, {X: maxT, Y: limit}})
		if err != nil {
			return false, err
		}
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		l.Color = color.Black
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("service limit (%.0f/s averaged)", limit), l)
	}
	return true, p.Save(8*vg.Inch, 4*vg.Inch, file)
}

// plotRSS draws every node process of the first pass: drivers blue,
// providers red.
func (r *Report) plotRSS(file string) (bool, error) {
	if len(r.Passes) == 0 || len(r.Passes[0].Series.RSS) == 0 {
		return false, nil
	}
	ps := r.Passes[0]
	p := plot.New()
	p.Title.Text = "RSS per node process (" + ps.Label + ")"
	p.X.Label.Text = "seconds since the pass started"
	p.Y.Label.Text = "MiB"
	p.Legend.Top = true
	shown := map[string]bool{}
	names := map[string]bool{}
	for k := range ps.Series.RSS {
		names[k] = true
	}
	for _, name := range sorted(names) {
		ys := ps.Series.RSS[name]
		pts := plotter.XYs{}
		for j, y := range ys {
			if j < len(ps.Series.T) && y > 0 {
				pts = append(pts, plotter.XY{X: ps.Series.T[j], Y: y})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return false, err
		}
		kind := "driver"
		l.Color = palette[0]
		if strings.HasSuffix(name, "/provider") {
			kind = "provider"
			l.Color = palette[1]
		}
		p.Add(l)
		if !shown[kind] {
			p.Legend.Add(kind+" (one line per node)", l)
			shown[kind] = true
		}
	}
	return true, p.Save(8*vg.Inch, 4*vg.Inch, file)
}
