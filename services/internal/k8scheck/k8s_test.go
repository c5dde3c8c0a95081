package k8scheck

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/types"

	"github.com/blitzbuy/blitzbuy/services/internal/config"
)

// shutdownMargin is what the grace period must leave after the preStop
// sleep and BLITZBUY_SHUTDOWN_TIMEOUT: what still runs once the timeout is
// spent (the span flush, up to 5 s; the writer's metrics listener, up to
// 5 s) plus the kubelet's own latency. SIGKILL inside it loses no order,
// but inside the timeout it would cut a drain or a commit.
const shutdownMargin = 10 * time.Second

// otelVars are the OpenTelemetry variables the services honour: the
// telemetry package reads OTEL_SERVICE_NAME and the two endpoints itself,
// the SDK reads the rest (docs/observability.md). Any other OTEL_* name
// would be ignored without a word.
var otelVars = []string{
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
}

// dockerUsers are the numeric ids of the user names the images run as
// (infra/docker/*.Dockerfile): the kubelet can check runAsNonRoot only
// against a number, so a named user must be given as runAsUser.
var dockerUsers = map[string]int64{"nonroot": 65532} // distroless

// program is one service as the manifests must run it: the configuration it
// loads, the listeners it opens and what each serves.
type program struct {
	name       string // Deployment, container and image name
	dockerfile string // under infra/docker
	vars       map[string]variable
	// load parses and validates its configuration from an environment.
	load      func(map[string]string) (config.Process, error)
	listeners []listener
	// serves: a Service sends it traffic, so endpoints must drain before
	// SIGTERM stops the listener (a preStop sleep).
	serves bool
	// autoscaler is the kind that must scale it.
	autoscaler string
}

type listener struct {
	port    string // the container port's name
	addrVar string // the variable holding its listen address
	// routes are the paths it serves; nil: every path answers the same
	// (order-api's metrics listener is promhttp on any path), so no probe
	// may use it.
	routes []route
	// readyTimeout is how long its /readyz may itself take; the readiness
	// probe's timeout must exceed it, or slow dependencies read as a dead
	// pod.
	readyTimeout time.Duration
}

// route is a path a listener serves and the code that serves it, which
// TestRoutesExist finds in the source: renaming an endpoint fails here, not
// in a probe in production.
type route struct{ path, file, code string }

func programs() []program {
	return []program{
		{
			name:       "order-api",
			dockerfile: "orderapi.Dockerfile",
			vars:       variables(reflect.TypeFor[config.API]()),
			load: func(e map[string]string) (config.Process, error) {
				c, err := loadConfig[config.API](e)
				return c.Process, err
			},
			listeners: []listener{
				{port: "http", addrVar: "BLITZBUY_HTTP_ADDR", readyTimeout: 2 * time.Second, routes: []route{
					{path: "/healthz", file: "internal/httpapi/server.go", code: `r.Get("/healthz",`},
					{path: "/readyz", file: "internal/httpapi/server.go", code: `r.Get("/readyz", s.ready)`},
				}},
				{port: "metrics", addrVar: "BLITZBUY_METRICS_ADDR"},
			},
			serves:     true,
			autoscaler: "HorizontalPodAutoscaler",
		},
		{
			name:       "order-writer",
			dockerfile: "orderwriter.Dockerfile",
			vars:       variables(reflect.TypeFor[config.Writer]()),
			load: func(e map[string]string) (config.Process, error) {
				c, err := loadConfig[config.Writer](e)
				return c.Process, err
			},
			listeners: []listener{
				{port: "metrics", addrVar: "BLITZBUY_METRICS_ADDR", routes: []route{
					{path: "/metrics", file: "cmd/orderwriter/main.go", code: `mux.Handle("GET /metrics",`},
					{path: "/healthz", file: "cmd/orderwriter/main.go", code: `mux.HandleFunc("GET /healthz",`},
					{path: "/readyz", file: "cmd/orderwriter/main.go", code: `mux.HandleFunc("GET /readyz",`},
				}},
			},
			autoscaler: "ScaledObject",
		},
	}
}

// container is the program's container in its Deployment.
func (p program) container(t *testing.T, o *objects) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	d := o.deployment(p.name)
	if d == nil {
		t.Fatalf("no Deployment %s", p.name)
	}
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != p.name {
		t.Fatalf("Deployment %s: want one container named %s, got %d", p.name, p.name, len(cs))
	}
	return d, cs[0]
}

