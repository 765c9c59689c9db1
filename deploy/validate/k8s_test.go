package validate

import (
	"bufio"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	keda "coderunner/deploy/validate/kedav1alpha1"
)

const (
	k8sDir        = "../k8s"
	secretExample = "../k8s/secret.example.env"
	apiName       = "coderunner-api"
	workerName    = "coderunner-worker"
)

// manifests is one kustomization, built and decoded.
type manifests struct {
	dir           string
	deployments   map[string]*appsv1.Deployment
	services      map[string]*corev1.Service
	configMaps    map[string]*corev1.ConfigMap
	pdbs          map[string]*policyv1.PodDisruptionBudget
	netpols       map[string]*networkingv1.NetworkPolicy
	ingresses     map[string]*networkingv1.Ingress
	scaledObjects map[string]*keda.ScaledObject
	triggerAuths  map[string]*keda.TriggerAuthentication
}

// kustomizations returns the base and every overlay.
func kustomizations(t *testing.T) []string {
	overlays, err := filepath.Glob(filepath.Join(k8sDir, "overlays", "*"))
	if err != nil || len(overlays) == 0 {
		t.Fatalf("no overlays under %s/overlays (%v)", k8sDir, err)
	}
	return append([]string{filepath.Join(k8sDir, "base")}, overlays...)
}

// build runs kustomize on dir, as `kubectl apply -k` does, and decodes
// every object strictly into its API type: an unknown, misspelt or
// duplicated field, or a kind this deployment does not expect, fails.
func build(t *testing.T, dir string) *manifests {
	t.Helper()
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := &manifests{
		dir:           dir,
		deployments:   map[string]*appsv1.Deployment{},
		services:      map[string]*corev1.Service{},
		configMaps:    map[string]*corev1.ConfigMap{},
		pdbs:          map[string]*policyv1.PodDisruptionBudget{},
		netpols:       map[string]*networkingv1.NetworkPolicy{},
		ingresses:     map[string]*networkingv1.Ingress{},
		scaledObjects: map[string]*keda.ScaledObject{},
		triggerAuths:  map[string]*keda.TriggerAuthentication{},
	}
	for _, r := range resources.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		kind := r.GetApiVersion() + "/" + r.GetKind()
		name := r.GetName()
		var obj any
		switch kind {
		case "v1/Namespace":
			obj = new(corev1.Namespace)
		case "v1/ConfigMap":
			obj = add(m.configMaps, name)
		case "v1/Service":
			obj = add(m.services, name)
		case "apps/v1/Deployment":
			obj = add(m.deployments, name)
		case "policy/v1/PodDisruptionBudget":
			obj = add(m.pdbs, name)
		case "networking.k8s.io/v1/NetworkPolicy":
			obj = add(m.netpols, name)
		case "networking.k8s.io/v1/Ingress":
			obj = add(m.ingresses, name)
		case "keda.sh/v1alpha1/ScaledObject":
			obj = add(m.scaledObjects, name)
		case "keda.sh/v1alpha1/TriggerAuthentication":
			obj = add(m.triggerAuths, name)
		case "v1/Secret":
			t.Errorf("%s: Secret %s is in the manifests: secrets are created out of band (%s), never committed", dir, name, secretExample)
			continue
		default:
			t.Errorf("%s: %s %s: a kind this test does not know; add its Go type to build()", dir, kind, name)
			continue
		}
		if err := decodeStrict(data, obj); err != nil {
			t.Errorf("%s: %s %s: %v", dir, kind, name, err)
		}
	}
	return m
}

// add makes a new object in byName and returns it to be decoded into.
func add[T any](byName map[string]*T, name string) *T {
	obj := new(T)
	byName[name] = obj
	return obj
}

// decodeStrict decodes YAML as the API server's strict field validation
// does: field names matched exactly (encoding/json would take
// "minreplicacount"), unknown and duplicated fields refused.
func decodeStrict(data []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		var msgs []string
		for _, e := range strict {
			msgs = append(msgs, e.Error())
		}
		return fmt.Errorf("strict decoding: %s", strings.Join(msgs, "; "))
	}
	return nil
}

