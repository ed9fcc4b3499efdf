// Command benchplot turns `go test -bench` output into a line plot (a
// self-contained SVG) and a Markdown table for BENCHMARKS.md:
//
//	go test -run '^$' -bench Converge -benchtime 1x -count 3 ./internal/reconcile/ | tee bench.txt
//	go run ./hack/benchplot -x apps -metric converge-s,floor-s -o docs/bench/converge.svg bench.txt
//	go run ./hack/benchplot -x apps -metric converge-s,floor-s -table bench.txt
//
// The x value comes from a sub-benchmark parameter in the name (apps=500 in
// BenchmarkConverge/apps=500,guarded-2). Runs of the same benchmark (-count N)
// are summarised by their median; the table also shows the min–max spread.
// Benchmarks that differ in other name parts (",guarded") get lines of their own.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// result is one benchmark line: a single run of one benchmark.
type result struct {
	name   string             // without the -GOMAXPROCS suffix
	values map[string]float64 // unit → value
}

// series is one plotted line: one metric of the benchmarks that differ only in x.
type series struct {
	label  string
	points []point // sorted by x
}

type point struct {
	x    float64
	runs []float64 // sorted
}

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchplot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: benchplot -x PARAM -metric UNIT[,UNIT…] [flags] [bench.txt…]  (stdin without files)")
		fs.PrintDefaults()
	}
	x := fs.String("x", "", "sub-benchmark parameter used as the x axis, e.g. apps for …/apps=500 (required)")
	metrics := fs.String("metric", "", "comma-separated units to plot, one line each, e.g. converge-s,floor-s (required)")
	filter := fs.String("filter", "", "regexp a benchmark name (without -GOMAXPROCS) must match")
	title := fs.String("title", "", "plot title")
	ylabel := fs.String("y", "", "y-axis label (default: the metrics)")
	out := fs.String("o", "", "write the SVG to this file (default: stdout, unless -table)")
	table := fs.Bool("table", false, "print a Markdown table on stdout")
	logScale := fs.Bool("log", false, "log-log axes")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	if *x == "" || *metrics == "" {
		fmt.Fprintln(stderr, "benchplot: -x and -metric are required")
		fs.Usage()
		return 2
	}
	re, err := regexp.Compile(*filter)
	if err != nil {
		fmt.Fprintf(stderr, "benchplot: -filter: %v\n", err)
		return 2
	}
	var results []result
	if fs.NArg() == 0 {
		results = parse(stdin, "stdin", stderr)
	}
	for _, path := range fs.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "benchplot: %v\n", err)
			return 1
		}
		results = append(results, parse(bytes.NewReader(data), path, stderr)...)
	}
	units := strings.FieldsFunc(*metrics, func(c rune) bool { return c == ',' || c == ' ' })
	ss, err := collect(results, re, *x, units)
	if err != nil {
		fmt.Fprintf(stderr, "benchplot: %v\n", err)
		return 2
	}
	if *table {
		writeTable(stdout, *x, ss)
	}
	if *out == "" && *table {
		return 0
	}
	if *ylabel == "" {
		*ylabel = *metrics
	}
	svg, err := plot(ss, *title, *x, *ylabel, *logScale)
	if err == nil && *out != "" {
		err = os.WriteFile(*out, svg, 0o644)
	} else if err == nil {
		_, err = stdout.Write(svg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "benchplot: %v\n", err)
		return 1
	}
	return 0
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads benchmark lines and warns on stderr about those it cannot read.
// Lines not starting with "Benchmark" (goos:, PASS, logs) are ignored. When a
// benchmark writes to stdout, its output lands between the name and the
// numbers; the two are joined.
func parse(r io.Reader, src string, warn io.Writer) []result {
	var results []result
	var pending, pendingText string // a name still waiting for its numbers
	var pendingLine int
	flush := func() {
		if pending != "" {
			fmt.Fprintf(warn, "benchplot: %s:%d: skipped: no results for %s in %q\n", src, pendingLine, pending, pendingText)
		}
		pending = ""
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) > 0 && strings.HasPrefix(f[0], "Benchmark"):
			flush()
			if len(f) == 1 || !isInt(f[1]) {
				pending, pendingText, pendingLine = f[0], strings.TrimSpace(sc.Text()), n
				continue
			}
		case len(f) > 0 && pending != "" && isInt(f[0]):
			f = append([]string{pending}, f...)
			pending = ""
		default:
			continue
		}
		res, err := parseLine(f)
		if err != nil {
			fmt.Fprintf(warn, "benchplot: %s:%d: skipped: %v\n", src, n, err)
			continue
		}
		results = append(results, res)
	}
	flush()
	if err := sc.Err(); err != nil {
		fmt.Fprintf(warn, "benchplot: %s: %v\n", src, err)
	}
	return results
}

func isInt(s string) bool { _, err := strconv.ParseUint(s, 10, 64); return err == nil }