// env is the program's container environment, resolved.
func (p program) env(t *testing.T, o *objects) map[string]envValue {
	t.Helper()
	_, c := p.container(t, o)
	e, err := environment(c, o)
	if err != nil {
		t.Fatalf("%s's environment: %v", p.name, err)
	}
	return e
}

// addr is the listen address the program uses for l: the environment's, or
// the default.
func (p program) addr(l listener, e map[string]envValue) string {
	if v, ok := e[l.addrVar]; ok {
		return v.value
	}
	return p.vars[l.addrVar].def
}

// listenerAt is the listener a probe's or Service's port (a name or a
// number) reaches in c.
func (p program) listenerAt(c corev1.Container, port intstr.IntOrString) (listener, bool) {
	for _, cp := range c.Ports {
		if (port.Type == intstr.String && cp.Name == port.StrVal) || (port.Type == intstr.Int && cp.ContainerPort == port.IntVal) {
			for _, l := range p.listeners {
				if l.port == cp.Name {
					return l, true
				}
			}
		}
	}
	return listener{}, false
}

func portOf(addr string) (host string, port int32, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseInt(p, 10, 32)
	return host, int32(n), err
}

func TestKustomizationCoversEveryFile(t *testing.T) {
	k := loadKustomization(t)
	resources := map[string]bool{}
	for _, r := range k.Resources {
		if filepath.Base(r) != r || filepath.Ext(r) != ".yaml" {
			t.Errorf("resource %q: want a .yaml file in %s itself", r, manifestDir)
		}
		if _, err := os.Stat(filepath.Join(manifestDir, r)); err != nil {
			t.Errorf("resource %q: %v", r, err)
		}
		resources[r] = true
	}
	sources := envSources(k)
	if !slices.Contains(sources, secretsFile) {
		t.Errorf("no generator reads %s: the Deployments' secrets would have no source", secretsFile)
	}
	for _, s := range sources {
		if _, err := os.Stat(filepath.Join(manifestDir, s)); err != nil && s != secretsFile {
			t.Errorf("generator source %q: %v", s, err)
		}
	}
	others := append([]string{kustomizationFile, gitignoreFile, secretsExample, secretsFile}, sources...)

	entries, err := os.ReadDir(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch {
		case e.IsDir():
			t.Errorf("%s/: no directories here (an overlay belongs beside infra/k8s, not in it)", e.Name())
		case !resources[e.Name()] && !slices.Contains(others, e.Name()):
			t.Errorf("%s: neither a resource of %s nor one of its generators' files, so `kubectl apply -k` would skip it",
				e.Name(), kustomizationFile)
		}
	}

	ignore, err := os.ReadFile(filepath.Join(manifestDir, gitignoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(strings.Split(string(ignore), "\n"), func(l string) bool {
		return strings.TrimSpace(l) == secretsFile || strings.TrimSpace(l) == "/"+secretsFile
	}) {
		t.Errorf("%s does not ignore %s: the real secrets could be committed", gitignoreFile, secretsFile)
	}
}

// TestManifestsDecodeStrictly decodes each resource file as written (before
// kustomize), so an error names the file.
func TestManifestsDecodeStrictly(t *testing.T) {
	for _, r := range loadKustomization(t).Resources {
		t.Run(r, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(manifestDir, r))
			if err != nil {
				t.Fatal(err)
			}
			docs := documents(data)
			if len(docs) == 0 {
				t.Fatal("no object in the file")
			}
			var o objects
			for i, doc := range docs {
				if err := o.add(doc); err != nil {
					t.Errorf("document %d: %v", i+1, err)
				}
			}
		})
	}
}

func TestNamespace(t *testing.T) {
	ns := loadKustomization(t).Namespace
	if ns == "" {
		t.Fatalf("%s sets no namespace", kustomizationFile)
	}
	o := build(t)
	found := false
	for _, n := range o.namespaces {
		if n.Name == ns {
			found = true
			// The restricted profile makes the cluster enforce what
			// TestPrograms/security checks here.
			if got := n.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
				t.Errorf("Namespace %s: pod-security.kubernetes.io/enforce = %q, want restricted", ns, got)
			}
		}
	}
	if !found {
		t.Errorf("no Namespace %s among the resources", ns)
	}
	for _, m := range o.metas {
		if m.kind != "Namespace" && m.meta.Namespace != ns {
			t.Errorf("%s %s: namespace %q, want %q", m.kind, m.meta.Name, m.meta.Namespace, ns)
		}
	}
}

