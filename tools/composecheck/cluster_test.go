package composecheck

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// The cluster profile: the services beyond one node, started by the command
// the compose file's header documents.
const (
	clusterProfile = "cluster"
	// masterSet is the Redis master name the sentinels monitor and the
	// services' rueidis URL asks for.
	masterSet = "blitzbuy"
	// Container paths of the files the cluster's services mount.
	haproxyConfigPath = "/usr/local/etc/haproxy/haproxy.cfg"
	sentinelTemplate  = "/etc/blitzbuy/sentinel.conf"
	kafkaClusterInit  = "kafka-cluster-init"
)

// defaultServices is what a plain `docker compose up` starts. The cluster
// profile must leave it alone: a cluster service that lost its `profiles`
// would start beside the single-node one and fight it for a host port.
var defaultServices = []string{"grafana", "jaeger", "kafka", "kafka-init", "order-api", "order-writer", "postgres", "prometheus", "redis"}

// sharedServices are the services without a profile that the cluster command
// starts too: one database and one trace store serve either topology.
var sharedServices = []string{"jaeger", "postgres"}

// counterparts names, by service-name prefix, the single-node service each
// cluster service is built like (same image, same build).
var counterparts = []struct{ prefix, single string }{
	{"kafka-", "kafka"},
	{"redis-", "redis"},
	{"sentinel-", "redis"},
	{"order-api-", "order-api"},
	{"order-writer-", "order-writer"},
	{"prometheus-cluster", "prometheus"},
	{"grafana-cluster", "grafana"},
}

// clusterTopics are the topics kafka-cluster-init creates, with their
// partition counts (those of the single-node kafka-init).
var clusterTopics = []struct {
	name       string
	partitions int
}{{"orders", 12}, {"orders.dlq", 3}}

// clusterReplication is the replication factor of every topic: one copy per
// broker.
const clusterReplication = 3

// clusterTopicConfig is what each topic must carry: writes taken while 2 of
// the 3 copies are in sync (one broker may be down), and 7 days of log, so
// that the orders outlive a Postgres outage the writer waits out.
var clusterTopicConfig = map[string]string{
	"min.insync.replicas": "2",
	"retention.ms":        strconv.FormatInt((7 * 24 * time.Hour).Milliseconds(), 10),
}

// upCommand is a `docker compose [--profile P]... up [flags] [services]` line.
type upCommand struct {
	profiles []string
	flags    []string
	targets  []string
}

func (c upCommand) String() string {
	words := []string{"docker", "compose"}
	for _, p := range c.profiles {
		words = append(words, "--profile", p)
	}
	words = append(words, "up")
	words = append(words, c.flags...)
	return strings.Join(append(words, c.targets...), " ")
}