func TestKubernetes(t *testing.T) {
	f := sourceFacts(t)
	secretKeys := readSecretExample(t)
	for _, dir := range kustomizations(t) {
		name, _ := filepath.Rel(k8sDir, dir)
		t.Run(name, func(t *testing.T) {
			m := build(t, dir)
			overlay := strings.HasPrefix(name, "overlays")
			t.Run("references", func(t *testing.T) { m.checkReferences(t) })
			t.Run("api", func(t *testing.T) { m.checkAPI(t, f) })
			t.Run("worker", func(t *testing.T) { m.checkWorker(t, f) })
			t.Run("scaling", func(t *testing.T) { m.checkScaling(t, f) })
			t.Run("network", func(t *testing.T) { m.checkNetwork(t, f, overlay) })
			t.Run("configuration", func(t *testing.T) { m.checkConfiguration(t, f, secretKeys, overlay) })
		})
	}
}

// deployment returns the named Deployment and its one container.
func (m *manifests) deployment(t *testing.T, name string) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d := m.deployments[name]
	if d == nil {
		t.Fatalf("no Deployment %s", name)
	}
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment %s: %d containers, want 1", name, n)
	}
	return d, &d.Spec.Template.Spec.Containers[0]
}

// env returns the configuration a container starts with: its ConfigMaps'
// data under its own env values, as the kubelet sets them. Values from
// Secrets are left out.
func (m *manifests) env(t *testing.T, c *corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		cm := m.configMaps[from.ConfigMapRef.Name]
		if cm == nil {
			t.Fatalf("container %s: no ConfigMap %s", c.Name, from.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// containerPort resolves a probe's or Service's port, by name or number,
// among c's ports.
func containerPort(t *testing.T, c *corev1.Container, port intstr.IntOrString) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if port.Type == intstr.String && p.Name == port.StrVal || port.Type == intstr.Int && p.ContainerPort == port.IntVal {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %s", c.Name, port.String())
	return 0
}

// checkReferences: every name one object gives another resolves, and every
// selector selects the pods it is meant for.
func (m *manifests) checkReferences(t *testing.T) {
	for name, d := range m.deployments {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: its selector does not select its own pods (%v)", name, err)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			m.env(t, &c) // every ConfigMap it names exists
		}
	}
	selects := func(what string, sel labels.Selector) *appsv1.Deployment {
		for _, d := range m.deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				return d
			}
		}
		t.Errorf("%s selects no Deployment's pods", what)
		return nil
	}
	for name, s := range m.services {
		d := selects("Service "+name, labels.SelectorFromSet(s.Spec.Selector))
		if d == nil {
			continue
		}
		for _, p := range s.Spec.Ports {
			containerPort(t, &d.Spec.Template.Spec.Containers[0], p.TargetPort)
		}
	}
	for name, p := range m.pdbs {
		if sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err != nil {
			t.Errorf("PodDisruptionBudget %s: %v", name, err)
		} else {
			selects("PodDisruptionBudget "+name, sel)
		}
	}
	for name, np := range m.netpols {
		if sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); err != nil {
			t.Errorf("NetworkPolicy %s: %v", name, err)
		} else {
			selects("NetworkPolicy "+name, sel)
		}
	}
	for name, ing := range m.ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, path := range rule.HTTP.Paths {
				backend := path.Backend.Service
				s := m.services[backend.Name]
				if s == nil {
					t.Errorf("Ingress %s: no Service %s", name, backend.Name)
					continue
				}
				if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool {
					return p.Name == backend.Port.Name && backend.Port.Name != "" || p.Port == backend.Port.Number && backend.Port.Number != 0
				}) {
					t.Errorf("Ingress %s: Service %s has no port %+v", name, backend.Name, backend.Port)
				}
			}
		}
	}
	for name, so := range m.scaledObjects {
		target := so.Spec.ScaleTargetRef
		if target == nil || (target.Kind != "" && target.Kind != "Deployment") || m.deployments[target.Name] == nil {
			t.Errorf("ScaledObject %s: its scaleTargetRef %+v is no Deployment here", name, target)
		}
		for _, tr := range so.Spec.Triggers {
			if ref := tr.AuthenticationRef; ref != nil && m.triggerAuths[ref.Name] == nil {
				t.Errorf("ScaledObject %s: trigger %s: no TriggerAuthentication %s", name, tr.Type, ref.Name)
			}
		}
	}
}

