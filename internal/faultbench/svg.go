package faultbench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// series is one histogram to draw.
type series struct {
	name    string
	color   string
	buckets []Bucket
	p50     float64
}

// WriteSVG draws the round-trip histograms of the report on one
// log-scaled time axis: the raw user exit, the minimal fault path and
// mmvm's single faults, each normalised to its own sample count, with a
// tick at each median. It needs no plotting library.
func (r *Report) WriteSVG(w io.Writer) error {
	all := []series{
		{"raw user exit (floor)", "#888888", r.Floor.UserExit.Buckets, float64(r.Floor.UserExit.Latency.P50)},
		{"minimal fault path, stub", "#1f77b4", r.Minimal.Stub.Buckets, float64(r.Minimal.Stub.Latency.P50)},
		{"minimal fault path, direct", "#17becf", r.Minimal.Direct.Buckets, float64(r.Minimal.Direct.Latency.P50)},
	}
	colors := []string{"#d62728", "#ff7f0e", "#2ca02c", "#9467bd"}
	for i, s := range r.Single {
		all = append(all, series{"mmvm single fault, " + s.Name, colors[i%len(colors)], s.Cycle.Buckets, float64(s.Cycle.Latency.P50)})
	}
	const (
		width, height       = 960, 540
		left, right, top    = 70, 260, 40
		bottom              = 60
		plotW, plotH        = width - left - right, height - top - bottom
		minDecades          = 1
		legendX, legendLine = width - right + 20, 22
	)
	lo, hi, peak := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range all {
		var total uint64
		for _, b := range s.buckets {
			total += b.Count
		}
		for _, b := range s.buckets {
			if b.UpperNs <= 0 {
				continue
			}
			lo, hi = math.Min(lo, float64(b.UpperNs)), math.Max(hi, float64(b.UpperNs))
			peak = math.Max(peak, float64(b.Count)/float64(total))
		}
	}
	if math.IsInf(lo, 0) || peak == 0 {
		return fmt.Errorf("faultbench: no histogram samples to draw")
	}
	x0, x1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if x1-x0 < minDecades {
		x1 = x0 + minDecades
	}
	xOf := func(v float64) float64 { return left + (math.Log10(v)-x0)/(x1-x0)*plotW }
	yOf := func(f float64) float64 { return top + plotH - f/peak*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15">%s</text>`+"\n", left, html.EscapeString(fmt.Sprintf("mmvm bench: round-trip latency histograms (%s)", r.Machine)))
	// Axes and decade grid.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top+plotH, left+plotW, top+plotH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, top+plotH)
	for d := x0; d <= x1; d++ {
		x := xOf(math.Pow(10, d))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top, x, top+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, top+plotH+18, ns(math.Pow(10, d)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">round trip per event (log scale)</text>`+"\n", left+plotW/2, height-15)
	fmt.Fprintf(&b, `<text x="18" y="%d" transform="rotate(-90 18 %d)" text-anchor="middle">share of samples per bucket</text>`+"\n", top+plotH/2, top+plotH/2)
	for i, s := range all {
		var total uint64
		for _, bk := range s.buckets {
			total += bk.Count
		}
		if total == 0 {
			continue
		}
		var pts []string
		for _, bk := range s.buckets {
			if bk.UpperNs <= 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(float64(bk.UpperNs)), yOf(float64(bk.Count)/float64(total))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.color, strings.Join(pts, " "))
		if s.p50 > 0 {
			x := xOf(s.p50)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-dasharray="4 3"/>`+"\n", x, top, x, top+plotH, s.color)
		}
		y := top + 10 + i*legendLine
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", legendX, y, legendX+24, y, s.color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", legendX+30, y+4, html.EscapeString(fmt.Sprintf("%s (p50 %s)", s.name, ns(s.p50))))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">dashed: medians</text>`+"\n", legendX, top+10+len(all)*legendLine)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