// headerCommands returns the `docker compose` lines of the compose file's
// opening comment block, split into words, with a trailing `# …` remark
// dropped and `\`-continued lines joined.
func headerCommands(data []byte) [][]string {
	var cmds [][]string
	var pending string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		text, ok := strings.CutPrefix(line, "#")
		if !ok {
			break
		}
		text = strings.TrimSpace(text)
		if i := strings.Index(text, " #"); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if pending != "" {
			text = pending + " " + text
			pending = ""
		}
		if cont, ok := strings.CutSuffix(text, `\`); ok {
			pending = strings.TrimSpace(cont)
			continue
		}
		if strings.HasPrefix(text, "docker compose ") {
			cmds = append(cmds, strings.Fields(text))
		}
	}
	return cmds
}

// parseUp reads words as an up command; ok is false for any other command.
// Flags that take a value (--wait-timeout 60) are not understood: the value
// would be read as a service name, and loading the selection fails loudly.
func parseUp(words []string) (upCommand, bool) {
	if len(words) < 3 || words[0] != "docker" || words[1] != "compose" {
		return upCommand{}, false
	}
	var c upCommand
	i := 2
	for ; i < len(words) && words[i] != "up"; i++ {
		if words[i] == "--profile" && i+1 < len(words) {
			c.profiles = append(c.profiles, words[i+1])
			i++
		} else if p, ok := strings.CutPrefix(words[i], "--profile="); ok {
			c.profiles = append(c.profiles, p)
		}
	}
	if i == len(words) {
		return upCommand{}, false
	}
	for _, w := range words[i+1:] {
		if strings.HasPrefix(w, "-") {
			c.flags = append(c.flags, w)
		} else {
			c.targets = append(c.targets, w)
		}
	}
	return c, true
}

// selectServices is what compose does with `up <services>`
// (docker/compose cmd/compose/compose.go, ToProject): load with the
// command's profiles, enable the named services' profiles, then keep the
// named services and their dependencies.
func selectServices(root string, env map[string]string, c upCommand) (*types.Project, error) {
	p, err := loadProject(root, env, c.profiles...)
	if err != nil {
		return nil, err
	}
	if p, err = p.WithServicesEnabled(c.targets...); err != nil {
		return nil, err
	}
	return p.WithSelectedServices(c.targets)
}

// loadCluster finds the header's cluster command, selects its services and
// parses the files they mount.
func loadCluster(t testing.TB, s *stack) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.root, composeFile))
	if err != nil {
		t.Fatal(err)
	}
	var found []upCommand
	for _, words := range headerCommands(data) {
		if c, ok := parseUp(words); ok && slices.Contains(c.profiles, clusterProfile) {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s header: got %d `docker compose --profile %s up` commands (%q), want 1", composeFile, len(found), clusterProfile, found)
	}
	s.clusterCmd = found[0]
	p, err := selectServices(s.root, secrets, s.clusterCmd)
	if err != nil {
		t.Fatalf("selecting the services of %q: %v", s.clusterCmd, err)
	}
	s.cluster = p

	// The files are found through the services' definitions, started or not,
	// so a command that leaves one out is reported by checkClusterCommand.
	all := &types.Project{Services: maps.Clone(p.Services)}
	maps.Copy(all.Services, p.DisabledServices)
	prom := service(t, all, "prometheus-cluster")
	cfg, ok := flagValue(prom.Command, "--config.file")
	if !ok {
		t.Fatalf("prometheus-cluster command %q: got no --config.file, want one", prom.Command)
	}
	readYAML(t, hostPath(t, prom, cfg), &s.clusterPrometheus)
	graf := service(t, all, "grafana-cluster")
	readYAML(t, hostPath(t, graf, "/etc/grafana/provisioning/datasources/datasources.yml"), &s.clusterDatasources)

	s.haproxy = parseHAProxy(readFile(t, hostPath(t, service(t, all, "haproxy"), haproxyConfigPath)))
	s.sentinels = map[string]sentinelConfig{}
	for _, name := range sortedNames(p) {
		if src, ok := bindSource(p.Services[name], sentinelTemplate); ok {
			s.sentinels[name] = parseSentinel(readFile(t, src))
		}
	}
}

func readFile(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// instances lists the cluster set's services built like the single-node
// service base (the same image): order-api-1, order-api-2 for order-api.
func instances(s *stack, base string) []string {
	image := s.project.Services[base].Image
	var out []string
	for _, name := range sortedNames(s.cluster) {
		if name != base && s.cluster.Services[name].Image == image {
			out = append(out, name)
		}
	}
	return out
}

func envOf(svc types.ServiceConfig, key string) string {
	if v := svc.Environment[key]; v != nil {
		return *v
	}
	return ""
}

// portOf is the port of a listen address such as ":9464".
func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}

// hostsOf maps every name a container can resolve on the project network to
// the services of p answering to it: service names and network aliases.
func hostsOf(p *types.Project) map[string][]string {
	hosts := map[string][]string{}
	for _, name := range sortedNames(p) {
		hosts[name] = append(hosts[name], name)
		for _, nw := range p.Services[name].Networks {
			if nw == nil {
				continue
			}
			for _, alias := range nw.Aliases {
				hosts[alias] = append(hosts[alias], name)
			}
		}
	}
	return hosts
}

// checkDefaultServices: `docker compose up` starts exactly the single-node
// services.
func checkDefaultServices(s *stack) []string {
	if got := sortedNames(s.project); !slices.Equal(got, defaultServices) {
		return []string{fmt.Sprintf("docker compose up: services got %q, want %q (a cluster service needs `profiles: [%s]`)",
			got, defaultServices, clusterProfile)}
	}
	return nil
}

// checkClusterCommand: the documented cluster command starts every service of
// the profile, and of the rest only the shared ones, so no single-node
// service competes for a host port or a name; it returns once all are
// healthy.
func checkClusterCommand(s *stack) []string {
	var out []string
	for _, flag := range []string{"-d", "--wait"} {
		if !slices.Contains(s.clusterCmd.flags, flag) {
			out = append(out, fmt.Sprintf("%s: flags got %q, want %s among them", s.clusterCmd, s.clusterCmd.flags, flag))
		}
	}
	all := maps.Clone(s.cluster.Services)
	maps.Copy(all, s.cluster.DisabledServices)
	for _, name := range slices.Sorted(maps.Keys(all)) {
		_, started := s.cluster.Services[name]
		profiles := all[name].Profiles
		switch {
		case slices.Contains(profiles, clusterProfile) && !started:
			out = append(out, fmt.Sprintf("%s: service %q of profile %s got left out, want it started (name it, or make a started service depend on it)",
				s.clusterCmd, name, clusterProfile))
		case len(profiles) == 0 && started && !slices.Contains(sharedServices, name):
			out = append(out, fmt.Sprintf("%s: got single-node service %q started, want only the profile's services and the shared %q",
				s.clusterCmd, name, sharedServices))
		}
	}
	return out
}

// checkClusterImages: each cluster service runs the image (or build) of its
// single-node counterpart, so a version bump cannot leave one behind.
func checkClusterImages(s *stack) []string {
	var out []string
	for _, name := range sortedNames(s.cluster) {
		svc := s.cluster.Services[name]
		if !slices.Contains(svc.Profiles, clusterProfile) {
			continue
		}
		single := ""
		for _, c := range counterparts {
			if strings.HasPrefix(name, c.prefix) {
				single = c.single
				break
			}
		}
		if single == "" {
			continue
		}
		want := s.project.Services[single]
		if svc.Image != want.Image {
			out = append(out, fmt.Sprintf("service %q: image got %q, want %q, the image of %q", name, svc.Image, want.Image, single))
		}
		if want.Build == nil {
			continue
		}
		got := "none"
		if svc.Build != nil {
			got = filepath.Join(svc.Build.Context, svc.Build.Dockerfile)
		}
		if w := filepath.Join(want.Build.Context, want.Build.Dockerfile); got != w {
			out = append(out, fmt.Sprintf("service %q: build got %s, want %s, the build of %q", name, got, w, single))
		}
	}
	return out
}

// brokers lists the cluster set's Kafka nodes: the services that set
// KAFKA_PROCESS_ROLES.
func brokers(p *types.Project) []string {
	var out []string
	for _, name := range sortedNames(p) {
		if envOf(p.Services[name], "KAFKA_PROCESS_ROLES") != "" {
			out = append(out, name)
		}
	}
	return out
}

// kafkaListeners parses NAME://host:port,… into name -> host:port.
func kafkaListeners(v string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(v, ",") {
		if name, addr, ok := strings.Cut(strings.TrimSpace(l), "://"); ok {
			m[name] = addr
		}
	}
	return m
}

// published is the host port that publishes svc's container port, or "".
func published(svc types.ServiceConfig, containerPort string) string {
	for _, p := range svc.Ports {
		if strconv.FormatUint(uint64(p.Target), 10) == containerPort {
			return p.Published
		}
	}
	return ""
}

// clusterBrokerEnv is what every broker must set: every topic, the internal
// ones included, kept 3 times and written with 2 in sync; no topic made by a
// typo.
var clusterBrokerEnv = map[string]string{
	"KAFKA_DEFAULT_REPLICATION_FACTOR":                       "3",
	"KAFKA_MIN_INSYNC_REPLICAS":                              "2",
	"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":                 "3",
	"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR":         "3",
	"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":                    "2",
	"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "3",
	"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR":            "2",
	"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                        "false",
}

// checkKafkaCluster: three combined broker+controller nodes with distinct
// node ids, one cluster id, the same controller quorum (every node at its
// own controller listener), advertised listeners that reach them (service
// name inside, the published port on the host), RF 3 / min ISR 2 and a data
// volume each.
func checkKafkaCluster(s *stack) []string {
	var out []string
	names := brokers(s.cluster)
	if len(names) != 3 {
		out = append(out, fmt.Sprintf("kafka cluster: brokers got %q, want 3", names))
	}
	var wantVoters []string
	ids := map[string]string{}
	clusterIDs := map[string]bool{}
	volumes := map[string]string{}
	for _, name := range names {
		svc := s.cluster.Services[name]
		roles := strings.Split(envOf(svc, "KAFKA_PROCESS_ROLES"), ",")
		if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
			out = append(out, fmt.Sprintf("service %q: KAFKA_PROCESS_ROLES got %q, want broker,controller", name, roles))
		}
		id := envOf(svc, "KAFKA_NODE_ID")
		if _, err := strconv.Atoi(id); err != nil {
			out = append(out, fmt.Sprintf("service %q: KAFKA_NODE_ID got %q, want a number", name, id))
		}
		if prev, dup := ids[id]; dup {
			out = append(out, fmt.Sprintf("kafka cluster: node id %s got on %q and %q, want one id per node", id, prev, name))
		}
		ids[id] = name
		clusterIDs[envOf(svc, "CLUSTER_ID")] = true

		listeners := kafkaListeners(envOf(svc, "KAFKA_LISTENERS"))
		wantVoters = append(wantVoters, id+"@"+name+":"+portOf(listeners[envOf(svc, "KAFKA_CONTROLLER_LISTENER_NAMES")]))
		inter := envOf(svc, "KAFKA_INTER_BROKER_LISTENER_NAME")
		advertised := kafkaListeners(envOf(svc, "KAFKA_ADVERTISED_LISTENERS"))
		for _, l := range slices.Sorted(maps.Keys(advertised)) {
			port := portOf(listeners[l])
			want := "127.0.0.1:" + published(svc, port)
			if l == inter {
				want = name + ":" + port
			}
			if advertised[l] != want {
				out = append(out, fmt.Sprintf("service %q: advertised listener %s got %q, want %q (reachable from where its clients are)", name, l, advertised[l], want))
			}
		}
		if _, ok := advertised[inter]; !ok {
			out = append(out, fmt.Sprintf("service %q: advertised listeners got %q, want the inter-broker listener %s among them", name, advertised, inter))
		}
		for _, k := range slices.Sorted(maps.Keys(clusterBrokerEnv)) {
			if got := envOf(svc, k); got != clusterBrokerEnv[k] {
				out = append(out, fmt.Sprintf("service %q: %s got %q, want %q", name, k, got, clusterBrokerEnv[k]))
			}
		}
		dir := envOf(svc, "KAFKA_LOG_DIRS")
		vol := slices.IndexFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == dir })
		switch {
		case vol < 0 || svc.Volumes[vol].Type != types.VolumeTypeVolume:
			out = append(out, fmt.Sprintf("service %q: log dir %s got no named volume, want one", name, dir))
		case volumes[svc.Volumes[vol].Source] != "":
			out = append(out, fmt.Sprintf("kafka cluster: volume %q got mounted by %q and %q, want one per broker",
				svc.Volumes[vol].Source, volumes[svc.Volumes[vol].Source], name))
		default:
			volumes[svc.Volumes[vol].Source] = name
		}
	}
	if len(clusterIDs) != 1 {
		out = append(out, fmt.Sprintf("kafka cluster: CLUSTER_ID got %q, want one for every broker", slices.Sorted(maps.Keys(clusterIDs))))
	}
	slices.Sort(wantVoters)
	for _, name := range names {
		got := strings.Split(envOf(s.cluster.Services[name], "KAFKA_CONTROLLER_QUORUM_VOTERS"), ",")
		slices.Sort(got)
		if !slices.Equal(got, wantVoters) {
			out = append(out, fmt.Sprintf("service %q: KAFKA_CONTROLLER_QUORUM_VOTERS got %q, want %q (every node, by node id at its controller listener)",
				name, got, wantVoters))
		}
	}
	return out
}

// A kafkaInvocation is one Kafka CLI call of a shell script: the tool and its
// --flags (a flag without a value maps to "").
type kafkaInvocation struct {
	tool  string
	flags map[string][]string
}

func (k kafkaInvocation) flag(name string) string {
	if v := k.flags[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// kafkaInvocations splits an `a && b && …` script into its calls.
func kafkaInvocations(script string) []kafkaInvocation {
	var out []kafkaInvocation
	for _, part := range strings.Split(script, "&&") {
		f := strings.Fields(part)
		if len(f) == 0 {
			continue
		}
		inv := kafkaInvocation{tool: path.Base(f[0]), flags: map[string][]string{}}
		for i := 1; i < len(f); i++ {
			if !strings.HasPrefix(f[i], "--") {
				continue
			}
			name, value := f[i], ""
			if i+1 < len(f) && !strings.HasPrefix(f[i+1], "--") {
				value = f[i+1]
				i++
			}
			inv.flags[name] = append(inv.flags[name], value)
		}
		out = append(out, inv)
	}
	return out
}

// keyValues parses k=v items, each possibly a comma-separated list.
func keyValues(items ...string) map[string]string {
	m := map[string]string{}
	for _, item := range items {
		for _, kv := range strings.Split(item, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
	}
	return m
}

// checkKafkaClusterTopics: kafka-cluster-init creates each topic with its
// partitions, RF 3, min ISR 2 and 7 days' retention, sets the same configs
// on a topic that already exists (kafka-topics --if-not-exists would leave
// it alone), talks to every broker and waits for all of them.
func checkKafkaClusterTopics(s *stack) []string {
	svc, ok := s.cluster.Services[kafkaClusterInit]
	if !ok {
		return []string{fmt.Sprintf("%s: got no service %q, want the one-shot that creates the topics", s.clusterCmd, kafkaClusterInit)}
	}
	var out []string
	names := brokers(s.cluster)
	for _, b := range names {
		if _, ok := svc.DependsOn[b]; !ok {
			out = append(out, fmt.Sprintf("service %q: depends_on got %q, want broker %q among them", kafkaClusterInit, slices.Sorted(maps.Keys(svc.DependsOn)), b))
		}
	}
	created := map[string]kafkaInvocation{}
	altered := map[string]map[string]string{}
	for _, inv := range kafkaInvocations(strings.Join(svc.Command, " ")) {
		var hosts []string
		for _, addr := range strings.Split(inv.flag("--bootstrap-server"), ",") {
			host, _, _ := net.SplitHostPort(addr)
			hosts = append(hosts, host)
		}
		if slices.Sort(hosts); !slices.Equal(hosts, names) {
			out = append(out, fmt.Sprintf("service %q: %s --bootstrap-server got %q, want every broker (%q)", kafkaClusterInit, inv.tool, inv.flag("--bootstrap-server"), names))
		}
		switch _, alter := inv.flags["--alter"]; {
		case inv.tool == "kafka-topics.sh" && inv.flags["--create"] != nil:
			created[inv.flag("--topic")] = inv
		case inv.tool == "kafka-configs.sh" && alter && inv.flag("--entity-type") == "topics":
			cfg := altered[inv.flag("--entity-name")]
			if cfg == nil {
				cfg = map[string]string{}
			}
			maps.Copy(cfg, keyValues(inv.flags["--add-config"]...))
			altered[inv.flag("--entity-name")] = cfg
		}
	}
	for _, topic := range clusterTopics {
		c, ok := created[topic.name]
		if !ok {
			out = append(out, fmt.Sprintf("service %q: got no kafka-topics.sh --create --topic %s, want one", kafkaClusterInit, topic.name))
			continue
		}
		if got := c.flag("--partitions"); got != strconv.Itoa(topic.partitions) {
			out = append(out, fmt.Sprintf("service %q: topic %s --partitions got %q, want %d", kafkaClusterInit, topic.name, got, topic.partitions))
		}
		if got := c.flag("--replication-factor"); got != strconv.Itoa(clusterReplication) {
			out = append(out, fmt.Sprintf("service %q: topic %s --replication-factor got %q, want %d", kafkaClusterInit, topic.name, got, clusterReplication))
		}
		createCfg := keyValues(c.flags["--config"]...)
		for _, k := range slices.Sorted(maps.Keys(clusterTopicConfig)) {
			if got := createCfg[k]; got != clusterTopicConfig[k] {
				out = append(out, fmt.Sprintf("service %q: topic %s --config %s got %q, want %q", kafkaClusterInit, topic.name, k, got, clusterTopicConfig[k]))
			}
			if got := altered[topic.name][k]; got != clusterTopicConfig[k] {
				out = append(out, fmt.Sprintf("service %q: topic %s kafka-configs.sh --alter --add-config %s got %q, want %q (so a topic that exists gets it too)",
					kafkaClusterInit, topic.name, k, got, clusterTopicConfig[k]))
			}
		}
	}
	return out
}

// sentinelConfig is a sentinel.conf: its directive lines in order, split
// into words.
type sentinelConfig [][]string

func parseSentinel(data []byte) sentinelConfig {
	var c sentinelConfig
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			c = append(c, f)
		}
	}
	return c
}

// find returns the index and the words of the first line that starts with
// prefix, or -1.
func (c sentinelConfig) find(prefix ...string) (int, []string) {
	for i, l := range c {
		if len(l) >= len(prefix) && slices.Equal(l[:len(prefix)], prefix) {
			return i, l
		}
	}
	return -1, nil
}

// redisFlags parses a redis-server command line into --name -> values.
func redisFlags(cmd []string) map[string][]string {
	m := map[string][]string{}
	name := ""
	for _, a := range cmd[min(1, len(cmd)):] {
		if n, ok := strings.CutPrefix(a, "--"); ok {
			name = n
			m[name] = []string{}
			continue
		}
		if name != "" {
			m[name] = append(m[name], a)
		}
	}
	return m
}

// redisNodes lists the cluster set's Redis servers: redis-server command
// lines that are not sentinels.
func redisNodes(p *types.Project) []string {
	var out []string
	for _, name := range sortedNames(p) {
		cmd := p.Services[name].Command
		if len(cmd) > 0 && cmd[0] == "redis-server" && !slices.Contains(cmd, "--sentinel") {
			out = append(out, name)
		}
	}
	return out
}

// sentinelRun finds the config file a sentinel's command runs.
var sentinelRun = regexp.MustCompile(`redis-server\s+(\S+)\s+--sentinel|redis-sentinel\s+(\S+)`)

// checkRedisSentinel: one primary and two replicas of it, each with the
// single-node flags (AOF everysec, noeviction) and its own name announced;
// three sentinels monitoring the primary as master set blitzbuy with quorum
// 2, a 2 s down-after and a 10 s failover timeout, host names resolved
// (before `monitor`, which names one) and announced, each announcing its own
// name and running a writable copy of the template.
func checkRedisSentinel(s *stack) []string {
	var out []string
	nodes := redisNodes(s.cluster)
	if len(nodes) != 3 {
		out = append(out, fmt.Sprintf("redis: nodes got %q, want 3", nodes))
	}
	single := redisFlags(s.project.Services["redis"].Command)
	var primaries []string
	replicas := map[string][]string{}
	for _, name := range nodes {
		f := redisFlags(s.cluster.Services[name].Command)
		for _, k := range slices.Sorted(maps.Keys(single)) {
			if !slices.Equal(f[k], single[k]) {
				out = append(out, fmt.Sprintf("service %q: --%s got %q, want %q like redis", name, k, f[k], single[k]))
			}
		}
		if got := f["replica-announce-ip"]; !slices.Equal(got, []string{name}) {
			out = append(out, fmt.Sprintf("service %q: --replica-announce-ip got %q, want its service name", name, got))
		}
		if r, ok := f["replicaof"]; ok {
			replicas[name] = r
		} else {
			primaries = append(primaries, name)
		}
	}
	primary, primaryPort := "", "6379"
	if len(primaries) == 1 {
		primary = primaries[0]
		if p := redisFlags(s.cluster.Services[primary].Command)["port"]; len(p) == 1 {
			primaryPort = p[0]
		}
	} else {
		out = append(out, fmt.Sprintf("redis: nodes without --replicaof got %q, want exactly one primary", primaries))
	}
	for _, name := range slices.Sorted(maps.Keys(replicas)) {
		if want := []string{primary, primaryPort}; !slices.Equal(replicas[name], want) {
			out = append(out, fmt.Sprintf("service %q: --replicaof got %q, want %q (the primary)", name, replicas[name], want))
		}
	}

	sentinels := slices.Sorted(maps.Keys(s.sentinels))
	if len(sentinels) != 3 {
		out = append(out, fmt.Sprintf("redis: sentinels (services mounting %s) got %q, want 3", sentinelTemplate, sentinels))
	}
	for _, name := range sentinels {
		cfg := s.sentinels[name]
		want := []struct {
			prefix []string
			want   string
		}{
			{[]string{"port"}, "26379"},
			{[]string{"sentinel", "resolve-hostnames"}, "yes"},
			{[]string{"sentinel", "announce-hostnames"}, "yes"},
			{[]string{"sentinel", "down-after-milliseconds", masterSet}, "2000"},
			{[]string{"sentinel", "failover-timeout", masterSet}, "10000"},
		}
		for _, w := range want {
			if _, l := cfg.find(w.prefix...); len(l) != len(w.prefix)+1 || l[len(w.prefix)] != w.want {
				out = append(out, fmt.Sprintf("sentinel %q: %s got %q, want %q", name, strings.Join(w.prefix, " "), l, w.want))
			}
		}
		iMon, mon := cfg.find("sentinel", "monitor")
		if wantMon := []string{"sentinel", "monitor", masterSet, primary, primaryPort, "2"}; !slices.Equal(mon, wantMon) {
			out = append(out, fmt.Sprintf("sentinel %q: monitor got %q, want %q (the primary, quorum 2 of %d)", name, mon, wantMon, len(sentinels)))
		}
		if iRes, _ := cfg.find("sentinel", "resolve-hostnames"); iRes > iMon {
			out = append(out, fmt.Sprintf("sentinel %q: resolve-hostnames got after `sentinel monitor`, want it before (monitor names a host)", name))
		}

		svc := s.cluster.Services[name]
		if got := envOf(svc, "SENTINEL_ANNOUNCE_HOSTNAME"); got != name {
			out = append(out, fmt.Sprintf("sentinel %q: SENTINEL_ANNOUNCE_HOSTNAME got %q, want its service name", name, got))
		}
		script := strings.Join(svc.Command, " ")
		if !strings.Contains(script, "sentinel announce-ip $SENTINEL_ANNOUNCE_HOSTNAME") {
			out = append(out, fmt.Sprintf("sentinel %q: command got %q, want it to add `sentinel announce-ip $SENTINEL_ANNOUNCE_HOSTNAME`", name, script))
		}
		m := sentinelRun.FindStringSubmatch(script)
		runs := ""
		if m != nil {
			runs = m[1] + m[2]
		}
		if runs == "" || readOnly(svc, runs) || !strings.Contains(script, "cp "+sentinelTemplate+" ") {
			out = append(out, fmt.Sprintf("sentinel %q: command got %q, want it to copy %s to a writable file and run that (sentinel rewrites its config)",
				name, script, sentinelTemplate))
		}
		if _, ok := svc.DependsOn[primary]; !ok {
			out = append(out, fmt.Sprintf("sentinel %q: depends_on got %q, want the primary %q (its name must resolve at start)", name, slices.Sorted(maps.Keys(svc.DependsOn)), primary))
		}
	}
	return out
}

// readOnly reports whether path in svc's container lies on a read-only
// mount.
func readOnly(svc types.ServiceConfig, path string) bool {
	for _, v := range svc.Volumes {
		if path == v.Target || strings.HasPrefix(path, strings.TrimSuffix(v.Target, "/")+"/") {
			return v.ReadOnly
		}
	}
	return false
}

// haproxySection is one section of haproxy.cfg: its kind (frontend,
// backend…), name and lines split into words.
type haproxySection struct {
	kind, name string
	lines      [][]string
}

type haproxyConfig []haproxySection

var haproxySectionKinds = []string{"global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist", "mailers", "program", "http-errors", "ring", "cache"}

func parseHAProxy(data []byte) haproxyConfig {
	var c haproxyConfig
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case slices.Contains(haproxySectionKinds, f[0]):
			sec := haproxySection{kind: f[0]}
			if len(f) > 1 {
				sec.name = f[1]
			}
			c = append(c, sec)
		case len(c) > 0:
			c[len(c)-1].lines = append(c[len(c)-1].lines, f)
		}
	}
	return c
}

func (c haproxyConfig) section(kind, name string) (haproxySection, bool) {
	for _, sec := range c {
		if sec.kind == kind && sec.name == name {
			return sec, true
		}
	}
	return haproxySection{}, false
}

// httpCheck returns the method and URI of a backend's HTTP health check:
// `option httpchk [<method>] <uri>`, then `http-check send meth … uri …`;
// both empty without `option httpchk`. HAProxy's default method is OPTIONS.
func httpCheck(be haproxySection) (meth, uri string) {
	found := false
	for _, l := range be.lines {
		switch {
		case len(l) >= 2 && l[0] == "option" && l[1] == "httpchk":
			found, meth, uri = true, "OPTIONS", "/"
			switch args := l[2:]; len(args) {
			case 1:
				uri = args[0]
			case 2, 3:
				meth, uri = args[0], args[1]
			}
		case len(l) >= 2 && l[0] == "http-check" && l[1] == "send":
			for i := 2; i+1 < len(l); i++ {
				switch l[i] {
				case "meth":
					meth, i = l[i+1], i+1
				case "uri":
					uri, i = l[i+1], i+1
				}
			}
		}
	}
	if !found {
		return "", ""
	}
	return meth, uri
}

// checkHAProxy: the frontend behind the published API port hands requests to
// a backend whose servers are exactly the order-api instances at their API
// port, each health-checked with GET /readyz; HAProxy waits for them.
func checkHAProxy(s *stack) []string {
	svc, ok := s.cluster.Services["haproxy"]
	if !ok {
		return []string{fmt.Sprintf("%s: got no service \"haproxy\", want it started", s.clusterCmd)}
	}
	var out []string
	apis := instances(s, "order-api")
	if len(apis) != 2 {
		out = append(out, fmt.Sprintf("haproxy: order-api instances got %q, want 2", apis))
	}
	for _, api := range apis {
		if _, ok := svc.DependsOn[api]; !ok {
			out = append(out, fmt.Sprintf("service \"haproxy\": depends_on got %q, want %q among them", slices.Sorted(maps.Keys(svc.DependsOn)), api))
		}
	}
	target := ""
	for _, p := range svc.Ports {
		if p.Published == "8080" {
			target = strconv.FormatUint(uint64(p.Target), 10)
		}
	}
	backend := ""
	for _, sec := range s.haproxy {
		if sec.kind != "frontend" || !slices.ContainsFunc(sec.lines, func(l []string) bool {
			return len(l) >= 2 && l[0] == "bind" && portOf(l[1]) == target
		}) {
			continue
		}
		for _, l := range sec.lines {
			if len(l) == 2 && l[0] == "default_backend" {
				backend = l[1]
			}
		}
	}
	be, ok := s.haproxy.section("backend", backend)
	if !ok {
		return append(out, fmt.Sprintf("haproxy.cfg: got no frontend binding :%s (the port published on 8080) with a default_backend that exists, want one", target))
	}
	checked := slices.ContainsFunc(be.lines, func(l []string) bool { return l[0] == "default-server" && slices.Contains(l, "check") })
	var got []string
	for _, l := range be.lines {
		if l[0] != "server" || len(l) < 3 {
			continue
		}
		got = append(got, l[2])
		if !checked && !slices.Contains(l[3:], "check") {
			out = append(out, fmt.Sprintf("haproxy.cfg backend %s: server %s got no health check, want `check`", backend, l[1]))
		}
	}
	var want []string
	for _, api := range apis {
		want = append(want, api+":"+portOf(envOf(s.cluster.Services[api], "BLITZBUY_HTTP_ADDR")))
	}
	if slices.Sort(got); !slices.Equal(got, want) {
		out = append(out, fmt.Sprintf("haproxy.cfg backend %s: servers got %q, want the order-api instances %q", backend, got, want))
	}
	if meth, uri := httpCheck(be); meth != "GET" || uri != "/readyz" {
		out = append(out, fmt.Sprintf("haproxy.cfg backend %s: health check got %q %q, want GET /readyz", backend, meth, uri))
	}
	return out
}

// checkClusterServiceEnvironment: every api and writer instance reaches the
// Kafka cluster and the Redis master set through the sentinels, gets the
// secrets from the required variables, names its instance, and all of them
// agree on one writer group; the two addresses name what the cluster runs.
func checkClusterServiceEnvironment(s *stack) []string {
	common := map[string]string{
		"BLITZBUY_REDIS_ADDR":         "redis://:" + secrets["BLITZBUY_REDIS_PASSWORD"] + "@sentinel-1:26379?addr=sentinel-2:26379&addr=sentinel-3:26379&master_set=" + masterSet,
		"BLITZBUY_KAFKA_BROKERS":      "kafka-1:9092,kafka-2:9092,kafka-3:9092",
		"BLITZBUY_POSTGRES_URL":       "postgres://blitzbuy:" + secrets["BLITZBUY_POSTGRES_PASSWORD"] + "@postgres:5432/blitzbuy?sslmode=disable",
		"BLITZBUY_JWT_SECRET":         secrets["BLITZBUY_JWT_SECRET"],
		"BLITZBUY_ADMIN_TOKEN":        secrets["BLITZBUY_ADMIN_TOKEN"],
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318",
	}
	kinds := []struct {
		base string
		want map[string]string
	}{
		{"order-api", map[string]string{"BLITZBUY_HTTP_ADDR": ":8080", "BLITZBUY_METRICS_ADDR": ":9464", "OTEL_SERVICE_NAME": "order-api"}},
		{"order-writer", map[string]string{"BLITZBUY_METRICS_ADDR": ":9465", "OTEL_SERVICE_NAME": "order-writer"}},
	}
	var out []string
	groups := map[string][]string{}
	for _, kind := range kinds {
		names := instances(s, kind.base)
		if len(names) != 2 {
			out = append(out, fmt.Sprintf("%s: %s instances got %q, want 2", s.clusterCmd, kind.base, names))
		}
		for _, name := range names {
			svc := s.cluster.Services[name]
			want := merge(common, kind.want)
			want["OTEL_RESOURCE_ATTRIBUTES"] = "service.instance.id=" + name
			for _, k := range slices.Sorted(maps.Keys(want)) {
				if got := envOf(svc, k); got != want[k] {
					out = append(out, fmt.Sprintf("service %q: %s got %q, want %q", name, k, got, want[k]))
				}
			}
			group := "(unset: the default)"
			if v := svc.Environment["BLITZBUY_WRITER_GROUP"]; v != nil {
				group = *v
			}
			groups[group] = append(groups[group], name)
		}
	}
	if len(groups) > 1 {
		out = append(out, fmt.Sprintf("BLITZBUY_WRITER_GROUP got %v, want one group for every writer and api instance (the api reads the writers' lag)", groups))
	}

	// The required addresses against the topology the file defines.
	var wantBrokers []string
	for _, b := range brokers(s.cluster) {
		svc := s.cluster.Services[b]
		wantBrokers = append(wantBrokers, b+":"+portOf(kafkaListeners(envOf(svc, "KAFKA_LISTENERS"))[envOf(svc, "KAFKA_INTER_BROKER_LISTENER_NAME")]))
	}
	if got := strings.Split(common["BLITZBUY_KAFKA_BROKERS"], ","); !slices.Equal(got, wantBrokers) {
		out = append(out, fmt.Sprintf("BLITZBUY_KAFKA_BROKERS %q: got brokers %q in the file, want the same", common["BLITZBUY_KAFKA_BROKERS"], wantBrokers))
	}
	var wantSentinels []string
	for _, name := range slices.Sorted(maps.Keys(s.sentinels)) {
		port := "26379" // Sentinel's default
		if _, l := s.sentinels[name].find("port"); len(l) == 2 {
			port = l[1]
		}
		wantSentinels = append(wantSentinels, name+":"+port)
	}
	u, _ := url.Parse(common["BLITZBUY_REDIS_ADDR"])
	gotSentinels := append([]string{u.Host}, u.Query()["addr"]...)
	if slices.Sort(gotSentinels); !slices.Equal(gotSentinels, wantSentinels) {
		out = append(out, fmt.Sprintf("BLITZBUY_REDIS_ADDR %q: got sentinels %q in the file, want the same", common["BLITZBUY_REDIS_ADDR"], wantSentinels))
	}
	return out
}

// checkClusterPrometheus: prometheus-cluster keeps the rules and exemplars
// and scrapes every api and writer instance at its metrics port; every
// target is a name the cluster set answers to.
func checkClusterPrometheus(s *stack) []string {
	var out []string
	cmd := s.cluster.Services["prometheus-cluster"].Command
	if !slices.Contains(cmd, "--enable-feature=exemplar-storage") {
		out = append(out, fmt.Sprintf("prometheus-cluster command got %q, want --enable-feature=exemplar-storage in it", cmd))
	}
	if !slices.Contains(s.clusterPrometheus.RuleFiles, "rules/*.yml") {
		out = append(out, fmt.Sprintf("prometheus-cluster rule_files got %q, want rules/*.yml", s.clusterPrometheus.RuleFiles))
	}
	out = append(out, lifecycleOff("prometheus-cluster", cmd)...)
	hosts := hostsOf(s.cluster)
	got := map[string][]string{}
	for _, sc := range s.clusterPrometheus.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				got[sc.JobName] = append(got[sc.JobName], target)
				if host, _, err := net.SplitHostPort(target); err != nil || len(hosts[host]) == 0 {
					out = append(out, fmt.Sprintf("prometheus-cluster job %q target %q: got a host the cluster set does not answer to, want one of %q",
						sc.JobName, target, slices.Sorted(maps.Keys(hosts))))
				}
			}
		}
	}
	for _, job := range []string{"order-api", "order-writer"} {
		var want []string
		for _, name := range instances(s, job) {
			want = append(want, name+":"+portOf(envOf(s.cluster.Services[name], "BLITZBUY_METRICS_ADDR")))
		}
		if g := slices.Sorted(slices.Values(got[job])); !slices.Equal(g, want) {
			out = append(out, fmt.Sprintf("prometheus-cluster job %q: targets got %q, want every instance %q", job, g, want))
		}
	}
	for _, job := range []string{"jaeger", "prometheus"} {
		if len(got[job]) == 0 {
			out = append(out, fmt.Sprintf("prometheus-cluster job %q: got no targets, want the job kept", job))
		}
	}
	return out
}

// checkClusterGrafana: every datasource of grafana-cluster names exactly one
// service of the cluster set, and the Prometheus one is prometheus-cluster
// (through its network alias: the provisioning file says
// http://prometheus:9090).
func checkClusterGrafana(s *stack) []string {
	var out []string
	hosts := hostsOf(s.cluster)
	for _, ds := range s.clusterDatasources.Datasources {
		u, err := url.Parse(ds.URL)
		if err != nil {
			out = append(out, fmt.Sprintf("grafana-cluster datasource %q: url got %q, want http://<service>:<port>", ds.UID, ds.URL))
			continue
		}
		svcs := hosts[u.Hostname()]
		switch {
		case len(svcs) != 1:
			out = append(out, fmt.Sprintf("grafana-cluster datasource %q: host %q got answered by %q in the cluster set, want exactly one service",
				ds.UID, u.Hostname(), svcs))
		case ds.Type == "prometheus" && svcs[0] != "prometheus-cluster":
			out = append(out, fmt.Sprintf("grafana-cluster datasource %q: host %q got %q, want prometheus-cluster", ds.UID, u.Hostname(), svcs[0]))
		}
	}
	return out
}

// editCluster edits a service of the cluster command's set in place.
func editCluster(name string, edit func(*types.ServiceConfig)) func(*stack) {
	return func(s *stack) {
		svc := s.cluster.Services[name]
		edit(&svc)
		s.cluster.Services[name] = svc
	}
}

func setEnv(name, key, value string) func(*stack) {
	return editCluster(name, func(svc *types.ServiceConfig) {
		e := maps.Clone(svc.Environment)
		e[key] = &value
		svc.Environment = e
	})
}

// replaceInCommand replaces old (which must occur) in a cluster service's
// command words.
func replaceInCommand(name, old, new string) func(*stack) {
	return editCluster(name, func(svc *types.ServiceConfig) {
		cmd := slices.Clone(svc.Command)
		n := 0
		for i := range cmd {
			n += strings.Count(cmd[i], old)
			cmd[i] = strings.ReplaceAll(cmd[i], old, new)
		}
		if n == 0 {
			panic(fmt.Sprintf("service %q command %q: no %q to replace", name, svc.Command, old))
		}
		svc.Command = cmd
	})
}

// startSingle puts a single-node service into the cluster command's set, as
// if the command named it.
func startSingle(name string) func(*stack) {
	return func(s *stack) { s.cluster.Services[name] = s.cluster.DisabledServices[name] }
}

func editSentinel(name string, edit func(sentinelConfig) sentinelConfig) func(*stack) {
	return func(s *stack) {
		var c sentinelConfig
		for _, l := range s.sentinels[name] {
			c = append(c, slices.Clone(l))
		}
		s.sentinels[name] = edit(c)
	}
}

func setSentinelLine(name string, prefix []string, line ...string) func(*stack) {
	return editSentinel(name, func(c sentinelConfig) sentinelConfig {
		i, _ := c.find(prefix...)
		c[i] = line
		return c
	})
}

// editBackend edits the lines of haproxy.cfg's backend order-api.
func editBackend(edit func([][]string) [][]string) func(*stack) {
	return func(s *stack) {
		for i, sec := range s.haproxy {
			if sec.kind == "backend" && sec.name == "order-api" {
				s.haproxy[i].lines = edit(slices.Clone(sec.lines))
			}
		}
	}
}

func dropLines(first string) func([][]string) [][]string {
	return func(lines [][]string) [][]string {
		return slices.DeleteFunc(lines, func(l []string) bool { return l[0] == first })
	}
}

func setTargets(job string, targets ...string) func(*stack) {
	return func(s *stack) {
		for i, sc := range s.clusterPrometheus.ScrapeConfigs {
			if sc.JobName == job {
				s.clusterPrometheus.ScrapeConfigs[i].StaticConfigs[0].Targets = targets
			}
		}
	}
}

var clusterBreakage = []breakage{
	{"cluster service without profile", "default services", func(s *stack) { s.project.Services["haproxy"] = s.cluster.Services["haproxy"] }},
	{"single-node service gone", "default services", func(s *stack) { delete(s.project.Services, "kafka-init") }},

	{"cluster command leaves grafana-cluster out", "cluster command", func(s *stack) { s.cluster = s.cluster.WithServicesDisabled("grafana-cluster") }},
	{"cluster command starts order-api", "cluster command", startSingle("order-api")},
	{"cluster command without --wait", "cluster command", func(s *stack) { s.clusterCmd.flags = []string{"-d"} }},
	{"cluster command starts order-api", "ports on loopback", startSingle("order-api")},
	{"haproxy on all interfaces", "ports on loopback", editCluster("haproxy", func(svc *types.ServiceConfig) {
		svc.Ports = []types.ServicePortConfig{{Target: 8080, Published: "8080", Protocol: "tcp"}}
	})},
	{"haproxy not on 8080", "expected ports", editCluster("haproxy", func(svc *types.ServiceConfig) {
		svc.Ports = []types.ServicePortConfig{{HostIP: "127.0.0.1", Target: 8080, Published: "8081", Protocol: "tcp"}}
	})},
	{"haproxy without healthcheck", "healthchecks", editCluster("haproxy", func(svc *types.ServiceConfig) { svc.HealthCheck = nil })},
	{"kafka-cluster-init waited for by nobody", "one-shot services", func(s *stack) {
		for name, svc := range s.cluster.Services {
			deps := maps.Clone(svc.DependsOn)
			delete(deps, kafkaClusterInit)
			svc.DependsOn = deps
			s.cluster.Services[name] = svc
		}
	}},
	{"api waits for a sentinel started only", "depends_on", editCluster("order-api-1", func(svc *types.ServiceConfig) {
		deps := maps.Clone(svc.DependsOn)
		deps["sentinel-1"] = types.ServiceDependency{Condition: types.ServiceConditionStarted}
		svc.DependsOn = deps
	})},
	{"sentinel image latest", "images pinned", editCluster("sentinel-2", func(svc *types.ServiceConfig) { svc.Image = "redis:latest" })},
	{"writer instance pulled first", "dockerfiles", editCluster("order-writer-2", func(svc *types.ServiceConfig) { svc.PullPolicy = "" })},
	{"haproxy.cfg missing", "bind mounts exist", editCluster("haproxy", func(svc *types.ServiceConfig) {
		svc.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeBind, Source: "/nonexistent/haproxy.cfg", Target: haproxyConfigPath}}
	})},
	{"api instance healthcheck via wget", "go service healthchecks", editCluster("order-api-2", func(svc *types.ServiceConfig) {
		svc.HealthCheck = &types.HealthCheckConfig{Test: types.HealthCheckTest{"CMD", "wget", "-q", "http://127.0.0.1:8080/healthz"}}
	})},

	{"broker on an older image", "cluster images", editCluster("kafka-2", func(svc *types.ServiceConfig) { svc.Image = "apache/kafka:4.0.0" })},
	{"writer instance from the api dockerfile", "cluster images", editCluster("order-writer-1", func(svc *types.ServiceConfig) {
		b := *svc.Build
		b.Dockerfile = "infra/docker/orderapi.Dockerfile"
		svc.Build = &b
	})},

	{"two brokers share a node id", "kafka cluster", setEnv("kafka-3", "KAFKA_NODE_ID", "2")},
	{"quorum voters miss a node", "kafka cluster", setEnv("kafka-2", "KAFKA_CONTROLLER_QUORUM_VOTERS", "1@kafka-1:9093,2@kafka-2:9093")},
	{"quorum voters on localhost", "kafka cluster", setEnv("kafka-1", "KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093,2@kafka-2:9093,3@kafka-3:9093")},
	{"a broker of another cluster", "kafka cluster", setEnv("kafka-3", "CLUSTER_ID", "YmxpdHpidXktY29tcG9zZQ")},
	{"offsets topic on one broker", "kafka cluster", setEnv("kafka-1", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")},
	{"transaction log min ISR 1", "kafka cluster", setEnv("kafka-2", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")},
	{"host listener advertised on another broker's port", "kafka cluster", setEnv("kafka-3", "KAFKA_ADVERTISED_LISTENERS", "INTERNAL://kafka-3:9092,HOST://127.0.0.1:9092")},
	{"internal listener advertised as another broker", "kafka cluster", setEnv("kafka-2", "KAFKA_ADVERTISED_LISTENERS", "INTERNAL://kafka-1:9092,HOST://127.0.0.1:9094")},
	{"two brokers on one volume", "kafka cluster", editCluster("kafka-2", func(svc *types.ServiceConfig) {
		svc.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "kafka-1-data", Target: "/var/lib/kafka/data"}}
	})},
	{"a broker short", "kafka cluster", func(s *stack) { s.cluster = s.cluster.WithServicesDisabled("kafka-3") }},

	{"orders on one replica", "kafka cluster topics", replaceInCommand(kafkaClusterInit,
		"--topic orders --partitions 12 --replication-factor 3", "--topic orders --partitions 12 --replication-factor 1")},
	{"orders with 6 partitions", "kafka cluster topics", replaceInCommand(kafkaClusterInit,
		"--topic orders --partitions 12", "--topic orders --partitions 6")},
	{"dlq created with min ISR 1", "kafka cluster topics", replaceInCommand(kafkaClusterInit,
		"--topic orders.dlq --partitions 3 --replication-factor 3 --config min.insync.replicas=2", "--topic orders.dlq --partitions 3 --replication-factor 3 --config min.insync.replicas=1")},
	{"orders created with the broker's 24 h", "kafka cluster topics", replaceInCommand(kafkaClusterInit,
		"--topic orders --partitions 12 --replication-factor 3 --config min.insync.replicas=2 --config retention.ms=604800000",
		"--topic orders --partitions 12 --replication-factor 3 --config min.insync.replicas=2")},
	{"existing dlq keeps its retention", "kafka cluster topics", replaceInCommand(kafkaClusterInit,
		"--entity-name orders.dlq --add-config min.insync.replicas=2,retention.ms=604800000", "--entity-name orders.dlq --add-config min.insync.replicas=2")},
	{"init bootstraps from the single node", "kafka cluster topics", replaceInCommand(kafkaClusterInit, "kafka-1:9092,kafka-2:9092,kafka-3:9092", "kafka:9092")},
	{"init does not wait for a broker", "kafka cluster topics", editCluster(kafkaClusterInit, func(svc *types.ServiceConfig) {
		deps := maps.Clone(svc.DependsOn)
		delete(deps, "kafka-3")
		svc.DependsOn = deps
	})},

	{"replica of a replica", "redis sentinel", replaceInCommand("redis-3", "redis-1", "redis-2")},
	{"replica without AOF", "redis sentinel", replaceInCommand("redis-2", "--appendonly", "--lazyfree-lazy-eviction")},
	{"two primaries", "redis sentinel", editCluster("redis-3", func(svc *types.ServiceConfig) { svc.Command = slices.Clone(svc.Command)[:len(svc.Command)-3] })},
	{"replica announces the primary", "redis sentinel", replaceInCommand("redis-2", "redis-2", "redis-1")},
	{"sentinel quorum 1", "redis sentinel", setSentinelLine("sentinel-2", []string{"sentinel", "monitor"}, "sentinel", "monitor", masterSet, "redis-1", "6379", "1")},
	{"sentinel monitors a replica", "redis sentinel", setSentinelLine("sentinel-1", []string{"sentinel", "monitor"}, "sentinel", "monitor", masterSet, "redis-2", "6379", "2")},
	{"sentinel master set renamed", "redis sentinel", setSentinelLine("sentinel-3", []string{"sentinel", "monitor"}, "sentinel", "monitor", "mymaster", "redis-1", "6379", "2")},
	{"sentinel down after 30 s", "redis sentinel", setSentinelLine("sentinel-1", []string{"sentinel", "down-after-milliseconds"}, "sentinel", "down-after-milliseconds", masterSet, "30000")},
	{"sentinel announces addresses", "redis sentinel", setSentinelLine("sentinel-1", []string{"sentinel", "announce-hostnames"}, "sentinel", "announce-hostnames", "no")},
	{"resolve-hostnames after monitor", "redis sentinel", editSentinel("sentinel-2", func(c sentinelConfig) sentinelConfig {
		i, l := c.find("sentinel", "resolve-hostnames")
		return append(slices.Delete(c, i, i+1), l)
	})},
	{"sentinel announces another's name", "redis sentinel", setEnv("sentinel-3", "SENTINEL_ANNOUNCE_HOSTNAME", "sentinel-1")},
	{"sentinel runs the read-only template", "redis sentinel", replaceInCommand("sentinel-1",
		"redis-server /data/sentinel.conf --sentinel", "redis-server "+sentinelTemplate+" --sentinel")},

	{"backend misses order-api-2", "haproxy", editBackend(func(lines [][]string) [][]string {
		return slices.DeleteFunc(lines, func(l []string) bool { return l[0] == "server" && l[1] == "order-api-2" })
	})},
	{"backend server is the single order-api", "haproxy", editBackend(func(lines [][]string) [][]string {
		return append(lines, []string{"server", "order-api", "order-api:8080"})
	})},
	{"servers not checked", "haproxy", editBackend(dropLines("default-server"))},
	{"health check on /healthz", "haproxy", editBackend(func(lines [][]string) [][]string {
		return append(lines, []string{"http-check", "send", "meth", "GET", "uri", "/healthz"})
	})},
	{"health check with the OPTIONS default", "haproxy", editBackend(dropLines("http-check"))},
	{"haproxy does not wait for an api", "haproxy", editCluster("haproxy", func(svc *types.ServiceConfig) {
		deps := maps.Clone(svc.DependsOn)
		delete(deps, "order-api-2")
		svc.DependsOn = deps
	})},

	{"writer on the single broker", "cluster service environment", setEnv("order-writer-2", "BLITZBUY_KAFKA_BROKERS", "kafka:9092")},
	{"api on the single redis", "cluster service environment", setEnv("order-api-1", "BLITZBUY_REDIS_ADDR", "redis:6379")},
	{"writers in two groups", "cluster service environment", setEnv("order-writer-1", "BLITZBUY_WRITER_GROUP", "order-writer-1")},
	{"instance id copied", "cluster service environment", setEnv("order-api-2", "OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=order-api-1")},
	{"secret hard-coded", "cluster service environment", setEnv("order-writer-1", "BLITZBUY_JWT_SECRET", "changeme")},
	{"sentinel renamed", "cluster service environment", func(s *stack) {
		s.sentinels["sentinel-4"] = s.sentinels["sentinel-3"]
		delete(s.sentinels, "sentinel-3")
	}},

	{"replica without masterauth", "redis hardening", editCluster("redis-3", func(svc *types.ServiceConfig) {
		f := slices.Clone(svc.Command)
		i := slices.Index(f, "--masterauth")
		svc.Command = slices.Delete(f, i, i+2)
	})},
	{"sentinel without auth-pass", "redis hardening", replaceInCommand("sentinel-2", "sentinel auth-pass", "sentinel announce-port")},
	{"sentinel without the password", "redis hardening", setEnv("sentinel-3", "BLITZBUY_REDIS_PASSWORD", "")},
	{"api instance without the redis password", "redis hardening", setEnv("order-api-2", "BLITZBUY_REDIS_ADDR",
		"redis://sentinel-1:26379?addr=sentinel-2:26379&addr=sentinel-3:26379&master_set="+masterSet)},
	{"cluster prometheus lifecycle API back on", "cluster prometheus", editCluster("prometheus-cluster", func(svc *types.ServiceConfig) {
		svc.Command = append(slices.Clone(svc.Command), "--web.enable-lifecycle")
	})},
	{"writer instance not scraped", "cluster prometheus", setTargets("order-writer", "order-writer-1:9465")},
	{"single-node target", "cluster prometheus", setTargets("order-api", "order-api:9464", "order-api-1:9464", "order-api-2:9464")},
	{"cluster prometheus without exemplars", "cluster prometheus", editCluster("prometheus-cluster", func(svc *types.ServiceConfig) {
		svc.Command = slices.DeleteFunc(slices.Clone(svc.Command), func(a string) bool { return strings.HasPrefix(a, "--enable-feature") })
	})},

	{"prometheus alias missing", "cluster grafana", editCluster("prometheus-cluster", func(svc *types.ServiceConfig) { svc.Networks = nil })},
	{"prometheus answers twice", "cluster grafana", startSingle("prometheus")},
}