// checkProcessPod checks what the api and the worker pods share: probes
// on the health endpoints at the port the process listens on, a rolling
// update that never lowers capacity, a locked-down container, resources.
func (m *manifests) checkProcessPod(t *testing.T, f facts, name, addrVar string) (*appsv1.Deployment, *corev1.Container, map[string]string) {
	d, c := m.deployment(t, name)
	env := m.env(t, c)
	healthPort := f.port(t, env, addrVar)
	for what, probe := range map[string]struct {
		p    *corev1.Probe
		path string
	}{
		"readinessProbe": {c.ReadinessProbe, "/readyz"},
		"livenessProbe":  {c.LivenessProbe, "/healthz"},
		"startupProbe":   {c.StartupProbe, "/healthz"},
	} {
		if probe.p == nil || probe.p.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s", name, what)
			continue
		}
		if got := probe.p.HTTPGet.Path; got != probe.path {
			t.Errorf("%s: %s on %s, want %s", name, what, got, probe.path)
		}
		if got := containerPort(t, c, probe.p.HTTPGet.Port); got != healthPort {
			t.Errorf("%s: %s on port %d, but %s is %d", name, what, got, addrVar, healthPort)
		}
	}
	if metrics, ok := env["CODERUNNER_METRICS_ADDR"]; ok && metrics != "" {
		metricsPort := f.port(t, env, "CODERUNNER_METRICS_ADDR")
		if containerPort(t, c, intstr.FromString("metrics")) != metricsPort {
			t.Errorf("%s: port \"metrics\" is not CODERUNNER_METRICS_ADDR's %d", name, metricsPort)
		}
	}

	s := d.Spec.Strategy
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
		s.RollingUpdate.MaxUnavailable == nil || s.RollingUpdate.MaxUnavailable.IntValue() != 0 ||
		s.RollingUpdate.MaxSurge == nil || s.RollingUpdate.MaxSurge.IntValue() < 1 {
		t.Errorf("%s: strategy %+v, want RollingUpdate with maxUnavailable 0 and maxSurge ≥ 1: the new pod is ready before an old one stops", name, s.RollingUpdate)
	}

	pod := d.Spec.Template.Spec
	psc, csc := pod.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532:
		t.Errorf("%s: pod must run as non-root uid 65532 (the app image's user)", name)
	case csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem:
		t.Errorf("%s: the root file system must be read-only", name)
	case csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation:
		t.Errorf("%s: allowPrivilegeEscalation must be false", name)
	case csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0:
		t.Errorf("%s: capabilities must drop ALL and add none", name)
	case csc.Privileged != nil && *csc.Privileged:
		t.Errorf("%s: privileged", name)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("%s: no %s request", name, r)
		}
		if _, ok := c.Resources.Limits[r]; !ok && r == corev1.ResourceMemory {
			t.Errorf("%s: no memory limit", name)
		}
	}
	return d, c, env
}