// TestRoutesExist finds each route's code in the service's source.
func TestRoutesExist(t *testing.T) {
	for _, p := range programs() {
		for _, l := range p.listeners {
			for _, r := range l.routes {
				src, err := os.ReadFile(filepath.Join(servicesRoot, r.file))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(src, []byte(r.code)) {
					t.Errorf("%s %s: %s no longer has %s; update programs() to what serves it now", p.name, r.path, r.file, r.code)
				}
			}
		}
	}
}

func TestPrograms(t *testing.T) {
	k := loadKustomization(t)
	o := build(t)
	for _, p := range programs() {
		t.Run(p.name, func(t *testing.T) {
			d, c := p.container(t, o)
			e := p.env(t, o)
			pod := d.Spec.Template.Spec

			t.Run("environment", func(t *testing.T) {
				for name, v := range e {
					if strings.HasPrefix(name, "OTEL_") {
						if !slices.Contains(otelVars, name) {
							t.Errorf("%s (from %s): not an OpenTelemetry variable the services honour", name, v.from)
						}
						continue
					}
					if _, ok := p.vars[name]; !ok {
						t.Errorf("%s (from %s): not a variable %s reads", name, v.from, p.name)
					}
				}
				for _, v := range p.vars {
					got, ok := e[v.name]
					if v.required && (!ok || got.value == "") {
						t.Errorf("%s is required and not set", v.name)
					}
					if v.secret && ok && !got.secret {
						t.Errorf("%s is a secret but comes from %s, not a Secret", v.name, got.from)
					}
				}
				if _, err := p.load(plain(e)); err != nil {
					t.Errorf("%s would refuse this environment at start: %v", p.name, err)
				}
			})

			t.Run("listeners", func(t *testing.T) {
				ports := map[string]corev1.ContainerPort{}
				for _, cp := range c.Ports {
					ports[cp.Name] = cp
				}
				for _, l := range p.listeners {
					cp, ok := ports[l.port]
					if !ok {
						t.Errorf("no containerPort named %s (%s)", l.port, l.addrVar)
						continue
					}
					delete(ports, l.port)
					_, def, err := portOf(p.vars[l.addrVar].def)
					if err != nil {
						t.Fatalf("%s's default: %v", l.addrVar, err)
					}
					if cp.ContainerPort != def {
						t.Errorf("containerPort %s = %d, want %d, the port of %s's default %q",
							l.port, cp.ContainerPort, def, l.addrVar, p.vars[l.addrVar].def)
					}
					host, port, err := portOf(p.addr(l, e))
					if err != nil {
						t.Errorf("%s = %q: %v", l.addrVar, p.addr(l, e), err)
						continue
					}
					if port != cp.ContainerPort {
						t.Errorf("%s = %q listens on %d, but containerPort %s is %d", l.addrVar, p.addr(l, e), port, l.port, cp.ContainerPort)
					}
					if host != "" && host != "0.0.0.0" && host != "::" {
						t.Errorf("%s = %q: the kubelet's probes, the Services and Prometheus reach the pod's address, so listen on all of them (\":%d\")",
							l.addrVar, p.addr(l, e), port)
					}
				}
				for name := range ports {
					t.Errorf("containerPort %s is no listener of %s", name, p.name)
				}
			})

			t.Run("probes", func(t *testing.T) {
				cases := []struct {
					name  string
					probe *corev1.Probe
					want  string
				}{
					{name: "startupProbe", probe: c.StartupProbe, want: "/healthz"},
					// Never /readyz: a Redis, Kafka or PostgreSQL outage would
					// restart every pod at once.
					{name: "livenessProbe", probe: c.LivenessProbe, want: "/healthz"},
					{name: "readinessProbe", probe: c.ReadinessProbe, want: "/readyz"},
				}
				for _, tc := range cases {
					if tc.probe == nil || tc.probe.HTTPGet == nil {
						t.Errorf("%s: want an httpGet probe of %s", tc.name, tc.want)
						continue
					}
					l, ok := p.listenerAt(c, tc.probe.HTTPGet.Port)
					if !ok {
						t.Errorf("%s: port %s is no listener of %s", tc.name, tc.probe.HTTPGet.Port.String(), p.name)
						continue
					}
					if !slices.ContainsFunc(l.routes, func(r route) bool { return r.path == tc.probe.HTTPGet.Path }) {
						t.Errorf("%s: %s on %s: not an endpoint that listener serves", tc.name, tc.probe.HTTPGet.Path, l.port)
					}
					if tc.probe.HTTPGet.Path != tc.want {
						t.Errorf("%s: path %s, want %s", tc.name, tc.probe.HTTPGet.Path, tc.want)
					}
					timeout := time.Duration(max(tc.probe.TimeoutSeconds, 1)) * time.Second // the API's default is 1 s
					if tc.name == "readinessProbe" && timeout <= l.readyTimeout {
						t.Errorf("%s: timeoutSeconds %s, but %s itself may take %s", tc.name, timeout, tc.want, l.readyTimeout)
					}
				}
			})

			t.Run("shutdown", func(t *testing.T) {
				cfg, err := p.load(plain(e))
				if err != nil {
					t.Fatal(err)
				}
				// The longer of the configured timeout and config.go's default:
				// the grace must hold either.
				def := p.vars["BLITZBUY_SHUTDOWN_TIMEOUT"].def
				defTimeout, err := time.ParseDuration(def)
				if err != nil {
					t.Fatalf("BLITZBUY_SHUTDOWN_TIMEOUT's default %q: %v", def, err)
				}
				timeout := max(cfg.ShutdownTimeout, defTimeout)
				grace := 30 * time.Second // the API's default
				if pod.TerminationGracePeriodSeconds != nil {
					grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
				}
				var sleep time.Duration
				if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
					pre := c.Lifecycle.PreStop
					switch {
					case pre.Sleep != nil:
						sleep = time.Duration(pre.Sleep.Seconds) * time.Second
					case pre.Exec != nil:
						t.Errorf("preStop exec: the distroless image has no shell and no sleep; use the sleep action")
					default:
						t.Errorf("preStop: only the sleep action is expected here")
					}
				}
				if p.serves && sleep <= 0 {
					t.Errorf("no preStop sleep: the listener stops at SIGTERM while kube-proxy and ingresses still route to the pod")
				}
				if need := sleep + timeout + shutdownMargin; grace < need {
					t.Errorf("terminationGracePeriodSeconds = %s, want at least %s: preStop sleep %s + BLITZBUY_SHUTDOWN_TIMEOUT %s + margin %s",
						grace, need, sleep, timeout, shutdownMargin)
				}
			})

			t.Run("security", func(t *testing.T) {
				if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
					t.Error("automountServiceAccountToken: want false (the services never call the Kubernetes API)")
				}
				psc := pod.SecurityContext
				if psc == nil {
					psc = &corev1.PodSecurityContext{}
				}
				csc := c.SecurityContext
				if csc == nil {
					csc = &corev1.SecurityContext{}
				}
				if !isTrue(csc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
					t.Error("runAsNonRoot: want true")
				}
				uid := csc.RunAsUser
				if uid == nil {
					uid = psc.RunAsUser
				}
				if user := dockerUser(t, p.dockerfile); user != "" {
					want, err := strconv.ParseInt(user, 10, 64)
					if err != nil {
						var ok bool
						if want, ok = dockerUsers[user]; !ok {
							t.Fatalf("%s runs as %q: add its id to dockerUsers", p.dockerfile, user)
						}
					}
					if uid == nil || *uid != want {
						t.Errorf("runAsUser: want %d, the id of %s's USER %s (the kubelet checks runAsNonRoot only against a number)",
							want, p.dockerfile, user)
					}
				}
				if uid != nil && *uid == 0 {
					t.Error("runAsUser: 0 is root")
				}
				if !isTrue(csc.ReadOnlyRootFilesystem) {
					t.Error("readOnlyRootFilesystem: want true")
				}
				if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
					t.Error("allowPrivilegeEscalation: want false")
				}
				if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") || len(csc.Capabilities.Add) > 0 {
					t.Error("capabilities: want drop [ALL] and nothing added")
				}
				seccomp := csc.SeccompProfile
				if seccomp == nil {
					seccomp = psc.SeccompProfile
				}
				if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Error("seccompProfile: want RuntimeDefault")
				}
			})

			t.Run("resources", func(t *testing.T) {
				r := c.Resources
				for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					req, ok := r.Requests[name]
					if !ok || req.IsZero() {
						t.Errorf("requests.%s: not set (the scheduler, and the HPA's utilization, need it)", name)
						continue
					}
					if lim, ok := r.Limits[name]; ok && lim.Cmp(req) < 0 {
						t.Errorf("limits.%s %s is below requests.%s %s", name, lim.String(), name, req.String())
					}
				}
				if lim, ok := r.Limits[corev1.ResourceMemory]; !ok || lim.Cmp(resource.MustParse("64Mi")) < 0 {
					t.Errorf("limits.memory: want a limit of at least 64Mi, got %v", r.Limits.Memory())
				}
			})

			t.Run("image", func(t *testing.T) {
				repo, tag, _ := strings.Cut(c.Image, ":")
				if !strings.HasSuffix(repo, "/"+p.name) {
					t.Errorf("image %q: want the %s image (infra/docker/%s)", c.Image, p.name, p.dockerfile)
				}
				if (tag == "" || tag == "latest") && !strings.Contains(c.Image, "@sha256:") {
					t.Errorf("image %q: want a tag or digest set in %s (images), not latest", c.Image, kustomizationFile)
				}
				if !slices.ContainsFunc(k.Images, func(i types.Image) bool { return strings.HasSuffix(i.Name, "/"+p.name) }) {
					t.Errorf("%s's images does not set %s's tag", kustomizationFile, p.name)
				}
			})

			t.Run("selector", func(t *testing.T) {
				sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
				if err != nil || sel.Empty() {
					t.Fatalf("selector %v: %v", d.Spec.Selector, err)
				}
				if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
					t.Errorf("selector %s does not match the pod labels %v", sel, d.Spec.Template.Labels)
				}
				for _, tsc := range pod.TopologySpreadConstraints {
					s, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
					if err != nil || !s.Matches(labels.Set(d.Spec.Template.Labels)) {
						t.Errorf("topologySpreadConstraint %s: selector %v does not match the pods it spreads", tsc.TopologyKey, tsc.LabelSelector)
					}
				}
			})
		})
	}
}

