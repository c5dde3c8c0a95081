package composecheck

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/blitzbuy/blitzbuy/testkit/localenv"
	"github.com/blitzbuy/blitzbuy/testkit/redisaddr"
)

// composeFile is the file under test, relative to the repository root.
const composeFile = "docker-compose.yml"

// secrets are the variables docker-compose.yml requires (${VAR:?...}); the
// test supplies dummy values so interpolation succeeds.
var secrets = map[string]string{
	"BLITZBUY_POSTGRES_PASSWORD":      "test-postgres-password",
	"BLITZBUY_REDIS_PASSWORD":         "test-redis-password",
	"BLITZBUY_JWT_SECRET":             "test-jwt-secret",
	"BLITZBUY_ADMIN_TOKEN":            "test-admin-token",
	"BLITZBUY_GRAFANA_ADMIN_PASSWORD": "test-grafana-password",
}

// stack is everything the checks look at: the service sets the documented
// commands start, and the configuration files they mount, parsed.
type stack struct {
	root string
	// project is what `docker compose up` starts: the services without a
	// profile.
	project     *types.Project
	prometheus  promConfig
	datasources grafanaDatasources
	dashboards  grafanaDashboards

	// cluster is what the cluster command of the file's header starts
	// (clusterCmd): its targets with their dependencies, as compose selects
	// them. The fields after it are the files its services mount.
	cluster            *types.Project
	clusterCmd         upCommand
	clusterPrometheus  promConfig
	clusterDatasources grafanaDatasources
	haproxy            haproxyConfig
	sentinels          map[string]sentinelConfig // by service name
}

// A command is one service set the generic checks run on, with the label
// their problems carry.
type command struct {
	label   string
	project *types.Project
}

func (s *stack) commands() []command {
	return []command{
		{"docker compose up", s.project},
		{s.clusterCmd.String(), s.cluster},
	}
}

// eachCommand runs a per-service check on every command's service set. A
// service both start (postgres, jaeger) reports a problem once.
func eachCommand(s *stack, f func(command) []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range s.commands() {
		for _, problem := range f(c) {
			if !seen[problem] {
				seen[problem] = true
				out = append(out, problem)
			}
		}
	}
	return out
}

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

type grafanaDatasources struct {
	Datasources []struct {
		Name     string `yaml:"name"`
		UID      string `yaml:"uid"`
		Type     string `yaml:"type"`
		URL      string `yaml:"url"`
		JSONData struct {
			ExemplarTraceIDDestinations []struct {
				Name          string `yaml:"name"`
				DatasourceUID string `yaml:"datasourceUid"`
			} `yaml:"exemplarTraceIdDestinations"`
		} `yaml:"jsonData"`
	} `yaml:"datasources"`
}