func (m *manifests) checkAPI(t *testing.T, f facts) {
	d, c, _ := m.checkProcessPod(t, f, apiName, "CODERUNNER_ADDR")
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("%s: %v replicas, want at least 2", apiName, d.Spec.Replicas)
	}
	if !slices.Contains(c.Args, "api") {
		t.Errorf("%s: args %q do not run `coderunner api`", apiName, c.Args)
	}
	// After preStop, the process lets requests in flight finish for up
	// to shutdownGrace: SIGKILL must not come sooner.
	var preStop int64
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = c.Lifecycle.PreStop.Sleep.Seconds
	} else {
		t.Errorf("%s: no preStop sleep: a stopping replica would refuse requests the proxies still send it", apiName)
	}
	if grace := terminationGrace(d); grace < preStop+int64(f.shutdownGrace.Seconds()) {
		t.Errorf("%s: terminationGracePeriodSeconds %d < preStop %d s + the server's %s for requests in flight", apiName, grace, preStop, f.shutdownGrace)
	}
	var pdb *policyv1.PodDisruptionBudget
	for _, p := range m.pdbs {
		if sel, _ := metav1.LabelSelectorAsSelector(p.Spec.Selector); sel != nil && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			pdb = p
		}
	}
	if pdb == nil || pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 {
		t.Errorf("%s: no PodDisruptionBudget keeping at least one replica", apiName)
	}
	if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
		t.Errorf("%s: no topology spread: both replicas could land on one node", apiName)
	}
}

func (m *manifests) checkWorker(t *testing.T, f facts) {
	d, c, env := m.checkProcessPod(t, f, workerName, "CODERUNNER_WORKER_ADDR")
	if !slices.Contains(c.Args, "worker") {
		t.Errorf("%s: args %q do not run `coderunner worker`", workerName, c.Args)
	}
	if d.Spec.Replicas != nil {
		t.Errorf("%s: replicas set to %d: KEDA owns the count, and every apply would reset it", workerName, *d.Spec.Replicas)
	}
	// The worker lets its runs finish for CODERUNNER_GRACE, then shuts
	// down; killed sooner, its runs are run again elsewhere.
	grace := f.duration(t, env, "CODERUNNER_GRACE")
	if got := terminationGrace(d); float64(got) < (grace + f.shutdownGrace).Seconds() {
		t.Errorf("%s: terminationGracePeriodSeconds %d, want at least CODERUNNER_GRACE (%s) + %s to shut down", workerName, got, grace, f.shutdownGrace)
	}
	// The engine: the node's socket, on the dedicated runner nodes.
	pod := d.Spec.Template.Spec
	socket := ""
	for _, v := range pod.Volumes {
		if v.HostPath != nil && strings.HasSuffix(v.HostPath.Path, "docker.sock") {
			for _, mnt := range c.VolumeMounts {
				if mnt.Name == v.Name {
					socket = mnt.MountPath
				}
			}
		}
	}
	if socket == "" {
		t.Errorf("%s: the node's Docker socket is not mounted", workerName)
	} else if host, ok := env["DOCKER_HOST"]; ok && host != "unix://"+socket {
		t.Errorf("%s: DOCKER_HOST %q, but the socket is mounted at %s", workerName, host, socket)
	}
	// One worker per node (docs/cost.md: each meters its whole host).
	if a := pod.Affinity; a == nil || a.PodAntiAffinity == nil || !slices.ContainsFunc(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
		func(term corev1.PodAffinityTerm) bool {
			sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
			return err == nil && term.TopologyKey == "kubernetes.io/hostname" && sel.Matches(labels.Set(d.Spec.Template.Labels))
		}) {
		t.Errorf("%s: no required anti-affinity keeping workers one to a node", workerName)
	}
	if pod.NodeSelector["coderunner.io/runner"] == "" ||
		!slices.ContainsFunc(pod.Tolerations, func(tol corev1.Toleration) bool { return tol.Key == "coderunner.io/runner" }) {
		t.Errorf("%s: not confined to the runner nodes (node selector and toleration coderunner.io/runner)", workerName)
	}
}