func parseLine(f []string) (result, error) {
	if len(f) < 4 || len(f)%2 != 0 || !isInt(f[1]) {
		return result{}, fmt.Errorf("want NAME ITERATIONS followed by VALUE UNIT pairs, got %q", strings.Join(f, " "))
	}
	res := result{name: procsSuffix.ReplaceAllString(f[0], ""), values: map[string]float64{}}
	for i := 2; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return result{}, fmt.Errorf("%s: value %q of %s is not a number", res.name, f[i], f[i+1])
		}
		res.values[f[i+1]] = v
	}
	return res, nil
}

// collect groups the results matching filter into one series per metric and
// per name without its x parameter, in order of first appearance.
func collect(results []result, filter *regexp.Regexp, x string, metrics []string) ([]series, error) {
	type group struct {
		tokens []string
		runs   map[string]map[float64][]float64 // metric → x → runs
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("no benchmark results in the input")
	}
	var groups []*group
	byKey := map[string]*group{}
	seen := map[string]bool{}
	for _, r := range results {
		if !filter.MatchString(r.name) {
			continue
		}
		tokens := strings.FieldsFunc(r.name, func(c rune) bool { return c == '/' || c == ',' })
		i := slices.IndexFunc(tokens, func(t string) bool { return strings.HasPrefix(t, x+"=") })
		if i < 0 {
			continue
		}
		xv, err := strconv.ParseFloat(strings.TrimPrefix(tokens[i], x+"="), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %s is not a number (leave it out with -filter)", r.name, tokens[i])
		}
		tokens = slices.Delete(tokens, i, i+1)
		key := strings.Join(tokens, "/")
		g := byKey[key]
		if g == nil {
			g = &group{tokens: tokens, runs: map[string]map[float64][]float64{}}
			byKey[key] = g
			groups = append(groups, g)
		}
		for unit, v := range r.values {
			seen[unit] = true
			if g.runs[unit] == nil {
				g.runs[unit] = map[float64][]float64{}
			}
			g.runs[unit][xv] = append(g.runs[unit][xv], v)
		}
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("no benchmark (matching -filter) has a parameter %s=N in its name", x)
	}
	for _, m := range metrics {
		if !seen[m] {
			units := strings.Join(slices.Sorted(maps.Keys(seen)), ", ")
			return nil, fmt.Errorf("metric %q not found; the benchmarks report: %s", m, units)
		}
	}
	var ss []series
	for _, m := range metrics {
		for _, g := range groups {
			if len(g.runs[m]) == 0 {
				continue
			}
			// Name parts every group shares (the benchmark function) say nothing.
			label := []string{m}
			for _, t := range g.tokens {
				if slices.ContainsFunc(groups, func(o *group) bool { return !slices.Contains(o.tokens, t) }) {
					label = append(label, t)
				}
			}
			s := series{label: strings.Join(label, " ")}
			for xv, runs := range g.runs[m] {
				slices.Sort(runs)
				s.points = append(s.points, point{xv, runs})
			}
			slices.SortFunc(s.points, func(a, b point) int { return cmp.Compare(a.x, b.x) })
			ss = append(ss, s)
		}
	}
	return ss, nil
}

func (p point) median() float64 {
	n := len(p.runs)
	return (p.runs[(n-1)/2] + p.runs[n/2]) / 2
}

// summary is a table cell: "median (min–max, n runs)".
func (p point) summary() string {
	if len(p.runs) == 1 {
		return num(p.runs[0]) + " (1 run)"
	}
	return fmt.Sprintf("%s (%s–%s, %d runs)", num(p.median()), num(p.runs[0]), num(p.runs[len(p.runs)-1]), len(p.runs))
}

// num formats v with four significant digits, without an exponent in the
// range benchmarks usually report.
func num(v float64) string {
	if v == 0 || math.Abs(v) >= 1e9 || math.Abs(v) < 1e-4 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	p := math.Pow(10, max(0, 3-math.Floor(math.Log10(math.Abs(v)))))
	return strconv.FormatFloat(math.Round(v*p)/p, 'f', -1, 64)
}

