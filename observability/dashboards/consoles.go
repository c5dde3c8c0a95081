package dashboards

import (
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Consoles renders every dashboard as a Prometheus console page (file name →
// console template), plus an index.html listing them: the same panels, in the
// same order, with the same queries, for the machines where no Grafana runs
// (the local stack without Docker). They are rendered from the dashboards'
// own JSON, so a panel changed in Overview or Pipeline changes both.
//
// The pages are templates for Prometheus' --web.console.templates and need
// the library observability/prometheus/console_libraries/blitzbuy.lib
// (--web.console.libraries). A time series panel becomes a graph drawn in the
// browser by Prometheus' own console JavaScript (PromConsole.Graph, served
// under /classic/static); a stat panel becomes a table that Prometheus fills
// on the server with the template function `query`, so it shows its value
// even where no JavaScript runs. Grafana's $__range becomes the dashboard's
// default time range (30m). Exemplars are Grafana's alone: the pages do not
// show them.
func Consoles() (map[string][]byte, error) {
	files, err := All()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make(map[string][]byte, len(files)+1)
	var pages []consoleBoard
	for _, name := range names {
		var d consoleBoard
		if err := json.Unmarshal(files[name], &d); err != nil {
			return nil, fmt.Errorf("console %s: %w", name, err)
		}
		page, err := renderConsole(d)
		if err != nil {
			return nil, fmt.Errorf("console %s: %w", name, err)
		}
		d.file = strings.TrimSuffix(name, ".json") + ".html"
		out[d.file] = page
		pages = append(pages, d)
	}
	out["index.html"] = renderConsoleIndex(pages)
	return out, nil
}

// The dashboard JSON as the consoles read it.
type consoleBoard struct {
	UID         string                `json:"uid"`
	Title       string                `json:"title"`
	Description string                `json:"description"`
	Time        struct{ From string } `json:"time"`
	Panels      []consolePanel        `json:"panels"`
	file        string
}

type consolePanel struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	GridPos     struct {
		W int `json:"w"`
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit       string   `json:"unit"`
			Decimals   *int     `json:"decimals"`
			Min        *float64 `json:"min"`
			Max        *float64 `json:"max"`
			Thresholds *struct {
				Steps []struct {
					Value *float64 `json:"value"`
					Color string   `json:"color"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	Panels []consolePanel `json:"panels"` // a collapsed row's panels
}

// legendLabel is Grafana's {{label}} in a legend format.
var legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// Console colours for Grafana's named threshold colours.
var consoleColors = map[string]string{"green": "#73bf69", "orange": "#ff9830", "red": "#f2495c", "yellow": "#fade2a"}

func renderConsole(d consoleBoard) ([]byte, error) {
	rangeVar, ok := strings.CutPrefix(d.Time.From, "now-")
	if !ok {
		return nil, fmt.Errorf("time.from %q: want now-<duration>", d.Time.From)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{{/* %s (uid %s): generated from observability/dashboards by `go tool task dashboards`. Do not edit: change the Go code and regenerate. */}}\n", d.Title, d.UID)
	rangeDur, err := time.ParseDuration(rangeVar)
	if err != nil {
		return nil, fmt.Errorf("time.from %q: %w", d.Time.From, err)
	}
	fmt.Fprintf(&b, "{{ template \"blitzbuy_head\" (args . %s %d) }}\n", strconv.Quote(d.Title), int(rangeDur.Seconds()))
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p class=\"lead blitzbuy-description\">%s</p>\n", text(d.Title), text(d.Description))
	fmt.Fprintf(&b, "<p class=\"small text-muted\">Graphs cover the range set above (default: the dashboard's %[1]s); tables are evaluated by Prometheus when the page loads, over the last %[1]s where a panel counts over the dashboard's range. Exemplars and their links to traces are Grafana's alone.</p>\n", rangeVar)
	open := false
	closeRow := func() {
		if open {
			b.WriteString("</div>\n")
			open = false
		}
	}
	openRow := func() {
		if !open {
			b.WriteString("<div class=\"row\">\n")
			open = true
		}
	}
	n := 0
	var walk func([]consolePanel) error
	walk = func(ps []consolePanel) error {
		for _, p := range ps {
			switch p.Type {
			case "row":
				closeRow()
				fmt.Fprintf(&b, "<h2>%s</h2>\n", text(p.Title))
				if err := walk(p.Panels); err != nil {
					return err
				}
				continue
			case "timeseries":
				openRow()
				n++
				writeGraph(&b, n, p)
			case "stat":
				openRow()
				n++
				writeStat(&b, n, p, rangeVar)
			default:
				return fmt.Errorf("panel %q: type %q has no console rendering", p.Title, p.Type)
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	closeRow()
	b.WriteString("{{ template \"blitzbuy_tail\" . }}\n")
	return []byte(b.String()), nil
}

// panelOpen starts a panel: a bootstrap column as wide as in Grafana (24
// columns there, 12 here), its title with the description on hover and below.
func panelOpen(b *strings.Builder, n int, kind string, p consolePanel) {
	cols := max(p.GridPos.W/2, 3)
	fmt.Fprintf(b, "<div class=\"col-lg-%d blitzbuy-panel\" id=\"panel-%d\" data-kind=\"%s\">\n", cols, n, kind)
	fmt.Fprintf(b, "  <h5 title=\"%s\">%s</h5>\n", text(p.Description), text(p.Title))
}

func writeGraph(b *strings.Builder, n int, p consolePanel) {
	panelOpen(b, n, "graph", p)
	exprs := make([]string, len(p.Targets))
	names := make([]string, len(p.Targets))
	for i, t := range p.Targets {
		exprs[i] = tmplString(t.Expr)
		names[i] = "null" // PromConsole names the series by the label that varies
		if t.LegendFormat != "" {
			names[i] = tmplString(legendLabel.ReplaceAllString(t.LegendFormat, "[[$1]]"))
		}
	}
	def := p.FieldConfig.Defaults
	fmt.Fprintf(b, "  <div class=\"blitzbuy-graph\" id=\"graph-%d\"></div>\n", n)
	fmt.Fprintf(b, "  <script>\n  blitzbuyGraph(document.getElementById(\"graph-%d\"), {\n", n)
	fmt.Fprintf(b, "    expr: [%s],\n", strings.Join(exprs, ", "))
	fmt.Fprintf(b, "    name: [%s],\n", strings.Join(names, ", "))
	fmt.Fprintf(b, "    unit: %q,\n", def.Unit)
	if def.Min != nil {
		fmt.Fprintf(b, "    min: %s,\n", num(*def.Min))
	}
	if def.Max != nil {
		fmt.Fprintf(b, "    max: %s,\n", num(*def.Max))
	}
	b.WriteString("  });\n  </script>\n")
	if def.Thresholds != nil {
		for _, s := range def.Thresholds.Steps {
			if s.Value != nil && s.Color == "red" {
				fmt.Fprintf(b, "  <p class=\"small blitzbuy-threshold\">Alert threshold: %s%s</p>\n", num(*s.Value), unitSuffix(def.Unit))
			}
		}
	}
	b.WriteString("</div>\n")
}

func writeStat(b *strings.Builder, n int, p consolePanel, rangeVar string) {
	panelOpen(b, n, "stat", p)
	def := p.FieldConfig.Defaults
	b.WriteString("  <div class=\"blitzbuy-stat-wrap\"><table class=\"table table-sm table-bordered blitzbuy-stat\">\n")
	for _, t := range p.Targets {
		expr := strings.ReplaceAll(t.Expr, "$__range", rangeVar)
		legend := "value"
		if t.LegendFormat != "" {
			legend = t.LegendFormat
		}
		// The legend is text with {{label}} holes: each hole becomes the
		// sample's label, each piece of text a template string.
		var cell strings.Builder
		last := 0
		for _, m := range legendLabel.FindAllStringSubmatchIndex(legend, -1) {
			cell.WriteString(text(legend[last:m[0]]))
			fmt.Fprintf(&cell, "{{ .Labels.%s }}", legend[m[2]:m[3]])
			last = m[1]
		}
		cell.WriteString(text(legend[last:]))
		sort := ""
		if m := legendLabel.FindStringSubmatch(legend); m != nil {
			sort = fmt.Sprintf(" | sortByLabel %q", m[1])
		}
		fmt.Fprintf(b, "    {{ range query %s%s }}\n", strconv.Quote(expr), sort)
		fmt.Fprintf(b, "    <tr><td>%s</td><td class=\"blitzbuy-value\" style=\"background-color: %s\">%s</td></tr>\n",
			cell.String(), colorOf(p), formatValue(def.Unit, def.Decimals))
		fmt.Fprintf(b, "    {{ else }}<tr><td class=\"blitzbuy-nodata\" colspan=\"2\">no data</td></tr>{{ end }}\n")
		fmt.Fprintf(b, "    <tr><td colspan=\"2\" class=\"small\"><a href=\"{{ pathPrefix }}{{ graphLink %s }}\">graph this query</a></td></tr>\n", strconv.Quote(expr))
	}
	b.WriteString("  </table></div>\n</div>\n")
}

// colorOf renders the stat's threshold steps as a template choosing the
// background of the value: the highest step the value reaches.
func colorOf(p consolePanel) string {
	th := p.FieldConfig.Defaults.Thresholds
	if th == nil || len(th.Steps) == 0 {
		return "transparent"
	}
	base := "transparent"
	var s strings.Builder
	for i := len(th.Steps) - 1; i >= 0; i-- {
		st := th.Steps[i]
		c := consoleColors[st.Color]
		if c == "" {
			c = "transparent"
		}
		if st.Value == nil {
			base = c
			continue
		}
		if s.Len() == 0 {
			fmt.Fprintf(&s, "{{ if ge .Value %s }}%s", floatLit(*st.Value), c)
		} else {
			fmt.Fprintf(&s, "{{ else if ge .Value %s }}%s", floatLit(*st.Value), c)
		}
	}
	if s.Len() == 0 {
		return base
	}
	return s.String() + "{{ else }}" + base + "{{ end }}"
}

func formatValue(unit string, decimals *int) string {
	switch unit {
	case "percentunit":
		// humanizePercentage has 4 significant digits; printf cannot
		// multiply, so the console keeps Prometheus' own formatting.
		return "{{ .Value | humanizePercentage }}"
	case "bytes":
		return "{{ .Value | humanize1024 }}B"
	case "s":
		return "{{ .Value | humanizeDuration }}"
	default:
		if decimals != nil {
			return fmt.Sprintf("{{ printf \"%%.%df\" .Value }}", *decimals)
		}
		return "{{ .Value | humanize }}"
	}
}

func unitSuffix(unit string) string {
	switch unit {
	case "s":
		return " s"
	case "percentunit":
		return " (ratio)"
	case "bytes":
		return " B"
	default:
		return ""
	}
}

// tmplString is s as a Go template string literal: Prometheus' html/template
// escapes it for where it stands (a JavaScript string inside <script>, text
// elsewhere), and {{ }} inside a query cannot end the action.
func tmplString(s string) string { return "{{ " + strconv.Quote(s) + " }}" }

// text is s escaped for HTML with template delimiters broken, so a title or
// description can never start a template action.
func text(s string) string {
	return strings.NewReplacer("{{", "{&#123;", "}}", "}&#125;").Replace(html.EscapeString(s))
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// floatLit is f as a template constant that compares with a sample's float
// value: `ge .Value 0` fails on mixing an int with a float, `ge .Value 0.0`
// does not.
func floatLit(f float64) string {
	s := num(f)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s
}

func renderConsoleIndex(pages []consoleBoard) []byte {
	var b strings.Builder
	b.WriteString("{{/* Generated from observability/dashboards by `go tool task dashboards`. Do not edit. */}}\n")
	b.WriteString("{{ template \"blitzbuy_head\" (args . \"BlitzBuy consoles\" 0) }}\n")
	b.WriteString("<h1>BlitzBuy consoles</h1>\n<p class=\"lead\">The Grafana dashboards of observability/dashboards, rendered as Prometheus console pages for machines without Grafana.</p>\n<ul>\n")
	for _, p := range pages {
		fmt.Fprintf(&b, "  <li><a href=\"{{ pathPrefix }}/consoles/%s\">%s</a> — %s</li>\n", p.file, text(p.Title), text(p.Description))
	}
	b.WriteString("</ul>\n{{ template \"blitzbuy_tail\" . }}\n")
	return []byte(b.String())
}
