package k8scheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Paths from this package's directory.
const (
	manifestDir  = "../../../infra/k8s"
	servicesRoot = "../.."
	repoRoot     = "../../.."
)

// The files of infra/k8s that are not resources: the kustomization itself,
// the template of the secrets file and the .gitignore that keeps the real
// one out of git. The real one, secretsFile, is never read here.
const (
	kustomizationFile = "kustomization.yaml"
	secretsFile       = "secrets.env"
	secretsExample    = "secrets.env.example"
	gitignoreFile     = ".gitignore"
)

// testSecrets are the values the build puts in secrets.env: long enough for
// the services' own checks (httpapi.JWTConfig.Validate, httpapi.ValidateAdminToken), never real.
var testSecrets = map[string]string{
	"BLITZBUY_JWT_SECRET":   strings.Repeat("j", 32),
	"BLITZBUY_ADMIN_TOKEN":  strings.Repeat("a", 16),
	"BLITZBUY_POSTGRES_URL": "postgres://blitzbuy:test@postgres.test:5432/blitzbuy?sslmode=disable&pool_max_conns=4",
}

// decodeStrict decodes one YAML document into out the way the API server's
// strict field validation does: duplicate keys, unknown fields and fields
// spelt in another case are errors (encoding/json alone would take
// "ContainerPort" for "containerPort").
func decodeStrict(doc []byte, out any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := json.UnmarshalStrict(j, out, json.DisallowDuplicateFields, json.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// documents splits a multi-document YAML file, dropping documents that hold
// only comments.
func documents(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(data), -1) {
		j, err := yaml.YAMLToJSON([]byte(d))
		if err == nil && string(j) == "null" {
			continue
		}
		docs = append(docs, []byte(d))
	}
	return docs
}

// objects are the decoded manifests, by kind.
type objects struct {
	namespaces    []*corev1.Namespace
	configMaps    []*corev1.ConfigMap
	secrets       []*corev1.Secret
	services      []*corev1.Service
	deployments   []*appsv1.Deployment
	pdbs          []*policyv1.PodDisruptionBudget
	hpas          []*autoscalingv2.HorizontalPodAutoscaler
	scaledObjects []*scaledObject
	// metas are every object's kind and metadata, in order.
	metas []objectMeta
}

type objectMeta struct {
	kind string
	meta *metav1.ObjectMeta
}

// add decodes one document strictly into the type its apiVersion and kind
// name; a kind these manifests do not use is an error.
func (o *objects) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var err error
	var meta *metav1.ObjectMeta
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		meta, err = decodeInto(doc, &o.namespaces, func(v *corev1.Namespace) *metav1.ObjectMeta { return &v.ObjectMeta })
	case "v1 ConfigMap":
		meta, err = decodeInto(doc, &o.configMaps, func(v *corev1.ConfigMap) *metav1.ObjectMeta { return &v.ObjectMeta })
	case "v1 Secret":
		meta, err = decodeInto(doc, &o.secrets, func(v *corev1.Secret) *metav1.ObjectMeta { return &v.ObjectMeta })
	case "v1 Service":
		meta, err = decodeInto(doc, &o.services, func(v *corev1.Service) *metav1.ObjectMeta { return &v.ObjectMeta })
	case "apps/v1 Deployment":
		meta, err = decodeInto(doc, &o.deployments, func(v *appsv1.Deployment) *metav1.ObjectMeta { return &v.ObjectMeta })
	case "policy/v1 PodDisruptionBudget":
		meta, err = decodeInto(doc, &o.pdbs, func(v *policyv1.PodDisruptionBudget) *metav1.ObjectMeta { return &v.ObjectMeta })
	case "autoscaling/v2 HorizontalPodAutoscaler":
		meta, err = decodeInto(doc, &o.hpas, func(v *autoscalingv2.HorizontalPodAutoscaler) *metav1.ObjectMeta { return &v.ObjectMeta })
	case "keda.sh/v1alpha1 ScaledObject":
		meta, err = decodeInto(doc, &o.scaledObjects, func(v *scaledObject) *metav1.ObjectMeta { return &v.ObjectMeta })
	default:
		return fmt.Errorf("apiVersion %q kind %q: not a kind these manifests use (add it to objects.add)", tm.APIVersion, tm.Kind)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if meta.Name == "" {
		return fmt.Errorf("%s without metadata.name", tm.Kind)
	}
	o.metas = append(o.metas, objectMeta{kind: tm.Kind, meta: meta})
	return nil
}

func decodeInto[T any](doc []byte, list *[]*T, meta func(*T) *metav1.ObjectMeta) (*metav1.ObjectMeta, error) {
	v := new(T)
	if err := decodeStrict(doc, v); err != nil {
		return nil, err
	}
	*list = append(*list, v)
	return meta(v), nil
}

