// Package dashboards defines BlitzBuy's Grafana dashboards as code (Grafana
// Foundation SDK) and renders them to the JSON files Grafana provisions from
// observability/grafana/dashboards; cmd/dashboards writes them, the tests
// prove the committed files are what this code renders.
package dashboards

//lint:file-ignore SA1019 Grafana 12 provisions dashboard files in the classic (v1) JSON model; the SDK marks its v1 builder deprecated in favour of the v2 schema, which file provisioning does not load without feature toggles.

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Stable identities: links, bookmarks and the docs name dashboards by uid,
// and the datasource uids are fixed in
// observability/grafana/provisioning/datasources/datasources.yml.
const (
	OverviewUID        = "blitzbuy-overview"
	PipelineUID        = "blitzbuy-pipeline"
	PrometheusUID      = "prometheus"
	prometheusType     = "prometheus"
	tag                = "blitzbuy"
	orderRoute         = "/v1/sales/{saleID}/orders"
	serviceJobs        = `job=~"order-api|order-writer"`
	latencyObjective   = 0.25  // seconds, P99 of the order route (alert OrderP99OverObjective)
	availabilitySLO    = 0.999 // share of order requests that must not fail with 5xx
	errorRatioAlert    = 0.01  // alert OrderErrorRatioHigh
	consumerLagAlert   = 30    // seconds, alert ConsumerLagHigh
	relayBacklogAlert  = 100   // reservations, alert RelayBacklog
	defaultPanelHeight = 8
)

// All renders every dashboard: file name → indented JSON ending in a newline.
func All() (map[string][]byte, error) {
	boards := map[string]func() (dashboard.Dashboard, error){
		"blitzbuy-overview.json": Overview,
		"blitzbuy-pipeline.json": Pipeline,
	}
	out := make(map[string][]byte, len(boards))
	for name, build := range boards {
		d, err := build()
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		b, err := Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// Marshal renders d as Grafana reads it: two-space indented JSON with a
// trailing newline, and PromQL's < > & left readable rather than escaped.
func Marshal(d dashboard.Dashboard) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newBoard starts a dashboard with the settings both share: read-only (the
// provider does not save UI edits), shared crosshair, a link to the other
// BlitzBuy dashboards, last 30 minutes refreshed every 10 s.
func newBoard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{tag}).
		Readonly().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Time("now-30m", "now").
		Refresh("10s").
		Timezone(common.TimeZoneBrowser).
		Link(dashboard.NewDashboardLinkBuilder("BlitzBuy").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{tag}).
			AsDropdown(true).
			KeepTime(true))
}

// build finishes a dashboard: ids numbered in reading order, so the JSON is
// the same on every run and panel links (viewPanel=N) stay valid.
func build(b *dashboard.DashboardBuilder) (dashboard.Dashboard, error) {
	d, err := b.Build()
	if err != nil {
		return dashboard.Dashboard{}, err
	}
	// The SDK places links in the controls menu; nil keeps Grafana's default,
	// above the panels, where every Grafana version shows them.
	for i := range d.Links {
		d.Links[i].Placement = nil
	}
	var id uint32
	for _, p := range d.Panels {
		id++
		switch {
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(id)
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
	return d, nil
}

func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr(prometheusType), Uid: cog.ToPtr(PrometheusUID)}
}

// query is a range query on the Prometheus datasource.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		Expr(expr).
		Range()
	if legend != "" {
		q.LegendFormat(legend)
	}
	return q
}

// instant is an instant query (one value at the end of the range), for stats.
func instant(expr, legend string) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		Expr(expr).
		Instant()
	if legend != "" {
		q.LegendFormat(legend)
	}
	return q
}

// refIDs names the queries of a panel A, B, C… in order.
func refIDs(qs []*prometheus.DataqueryBuilder) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, q := range qs {
		out[i] = q.RefId(string(rune('A' + i)))
	}
	return out
}

// graph is a time series panel, half a row wide, legend as a table with the
// last and max values (what an operator reads first during a sale).
func graph(title, description, unit string, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Targets(refIDs(qs)).
		Unit(unit).
		Span(12).
		Height(defaultPanelHeight).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			Calcs([]string{"lastNotNull", "max"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
}

// withLimit draws a dashed red line at an alert threshold, so the graph shows
// how far a series is from paging someone.
func withLimit(p *timeseries.PanelBuilder, limit float64) *timeseries.PanelBuilder {
	return p.
		Thresholds(dashboard.NewThresholdsConfigBuilder().
			Mode(dashboard.ThresholdsModeAbsolute).
			Steps([]dashboard.Threshold{
				{Color: "green"},
				{Value: cog.ToPtr(limit), Color: "red"},
			})).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().
			Mode(common.GraphThresholdsStyleModeDashed))
}

// single is a stat panel showing the last value, coloured by steps (the
// first step has no lower bound).
func single(title, description, unit string, steps []dashboard.Threshold, qs ...*prometheus.DataqueryBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Targets(refIDs(qs)).
		Unit(unit).
		Span(6).
		Height(defaultPanelHeight).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Thresholds(dashboard.NewThresholdsConfigBuilder().
			Mode(dashboard.ThresholdsModeAbsolute).
			Steps(steps))
}

// step is one colour band of a stat panel, from value upwards.
func step(value float64, color string) dashboard.Threshold {
	return dashboard.Threshold{Value: cog.ToPtr(value), Color: color}
}

// quantile is histogram_quantile over the rate of a _bucket series, summed by
// le plus the given labels.
func quantile(q float64, bucket, matchers, by, window string) string {
	sel := bucket
	if matchers != "" {
		sel += "{" + matchers + "}"
	}
	le := "le"
	if by != "" {
		le += ", " + by
	}
	return fmt.Sprintf("histogram_quantile(%g, sum by (%s) (rate(%s[%s])))", q, le, sel, window)
}

func row(title string) *dashboard.RowBuilder { return dashboard.NewRowBuilder(title) }