type grafanaDashboards struct {
	Providers []struct {
		Name    string `yaml:"name"`
		Type    string `yaml:"type"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

// loadProject loads the compose file the way `docker compose` does
// (interpolation, normalization, consistency checks, resolved paths), with an
// environment made of env only: neither the OS environment nor a .env file
// leaks in. Without profiles it is what a plain `docker compose up` sees.
func loadProject(root string, env map[string]string, profiles ...string) (*types.Project, error) {
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	fns := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(root),
		cli.WithEnv(list),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	}
	if len(profiles) > 0 {
		fns = append(fns, cli.WithProfiles(profiles))
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, composeFile)}, fns...)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

// loadStack loads the compose project and the Prometheus and Grafana files it
// mounts (found through the bind mounts, so a wrong mount fails here too).
func loadStack(t testing.TB) *stack {
	t.Helper()
	root := localenv.Root(t)
	p, err := loadProject(root, secrets)
	if err != nil {
		t.Fatalf("loading %s: %v", composeFile, err)
	}
	s := &stack{root: root, project: p}

	prom := service(t, p, "prometheus")
	cfg, ok := flagValue(prom.Command, "--config.file")
	if !ok {
		t.Fatalf("prometheus command %q: got no --config.file, want one", prom.Command)
	}
	readYAML(t, hostPath(t, prom, cfg), &s.prometheus)

	graf := service(t, p, "grafana")
	readYAML(t, hostPath(t, graf, "/etc/grafana/provisioning/datasources/datasources.yml"), &s.datasources)
	readYAML(t, hostPath(t, graf, "/etc/grafana/provisioning/dashboards/dashboards.yml"), &s.dashboards)

	loadCluster(t, s)
	return s
}

func service(t testing.TB, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	svc, ok := p.Services[name]
	if !ok {
		t.Fatalf("service %q: got none, want it defined", name)
	}
	return svc
}

func readYAML(t testing.TB, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// hostPath maps a path inside svc's container to the host file behind it,
// through svc's bind mounts.
func hostPath(t testing.TB, svc types.ServiceConfig, inContainer string) string {
	t.Helper()
	if src, ok := bindSource(svc, inContainer); ok {
		return src
	}
	t.Fatalf("service %q: got no bind mount covering %s, want one", svc.Name, inContainer)
	return ""
}

func bindSource(svc types.ServiceConfig, inContainer string) (string, bool) {
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if inContainer == v.Target {
			return v.Source, true
		}
		if rel, ok := strings.CutPrefix(inContainer, strings.TrimSuffix(v.Target, "/")+"/"); ok {
			return filepath.Join(v.Source, filepath.FromSlash(rel)), true
		}
	}
	return "", false
}

// flagValue finds --name=value or --name value in a command line.
func flagValue(cmd []string, name string) (string, bool) {
	for i, a := range cmd {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(cmd) {
			return cmd[i+1], true
		}
	}
	return "", false
}

// oneShot reports whether svc runs to completion instead of staying up: in
// this file that is declared with `restart: "no"`, and every long-running
// service restarts.
func oneShot(svc types.ServiceConfig) bool { return svc.Restart == types.RestartPolicyNo }

func sortedNames(p *types.Project) []string {
	names := p.ServiceNames()
	sort.Strings(names)
	return names
}

// A check returns its problems, one line each, phrased as got/want.
type check func(s *stack) []string

// checks are the assertions, by name. TestCompose runs them on the file as it
// is; TestChecksCatchBreakage proves each one fails on a broken copy.
var checks = map[string]check{
	"healthchecks":            checkHealthchecks,
	"one-shot services":       checkOneShots,
	"depends_on":              checkDependsOn,
	"images pinned":           checkImagesPinned,
	"dockerfiles":             checkDockerfiles,
	"ports on loopback":       checkPortsLoopback,
	"expected ports":          checkExpectedPorts,
	"bind mounts exist":       checkBindMounts,
	"grafana mounts":          checkGrafanaMounts,
	"prometheus flags":        checkPrometheusFlags,
	"redis hardening":         checkRedisHardening,
	"prometheus targets":      checkPrometheusTargets,
	"grafana datasources":     checkGrafanaDatasources,
	"service environment":     checkServiceEnvironment,
	"go service healthchecks": checkGoServiceHealthchecks,

	"default services":            checkDefaultServices,
	"cluster command":             checkClusterCommand,
	"cluster images":              checkClusterImages,
	"kafka cluster":               checkKafkaCluster,
	"kafka cluster topics":        checkKafkaClusterTopics,
	"redis sentinel":              checkRedisSentinel,
	"haproxy":                     checkHAProxy,
	"cluster service environment": checkClusterServiceEnvironment,
	"cluster prometheus":          checkClusterPrometheus,
	"cluster grafana":             checkClusterGrafana,
}

func TestCompose(t *testing.T) {
	s := loadStack(t)
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for _, problem := range checks[name](s) {
				t.Error(problem)
			}
		})
	}
}

func checkHealthchecks(s *stack) []string { return eachCommand(s, healthchecks) }

func healthchecks(c command) []string {
	var out []string
	for _, name := range sortedNames(c.project) {
		svc := c.project.Services[name]
		if oneShot(svc) {
			continue
		}
		hc := svc.HealthCheck
		switch {
		case hc == nil:
			out = append(out, fmt.Sprintf("service %q: healthcheck got none, want one", name))
		case hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE":
			out = append(out, fmt.Sprintf("service %q: healthcheck got disabled (%q), want a test", name, hc.Test))
		}
	}
	return out
}

// checkOneShots: a one-shot service is waited for with
// service_completed_successfully by at least one service.
func checkOneShots(s *stack) []string { return eachCommand(s, oneShots) }

func oneShots(c command) []string {
	var out []string
	for _, name := range sortedNames(c.project) {
		if !oneShot(c.project.Services[name]) {
			continue
		}
		var waiters []string
		for _, other := range sortedNames(c.project) {
			if dep, ok := c.project.Services[other].DependsOn[name]; ok && dep.Condition == types.ServiceConditionCompletedSuccessfully {
				waiters = append(waiters, other)
			}
		}
		if len(waiters) == 0 {
			out = append(out, fmt.Sprintf("one-shot service %q: got no service depending on it with %s, want at least one",
				name, types.ServiceConditionCompletedSuccessfully))
		}
	}
	return out
}

func checkDependsOn(s *stack) []string { return eachCommand(s, dependsOn) }

func dependsOn(c command) []string {
	var out []string
	for _, name := range sortedNames(c.project) {
		deps := c.project.Services[name].DependsOn
		targets := make([]string, 0, len(deps))
		for target := range deps {
			targets = append(targets, target)
		}
		sort.Strings(targets)
		for _, target := range targets {
			cond := deps[target].Condition
			dep, ok := c.project.Services[target]
			if !ok {
				out = append(out, fmt.Sprintf("service %q depends on %q: got no such service, want a defined one", name, target))
				continue
			}
			want := types.ServiceConditionHealthy
			if oneShot(dep) {
				want = types.ServiceConditionCompletedSuccessfully
			}
			if cond != want {
				out = append(out, fmt.Sprintf("service %q depends on %q: condition got %q, want %q", name, target, cond, want))
			}
		}
	}
	return out
}

// exactVersion is what a pinned compose image's tag starts with: at least
// major.minor (redis:7.4.6, prom/prometheus:v2.55.1), not a moving "7".
var exactVersion = regexp.MustCompile(`^v?\d+\.\d+`)

// splitImage returns the tag and digest of an image reference (either may be
// empty).
func splitImage(ref string) (tag, digest string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	if colon := strings.LastIndex(ref, ":"); colon > strings.LastIndex(ref, "/") {
		tag = ref[colon+1:]
	}
	return tag, digest
}

// checkImagesPinned: images pulled from a registry carry an exact version tag
// (or a digest); services built here are checked through their Dockerfiles.
func checkImagesPinned(s *stack) []string { return eachCommand(s, imagesPinned) }

func imagesPinned(c command) []string {
	var out []string
	for _, name := range sortedNames(c.project) {
		svc := c.project.Services[name]
		if svc.Build != nil {
			continue
		}
		tag, digest := splitImage(svc.Image)
		switch {
		case svc.Image == "":
			out = append(out, fmt.Sprintf("service %q: got neither image nor build, want one", name))
		case digest != "":
		case tag == "" || tag == "latest":
			out = append(out, fmt.Sprintf("service %q: image %q tag got %q, want an exact version", name, svc.Image, tag))
		case !exactVersion.MatchString(tag):
			out = append(out, fmt.Sprintf("service %q: image %q tag got %q, want an exact version (major.minor[.patch])", name, svc.Image, tag))
		}
	}
	return out
}

// checkDockerfiles: every build points at an existing Dockerfile whose base
// images are pinned (a tag other than latest, or a digest).
func checkDockerfiles(s *stack) []string { return eachCommand(s, dockerfiles) }

func dockerfiles(c command) []string {
	var out []string
	for _, name := range sortedNames(c.project) {
		svc := c.project.Services[name]
		b := svc.Build
		if b == nil {
			continue
		}
		// With both build and image, compose would first try to pull the
		// local image name from a registry, where anyone may own it.
		if svc.Image != "" && svc.PullPolicy != types.PullPolicyBuild {
			out = append(out, fmt.Sprintf("service %q: pull_policy got %q, want %q (image %q is built here)",
				name, svc.PullPolicy, types.PullPolicyBuild, svc.Image))
		}
		dockerfile := b.Dockerfile
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		if !filepath.IsAbs(dockerfile) {
			dockerfile = filepath.Join(b.Context, dockerfile)
		}
		data, err := os.ReadFile(dockerfile)
		if err != nil {
			out = append(out, fmt.Sprintf("service %q: dockerfile %s got %v, want an existing file", name, dockerfile, errors.Unwrap(err)))
			continue
		}
		froms := dockerFroms(data)
		if len(froms) == 0 {
			out = append(out, fmt.Sprintf("service %q: %s got no FROM, want at least one", name, dockerfile))
		}
		for _, image := range froms {
			tag, digest := splitImage(image)
			if strings.Contains(image, "$") || (digest == "" && (tag == "" || tag == "latest")) {
				out = append(out, fmt.Sprintf("service %q: %s FROM %q got tag %q, want a literal pinned tag", name, dockerfile, image, tag))
			}
		}
	}
	return out
}

// dockerFroms lists the external images a Dockerfile's FROM lines name
// (earlier stages referred to by name are left out).
func dockerFroms(data []byte) []string {
	var images []string
	stages := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		f = slices.DeleteFunc(f[1:], func(a string) bool { return strings.HasPrefix(a, "--") })
		if len(f) == 0 {
			continue
		}
		if !stages[strings.ToLower(f[0])] {
			images = append(images, f[0])
		}
		if len(f) >= 3 && strings.EqualFold(f[1], "AS") {
			stages[strings.ToLower(f[2])] = true
		}
	}
	return images
}

func checkPortsLoopback(s *stack) []string { return eachCommand(s, portsLoopback) }

func portsLoopback(c command) []string {
	var out []string
	seen := map[string]string{}
	for _, name := range sortedNames(c.project) {
		for _, p := range c.project.Services[name].Ports {
			if p.HostIP != "127.0.0.1" {
				out = append(out, fmt.Sprintf("service %q: port %d host ip got %q, want 127.0.0.1", name, p.Target, p.HostIP))
			}
			if p.Published == "" {
				out = append(out, fmt.Sprintf("service %q: port %d host port got a random one, want a fixed one", name, p.Target))
				continue
			}
			key := p.Published + "/" + p.Protocol
			if prev, dup := seen[key]; dup {
				out = append(out, fmt.Sprintf("%s: host port %s: got published by %q and %q, want one service", c.label, key, prev, name))
			}
			seen[key] = name
		}
	}
	return out
}

// checkExpectedPorts: the ports of DESIGN.md, each published by its service,
// in the single-node set and (where the cluster has an equivalent) in the
// cluster command's set, so the cluster answers on the same addresses.
func checkExpectedPorts(s *stack) []string {
	want := []struct {
		project       *types.Project
		service, port string
	}{
		{s.project, "order-api", "8080"},
		{s.project, "order-api", "9464"},
		{s.project, "order-writer", "9465"},
		{s.project, "redis", "6379"},
		{s.project, "postgres", "5432"},
		{s.project, "kafka", "9092"},
		{s.project, "jaeger", "16686"},
		{s.project, "jaeger", "4317"},
		{s.project, "jaeger", "4318"},
		{s.project, "prometheus", "9090"},
		{s.project, "grafana", "3000"},

		{s.cluster, "haproxy", "8080"},
		{s.cluster, "redis-1", "6379"},
		{s.cluster, "postgres", "5432"},
		{s.cluster, "kafka-1", "9092"},
		{s.cluster, "jaeger", "16686"},
		{s.cluster, "jaeger", "4317"},
		{s.cluster, "jaeger", "4318"},
		{s.cluster, "prometheus-cluster", "9090"},
		{s.cluster, "grafana-cluster", "3000"},
	}
	var out []string
	for _, w := range want {
		var got []string
		for _, p := range w.project.Services[w.service].Ports {
			got = append(got, p.Published)
		}
		if !slices.Contains(got, w.port) {
			out = append(out, fmt.Sprintf("service %q: published host ports got %q, want %s among them", w.service, got, w.port))
		}
	}
	return out
}

func checkBindMounts(s *stack) []string { return eachCommand(s, bindMounts) }

func bindMounts(c command) []string {
	var out []string
	for _, name := range sortedNames(c.project) {
		for _, v := range c.project.Services[name].Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				out = append(out, fmt.Sprintf("service %q: bind mount source %s got %v, want an existing path", name, v.Source, errors.Unwrap(err)))
			}
		}
	}
	return out
}

// checkGrafanaMounts: provisioning and dashboards are bind-mounted from the
// repository, exist on disk, and the dashboard provider reads the folder the
// dashboards are mounted at.
func checkGrafanaMounts(s *stack) []string {
	graf := s.project.Services["grafana"]
	cases := []struct {
		name, target, wantSource string
	}{
		{"provisioning", "/etc/grafana/provisioning", "observability/grafana/provisioning"},
		{"dashboards", "/etc/grafana/dashboards", "observability/grafana/dashboards"},
	}
	var out []string
	for _, c := range cases {
		src, ok := bindSource(graf, c.target)
		want := filepath.Join(s.root, filepath.FromSlash(c.wantSource))
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("grafana %s: got no bind mount at %s, want %s", c.name, c.target, want))
		case src != want:
			out = append(out, fmt.Sprintf("grafana %s: bind mount source got %s, want %s", c.name, src, want))
		default:
			if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
				out = append(out, fmt.Sprintf("grafana %s: %s got missing or not a directory, want a directory", c.name, src))
			}
		}
	}
	if len(s.dashboards.Providers) == 0 {
		out = append(out, "grafana dashboards.yml: got no providers, want one")
	}
	for _, p := range s.dashboards.Providers {
		if p.Type != "file" || p.Options.Path != "/etc/grafana/dashboards" {
			out = append(out, fmt.Sprintf("grafana dashboard provider %q: got type %q path %q, want type \"file\" path /etc/grafana/dashboards",
				p.Name, p.Type, p.Options.Path))
		}
	}
	return out
}

func checkPrometheusFlags(s *stack) []string {
	cmd := s.project.Services["prometheus"].Command
	var out []string
	if !slices.Contains(cmd, "--enable-feature=exemplar-storage") {
		out = append(out, fmt.Sprintf("prometheus command got %q, want --enable-feature=exemplar-storage in it", cmd))
	}
	if cfg, _ := flagValue(cmd, "--config.file"); path.Base(cfg) != "prometheus-compose.yml" {
		out = append(out, fmt.Sprintf("prometheus --config.file got %q, want the compose config prometheus-compose.yml", cfg))
	}
	if !slices.Contains(s.prometheus.RuleFiles, "rules/*.yml") {
		out = append(out, fmt.Sprintf("prometheus rule_files got %q, want rules/*.yml", s.prometheus.RuleFiles))
	}
	return append(out, lifecycleOff("prometheus", cmd)...)
}

// lifecycleOff: Prometheus's lifecycle API (/-/reload, /-/quit) lets anyone
// who reaches its port stop it; nothing here uses it (SIGHUP reloads).
func lifecycleOff(service string, cmd []string) []string {
	if slices.ContainsFunc(cmd, func(a string) bool { return strings.HasPrefix(a, "--web.enable-lifecycle") }) {
		return []string{fmt.Sprintf("%s command got %q, want no --web.enable-lifecycle (anyone reaching the port could stop it)", service, cmd)}
	}
	return nil
}

// checkRedisHardening: every Redis server of both service sets (the
// single node, the cluster's nodes) has the password from the required
// variable, protected mode on, a non-zero maxmemory with noeviction, and a
// healthcheck that authenticates (REDISCLI_AUTH); the cluster's nodes also
// carry it as masterauth (a replica syncs with it; after a failover any node
// is one), and every sentinel writes it as the master set's auth-pass. The
// services' address carries the same password, which rueidis honours and
// redisaddr.Redact hides from logs.
func checkRedisHardening(s *stack) []string {
	pw := secrets["BLITZBUY_REDIS_PASSWORD"]
	var out []string
	type node struct {
		p       *types.Project
		name    string
		replica bool // part of a replicated set
	}
	nodes := []node{{s.project, "redis", false}}
	for _, name := range redisNodes(s.cluster) {
		nodes = append(nodes, node{s.cluster, name, true})
	}
	for _, n := range nodes {
		svc := n.p.Services[n.name]
		f := redisFlags(svc.Command)
		want := map[string]string{"requirepass": pw, "protected-mode": "yes", "maxmemory-policy": "noeviction"}
		if n.replica {
			want["masterauth"] = pw
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if !slices.Equal(f[k], []string{want[k]}) {
				out = append(out, fmt.Sprintf("service %q: --%s got %q, want %q", n.name, k, f[k], want[k]))
			}
		}
		if mm := f["maxmemory"]; len(mm) != 1 || mm[0] == "" || strings.TrimLeft(mm[0], "0") == "" {
			out = append(out, fmt.Sprintf("service %q: --maxmemory got %q, want a budget (0 is unbounded)", n.name, mm))
		}
		if got := envOf(svc, "REDISCLI_AUTH"); got != pw {
			out = append(out, fmt.Sprintf("service %q: REDISCLI_AUTH got %q, want the password (its healthcheck's redis-cli authenticates with it)", n.name, got))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.sentinels)) {
		svc := s.cluster.Services[name]
		script := strings.Join(svc.Command, " ")
		if !strings.Contains(script, "sentinel auth-pass "+masterSet+" $BLITZBUY_REDIS_PASSWORD") {
			out = append(out, fmt.Sprintf("sentinel %q: command got %q, want it to write `sentinel auth-pass %s $BLITZBUY_REDIS_PASSWORD`", name, script, masterSet))
		}
		if got := envOf(svc, "BLITZBUY_REDIS_PASSWORD"); got != pw {
			out = append(out, fmt.Sprintf("sentinel %q: BLITZBUY_REDIS_PASSWORD got %q, want the password", name, got))
		}
	}
	for _, c := range []struct {
		p    *types.Project
		name string
	}{{s.project, "order-api"}, {s.project, "order-writer"}} {
		out = append(out, addrAuthenticates(c.name, envOf(c.p.Services[c.name], "BLITZBUY_REDIS_ADDR"))...)
	}
	for _, kind := range []string{"order-api", "order-writer"} {
		for _, name := range instances(s, kind) {
			out = append(out, addrAuthenticates(name, envOf(s.cluster.Services[name], "BLITZBUY_REDIS_ADDR"))...)
		}
	}
	return out
}

// addrAuthenticates: addr, read as every client of the ledger reads it
// (redisaddr), sends the password, and the form logged does not show it.
func addrAuthenticates(service, addr string) []string {
	pw := secrets["BLITZBUY_REDIS_PASSWORD"]
	opt, err := redisaddr.Option(addr, 0)
	switch {
	case err != nil:
		return []string{fmt.Sprintf("service %q: BLITZBUY_REDIS_ADDR %q: %v", service, addr, err)}
	case opt.Password != pw:
		return []string{fmt.Sprintf("service %q: BLITZBUY_REDIS_ADDR %q: password got %q, want the Redis password", service, addr, opt.Password)}
	case strings.Contains(redisaddr.Redact(addr), pw):
		return []string{fmt.Sprintf("service %q: BLITZBUY_REDIS_ADDR redacted got %q, want the password hidden", service, redisaddr.Redact(addr))}
	}
	return nil
}

// checkPrometheusTargets: every scrape target is a compose service, and the
// four expected jobs scrape the expected service:port.
func checkPrometheusTargets(s *stack) []string {
	var out []string
	got := map[string][]string{}
	for _, sc := range s.prometheus.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				got[sc.JobName] = append(got[sc.JobName], target)
				host, _, err := net.SplitHostPort(target)
				if err != nil {
					out = append(out, fmt.Sprintf("prometheus job %q target %q: got %v, want host:port", sc.JobName, target, err))
					continue
				}
				if _, ok := s.project.Services[host]; !ok {
					out = append(out, fmt.Sprintf("prometheus job %q target %q: host got %q, want a compose service name %q",
						sc.JobName, target, host, sortedNames(s.project)))
				}
			}
		}
	}
	want := map[string]string{
		"order-api":    "order-api:9464",
		"order-writer": "order-writer:9465",
		"jaeger":       "jaeger:8888",
		"prometheus":   "prometheus:9090",
	}
	for _, job := range slices.Sorted(maps.Keys(want)) {
		if !slices.Contains(got[job], want[job]) {
			out = append(out, fmt.Sprintf("prometheus job %q: targets got %q, want %s among them", job, got[job], want[job]))
		}
	}
	return out
}

// checkGrafanaDatasources: Prometheus (uid prometheus) links exemplar trace
// ids to Jaeger (uid jaeger), and both URLs name compose services.
func checkGrafanaDatasources(s *stack) []string {
	var out []string
	byUID := map[string]int{}
	for i, ds := range s.datasources.Datasources {
		byUID[ds.UID] = i
		u, err := url.Parse(ds.URL)
		if err != nil || u.Hostname() == "" {
			out = append(out, fmt.Sprintf("datasource %q: url got %q, want http://<service>:<port>", ds.UID, ds.URL))
			continue
		}
		if _, ok := s.project.Services[u.Hostname()]; !ok {
			out = append(out, fmt.Sprintf("datasource %q: url host got %q, want a compose service name", ds.UID, u.Hostname()))
		}
	}
	want := []struct{ uid, typ, url string }{
		{"prometheus", "prometheus", "http://prometheus:9090"},
		{"jaeger", "jaeger", "http://jaeger:16686"},
	}
	for _, w := range want {
		i, ok := byUID[w.uid]
		if !ok {
			out = append(out, fmt.Sprintf("datasource uid %q: got none, want a %s datasource", w.uid, w.typ))
			continue
		}
		ds := s.datasources.Datasources[i]
		if ds.Type != w.typ || ds.URL != w.url {
			out = append(out, fmt.Sprintf("datasource %q: got type %q url %q, want type %q url %q", w.uid, ds.Type, ds.URL, w.typ, w.url))
		}
	}
	if i, ok := byUID["prometheus"]; ok {
		dest := s.datasources.Datasources[i].JSONData.ExemplarTraceIDDestinations
		found := false
		for _, d := range dest {
			if d.Name == "trace_id" && d.DatasourceUID == "jaeger" {
				found = true
			}
			if _, ok := byUID[d.DatasourceUID]; !ok {
				out = append(out, fmt.Sprintf("exemplar destination %q: datasourceUid got %q, want a provisioned uid", d.Name, d.DatasourceUID))
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("prometheus exemplarTraceIdDestinations got %+v, want trace_id -> jaeger", dest))
		}
	}
	return out
}

// checkServiceEnvironment: the services reach their dependencies by compose
// service name, and the secrets come from the (required) variables.
func checkServiceEnvironment(s *stack) []string {
	pgURL := "postgres://blitzbuy:" + secrets["BLITZBUY_POSTGRES_PASSWORD"] + "@postgres:5432/blitzbuy?sslmode=disable"
	common := map[string]string{
		"BLITZBUY_REDIS_ADDR":         "redis://:" + secrets["BLITZBUY_REDIS_PASSWORD"] + "@redis:6379",
		"BLITZBUY_KAFKA_BROKERS":      "kafka:9092",
		"BLITZBUY_POSTGRES_URL":       pgURL,
		"BLITZBUY_JWT_SECRET":         secrets["BLITZBUY_JWT_SECRET"],
		"BLITZBUY_ADMIN_TOKEN":        secrets["BLITZBUY_ADMIN_TOKEN"],
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318",
	}
	cases := []struct {
		service string
		want    map[string]string
	}{
		{"order-api", map[string]string{
			"BLITZBUY_HTTP_ADDR": ":8080", "BLITZBUY_METRICS_ADDR": ":9464", "OTEL_SERVICE_NAME": "order-api",
		}},
		{"order-writer", map[string]string{
			"BLITZBUY_METRICS_ADDR": ":9465", "OTEL_SERVICE_NAME": "order-writer",
		}},
		{"postgres", map[string]string{
			"POSTGRES_DB": "blitzbuy", "POSTGRES_USER": "blitzbuy", "POSTGRES_PASSWORD": secrets["BLITZBUY_POSTGRES_PASSWORD"],
		}},
	}
	var out []string
	for _, c := range cases {
		want := c.want
		if strings.HasPrefix(c.service, "order-") {
			want = merge(common, c.want)
		}
		env := s.project.Services[c.service].Environment
		for _, k := range slices.Sorted(maps.Keys(want)) {
			got := "<unset>"
			if v := env[k]; v != nil {
				got = *v
			}
			if got != want[k] {
				out = append(out, fmt.Sprintf("service %q: %s got %q, want %q", c.service, k, got, want[k]))
			}
		}
	}
	return out
}

// merge returns a new map holding a's entries overlaid with b's.
func merge(a, b map[string]string) map[string]string {
	m := maps.Clone(a)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, b)
	return m
}

// checkGoServiceHealthchecks: the distroless service images have no shell or
// wget, so their healthcheck execs the service binary with -healthcheck; the
// cluster's instances are built from the same images.
func checkGoServiceHealthchecks(s *stack) []string {
	type goService struct {
		project         *types.Project
		service, binary string
	}
	binaries := []goService{
		{s.project, "order-api", "/usr/local/bin/orderapi"},
		{s.project, "order-writer", "/usr/local/bin/orderwriter"},
	}
	cases := slices.Clone(binaries)
	for _, b := range binaries {
		for _, name := range instances(s, b.service) {
			cases = append(cases, goService{s.cluster, name, b.binary})
		}
	}
	var out []string
	for _, c := range cases {
		want := []string{"CMD", c.binary, "-healthcheck"}
		var got []string
		if hc := c.project.Services[c.service].HealthCheck; hc != nil {
			got = hc.Test
		}
		if !slices.Equal(got, want) {
			out = append(out, fmt.Sprintf("service %q: healthcheck test got %q, want %q", c.service, got, want))
		}
	}
	return out
}

// TestComposeRequiresSecrets: each secret is a required variable, so compose
// refuses to start without it instead of running with an empty password.
func TestComposeRequiresSecrets(t *testing.T) {
	root := localenv.Root(t)
	for name := range secrets {
		t.Run(name, func(t *testing.T) {
			env := merge(secrets, nil)
			delete(env, name)
			_, err := loadProject(root, env)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("loading without %s: got error %v, want one naming %s", name, err, name)
			}
		})
	}
}

// A breakage is one way to break a freshly loaded stack, and the check that
// must then report a problem.
type breakage struct {
	name  string
	check string
	brk   func(*stack)
}

// editService edits a service of the default set in place.
func editService(name string, edit func(*types.ServiceConfig)) func(*stack) {
	return func(s *stack) {
		svc := s.project.Services[name]
		edit(&svc)
		s.project.Services[name] = svc
	}
}

// TestChecksCatchBreakage breaks a freshly loaded copy of the stack in one
// way per case and asserts that the named check reports it, so no check
// passes vacuously.
func TestChecksCatchBreakage(t *testing.T) {
	cases := []breakage{
		{"redis without healthcheck", "healthchecks", editService("redis", func(svc *types.ServiceConfig) { svc.HealthCheck = nil })},
		{"postgres healthcheck disabled", "healthchecks", editService("postgres", func(svc *types.ServiceConfig) {
			svc.HealthCheck = &types.HealthCheckConfig{Disable: true}
		})},
		{"kafka-init waited for by nobody", "one-shot services", func(s *stack) {
			for name, svc := range s.project.Services {
				deps := maps.Clone(svc.DependsOn)
				delete(deps, "kafka-init")
				svc.DependsOn = deps
				s.project.Services[name] = svc
			}
		}},
		{"depends on a missing service", "depends_on", editService("grafana", func(svc *types.ServiceConfig) {
			svc.DependsOn["loki"] = types.ServiceDependency{Condition: types.ServiceConditionHealthy}
		})},
		{"depends on started only", "depends_on", editService("order-writer", func(svc *types.ServiceConfig) {
			svc.DependsOn["redis"] = types.ServiceDependency{Condition: types.ServiceConditionStarted}
		})},
		{"one-shot waited for as healthy", "depends_on", editService("order-api", func(svc *types.ServiceConfig) {
			svc.DependsOn["kafka-init"] = types.ServiceDependency{Condition: types.ServiceConditionHealthy}
		})},
		{"image latest", "images pinned", editService("redis", func(svc *types.ServiceConfig) { svc.Image = "redis:latest" })},
		{"image untagged", "images pinned", editService("grafana", func(svc *types.ServiceConfig) { svc.Image = "grafana/grafana" })},
		{"image moving major tag", "images pinned", editService("postgres", func(svc *types.ServiceConfig) { svc.Image = "postgres:15" })},
		{"dockerfile missing", "dockerfiles", editService("order-api", func(svc *types.ServiceConfig) {
			b := *svc.Build
			b.Dockerfile = "infra/docker/missing.Dockerfile"
			svc.Build = &b
		})},
		{"built image pulled first", "dockerfiles", editService("order-writer", func(svc *types.ServiceConfig) { svc.PullPolicy = "" })},
		{"port on all interfaces", "ports on loopback", editService("redis", func(svc *types.ServiceConfig) {
			svc.Ports = []types.ServicePortConfig{{Target: 6379, Published: "6379", Protocol: "tcp"}}
		})},
		{"host port twice", "ports on loopback", editService("grafana", func(svc *types.ServiceConfig) {
			svc.Ports = []types.ServicePortConfig{{HostIP: "127.0.0.1", Target: 3000, Published: "9090", Protocol: "tcp"}}
		})},
		{"kafka port missing", "expected ports", editService("kafka", func(svc *types.ServiceConfig) { svc.Ports = nil })},
		{"bind source missing", "bind mounts exist", editService("jaeger", func(svc *types.ServiceConfig) {
			svc.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeBind, Source: "/nonexistent/config.yaml", Target: "/etc/jaeger/config.yaml"}}
		})},
		{"grafana dashboards not mounted", "grafana mounts", editService("grafana", func(svc *types.ServiceConfig) {
			svc.Volumes = slices.DeleteFunc(slices.Clone(svc.Volumes), func(v types.ServiceVolumeConfig) bool {
				return v.Target == "/etc/grafana/dashboards"
			})
		})},
		{"dashboard provider path elsewhere", "grafana mounts", func(s *stack) {
			s.dashboards.Providers[0].Options.Path = "/var/lib/grafana/dashboards"
		}},
		{"exemplar storage off", "prometheus flags", editService("prometheus", func(svc *types.ServiceConfig) {
			svc.Command = slices.DeleteFunc(slices.Clone(svc.Command), func(a string) bool { return strings.HasPrefix(a, "--enable-feature") })
		})},
		{"local-stack config", "prometheus flags", editService("prometheus", func(svc *types.ServiceConfig) {
			svc.Command = append(slices.Clone(svc.Command), "--config.file=/etc/prometheus/prometheus.yml")
			svc.Command = slices.DeleteFunc(svc.Command, func(a string) bool { return a == "--config.file=/etc/prometheus/prometheus-compose.yml" })
		})},
		{"scrape target on loopback", "prometheus targets", func(s *stack) {
			s.prometheus.ScrapeConfigs[0].StaticConfigs[0].Targets = []string{"127.0.0.1:9464"}
		}},
		{"datasource url not a service", "grafana datasources", func(s *stack) { s.datasources.Datasources[1].URL = "http://localhost:16686" }},
		{"exemplar destination dangling", "grafana datasources", func(s *stack) {
			s.datasources.Datasources[0].JSONData.ExemplarTraceIDDestinations[0].DatasourceUID = "tempo"
		}},
		{"redis address on loopback", "service environment", editService("order-writer", func(svc *types.ServiceConfig) {
			e := maps.Clone(svc.Environment)
			addr := "127.0.0.1:6379"
			e["BLITZBUY_REDIS_ADDR"] = &addr
			svc.Environment = e
		})},
		{"lifecycle API back on", "prometheus flags", editService("prometheus", func(svc *types.ServiceConfig) {
			svc.Command = append(slices.Clone(svc.Command), "--web.enable-lifecycle")
		})},
		{"redis without a password", "redis hardening", editService("redis", func(svc *types.ServiceConfig) {
			f := slices.Clone(svc.Command)
			i := slices.Index(f, "--requirepass")
			svc.Command = slices.Delete(f, i, i+2)
		})},
		{"redis protected mode off", "redis hardening", editService("redis", func(svc *types.ServiceConfig) {
			f := slices.Clone(svc.Command)
			f[slices.Index(f, "--protected-mode")+1] = "no"
			svc.Command = f
		})},
		{"redis unbounded", "redis hardening", editService("redis", func(svc *types.ServiceConfig) {
			f := slices.Clone(svc.Command)
			f[slices.Index(f, "--maxmemory")+1] = "0"
			svc.Command = f
		})},
		{"redis healthcheck without the password", "redis hardening", editService("redis", func(svc *types.ServiceConfig) {
			e := maps.Clone(svc.Environment)
			delete(e, "REDISCLI_AUTH")
			svc.Environment = e
		})},
		{"writer without the redis password", "redis hardening", editService("order-writer", func(svc *types.ServiceConfig) {
			e := maps.Clone(svc.Environment)
			addr := "redis://redis:6379"
			e["BLITZBUY_REDIS_ADDR"] = &addr
			svc.Environment = e
		})},
		{"go service healthcheck via wget", "go service healthchecks", editService("order-api", func(svc *types.ServiceConfig) {
			svc.HealthCheck = &types.HealthCheckConfig{Test: types.HealthCheckTest{"CMD", "wget", "-q", "http://127.0.0.1:8080/healthz"}}
		})},
	}
	cases = append(cases, clusterBreakage...)
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.check] = true
		t.Run(c.name, func(t *testing.T) {
			s := loadStack(t)
			if got := checks[c.check](s); len(got) != 0 {
				t.Fatalf("check %q before breaking: got %q, want no problems", c.check, got)
			}
			c.brk(s)
			if got := checks[c.check](s); len(got) == 0 {
				t.Errorf("check %q after %s: got no problems, want at least one", c.check, c.name)
			} else {
				t.Logf("check %q reports: %s", c.check, got[0])
			}
		})
	}
	for name := range checks {
		if !covered[name] {
			t.Errorf("check %q: got no breakage case, want at least one", name)
		}
	}
}