func (o *objects) deployment(name string) *appsv1.Deployment {
	for _, d := range o.deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func (o *objects) configMap(name string) *corev1.ConfigMap {
	for _, c := range o.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (o *objects) secret(name string) *corev1.Secret {
	for _, s := range o.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// scaledObject mirrors KEDA's ScaledObject (github.com/kedacore/keda/v2,
// apis/keda/v1alpha1, v2.21.0: the spec's fields with the same JSON names;
// status is the operator's), so that decoding strictly rejects a field KEDA
// does not have. KEDA's module is served and its apis package builds with
// k8s.io/api v0.37.2 (v2.21.0 only), but it raises the services' production
// dependencies (prometheus/client_golang 1.23 → 1.24, grpc 1.83 → 1.84)
// and brings client-go and controller-runtime along for one type.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              scaledObjectSpec `json:"spec"`
}

type scaledObjectSpec struct {
	ScaleTargetRef        *scaleTarget    `json:"scaleTargetRef"`
	PollingInterval       *int32          `json:"pollingInterval,omitempty"`
	InitialCooldownPeriod *int32          `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod        *int32          `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount      *int32          `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32          `json:"maxReplicaCount,omitempty"`
	Advanced              *advancedConfig `json:"advanced,omitempty"`
	Triggers              []scaleTrigger  `json:"triggers"`
	Fallback              *fallback       `json:"fallback,omitempty"`
}

type scaleTarget struct {
	Name                   string `json:"name"`
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

type advancedConfig struct {
	HorizontalPodAutoscalerConfig *hpaConfig        `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool              `json:"restoreToOriginalReplicaCount,omitempty"`
	ScalingModifiers              *scalingModifiers `json:"scalingModifiers,omitempty"`
}

type hpaConfig struct {
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	Name     string                                         `json:"name,omitempty"`
}

type scalingModifiers struct {
	Formula          string                         `json:"formula,omitempty"`
	Target           string                         `json:"target,omitempty"`
	ActivationTarget string                         `json:"activationTarget,omitempty"`
	MetricType       autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

type fallback struct {
	FailureThreshold int32  `json:"failureThreshold"`
	Replicas         int32  `json:"replicas"`
	Behavior         string `json:"behavior,omitempty"`
}

type scaleTrigger struct {
	Type              string                         `json:"type"`
	Name              string                         `json:"name,omitempty"`
	UseCachedMetrics  bool                           `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string              `json:"metadata"`
	AuthenticationRef *authenticationRef             `json:"authenticationRef,omitempty"`
	MetricType        autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

type authenticationRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// fallbackBehaviors is the CRD's enum of fallback.behavior.
var fallbackBehaviors = []string{"static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower", "scalingModifiers"}

// kafkaParams are the trigger metadata KEDA's Kafka scaler reads
// (pkg/scalers/kafka_scaler.go, kafkaMetadata, v2.21.0); true marks those it
// also takes as <name>FromEnv, the name of a variable of the target's
// container. The scaler ignores any other key without a word, so a
// misspelt lagThreshold would scale on its default of 10.
var kafkaParams = map[string]bool{
	"bootstrapServers": true, "consumerGroup": true, "topic": true,
	"partitionLimitation": false, "lagThreshold": false, "activationLagThreshold": false,
	"offsetResetPolicy": false, "allowIdleConsumers": false, "excludePersistentLag": false,
	"scaleToZeroOnInvalidOffset": false, "limitToPartitionsWithLag": false,
	"ensureEvenDistributionOfPartitions": false, "fullMetadata": false, "version": false,
	"tls": false, "unsafeSsl": false, "sasl": false, "saslTokenProvider": false, "awsRegion": false,
}

// loadKustomization decodes infra/k8s/kustomization.yaml strictly.
func loadKustomization(t *testing.T) types.Kustomization {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifestDir, kustomizationFile))
	if err != nil {
		t.Fatal(err)
	}
	var k types.Kustomization
	if err := decodeStrict(data, &k); err != nil {
		t.Fatalf("%s: %v", kustomizationFile, err)
	}
	return k
}

// envSources are the env files the kustomization's generators read.
func envSources(k types.Kustomization) []string {
	var files []string
	for _, g := range k.ConfigMapGenerator {
		files = append(files, g.EnvSources...)
	}
	for _, g := range k.SecretGenerator {
		files = append(files, g.EnvSources...)
	}
	return files
}

// envFileKeys reads the keys of an env file (KEY=value lines, # comments),
// the format kustomize's generators read.
func envFileKeys(data []byte) ([]string, error) {
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %q: not KEY=value", line)
		}
		keys = append(keys, key)
	}
	return keys, sc.Err()
}

// build runs kustomize over a copy of infra/k8s in memory, as
// `kubectl apply -k infra/k8s` does, with a secrets.env made of testSecrets
// for the keys secrets.env.example lists, and decodes every object it
// outputs strictly. What it returns is what the cluster would receive.
func build(t *testing.T) *objects {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	entries, err := os.ReadDir(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	const root = "/k8s"
	for _, e := range entries {
		if e.IsDir() || e.Name() == secretsFile {
			continue
		}
		data, err := os.ReadFile(filepath.Join(manifestDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := fs.WriteFile(root+"/"+e.Name(), data); err != nil {
			t.Fatal(err)
		}
	}
	example, err := os.ReadFile(filepath.Join(manifestDir, secretsExample))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := envFileKeys(example)
	if err != nil {
		t.Fatalf("%s: %v", secretsExample, err)
	}
	var secrets strings.Builder
	for _, k := range keys {
		v, ok := testSecrets[k]
		if !ok {
			t.Fatalf("%s lists %s, which testSecrets has no test value for", secretsExample, k)
		}
		fmt.Fprintf(&secrets, "%s=%s\n", k, v)
	}
	if err := fs.WriteFile(root+"/"+secretsFile, []byte(secrets.String())); err != nil {
		t.Fatal(err)
	}

	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, root)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", manifestDir, err)
	}
	o := &objects{}
	for _, r := range resources.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		if err := o.add(doc); err != nil {
			t.Errorf("built %s %s: %v", r.GetKind(), r.GetName(), err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return o
}

// variable is one environment variable a config struct reads.
type variable struct {
	name     string
	required bool
	secret   bool
	def      string // the envDefault tag; "" without one
}

// variables lists the variables of a config struct type, its embedded
// structs (Process) walked in place as config.Masked walks them.
func variables(t reflect.Type) map[string]variable {
	vars := map[string]variable{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for name, v := range variables(f.Type) {
				vars[name] = v
			}
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			continue
		}
		vars[name] = variable{
			name:     name,
			required: slices.Contains(strings.Split(opts, ","), "required"),
			secret:   f.Tag.Get("secret") == "true",
			def:      f.Tag.Get("envDefault"),
		}
	}
	return vars
}

// loadConfig parses environ into C and validates it, as config.LoadAPI and
// config.LoadWriter do with the process's environment.
func loadConfig[C interface{ Validate() error }](environ map[string]string) (C, error) {
	var c C
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// envValue is one variable of a container's environment and where it came
// from.
type envValue struct {
	value  string
	from   string
	secret bool // from a Secret
}

// environment is what the container's process sees: envFrom first, env over
// it (Kubernetes' precedence), every reference resolved against o. Sources
// these manifests do not use (fieldRef, prefixes…) are errors, so the test
// never guesses at a value.
func environment(c corev1.Container, o *objects) (map[string]envValue, error) {
	out := map[string]envValue{}
	for _, src := range c.EnvFrom {
		if src.Prefix != "" {
			return nil, fmt.Errorf("envFrom with prefix %q", src.Prefix)
		}
		switch {
		case src.ConfigMapRef != nil:
			cm := o.configMap(src.ConfigMapRef.Name)
			if cm == nil {
				return nil, fmt.Errorf("envFrom: no ConfigMap %q", src.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				out[k] = envValue{value: v, from: "ConfigMap " + cm.Name}
			}
		case src.SecretRef != nil:
			s := o.secret(src.SecretRef.Name)
			if s == nil {
				return nil, fmt.Errorf("envFrom: no Secret %q", src.SecretRef.Name)
			}
			for k, v := range s.Data {
				out[k] = envValue{value: string(v), from: "Secret " + s.Name, secret: true}
			}
		default:
			return nil, errors.New("envFrom with neither configMapRef nor secretRef")
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = envValue{value: e.Value, from: "env"}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := o.secret(ref.Name)
			if s == nil {
				return nil, fmt.Errorf("%s: no Secret %q", e.Name, ref.Name)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				return nil, fmt.Errorf("%s: Secret %s has no key %q", e.Name, ref.Name, ref.Key)
			}
			out[e.Name] = envValue{value: string(v), from: "Secret " + s.Name, secret: true}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := o.configMap(ref.Name)
			if cm == nil {
				return nil, fmt.Errorf("%s: no ConfigMap %q", e.Name, ref.Name)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				return nil, fmt.Errorf("%s: ConfigMap %s has no key %q", e.Name, ref.Name, ref.Key)
			}
			out[e.Name] = envValue{value: v, from: "ConfigMap " + cm.Name}
		default:
			return nil, fmt.Errorf("%s: a valueFrom these checks do not resolve", e.Name)
		}
	}
	return out, nil
}

// plain is an environment as a process reads it.
func plain(e map[string]envValue) map[string]string {
	out := make(map[string]string, len(e))
	for k, v := range e {
		out[k] = v.value
	}
	return out
}