func (m *manifests) checkScaling(t *testing.T, f facts) {
	so := m.scaledObjects[workerName]
	if so == nil {
		t.Fatalf("no ScaledObject %s", workerName)
	}
	if so.Spec.ScaleTargetRef == nil || so.Spec.ScaleTargetRef.Name != workerName {
		t.Errorf("ScaledObject %s scales %+v, want the worker Deployment", workerName, so.Spec.ScaleTargetRef)
	}
	// KEDA's defaults: 0 (scale to zero) and 100.
	lo, hi := int32(0), int32(100)
	if so.Spec.MinReplicaCount != nil {
		lo = *so.Spec.MinReplicaCount
	}
	if so.Spec.MaxReplicaCount != nil {
		hi = *so.Spec.MaxReplicaCount
	}
	if lo < 1 || hi < lo {
		t.Errorf("ScaledObject %s: %d to %d replicas: want at least 1 (a run after an idle spell must not wait for a pod) and max ≥ min", workerName, lo, hi)
	}
	byType := map[string]keda.ScaleTriggers{}
	for _, tr := range so.Spec.Triggers {
		if _, dup := byType[tr.Type]; dup {
			t.Errorf("two %s triggers", tr.Type)
		}
		byType[tr.Type] = tr
		allowed := triggerMetadata[tr.Type]
		if allowed == nil {
			t.Errorf("trigger type %s: not one this test knows", tr.Type)
			continue
		}
		for k := range tr.Metadata {
			if !allowed[k] {
				t.Errorf("trigger %s: metadata %q is not a parameter of KEDA's %s scaler (a misspelt one is ignored, and the scaler falls back to its defaults)", tr.Type, k, tr.Type)
			}
		}
	}

	lag, ok := byType["redis-streams"]
	if !ok {
		t.Errorf("no redis-streams trigger")
	} else {
		md := lag.Metadata
		// With a consumer group, KEDA measures the group's lag only when
		// lagCount is set; otherwise it counts the pending entries —
		// runs being carried out, not runs waiting.
		if n, err := strconv.Atoi(md["lagCount"]); err != nil || n < 1 {
			t.Errorf("redis-streams: lagCount %q, want a positive count (lag mode)", md["lagCount"])
		}
		for _, k := range []string{"pendingEntriesCount", "streamLength"} {
			if _, ok := md[k]; ok {
				t.Errorf("redis-streams: %s set: the trigger must scale on the group's lag (lagCount) alone", k)
			}
		}
		if md["stream"] != f.stream || md["consumerGroup"] != f.group {
			t.Errorf("redis-streams: stream %q, consumer group %q; the workers read stream %q as group %q (broker/redis)", md["stream"], md["consumerGroup"], f.stream, f.group)
		}
		if lag.AuthenticationRef == nil {
			t.Errorf("redis-streams: no authenticationRef for Redis's password")
		}
	}

	wait, ok := byType["prometheus"]
	if !ok {
		t.Errorf("no prometheus trigger")
	} else {
		q := strings.Join(strings.Fields(wait.Metadata["query"]), " ")
		if !strings.HasPrefix(q, "histogram_quantile(0.95,") || !strings.Contains(q, "coderunner_queue_wait_seconds_bucket") || !strings.Contains(q, "by (le)") {
			t.Errorf("prometheus: query %q is not the p95 of coderunner_queue_wait_seconds", q)
		}
		if th, err := strconv.ParseFloat(wait.Metadata["threshold"], 64); err != nil || math.Abs(th-2) > 1e-9 {
			t.Errorf("prometheus: threshold %q, want 2 (seconds of p95 queue wait: the report's cue to add a runner)", wait.Metadata["threshold"])
		}
		if wait.MetricType != "Value" {
			t.Errorf("prometheus: metricType %q, want Value: a latency compared as it is, not divided by the worker count", wait.MetricType)
		}
		if u, err := url.Parse(wait.Metadata["serverAddress"]); err != nil || u.Scheme == "" || u.Host == "" {
			t.Errorf("prometheus: serverAddress %q is not a URL", wait.Metadata["serverAddress"])
		}
	}
	for name, ta := range m.triggerAuths {
		for _, ref := range ta.Spec.SecretTargetRef {
			if ref.Name == "" || ref.Key == "" || ref.Parameter == "" {
				t.Errorf("TriggerAuthentication %s: incomplete secretTargetRef %+v", name, ref)
			}
		}
	}
}