func TestServices(t *testing.T) {
	o := build(t)
	reached := map[string]bool{} // "deployment/port" some Service reaches
	for _, svc := range o.services {
		t.Run(svc.Name, func(t *testing.T) {
			if len(svc.Spec.Selector) == 0 {
				t.Fatal("no selector")
			}
			sel := labels.SelectorFromSet(svc.Spec.Selector)
			var selected []*appsv1.Deployment
			for _, d := range o.deployments {
				if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
					selected = append(selected, d)
				}
			}
			if len(selected) != 1 {
				t.Fatalf("selector %s picks %d Deployments' pods, want 1", sel, len(selected))
			}
			d := selected[0]
			for _, sp := range svc.Spec.Ports {
				target := sp.TargetPort
				if target.Type == intstr.Int && target.IntVal == 0 {
					target = intstr.FromInt32(sp.Port) // the API's default
				}
				found := false
				for _, c := range d.Spec.Template.Spec.Containers {
					for _, cp := range c.Ports {
						if (target.Type == intstr.String && cp.Name == target.StrVal) || (target.Type == intstr.Int && cp.ContainerPort == target.IntVal) {
							found = true
							reached[d.Name+"/"+cp.Name] = true
							if cp.Protocol != sp.Protocol && sp.Protocol != "" && cp.Protocol != "" {
								t.Errorf("port %s: protocol %s, container port %s", sp.Name, sp.Protocol, cp.Protocol)
							}
						}
					}
				}
				if !found {
					t.Errorf("port %s: targetPort %s is no container port of %s", sp.Name, target.String(), d.Name)
				}
			}
		})
	}
	for _, p := range programs() {
		for _, l := range p.listeners {
			if !reached[p.name+"/"+l.port] {
				t.Errorf("%s's %s port: no Service reaches it", p.name, l.port)
			}
		}
	}
}

