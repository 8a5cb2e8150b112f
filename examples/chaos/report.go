package main

import (
	"bytes"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"

	"github.com/herz-go/herz/faultlab"
)

// figureEntry is one row of the report: its figure (an inline SVG) and a
// caption with the row's counts.
type figureEntry struct {
	Name, File string
	SVG        template.HTML
	Caption    string
}

var reportPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>herz chaos demo</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px;line-height:1.35}
.verdict{font-size:1.1em;font-weight:600;background:#eef4ff;padding:.6em 1em;border-left:4px solid #1f5fd6}
figure{margin:2em 0}figcaption{color:#555;font-size:.9em}svg{max-width:100%;height:auto;border:1px solid #ddd}
</style></head><body>
<h1>herz chaos demo</h1>
<p>Misbehaving servers on 127.0.0.1, the plain library (orange) and herz with its zero Config (blue)
side by side. Each figure shows a row of the table over time: errors per second, p99 latency and
connections opened, the fault shaded.</p>
<p class="verdict">{{.Verdict}}</p>
{{range .Figures}}<figure id="{{.File}}"><h2>{{.Name}}</h2>
{{.SVG}}
<figcaption>{{.Caption}}</figcaption></figure>
{{end}}
<h2>The whole run</h2>
<pre>{{.Text}}</pre>
</body></html>
`))

// figureFor draws row r: the standard library's client and herz's on the
// same axes.
func figureFor(r row) *faultlab.Figure {
	return faultlab.NewFigure(r.name,
		faultlab.Series{Label: "stdlib", Timeline: r.std.tl},
		faultlab.Series{Label: "herz", Timeline: r.hz.tl})
}

// inlineSVG makes a figure's SVG document an element of the page: the XML
// prolog goes, a title (its accessible name) comes. The SVG is the plot
// library's own output, from our data: text in it is escaped.
func inlineSVG(doc []byte, title string) template.HTML {
	s := string(doc)
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	if i := strings.Index(s, ">"); i >= 0 {
		s = s[:i+1] + "<title>" + template.HTMLEscapeString(title) + "</title>" + s[i+1:]
	}
	return template.HTML(s)
}

// fileName turns a row's name into a file name.
func fileName(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b.WriteRune(c)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// writeReport draws a figure per row that ran and writes the HTML report
// (figures inline, the run's text, the verdict) to path, and each figure
// into dir as format ("svg" or "png"; "": svg); "" skips either. It
// returns the figures, in the order of the rows that ran.
func writeReport(path, dir, format, text string, rows []row) ([]*faultlab.Figure, error) {
	if format == "" {
		format = "svg"
	}
	var figs []*faultlab.Figure
	var entries []figureEntry
	for _, r := range rows {
		if r.skipped != "" {
			continue
		}
		f := figureFor(r)
		var svg bytes.Buffer
		if err := f.Render(&svg, "svg"); err != nil {
			return nil, err
		}
		name := fileName(r.name) + "." + format
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			if err := f.WriteFile(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
		}
		figs = append(figs, f)
		entries = append(entries, figureEntry{
			Name: r.name, File: name,
			SVG: inlineSVG(svg.Bytes(), r.name+": errors/s, p99 latency and connections over time, stdlib and herz"),
			Caption: fmt.Sprintf("stdlib: %d errors in %d requests, %d connections; herz: %d errors in %d requests, %d connections; %s.",
				r.std.errors, r.std.requests, r.std.newConns, r.hz.errors, r.hz.requests, r.hz.newConns, r.verdict()),
		})
	}
	if path == "" {
		return figs, nil
	}
	verdict := ""
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "verdict: ") {
			verdict = line
		}
	}
	var page bytes.Buffer
	if err := reportPage.Execute(&page, struct {
		Verdict, Text string
		Figures       []figureEntry
	}{verdict, text, entries}); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return figs, nil
}