// triggerMetadata is what KEDA v2.21.0's scalers read from a trigger's
// metadata (pkg/scalers: redisStreamsMetadata with redisConnectionInfo,
// and prometheusMetadata, their `keda:"name=…"` tags; "…FromEnv" reads
// the target container's variable instead).
var triggerMetadata = map[string]map[string]bool{
	"redis-streams": set("address", "addresses", "host", "hosts", "port", "ports", "addressFromEnv", "hostFromEnv", "portFromEnv",
		"username", "usernameFromEnv", "passwordFromEnv", "stream", "consumerGroup", "pendingEntriesCount", "streamLength",
		"lagCount", "activationLagCount", "databaseIndex", "enableTLS", "unsafeSsl"),
	"prometheus": set("serverAddress", "query", "queryParameters", "threshold", "activationThreshold", "namespace",
		"customHeaders", "ignoreNullValues", "unsafeSsl", "awsRegion", "timeout", "identityOwner", "authModes"),
}

func set(names ...string) map[string]bool {
	s := map[string]bool{}
	for _, n := range names {
		s[n] = true
	}
	return s
}

// checkNetwork: the NetworkPolicies let in only what the README's
// processes need, on the ports they listen on.
func (m *manifests) checkNetwork(t *testing.T, f facts, overlay bool) {
	for _, name := range []string{apiName, workerName} {
		d, c := m.deployment(t, name)
		var np *networkingv1.NetworkPolicy
		for _, p := range m.netpols {
			if sel, _ := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector); sel != nil && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				np = p
			}
		}
		if np == nil {
			t.Errorf("%s: no NetworkPolicy selects its pods", name)
			continue
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			t.Errorf("NetworkPolicy %s: policyTypes %v, want both Ingress and Egress", np.Name, np.Spec.PolicyTypes)
		}
		// Ports let in: every one must be a port the container has;
		// workers let in nothing but their metrics.
		var in []int32
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 || len(rule.Ports) == 0 {
				t.Errorf("NetworkPolicy %s: an ingress rule open to any peer or any port", np.Name)
			}
			for _, p := range rule.Ports {
				in = append(in, containerPort(t, c, *p.Port))
			}
		}
		env := m.env(t, c)
		metrics := f.port(t, env, "CODERUNNER_METRICS_ADDR")
		if name == workerName && !slices.Equal(in, []int32{metrics}) {
			t.Errorf("NetworkPolicy %s lets in ports %v: nothing may reach a worker but a scrape of its metrics (%d)", np.Name, in, metrics)
		}
		if name == apiName && (!slices.Contains(in, f.port(t, env, "CODERUNNER_ADDR")) || !slices.Contains(in, metrics)) {
			t.Errorf("NetworkPolicy %s lets in ports %v: want the API's and the metrics'", np.Name, in)
		}
		// Out: DNS, Redis and MongoDB, each to named peers on its port; an
		// overlay may add HTTPS to named peers, for SENTRY_DSN's host or
		// CODERUNNER_CDN_PURGE_URL's (docs/deploy.md).
		reaches := map[int32]bool{}
		for _, rule := range np.Spec.Egress {
			if len(rule.To) == 0 || len(rule.Ports) == 0 {
				t.Errorf("NetworkPolicy %s: an egress rule open to any peer or any port", np.Name)
			}
			for _, p := range rule.Ports {
				port := p.Port.IntVal
				reaches[port] = true
				if port != 53 && port != 6379 && port != 27017 && (!overlay || port != 443) {
					t.Errorf("NetworkPolicy %s lets out port %s: only DNS, Redis and MongoDB (and, in an overlay, HTTPS to named peers)", np.Name, p.Port)
				}
			}
		}
		if !reaches[53] || !reaches[6379] || !reaches[27017] {
			t.Errorf("NetworkPolicy %s: %s cannot reach DNS (53), Redis (6379) and MongoDB (27017)", np.Name, name)
		}
	}
}

