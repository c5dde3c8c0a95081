package rules

import (
	"bufio"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/blitzbuy/blitzbuy/testkit/promtool"
)

// Paths relative to this package. The rule glob is the one both Prometheus
// configs load (rule_files: rules/*.yml): every file it matches must be valid.
var (
	ruleGlob = filepath.Join("..", "prometheus", "rules", "*.yml")
	testGlob = filepath.Join("..", "prometheus", "tests", "*_test.yml")
	runbook  = filepath.Join("..", "..", "docs", "observability.md")
)

const runbookPrefix = "docs/observability.md#"

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no file matches %s", pattern)
	}
	return files
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	t.Logf("%s %s:\n%s", filepath.Base(name), strings.Join(args, " "), out)
}

func TestRuleFilesPassPromtoolCheck(t *testing.T) {
	tool := promtool.Path(t)
	run(t, tool, append([]string{"check", "rules"}, glob(t, ruleGlob)...)...)
}

// Both Prometheus configurations (the local stack's and docker-compose's)
// must load, rule files included.
func TestPrometheusConfigsPassPromtoolCheck(t *testing.T) {
	tool := promtool.Path(t)
	for _, cfg := range glob(t, filepath.Join(filepath.Dir(filepath.Dir(ruleGlob)), "prometheus*.yml")) {
		run(t, tool, "check", "config", cfg)
	}
}

func TestRulesPassTheirUnitTests(t *testing.T) {
	tool := promtool.Path(t)
	run(t, tool, append([]string{"test", "rules"}, glob(t, testGlob)...)...)
}

// The parts of a rule file and a promtool test file the checks below read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type testFile struct {
	Tests []struct {
		Name           string `yaml:"name"`
		AlertRuleTests []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func decode(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestEveryAlertIsAnnotatedDocumentedAndTested(t *testing.T) {
	anchors := headingAnchors(t, runbook)

	// Which alerts the unit tests see firing and see quiet.
	fires, quiet, tested := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, path := range glob(t, testGlob) {
		var f testFile
		decode(t, path, &f)
		for _, tc := range f.Tests {
			for _, a := range tc.AlertRuleTests {
				tested[a.Alertname] = true
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}

	alerts := map[string]bool{}
	for _, path := range glob(t, ruleGlob) {
		var f ruleFile
		decode(t, path, &f)
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				name := r.Alert
				if alerts[name] {
					t.Errorf("%s: alert %s defined twice", path, name)
				}
				alerts[name] = true
				if s := r.Labels["severity"]; s != "page" && s != "warning" {
					t.Errorf("%s: severity = %q, want page or warning", name, s)
				}
				for _, key := range []string{"summary", "description", "runbook"} {
					if strings.TrimSpace(r.Annotations[key]) == "" {
						t.Errorf("%s: annotation %q is missing", name, key)
					}
				}
				if link := r.Annotations["runbook"]; link != "" {
					anchor, ok := strings.CutPrefix(link, runbookPrefix)
					if !ok {
						t.Errorf("%s: runbook = %q, want %s<anchor>", name, link, runbookPrefix)
					} else if !anchors[anchor] {
						t.Errorf("%s: runbook anchor #%s has no heading in %s", name, anchor, runbook)
					}
				}
				if !fires[name] {
					t.Errorf("%s: no unit test expects it to fire", name)
				}
				if !quiet[name] {
					t.Errorf("%s: no unit test expects it to stay quiet", name)
				}
			}
		}
	}
	if len(alerts) == 0 {
		t.Fatal("no alert rules found")
	}
	// A test of an alert that no longer exists passes vacuously when it
	// expects silence: catch renames.
	for _, name := range slices.Sorted(maps.Keys(tested)) {
		if !alerts[name] {
			t.Errorf("unit tests name alert %s, which no rule file defines", name)
		}
	}
}

// headingAnchors returns the anchors GitHub gives the Markdown headings of
// path (lower case, punctuation dropped, spaces to hyphens).
func headingAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the runbook %s: %v", path, err)
	}
	defer f.Close()
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	anchors := map[string]bool{}
	sc := bufio.NewScanner(f)
	fenced := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		slug := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(title), ""), " ", "-")
		anchors[slug] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return anchors
}

func TestHeadingAnchors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doc.md")
	doc := "# Observability\n## Alerts and runbooks\n### OversellGuard\n```sh\n# not a heading\n```\n### P99 (order route) > 250 ms\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	got := headingAnchors(t, path)
	for _, want := range []string{"observability", "alerts-and-runbooks", "oversellguard", "p99-order-route--250-ms"} {
		if !got[want] {
			t.Errorf("anchor %q missing from %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Errorf("a comment in a code block became anchor: %v", got)
	}
}
