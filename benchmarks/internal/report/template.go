package report

// pageTemplate is the whole report page. Every number goes through a
// formatting function (never printed raw) so NaN and ±Inf cannot leak, and
// nothing references a URL outside the page.
const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{or .Tool "blitzbench"}} report — {{if .Pass}}PASS{{else}}FAIL{{end}}</title>
<style>
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--zebra:#f9fafb;--head:#f3f4f6;--pass:#15803d;--pass-bg:#dcfce7;--fail:#b91c1c;--fail-bg:#fee2e2;--warn:#92400e;--warn-bg:#fef3c7;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:14px;line-height:1.45;color:var(--fg);background:#f3f4f6}
main{max-width:1200px;margin:0 auto;padding:24px 16px}
header.top,section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin-bottom:18px}
section.failed{border-left:5px solid var(--fail)}
h1{font-size:22px;margin:0}
h2{font-size:18px;margin:0 0 8px;display:flex;align-items:center;gap:10px;flex-wrap:wrap}
h3{font-size:12px;margin:20px 0 8px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
.title-row{display:flex;align-items:center;gap:14px;flex-wrap:wrap}
.sub{margin:4px 0 0;color:var(--muted)}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;font-weight:700;letter-spacing:.05em;line-height:1.5}
.badge.pass{background:var(--pass-bg);color:var(--pass)}
.badge.fail{background:var(--fail-bg);color:var(--fail)}
#overall{font-size:16px;padding:4px 16px}
.tag{display:inline-block;padding:0 7px;border-radius:4px;font-size:11px;font-weight:600;background:var(--warn-bg);color:var(--warn)}
.tag.bad{background:var(--fail-bg);color:var(--fail)}
.ver{font-size:12px;font-weight:400;color:var(--muted)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:3px 18px;margin:14px 0 0}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;background:var(--head);padding:1px 5px;border-radius:4px;overflow-wrap:anywhere}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--head);font-weight:600;white-space:nowrap}
tbody tr:nth-child(even){background:var(--zebra)}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bad{color:var(--fail);font-weight:600}
.muted{color:var(--muted)}
.desc{margin:0 0 6px}
.failures{border-left:4px solid var(--fail);background:var(--fail-bg);color:var(--fail);padding:8px 14px;border-radius:6px;margin:14px 0}
.failures h3{color:var(--fail);margin:4px 0}
.failures ul{margin:4px 0;padding-left:20px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin-top:10px}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 12px}
.card .k{display:block;color:var(--muted);font-size:12px}
.card .v{display:block;font-size:17px;font-weight:600;font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,480px),1fr));gap:14px}
svg.chart{display:block;width:100%;height:auto;font-family:inherit;border:1px solid var(--line);border-radius:8px}
svg.chart text{font-size:11px;fill:#374151}
svg.chart text.title{font-size:13px;font-weight:600;fill:#111827}
.nodata{border:1px dashed #d1d5db;border-radius:8px;padding:28px;text-align:center;color:var(--muted)}
footer{color:var(--muted);font-size:12px;text-align:center;padding:8px}
</style>
</head>
<body>
<main>
<header class="top">
<div class="title-row"><h1>{{or .Tool "blitzbench"}} report</h1>{{if .Pass}}<span id="overall" class="badge pass">PASS</span>{{else}}<span id="overall" class="badge fail">FAIL</span>{{end}}</div>
<p class="sub">{{.Passed}} of {{len .Sections}} scenarios passed</p>
<dl class="meta">
<dt>Command</dt><dd>{{if .Command}}<code>{{.Command}}</code>{{else}}—{{end}}</dd>
<dt>Started</dt><dd>{{ts .StartedAt}}</dd>
<dt>Finished</dt><dd>{{ts .FinishedAt}} <span class="muted">({{.Elapsed}})</span></dd>
{{with .Machine}}<dt>Machine</dt><dd>{{.CPUs}} CPUs · {{or .CPUModel "unknown CPU"}} · {{gib .MemoryGiB}} memory</dd>
<dt>System</dt><dd>{{or .OS "—"}}/{{or .Arch "—"}} · kernel {{or .Kernel "—"}} · {{or .GoVersion "—"}}{{with .Hostname}} · host <code>{{.}}</code>{{end}}</dd>{{end}}
<dt>Git</dt><dd><code>{{commit .Git.Commit}}</code>{{if .Git.Dirty}} <span class="tag">dirty</span>{{end}}</dd>
</dl>
</header>

{{with .Calibration}}<section id="calibration">
<h2>Calibration</h2>
<p class="muted desc">Bare ceiling of the same HTTP stack on this machine ({{or .Server "—"}}), closed loop; scenario rates are reported as a share of it.</p>
<div class="cards">
<div class="card"><span class="k">Ceiling</span><span class="v">{{unit (rps .CeilingRPS) "req/s"}}</span></div>
<div class="card"><span class="k">Connections</span><span class="v">{{.Connections}}</span></div>
<div class="card"><span class="k">Requests</span><span class="v">{{count .Requests}} <span class="muted">in {{secs .Seconds}} s</span></span></div>
<div class="card"><span class="k">Latency p50</span><span class="v">{{unit (ms .Latency.P50Ms) "ms"}}</span></div>
<div class="card"><span class="k">Latency p99</span><span class="v">{{unit (ms .Latency.P99Ms) "ms"}}</span></div>
<div class="card"><span class="k">Generator CPU</span><span class="v">{{pct .GeneratorCPUShare}}</span></div>
</div>
</section>{{end}}

<section id="summary">
<h2>Scenarios</h2>
{{if .Sections}}<div class="scroll"><table>
<thead><tr><th>Scenario</th><th>Result</th><th class="n">Offered/s</th><th class="n">Achieved/s</th><th class="n">Of ceiling</th><th class="n">Accepted/s</th><th class="n">p50 ms</th><th class="n">p95 ms</th><th class="n">p99 ms</th><th class="n">max ms</th><th class="n">Errors</th><th class="n">Drain s</th><th class="n">Persist p99 ms</th><th class="n">Gen CPU</th></tr></thead>
<tbody>
{{range .Sections}}<tr>
<td><a href="#{{.Anchor}}">{{.Name}}</a></td>
<td>{{template "badge" .Pass}}</td>
<td class="n">{{rps .Load.OfferedRPS}}</td>
<td class="n">{{rps .Load.AchievedRPS}}</td>
<td class="n">{{.Ratio}}</td>
<td class="n">{{rps .AcceptedRPS}}</td>
<td class="n">{{ms .Latency.P50Ms}}</td>
<td class="n">{{ms .Latency.P95Ms}}</td>
<td class="n">{{ms .Latency.P99Ms}}</td>
<td class="n">{{ms .Latency.MaxMs}}</td>
<td class="n{{if gt .Errors 0}} bad{{end}}">{{count .Errors}}</td>
<td class="n">{{with .Drain}}{{secs .Seconds}}{{if .TimedOut}} <span class="tag bad">timed out</span>{{end}}{{else}}—{{end}}</td>
<td class="n">{{with .Persist}}{{ms .P99Ms}}{{else}}—{{end}}</td>
<td class="n">{{pct .Generator.CPUShare}}</td>
</tr>
{{end}}</tbody>
</table></div>{{else}}<p class="nodata">no scenarios</p>{{end}}
</section>

{{if .CPUKeys}}<section id="cpu">
<h2>Where the CPU goes</h2>
<p class="muted desc">CPU time of each process (with all its children: PostgreSQL's backends …) from just before each scenario's load to its last answer, read from <code>/proc</code> for the pids in the stack's pid files, divided by the requests answered (<code>cpu.us_per_request</code>). The drain and the verification are not included; for the max search it is the reported step's, for the gate the sum over its repetitions. — = not measured.</p>
{{.CPUChart}}
<div class="scroll"><table>
<thead><tr><th>Scenario</th>{{range .CPUKeys}}<th class="n">{{.}}</th>{{end}}<th class="n">total</th></tr></thead>
<tbody>{{range .CPURows}}<tr data-scenario="{{.Name}}"><td><a href="#{{.Anchor}}">{{.Name}}</a></td>{{range .Cells}}<td class="n">{{.}}</td>{{end}}<td class="n"><strong>{{.Total}}</strong></td></tr>
{{end}}</tbody>
</table></div>
<p class="muted">µs of CPU per request answered.</p>
</section>{{end}}

{{range $s := .Sections}}<section class="scenario{{if not .Pass}} failed{{end}}" id="{{.Anchor}}" data-scenario="{{.Name}}">
<h2>{{.Name}} <span class="ver">v{{.Version}}</span> {{template "badge" .Pass}}</h2>
{{with .Description}}<p class="desc">{{.}}</p>{{end}}
<dl class="meta">
<dt>Load</dt><dd>{{.LoadText}}</dd>
<dt>Requests</dt><dd>{{count .Load.Requests}} in {{secs .Load.Seconds}} s · offered {{rps .Load.OfferedRPS}}/s · achieved {{rps .Load.AchievedRPS}}/s ({{.Ratio}} of ceiling) · accepted {{rps .AcceptedRPS}}/s · <span{{if gt .Errors 0}} class="bad"{{end}}>{{count .Errors}} errors</span></dd>
{{with .Generator}}<dt>Generator</dt><dd>{{secs .CPUSeconds}} CPU s ({{pct .CPUShare}} of machine) · max in flight {{count .MaxInFlight}} · schedule lag p99 {{unit (ms .LateP99Ms) "ms"}}</dd>{{end}}
{{with .CPUText}}<dt>CPU</dt><dd>{{.}} (<a href="#cpu">by process</a>)</dd>{{end}}
<dt>Drain</dt><dd>{{with .Drain}}{{secs .Seconds}} s · max writer lag {{count .MaxLag}} records{{if .TimedOut}} <span class="tag bad">timed out</span>{{end}}{{else}}—{{end}}</dd>
{{if or .File .SaleID}}<dt>Source</dt><dd>{{with .File}}<code>{{.}}</code>{{end}}{{with .SaleID}} · sale <code>{{.}}</code>{{end}}</dd>{{end}}
</dl>
{{if .Failures}}<div class="failures"><h3>Failures</h3><ul>{{range .Failures}}<li>{{.}}</li>{{end}}</ul></div>{{else if not .Pass}}<div class="failures"><h3>Failed</h3><p>no reason recorded</p></div>{{end}}

<h3>Latency (ms)</h3>
<div class="scroll"><table>
<thead><tr><th></th><th class="n">count</th><th class="n">min</th><th class="n">mean</th><th class="n">p50</th><th class="n">p90</th><th class="n">p95</th><th class="n">p99</th><th class="n">p99.9</th><th class="n">max</th></tr></thead>
<tbody>
{{template "latency" (latRow "request" .Latency)}}
{{with .Persist}}{{template "latency" (latRow "persist (reserved → committed)" .)}}{{end}}
</tbody>
</table></div>

{{if .Thresholds}}<h3>Thresholds</h3>
<div class="scroll"><table>
<thead><tr><th>Threshold</th><th class="n">Actual</th><th>Result</th></tr></thead>
<tbody>{{range .Thresholds}}<tr><td><code>{{or .Expr .Metric}}</code></td><td class="n">{{num .Actual}}</td><td>{{template "badge" .Pass}}</td></tr>
{{end}}</tbody>
</table></div>{{end}}

{{if .Invariants}}<h3>Invariants</h3>
<div class="scroll"><table>
<thead><tr><th>ID</th><th>Invariant</th><th>Result</th><th>Detail</th><th>Offending ids</th></tr></thead>
<tbody>{{range .Invariants}}<tr><td><strong>{{.ID}}</strong></td><td>{{.Name}}</td><td>{{template "badge" .Pass}}</td><td>{{.Detail}}</td>
<td class="offending">{{range $j, $id := .Offending}}{{if $j}} {{end}}<code>{{$id}}</code>{{else}}—{{end}}{{if ge (len .Offending) 20}} <span class="muted">(first 20)</span>{{end}}</td></tr>
{{end}}</tbody>
</table></div>{{end}}

<h3>Outcomes</h3>
{{.MixChart}}

<h3>Timeline</h3>
{{if .Timeline}}<div class="charts">
{{.RateChart}}
{{.LatencyChart}}
{{.LagChart}}
{{.OutcomeChart}}
</div>{{else}}<div class="nodata">no data: this scenario recorded no timeline</div>{{end}}

{{with .Checkout}}<h3>Checkout window</h3>
<p class="muted desc">Every order answered 202 held its units for {{.HoldSeconds}} s; the seed ({{.Seed}}) decided what each winner did, the harness paid and cancelled through the API, and PostgreSQL's final states are counted here. Expiry lateness is <code>ended_at − expires_at</code> of every expired order (both by the ledger's clock).</p>
<div class="cards">
<div class="card"><span class="k">Winners (202)</span><span class="v">{{count .Winners}}</span></div>
<div class="card"><span class="k">Paid</span><span class="v">{{count .Paid}} <span class="muted">({{count .PaidUnits}} units)</span></span></div>
<div class="card"><span class="k">Expired</span><span class="v">{{count .Expired}} <span class="muted">({{count .ExpiredUnits}} units)</span></span></div>
<div class="card"><span class="k">Cancelled</span><span class="v">{{count .Cancelled}} <span class="muted">({{count .CancelledUnits}} units)</span></span></div>
<div class="card"><span class="k">Resold units</span><span class="v">{{count .ResoldUnits}}</span></div>
<div class="card"><span class="k">Expiry lateness p99</span><span class="v">{{unit (ms .ExpiryLateness.P99Ms) "ms"}}</span></div>
<div class="card"><span class="k">Ledger samples</span><span class="v">{{count .Samples}}{{if .Unread}} <span class="muted">({{count .Unread}} unread)</span>{{end}}</span></div>
<div class="card"><span class="k">I6</span><span class="v">{{with $s.CheckoutI6}}{{template "badge" .Pass}}{{else}}—{{end}}</span></div>
</div>
<div class="scroll"><table>
<thead><tr><th>Planned</th><th>Payments answered</th><th>Cancellations answered</th><th class="n">Errors</th><th class="n">In doubt</th></tr></thead>
<tbody><tr><td>{{range $k, $n := .Planned}}<code>{{$k}}</code> {{count $n}} {{end}}</td><td>{{range $k, $n := .Payments}}<code>{{$k}}</code> {{count $n}} {{end}}</td><td>{{range $k, $n := .Cancels}}<code>{{$k}}</code> {{count $n}} {{end}}</td><td class="n{{if gt .Errors 0}} bad{{end}}">{{count .Errors}}</td><td class="n">{{count .InDoubt}}</td></tr></tbody>
</table></div>
<div class="scroll"><table>
<thead><tr><th></th><th class="n">count</th><th class="n">min</th><th class="n">mean</th><th class="n">p50</th><th class="n">p90</th><th class="n">p95</th><th class="n">p99</th><th class="n">p99.9</th><th class="n">max</th></tr></thead>
<tbody>
{{template "latency" (latRow "expiry lateness (ms)" .ExpiryLateness)}}
{{template "latency" (latRow "payment / cancel (ms, from due)" .Actions)}}
</tbody>
</table></div>
{{$s.UnitsChart}}
{{end}}

{{with .Search}}<h3>Rate search</h3>
<p>Objective <code>{{or .Objective "—"}}</code> · best rate meeting it: <strong>{{if gt .BestRPS 0.0}}{{rps .BestRPS}} req/s{{else}}none{{end}}</strong></p>
{{$s.SearchChart}}
{{if .Steps}}<div class="scroll"><table>
<thead><tr><th class="n">Step</th><th class="n">Offered/s</th><th class="n">Achieved/s</th><th class="n">p99 ms</th><th class="n">Errors</th><th>Result</th></tr></thead>
<tbody>{{range $i, $st := .Steps}}<tr><td class="n">{{inc $i}}</td><td class="n">{{rps .OfferedRPS}}</td><td class="n">{{rps .AchievedRPS}}</td><td class="n">{{ms .P99Ms}}</td><td class="n{{if gt .Errors 0}} bad{{end}}">{{count .Errors}}</td><td>{{template "badge" .Pass}}</td></tr>
{{end}}</tbody>
</table></div>{{end}}{{end}}

{{if .Repetitions}}<h3>Repetitions</h3>
<p class="muted desc">The scenario's figures above are the medians of these runs.</p>
<div class="scroll"><table>
<thead><tr><th class="n">Run</th><th class="n">Ceiling/s</th><th class="n">Achieved/s</th><th class="n">Of ceiling</th><th class="n">p50 ms</th><th class="n">p95 ms</th><th class="n">p99 ms</th><th class="n">Errors</th></tr></thead>
<tbody>{{range $i, $r := .Repetitions}}<tr><td class="n">{{inc $i}}</td><td class="n">{{rps .CeilingRPS}}</td><td class="n">{{rps .AchievedRPS}}</td><td class="n">{{pct .CeilingRatio}}</td><td class="n">{{ms .P50Ms}}</td><td class="n">{{ms .P95Ms}}</td><td class="n">{{ms .P99Ms}}</td><td class="n{{if gt .Errors 0}} bad{{end}}">{{count .Errors}}</td></tr>
{{end}}</tbody>
</table></div>{{end}}
</section>
{{end}}
<footer>{{or .Tool "blitzbench"}} · results schema v{{.Schema}}</footer>
</main>
</body>
</html>
{{define "badge"}}{{if .}}<span class="badge pass">PASS</span>{{else}}<span class="badge fail">FAIL</span>{{end}}{{end}}
{{define "latency"}}<tr><th>{{.Name}}</th><td class="n">{{count .L.Count}}</td><td class="n">{{ms .L.MinMs}}</td><td class="n">{{ms .L.MeanMs}}</td><td class="n">{{ms .L.P50Ms}}</td><td class="n">{{ms .L.P90Ms}}</td><td class="n">{{ms .L.P95Ms}}</td><td class="n">{{ms .L.P99Ms}}</td><td class="n">{{ms .L.P999Ms}}</td><td class="n">{{ms .L.MaxMs}}</td></tr>{{end}}`