// checkConfiguration: every variable the pods are given exists (the
// docs/configuration.md's table), secrets come from the Secret and nowhere else, and an
// overlay pins what it deploys.
func (m *manifests) checkConfiguration(t *testing.T, f facts, secretKeys map[string]bool, overlay bool) {
	for name, cm := range m.configMaps {
		for k, v := range cm.Data {
			if !f.documented[k] {
				t.Errorf("ConfigMap %s: %s is not in docs/configuration.md's table", name, k)
			}
			if secretKeys[k] || looksSecret(v) {
				t.Errorf("ConfigMap %s: %s holds a secret: it belongs in the Secret (%s)", name, k, secretExample)
			}
		}
	}
	used := map[string]bool{}
	for name, d := range m.deployments {
		c := &d.Spec.Template.Spec.Containers[0]
		for _, e := range c.Env {
			if !f.documented[e.Name] {
				t.Errorf("%s: %s is not in docs/configuration.md's table", name, e.Name)
			}
			switch {
			case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				ref := e.ValueFrom.SecretKeyRef
				used[ref.Key] = true
				if !secretKeys[ref.Key] {
					t.Errorf("%s: %s reads key %s of Secret %s, which %s does not list", name, e.Name, ref.Key, ref.Name, secretExample)
				}
			case secretKeys[e.Name] || looksSecret(e.Value):
				t.Errorf("%s: %s is written into the manifest: take it from the Secret (secretKeyRef)", name, e.Name)
			}
		}
		env := m.env(t, c)
		if overlay {
			if !pinned(c.Image) {
				t.Errorf("%s: image %q is not pinned by digest (kustomize images:)", name, c.Image)
			}
			if env["CODERUNNER_ENV"] == "production" {
				for _, req := range f.requiredInProduction {
					if env[req] == "" && !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == req && e.ValueFrom != nil }) {
						t.Errorf("%s: CODERUNNER_ENV=production needs %s, which nothing sets", name, req)
					}
				}
			}
		}
	}
	for _, ta := range m.triggerAuths {
		for _, ref := range ta.Spec.SecretTargetRef {
			used[ref.Key] = true
			if !secretKeys[ref.Key] {
				t.Errorf("TriggerAuthentication %s reads key %s, which %s does not list", ta.Name, ref.Key, secretExample)
			}
		}
	}
	for _, so := range m.scaledObjects {
		for _, tr := range so.Spec.Triggers {
			for k, v := range tr.Metadata {
				if strings.Contains(strings.ToLower(k), "password") && !strings.HasSuffix(k, "FromEnv") || looksSecret(v) {
					t.Errorf("ScaledObject %s: trigger %s: %s holds a secret: use the TriggerAuthentication", so.Name, tr.Type, k)
				}
			}
		}
	}
	for k := range secretKeys {
		if !used[k] {
			t.Errorf("%s lists %s, which nothing reads", secretExample, k)
		}
	}
	if overlay {
		_, c := m.deployment(t, workerName)
		if img := m.env(t, c)["CODERUNNER_SANDBOX_IMAGE"]; !pinned(img) {
			t.Errorf("%s: CODERUNNER_SANDBOX_IMAGE %q: workers must pull the sandbox image by digest (REPO@sha256:…)", workerName, img)
		}
	}
}

var digestRef = regexp.MustCompile(`^[a-z0-9][^@\s]*@sha256:[0-9a-f]{64}$`)

// pinned reports whether an image reference names its image by digest.
func pinned(ref string) bool { return digestRef.MatchString(ref) }

// looksSecret reports whether a literal value carries a credential: a URL
// with a password in it.
func looksSecret(v string) bool {
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return false
	}
	_, has := u.User.Password()
	return has
}

// readSecretExample returns the keys the example Secret documents.
func readSecretExample(t *testing.T) map[string]bool {
	file, err := os.Open(secretExample)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	keys := map[string]bool{}
	scan := bufio.NewScanner(file)
	for scan.Scan() {
		line := strings.TrimSpace(scan.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=value", secretExample, line)
		}
		keys[k] = true
	}
	if err := scan.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

func terminationGrace(d *appsv1.Deployment) int64 {
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}