// minReplicas is the fewest replicas the Deployment's autoscaler keeps.
func minReplicas(o *objects, deployment string) (int32, bool) {
	for _, h := range o.hpas {
		if h.Spec.ScaleTargetRef.Name == deployment {
			if h.Spec.MinReplicas == nil {
				return 1, true
			}
			return *h.Spec.MinReplicas, true
		}
	}
	for _, s := range o.scaledObjects {
		if s.Spec.ScaleTargetRef != nil && s.Spec.ScaleTargetRef.Name == deployment {
			if s.Spec.MinReplicaCount == nil {
				return 0, true
			}
			return *s.Spec.MinReplicaCount, true
		}
	}
	return 0, false
}

func TestDisruptionBudgets(t *testing.T) {
	o := build(t)
	covered := map[*policyv1.PodDisruptionBudget]bool{}
	for _, d := range o.deployments {
		t.Run(d.Name, func(t *testing.T) {
			var budgets []*policyv1.PodDisruptionBudget
			for _, pdb := range o.pdbs {
				sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				if err != nil || sel.Empty() {
					t.Fatalf("PodDisruptionBudget %s: selector %v: %v", pdb.Name, pdb.Spec.Selector, err)
				}
				if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
					budgets = append(budgets, pdb)
					covered[pdb] = true
				}
			}
			if len(budgets) != 1 {
				t.Fatalf("%d PodDisruptionBudgets select its pods, want 1", len(budgets))
			}
			pdb := budgets[0]
			if (pdb.Spec.MaxUnavailable == nil) == (pdb.Spec.MinAvailable == nil) {
				t.Errorf("PodDisruptionBudget %s: want exactly one of maxUnavailable and minAvailable", pdb.Name)
			}
			if ma := pdb.Spec.MinAvailable; ma != nil && ma.Type == intstr.Int {
				if least, ok := minReplicas(o, d.Name); ok && ma.IntVal >= least {
					t.Errorf("PodDisruptionBudget %s: minAvailable %d with as few as %d replicas blocks every drain", pdb.Name, ma.IntVal, least)
				}
			}
			if mu := pdb.Spec.MaxUnavailable; mu != nil && mu.Type == intstr.Int && mu.IntVal < 1 {
				t.Errorf("PodDisruptionBudget %s: maxUnavailable %d blocks every drain", pdb.Name, mu.IntVal)
			}
			// An unready pod (its dependency down) must stay evictable, or an
			// outage blocks node drains too.
			if p := pdb.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != policyv1.AlwaysAllow {
				t.Errorf("PodDisruptionBudget %s: unhealthyPodEvictionPolicy: want AlwaysAllow", pdb.Name)
			}
		})
	}
	for _, pdb := range o.pdbs {
		if !covered[pdb] {
			t.Errorf("PodDisruptionBudget %s selects no Deployment's pods", pdb.Name)
		}
	}
}

