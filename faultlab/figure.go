package faultlab

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Series is one client's timeline in a [Figure], drawn under Label.
type Series struct {
	Label    string
	Timeline *Timeline
}

// Line is what a [Figure] draws for one series: the timeline's buckets,
// merged to the figure's resolution.
type Line struct {
	Label string
	// Bins are the merged buckets drawn, from the start of the run.
	Bins []Bucket
}

// Window is a shaded span of a [Figure]: a fault was on from From to To.
type Window struct {
	From, To time.Duration
	Label    string
}

// Figure is one scenario drawn: three panels sharing the time axis
// (errors/s, p99 latency, connections opened since the start), one line per
// client, the fault windows shaded. Build it with [NewFigure], then
// [Figure.Render] or [Figure.WriteFile].
type Figure struct {
	// Title is drawn above the panels.
	Title string
	// Lines are the series drawn, in the order given.
	Lines []Line
	// Windows are the fault windows shaded, from the series' marks.
	Windows []Window
	// Bin is the width of one drawn bin.
	Bin time.Duration
}

// maxBins bounds the bins drawn per series: finer is noise at the size a
// figure is looked at.
const maxBins = 90

// NewFigure snapshots the series' timelines (nil ones are skipped) into a
// figure. All series share the time axis, each from its own start.
func NewFigure(title string, series ...Series) *Figure {
	f := &Figure{Title: title}
	var longest, width time.Duration
	for _, s := range series {
		if s.Timeline == nil {
			continue
		}
		longest = max(longest, s.Timeline.Elapsed())
		width = max(width, s.Timeline.bucket)
	}
	if width == 0 {
		return f
	}
	// One bin: a whole number of the widest bucket, at most maxBins bins.
	per := (longest/width + maxBins - 1) / maxBins
	f.Bin = max(per, 1) * width
	for _, s := range series {
		t := s.Timeline
		if t == nil {
			continue
		}
		f.Lines = append(f.Lines, Line{Label: s.Label, Bins: t.Buckets(int(f.Bin / t.bucket))})
		f.Windows = append(f.Windows, windows(t.Marks(), t.Elapsed())...)
	}
	return f
}

// windows turns marks into spans; a fault still on at the end lasts until
// end.
func windows(marks []Mark, end time.Duration) []Window {
	var out []Window
	open := -1
	for _, m := range marks {
		if open >= 0 {
			out[open].To = m.At
			open = -1
		}
		if m.On {
			out = append(out, Window{From: m.At, To: m.At, Label: m.Label})
			open = len(out) - 1
		}
	}
	if open >= 0 {
		out[open].To = max(end, out[open].From)
	}
	return out
}

// Errors returns the failures line i draws, summed over its bins.
func (f *Figure) Errors(i int) int {
	n := 0
	for _, b := range f.Lines[i].Bins {
		n += b.ErrorCount()
	}
	return n
}

// Ops returns the operations line i draws, summed over its bins.
func (f *Figure) Ops(i int) int {
	n := 0
	for _, b := range f.Lines[i].Bins {
		n += b.Ops()
	}
	return n
}

// figure size.
const (
	figWidth  = 7 * vg.Inch
	figHeight = 5.6 * vg.Inch
)

// WriteFile renders the figure to path, as SVG or PNG following its
// extension (.svg or .png).
func (f *Figure) WriteFile(path string) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	var buf bytes.Buffer
	if err := f.Render(&buf, format); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("herz/faultlab: write the figure: %w", err)
	}
	return nil
}

// Render writes the figure to w as "svg" (text without embedded fonts:
// small, for a web page) or "png".
func (f *Figure) Render(w io.Writer, format string) error {
	var c vg.CanvasWriterTo
	switch format {
	case "svg":
		c = vgsvg.New(figWidth, figHeight)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(figWidth, figHeight), vgimg.UseDPI(96))}
	default:
		return fmt.Errorf("herz/faultlab: figure format must be svg or png, got %q", format)
	}
	plots, err := f.plots()
	if err != nil {
		return err
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 2 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: 3 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("herz/faultlab: render the figure: %w", err)
	}
	return nil
}

// Line colors: a series labelled "herz" is blue, one labelled "stdlib"
// orange-red, the others take the next of otherColors.
var (
	herzColor   = color.RGBA{R: 0x1f, G: 0x5f, B: 0xd6, A: 0xff}
	stdColor    = color.RGBA{R: 0xd6, G: 0x45, B: 0x1f, A: 0xff}
	otherColors = []color.Color{
		color.RGBA{R: 0x2a, G: 0x9d, B: 0x4a, A: 0xff},
		color.RGBA{R: 0x80, G: 0x40, B: 0xa0, A: 0xff},
		color.RGBA{R: 0x70, G: 0x70, B: 0x70, A: 0xff},
	}
)

// lineColors returns the color of each line.
func (f *Figure) lineColors() []color.Color {
	out := make([]color.Color, len(f.Lines))
	next := 0
	for i, l := range f.Lines {
		switch strings.ToLower(l.Label) {
		case "herz":
			out[i] = herzColor
		case "stdlib", "net/http":
			out[i] = stdColor
		default:
			out[i] = otherColors[next%len(otherColors)]
			next++
		}
	}
	return out
}