func writeTable(w io.Writer, x string, ss []series) {
	cells := map[float64][]string{}
	var xs []float64
	fmt.Fprintf(w, "| %s |", x)
	for i, s := range ss {
		fmt.Fprintf(w, " %s |", strings.ReplaceAll(s.label, "|", `\|`))
		for _, p := range s.points {
			if cells[p.x] == nil {
				cells[p.x] = slices.Repeat([]string{"–"}, len(ss))
				xs = append(xs, p.x)
			}
			cells[p.x][i] = p.summary()
		}
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---|", len(ss)))
	slices.Sort(xs)
	for _, xv := range xs {
		fmt.Fprintf(w, "| %s | %s |\n", num(xv), strings.Join(cells[xv], " | "))
	}
}

// axis maps values to [0, 1]; log axes work in decades.
type axis struct {
	lo, hi float64 // in log10 units when log
	log    bool
	ticks  []float64
}

func newAxis(vals []float64, log bool) (axis, error) {
	lo, hi := slices.Min(vals), slices.Max(vals)
	if log {
		if lo <= 0 {
			return axis{}, fmt.Errorf("-log needs values above 0, got %s", num(lo))
		}
		a := axis{lo: math.Floor(math.Log10(lo)), hi: math.Ceil(math.Log10(hi)), log: true}
		if a.hi == a.lo {
			a.hi++
		}
		for e := a.lo; e <= a.hi; e++ {
			a.ticks = append(a.ticks, math.Pow(10, e))
			if a.hi-a.lo <= 2 && e < a.hi { // a decade or two: label 2× and 5× too
				a.ticks = append(a.ticks, 2*math.Pow(10, e), 5*math.Pow(10, e))
			}
		}
		return a, nil
	}
	// Linear axes start at zero so that the lines' heights compare honestly.
	lo, hi = min(lo, 0), max(hi, 0)
	if hi == lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	a := axis{lo: math.Floor(lo/step) * step, hi: math.Ceil(hi/step) * step}
	for i := range int(math.Round((a.hi-a.lo)/step)) + 1 {
		a.ticks = append(a.ticks, a.lo+float64(i)*step)
	}
	return a, nil
}

func (a axis) frac(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// Okabe–Ito colours, distinguishable with colour-blindness.
var palette = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442"}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // quotes too, so it is safe in attributes
	return b.String()
}

// plot draws one polyline through the medians of each series, a marker per
// point with the min–max spread as a whisker, and a legend on the right.
func plot(ss []series, title, xlabel, ylabel string, log bool) ([]byte, error) {
	var xs, ys []float64
	longest := 0
	for _, s := range ss {
		longest = max(longest, utf8.RuneCountInString(s.label))
		for _, p := range s.points {
			xs = append(xs, p.x)
			ys = append(ys, p.runs...)
		}
	}
	ax, err := newAxis(xs, log)
	if err != nil {
		return nil, fmt.Errorf("x axis: %w", err)
	}
	ay, err := newAxis(ys, log)
	if err != nil {
		return nil, fmt.Errorf("y axis: %w", err)
	}
	const left, right, top, bottom, height = 80.0, 560.0, 40.0, 360.0, 410
	width := int(right) + 50 + 7*longest
	px := func(v float64) float64 { return left + ax.frac(v)*(right-left) }
	py := func(v float64) float64 { return bottom - ay.frac(v)*(bottom-top) }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %[1]d %[2]d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	if title != "" {
		fmt.Fprintf(&b, `<text x="%g" y="24" text-anchor="middle" font-size="15">%s</text>`+"\n", (left+right)/2, esc(title))
	}
	for _, t := range ax.ticks {
		fmt.Fprintf(&b, `<line x1="%.1[1]f" y1="%[2]g" x2="%.1[1]f" y2="%[3]g" stroke="#e5e5e5"/><text x="%.1[1]f" y="%[4]g" text-anchor="middle">%[5]s</text>`+"\n",
			px(t), top, bottom, bottom+16, num(t))
	}
	for _, t := range ay.ticks {
		fmt.Fprintf(&b, `<line x1="%[1]g" y1="%.1[2]f" x2="%[3]g" y2="%.1[2]f" stroke="#e5e5e5"/><text x="%[4]g" y="%.1[5]f" text-anchor="end">%[6]s</text>`+"\n",
			left, py(t), right, left-6, py(t)+4, num(t))
	}
	fmt.Fprintf(&b, `<path d="M%g %gV%gH%g" fill="none" stroke="black"/>`+"\n", left, top, bottom, right)
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", (left+right)/2, bottom+38, esc(xlabel))
	fmt.Fprintf(&b, `<text transform="rotate(-90)" x="%g" y="18" text-anchor="middle">%s</text>`+"\n", -(top+bottom)/2, esc(ylabel))
	for i, s := range ss {
		c := palette[i%len(palette)]
		fmt.Fprintf(&b, `<g stroke="%s" fill="%[1]s">`+"\n", c)
		var pts []string
		for _, p := range s.points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.x), py(p.median())))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke-width="2" points="%s"/>`+"\n", strings.Join(pts, " "))
		for _, p := range s.points {
			x := px(p.x)
			if len(p.runs) > 1 {
				fmt.Fprintf(&b, `<line x1="%.1[1]f" y1="%.1[2]f" x2="%.1[1]f" y2="%.1[3]f"/>`, x, py(p.runs[0]), py(p.runs[len(p.runs)-1]))
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5"><title>%s</title></circle>`+"\n",
				x, py(p.median()), esc(fmt.Sprintf("%s, %s=%s: %s", s.label, xlabel, num(p.x), p.summary())))
		}
		y := top + 8 + float64(i)*18
		fmt.Fprintf(&b, `<line x1="%[1]g" y1="%[2]g" x2="%[3]g" y2="%[2]g" stroke-width="2"/><circle cx="%[4]g" cy="%[2]g" r="3.5"/>`, right+15, y, right+39, right+27)
		fmt.Fprintf(&b, `<text x="%g" y="%g" fill="#222" stroke="none">%s</text>`+"\n</g>\n", right+46, y+4, esc(s.label))
	}
	b.WriteString("</svg>\n")
	return b.Bytes(), nil
}