func TestAutoscalers(t *testing.T) {
	o := build(t)
	targets := map[string][]string{} // Deployment → the autoscalers' kinds
	for _, h := range o.hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" {
			t.Errorf("HorizontalPodAutoscaler %s targets %s %s, want apps/v1 Deployment", h.Name, ref.APIVersion, ref.Kind)
		}
		targets[ref.Name] = append(targets[ref.Name], "HorizontalPodAutoscaler")
	}
	for _, s := range o.scaledObjects {
		ref := s.Spec.ScaleTargetRef
		if ref == nil || ref.Name == "" {
			t.Errorf("ScaledObject %s: no scaleTargetRef.name", s.Name)
			continue
		}
		if (ref.APIVersion != "" && ref.APIVersion != "apps/v1") || (ref.Kind != "" && ref.Kind != "Deployment") {
			t.Errorf("ScaledObject %s targets %s %s, want apps/v1 Deployment", s.Name, ref.APIVersion, ref.Kind)
		}
		targets[ref.Name] = append(targets[ref.Name], "ScaledObject")
	}
	for name := range targets {
		if o.deployment(name) == nil {
			t.Errorf("an autoscaler targets %s, which is no Deployment here", name)
		}
	}
	for _, p := range programs() {
		got := targets[p.name]
		if !slices.Equal(got, []string{p.autoscaler}) {
			t.Errorf("%s is scaled by %v, want exactly one %s", p.name, got, p.autoscaler)
		}
		if d := o.deployment(p.name); d != nil && d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas %d: every apply would reset what its autoscaler chose", p.name, *d.Spec.Replicas)
		}
	}

	for _, h := range o.hpas {
		t.Run("HorizontalPodAutoscaler "+h.Name, func(t *testing.T) {
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
				t.Errorf("minReplicas %s: want at least 2, so one drained pod leaves one serving", show(h.Spec.MinReplicas))
			}
			if h.Spec.MinReplicas != nil && h.Spec.MaxReplicas < *h.Spec.MinReplicas {
				t.Errorf("maxReplicas %d below minReplicas %d", h.Spec.MaxReplicas, *h.Spec.MinReplicas)
			}
			onCPU := slices.ContainsFunc(h.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
				return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil &&
					m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.Type == autoscalingv2.UtilizationMetricType &&
					m.Resource.Target.AverageUtilization != nil && *m.Resource.Target.AverageUtilization > 0 &&
					*m.Resource.Target.AverageUtilization <= 100
			})
			if !onCPU {
				t.Error("want a CPU utilization target (1–100 % of the request)")
			}
			if d := o.deployment(h.Spec.ScaleTargetRef.Name); d != nil {
				for _, c := range d.Spec.Template.Spec.Containers {
					if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
						t.Errorf("container %s has no CPU request, which utilization is a share of", c.Name)
					}
				}
			}
		})
	}
}

