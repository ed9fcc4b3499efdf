package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// converge is BenchmarkConverge run with -count 3 for apps=500; the third run
// lacks floor-s.
const converge = `goos: linux
pkg: github.com/lockstep-dev/lockstep/internal/reconcile
BenchmarkConverge/apps=100-2   	       1	 9345678901 ns/op	        8.10 converge-s	        4.00 floor-s
BenchmarkConverge/apps=100,guarded-2   	       1	 9345678901 ns/op	        9.10 converge-s	        4.00 floor-s
BenchmarkConverge/apps=500-2   	       1	312345678901 ns/op	        24.20 converge-s	        18.00 floor-s
BenchmarkConverge/apps=500-2   	       1	312345678901 ns/op	        26.20 converge-s	        18.50 floor-s
BenchmarkConverge/apps=500-2   	       1	312345678901 ns/op	        22.20 converge-s
BenchmarkConverge/apps=500,guarded-2   	       1	312345678901 ns/op	        36.80 converge-s	        18.00 floor-s
PASS
ok  	github.com/lockstep-dev/lockstep/internal/reconcile	612.345s
`

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []result
		warnings []string // one prefix per warning
	}{{
		name: "name with a comma and the GOMAXPROCS suffix",
		in:   "BenchmarkConverge/apps=500,guarded-2 \t 1\t312 ns/op\t 24.20 converge-s\t 1.34 converge/floor\n",
		want: []result{{"BenchmarkConverge/apps=500,guarded", map[string]float64{"ns/op": 312, "converge-s": 24.2, "converge/floor": 1.34}}},
	}, {
		name: "garbage lines",
		in: "BenchmarkBroken-2 \t--- FAIL: BenchmarkBroken\n" +
			"BenchmarkNaN-2 1 x ns/op\n" +
			"BenchmarkOdd-2 1 5 ns/op 7\n" +
			"some log line 1 2 3\n" +
			"--- BENCH: BenchmarkOK-2\n" +
			"BenchmarkOK-2 10 5 ns/op\n" +
			"BenchmarkLast-2 \t--- FAIL: BenchmarkLast\n",
		want:     []result{{"BenchmarkOK", map[string]float64{"ns/op": 5}}},
		warnings: []string{"benchplot: stdin:1: ", "benchplot: stdin:2: ", "benchplot: stdin:3: ", "benchplot: stdin:7: "},
	}, {
		name: "output written between the name and the numbers",
		in:   "BenchmarkConverge/apps=500-2   \tcontroller: started\n       1\t312 ns/op\t 24.2 converge-s\n",
		want: []result{{"BenchmarkConverge/apps=500", map[string]float64{"ns/op": 312, "converge-s": 24.2}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var warn bytes.Buffer
			got := parse(strings.NewReader(tc.in), "stdin", &warn)
			if diff := gocmp.Diff(tc.want, got, gocmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
			lines := strings.Split(strings.TrimSpace(warn.String()), "\n")
			if len(tc.warnings) == 0 && warn.Len() > 0 || len(tc.warnings) > 0 && len(lines) != len(tc.warnings) {
				t.Fatalf("warnings: want %q, got:\n%s", tc.warnings, warn.String())
			}
			for i, w := range tc.warnings {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("warning %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

// TestCollectMedian: repeated runs become one point whose median is plotted;
// a run missing a metric counts only for the others.
func TestCollectMedian(t *testing.T) {
	got, err := collect(parse(strings.NewReader(converge), "stdin", io.Discard), regexp.MustCompile(""), "apps", []string{"converge-s", "floor-s"})
	if err != nil {
		t.Fatal(err)
	}
	want := []series{
		{"converge-s", []point{{100, []float64{8.1}}, {500, []float64{22.2, 24.2, 26.2}}}},
		{"converge-s guarded", []point{{100, []float64{9.1}}, {500, []float64{36.8}}}},
		{"floor-s", []point{{100, []float64{4}}, {500, []float64{18, 18.5}}}},
		{"floor-s guarded", []point{{100, []float64{4}}, {500, []float64{18}}}},
	}
	if diff := gocmp.Diff(want, got, gocmp.AllowUnexported(series{}, point{})); diff != "" {
		t.Errorf("collect (-want +got):\n%s", diff)
	}
	if m := got[0].points[1].median(); m != 24.2 {
		t.Errorf("median of 3 runs = %v, want 24.2", m)
	}
	if m := got[2].points[1].median(); m != 18.25 {
		t.Errorf("median of 2 runs = %v, want 18.25", m)
	}
}

func TestTable(t *testing.T) {
	var out, stderr bytes.Buffer
	if code := run([]string{"-x", "apps", "-metric", "converge-s,floor-s", "-table"}, strings.NewReader(converge), &out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := `| apps | converge-s | converge-s guarded | floor-s | floor-s guarded |
|---|---|---|---|---|
| 100 | 8.1 (1 run) | 9.1 (1 run) | 4 (1 run) | 4 (1 run) |
| 500 | 24.2 (22.2–26.2, 3 runs) | 36.8 (1 run) | 18.25 (18–18.5, 2 runs) | 18 (1 run) |
`
	if diff := gocmp.Diff(want, out.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		args     []string
		want     string
	}{
		{"missing metric", converge, []string{"-x", "apps", "-metric", "converge-s,nope"}, `metric "nope" not found; the benchmarks report: converge-s, floor-s, ns/op`},
		{"no x parameter", converge, []string{"-x", "objects", "-metric", "converge-s"}, "parameter objects=N"},
		{"only garbage", "BenchmarkX-2 zzz\nhello\n", []string{"-x", "apps", "-metric", "converge-s"}, "no benchmark results"},
		{"x not a number", "BenchmarkX/apps=all-2 1 5 ns/op\n", []string{"-x", "apps", "-metric", "ns/op"}, "apps=all is not a number"},
		{"no flags", converge, nil, "-x and -metric are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(tc.in), &out, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, stderr.String(), tc.want)
			}
			if out.Len() > 0 {
				t.Errorf("stdout not empty:\n%s", out.String())
			}
		})
	}
}

// svgText checks that doc is well-formed XML with an <svg> root, and returns
// the number of each element and all character data.
func svgText(t *testing.T, doc []byte) (map[string]int, string) {
	t.Helper()
	count := map[string]int{}
	var text strings.Builder
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if count["svg"] == 0 && (tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element is %v, want svg in the SVG namespace", tok.Name)
			}
			count[tok.Name.Local]++
		case xml.CharData:
			text.Write(tok)
		}
	}
	return count, text.String()
}

func TestSVG(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		polylines int
	}{
		{[]string{"-x", "apps", "-metric", "converge-s,floor-s", "-filter", `apps=\d+$`}, 2},
		{[]string{"-x", "apps", "-metric", "converge-s, floor-s"}, 4},
		{[]string{"-x", "apps", "-metric", "converge-s", "-log"}, 2},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, stderr bytes.Buffer
			if code := run(tc.args, strings.NewReader(converge), &out, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			count, _ := svgText(t, out.Bytes())
			if count["polyline"] != tc.polylines {
				t.Errorf("%d polylines, want %d", count["polyline"], tc.polylines)
			}
			if bytes.Contains(out.Bytes(), []byte("%!")) || bytes.Contains(out.Bytes(), []byte("NaN")) {
				t.Errorf("formatting error in the SVG:\n%s", out.String())
			}
		})
	}
}

func TestSVGEscapesNames(t *testing.T) {
	in := "BenchmarkX/apps=1-2 1 5 ns/op\n" +
		`BenchmarkX/apps=2,<script>alert('&"')</script>]]>-2 1 7 ns/op` + "\n"
	var out, stderr bytes.Buffer
	args := []string{"-x", "apps", "-metric", "ns/op", "-title", "</svg><svg onload=x>", "-y", `"a" & 'b'`}
	if code := run(args, strings.NewReader(in), &out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	count, text := svgText(t, out.Bytes())
	if count["script"] > 0 || count["svg"] != 1 || strings.Contains(out.String(), "<script") {
		t.Errorf("input became markup:\n%s", out.String())
	}
	for _, want := range []string{"</svg><svg onload=x>", `"a" & 'b'`, `<script>alert('&"')<`} {
		if !strings.Contains(text, want) {
			t.Errorf("text %q missing from the SVG:\n%s", want, out.String())
		}
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 24.2: "24.2", 0.1 + 0.2: "0.3", 12345.6: "12346", 141: "141", 312345678901: "3.123e+11", 0.00123456: "0.001235",
	} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestAxisTicks(t *testing.T) {
	for _, tc := range []struct {
		vals []float64
		log  bool
		want string // tick labels
	}{
		{[]float64{8.1, 36.8}, false, "0 10 20 30 40"},
		{[]float64{100, 500}, false, "0 100 200 300 400 500"},
		{[]float64{0.3, 0.7}, false, "0 0.2 0.4 0.6 0.8"},
		{[]float64{3, 700}, true, "1 10 100 1000"},
		{[]float64{3, 70}, true, "1 2 5 10 20 50 100"},
	} {
		a, err := newAxis(tc.vals, tc.log)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range a.ticks {
			got = append(got, num(v))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("ticks of %v (log %v) = %q, want %q", tc.vals, tc.log, got, tc.want)
		}
	}
	if _, err := newAxis([]float64{0, 1}, true); err == nil {
		t.Error("log axis accepted 0")
	}
}