// shadeColor fills fault windows.
var shadeColor = color.NRGBA{R: 0xf0, G: 0xa0, B: 0x30, A: 0x48}

// plots builds the three panels.
func (f *Figure) plots() ([][]*plot.Plot, error) {
	var xmax float64
	for _, l := range f.Lines {
		if n := len(l.Bins); n > 0 {
			xmax = max(xmax, (l.Bins[n-1].Start + l.Bins[n-1].Width).Seconds())
		}
	}
	for _, w := range f.Windows {
		xmax = max(xmax, w.To.Seconds())
	}
	xmax = max(xmax, 0.001)

	panels := []struct {
		ylabel string
		value  func(b *Bucket) (float64, bool)
		log    bool
	}{
		{"errors/s", func(b *Bucket) (float64, bool) { return float64(b.ErrorCount()) / b.Width.Seconds(), true }, false},
		{"p99 latency (ms)", func(b *Bucket) (float64, bool) {
			if b.Ops() == 0 {
				return 0, false
			}
			return float64(b.Quantile(0.99)) / float64(time.Millisecond), true
		}, true},
		{"connections opened", func(b *Bucket) (float64, bool) { return float64(b.Conns), true }, false},
	}
	colors := f.lineColors()
	out := make([][]*plot.Plot, len(panels))
	for pi, pn := range panels {
		p := plot.New()
		p.X.Min, p.X.Max = 0, xmax
		p.Y.Label.Text = pn.ylabel
		p.Y.Label.TextStyle.Font.Size = vg.Points(9)
		p.X.Tick.Label.Font.Size = vg.Points(8)
		p.Y.Tick.Label.Font.Size = vg.Points(8)
		if pi == len(panels)-1 {
			p.X.Label.Text = "seconds since the start of the run"
			p.X.Label.TextStyle.Font.Size = vg.Points(9)
		}
		if pi == 0 {
			p.Title.Text = f.Title
			p.Title.TextStyle.Font.Size = vg.Points(11)
			p.Legend.Top = true
			p.Legend.TextStyle.Font.Size = vg.Points(8)
			p.Legend.ThumbnailWidth = 0.4 * vg.Centimeter
		}
		if len(f.Windows) > 0 {
			p.Add(shade{f.Windows})
			if pi == 0 {
				p.Legend.Add("fault: "+f.Windows[0].Label, shade{})
			}
		}
		ymax := 0.0
		for li, l := range f.Lines {
			var pts plotter.XYs
			for i := range l.Bins {
				b := &l.Bins[i]
				v, ok := pn.value(b)
				if !ok {
					continue
				}
				if pn.log {
					v = max(v, 0.001)
					pts = append(pts, plotter.XY{X: (b.Start + b.Width/2).Seconds(), Y: v})
				} else {
					pts = append(pts, plotter.XY{X: b.Start.Seconds(), Y: v})
					if i == len(l.Bins)-1 {
						pts = append(pts, plotter.XY{X: (b.Start + b.Width).Seconds(), Y: v})
					}
				}
				ymax = max(ymax, v)
			}
			if len(pts) == 0 {
				continue
			}
			ln, err := plotter.NewLine(pts)
			if err != nil {
				return nil, fmt.Errorf("herz/faultlab: figure %q: %w", f.Title, err)
			}
			if !pn.log {
				ln.StepStyle = plotter.PostStep
			}
			ln.Color = colors[li]
			ln.Width = vg.Points(1.2)
			p.Add(ln)
			if pi == 0 {
				p.Legend.Add(l.Label, ln)
			}
		}
		if pn.log {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
			p.Y.Min = 0.01
			p.Y.Max = max(ymax*1.5, 1)
		} else {
			p.Y.Min = 0
			p.Y.Max = max(ymax*1.15, 1)
			if pi == 0 {
				p.Y.Max = max(ymax*1.6, 1) // room for the legend
			}
			p.Y.Tick.Marker = wholeTicks{}
		}
		p.Add(plotter.NewGrid())
		out[pi] = []*plot.Plot{p}
	}
	return out, nil
}

// shade fills the fault windows over the whole height of a panel; it is
// also the legend's thumbnail for them.
type shade struct{ w []Window }

// Plot implements plot.Plotter.
func (s shade) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, w := range s.w {
		x0, x1 := trX(w.From.Seconds()), trX(w.To.Seconds())
		if x1-x0 < vg.Points(1.5) {
			x1 = x0 + vg.Points(1.5) // an instant (a GOAWAY) stays visible
		}
		pts := c.ClipPolygonX([]vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
		if len(pts) > 0 {
			c.FillPolygon(shadeColor, pts)
		}
	}
}

// Thumbnail implements plot.Thumbnailer.
func (shade) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}}
	c.FillPolygon(shadeColor, pts)
}

// wholeTicks are plot.DefaultTicks without the fractional ones: the
// panels count whole things.
type wholeTicks struct{}

// Ticks implements plot.Ticker.
func (wholeTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		if t.Value != math.Trunc(t.Value) {
			if t.Label == "" {
				continue
			}
			t.Label = ""
		} else if t.Label != "" {
			t.Label = strconv.FormatFloat(t.Value, 'f', -1, 64)
		}
		out = append(out, t)
	}
	return out
}