// TestWriterScaledObject checks the KEDA trigger against the writer's own
// configuration: the lag it scales on must be of the group and topic the
// writer consumes, on the brokers it reads.
func TestWriterScaledObject(t *testing.T) {
	o := build(t)
	var writer, api program
	for _, p := range programs() {
		switch p.name {
		case "order-writer":
			writer = p
		case "order-api":
			api = p
		}
	}
	if len(o.scaledObjects) != 1 {
		t.Fatalf("%d ScaledObjects, want 1 (order-writer's)", len(o.scaledObjects))
	}
	so := o.scaledObjects[0]
	spec := so.Spec
	if spec.ScaleTargetRef == nil || spec.ScaleTargetRef.Name != writer.name {
		t.Fatalf("ScaledObject %s targets %+v, want Deployment %s", so.Name, spec.ScaleTargetRef, writer.name)
	}
	_, c := writer.container(t, o)
	if n := spec.ScaleTargetRef.EnvSourceContainerName; n != "" && n != c.Name {
		t.Errorf("envSourceContainerName %q: no such container (want %s)", n, c.Name)
	}
	writerEnv := writer.env(t, o)
	wcfg, err := loadConfig[config.Writer](plain(writerEnv))
	if err != nil {
		t.Fatalf("order-writer's configuration: %v", err)
	}
	acfg, err := loadConfig[config.API](plain(api.env(t, o)))
	if err != nil {
		t.Fatalf("order-api's configuration: %v", err)
	}
	partitions := ordersPartitions(t, wcfg.OrdersTopic)

	if len(spec.Triggers) != 1 || spec.Triggers[0].Type != "kafka" {
		t.Fatalf("triggers %+v: want one of type kafka", spec.Triggers)
	}
	md := spec.Triggers[0].Metadata
	for key := range md {
		base, fromEnv := strings.CutSuffix(key, "FromEnv")
		if envOK, known := kafkaParams[base]; !known || (fromEnv && !envOK) {
			t.Errorf("metadata %s: not a parameter of KEDA's Kafka scaler, which would ignore it", key)
		}
	}
	// param is the value KEDA resolves: the literal, or the variable named by
	// <key>FromEnv in the writer container's environment.
	param := func(key string) string {
		lit, hasLit := md[key]
		envName, hasEnv := md[key+"FromEnv"]
		switch {
		case hasLit && hasEnv:
			t.Errorf("metadata sets both %s and %sFromEnv", key, key)
		case hasEnv:
			v, ok := writerEnv[envName]
			if !ok {
				t.Errorf("%sFromEnv: %s is not in order-writer's environment (KEDA reads no defaults)", key, envName)
			}
			return v.value
		case !hasLit:
			t.Errorf("metadata has no %s", key)
		}
		return lit
	}

	cases := []struct {
		name, got, want string
	}{
		{name: "consumerGroup", got: param("consumerGroup"), want: wcfg.WriterGroup},
		{name: "consumerGroup, config.go's default", got: param("consumerGroup"), want: writer.vars["BLITZBUY_WRITER_GROUP"].def},
		// order-api waits out this group's lag before rebuilding a sale.
		{name: "consumerGroup, order-api's BLITZBUY_WRITER_GROUP", got: param("consumerGroup"), want: acfg.WriterGroup},
		{name: "topic", got: param("topic"), want: wcfg.OrdersTopic},
		{name: "topic, config.go's default", got: param("topic"), want: writer.vars["BLITZBUY_ORDERS_TOPIC"].def},
		{name: "topic, order-api's BLITZBUY_ORDERS_TOPIC", got: param("topic"), want: acfg.OrdersTopic},
		{name: "bootstrapServers", got: param("bootstrapServers"), want: strings.Join(wcfg.KafkaBrokers, ",")},
		// writer.New: ConsumeResetOffset(AtStart); with latest, a new group's
		// backlog would read as no lag.
		{name: "offsetResetPolicy", got: md["offsetResetPolicy"], want: "earliest"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}

	lag, err := strconv.ParseInt(md["lagThreshold"], 10, 64)
	window := int64(wcfg.Pipelines) * int64(wcfg.BatchSize)
	switch {
	case err != nil:
		t.Errorf("lagThreshold %q: %v (KEDA would fall back to its default of 10)", md["lagThreshold"], err)
	case lag <= window:
		t.Errorf("lagThreshold %d: want above %d, the records a writer that keeps up holds uncommitted (BLITZBUY_WRITER_PIPELINES %d × BLITZBUY_WRITER_BATCH_SIZE %d)",
			lag, window, wcfg.Pipelines, wcfg.BatchSize)
	}
	if v := md["version"]; !kafkaVersionAtLeast(v, 2, 1) {
		t.Errorf("version %q: want 2.1.0 or later; Kafka 4 refuses the older protocol versions KEDA's default 1.0.0 speaks", v)
	}

	if spec.MaxReplicaCount == nil || *spec.MaxReplicaCount > int32(partitions) {
		t.Errorf("maxReplicaCount %s: want at most %d, the partitions of %s (a consumer beyond them gets none)",
			show(spec.MaxReplicaCount), partitions, wcfg.OrdersTopic)
	}
	if spec.MinReplicaCount == nil || *spec.MinReplicaCount < 1 {
		t.Errorf("minReplicaCount %s: want at least 1 (at 0 nothing persists orders until KEDA notices lag)", show(spec.MinReplicaCount))
	} else if spec.MaxReplicaCount != nil && *spec.MinReplicaCount > *spec.MaxReplicaCount {
		t.Errorf("minReplicaCount %d above maxReplicaCount %d", *spec.MinReplicaCount, *spec.MaxReplicaCount)
	}
	if f := spec.Fallback; f != nil {
		if f.Behavior != "" && !slices.Contains(fallbackBehaviors, f.Behavior) {
			t.Errorf("fallback.behavior %q: want one of %v", f.Behavior, fallbackBehaviors)
		}
		if spec.MaxReplicaCount != nil && f.Replicas > *spec.MaxReplicaCount {
			t.Errorf("fallback.replicas %d above maxReplicaCount %d", f.Replicas, *spec.MaxReplicaCount)
		}
	}
	if md["ensureEvenDistributionOfPartitions"] == "true" {
		counts := map[string]*int32{"minReplicaCount": spec.MinReplicaCount, "maxReplicaCount": spec.MaxReplicaCount}
		if spec.Fallback != nil {
			counts["fallback.replicas"] = &spec.Fallback.Replicas
		}
		for name, n := range counts {
			if n != nil && *n > 0 && int32(partitions)%*n != 0 {
				t.Errorf("%s %d does not divide the %d partitions, which ensureEvenDistributionOfPartitions asks of every count", name, *n, partitions)
			}
		}
	}
}

// kafkaVersionAtLeast reports whether v ("4.0.0") is major.minor or later.
func kafkaVersionAtLeast(v string, major, minor int) bool {
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (ma > major || ma == major && mi >= minor)
}

// ordersPartitions is the partition count docker-compose.yml creates topic
// with (kafka-init); every creation there must agree.
func ordersPartitions(t *testing.T, topic string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`--topic ` + regexp.QuoteMeta(topic) + `\s+--partitions (\d+)`)
	var counts []int
	for _, m := range re.FindAllSubmatch(data, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		counts = append(counts, n)
	}
	slices.Sort(counts)
	counts = slices.Compact(counts)
	if len(counts) != 1 || counts[0] < 1 {
		t.Fatalf("docker-compose.yml creates topic %s with partition counts %v, want one count", topic, counts)
	}
	return counts[0]
}

// dockerUser is the user of the Dockerfile's last USER line ("" without
// one), its group dropped.
func dockerUser(t *testing.T, dockerfile string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "infra/docker", dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	var user string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && strings.EqualFold(f[0], "USER") {
			user, _, _ = strings.Cut(f[1], ":")
		}
	}
	return user
}

func isTrue(b *bool) bool { return b != nil && *b }

func show(n *int32) string {
	if n == nil {
		return "unset"
	}
	return strconv.Itoa(int(*n))
}
