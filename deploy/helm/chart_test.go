// Package helm tests the llm-router Helm chart with Helm's own library: load,
// lint, render with several values files, validate every rendered manifest
// against the Kubernetes API types (strict: an unknown or misplaced field
// fails), and compare the output with testdata/*.golden (go test -update
// rewrites them).
//
// It is a module of its own so that Helm's and Kubernetes' dependency tree
// stays out of the router's go.mod.
package helm

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the rendered chart")

const chartDir = "llm-router"

// manifests is one render: the typed objects by kind, and the raw text.
type manifests struct {
	text           string
	deployment     *appsv1.Deployment
	service        *corev1.Service
	configMap      *corev1.ConfigMap
	secret         *corev1.Secret
	serviceAccount *corev1.ServiceAccount
	ingress        *networkingv1.Ingress
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	pdb            *policyv1.PodDisruptionBudget
	serviceMonitor *monitoringv1.ServiceMonitor
}

func loadValues(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	v, err := loader.LoadValues(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return v
}

// render renders the chart as `helm template demo llm-router -n llm -f file`
// would, schema validation included.
func render(t *testing.T, ch *chart.Chart, vals map[string]any) (map[string]string, error) {
	t.Helper()
	rv, err := util.ToRenderValuesWithSchemaValidation(ch, vals, common.ReleaseOptions{
		Name: "demo", Namespace: "llm", Revision: 1, IsInstall: true,
	}, nil, false)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rv)
}

// decode validates each rendered manifest against its Kubernetes type.
func decode(t *testing.T, out map[string]string) manifests {
	t.Helper()
	var m manifests
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	var text strings.Builder
	for _, n := range names {
		body := strings.TrimSpace(out[n])
		if strings.HasSuffix(n, "NOTES.txt") || body == "" {
			continue
		}
		fmt.Fprintf(&text, "---\n# Source: %s\n%s\n", n, body)
		for _, doc := range strings.Split(body, "\n---\n") {
			var meta struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s is not YAML: %v\n%s", n, err, doc)
			}
			var target any
			switch meta.APIVersion + " " + meta.Kind {
			case "apps/v1 Deployment":
				m.deployment = &appsv1.Deployment{}
				target = m.deployment
			case "v1 Service":
				m.service = &corev1.Service{}
				target = m.service
			case "v1 ConfigMap":
				m.configMap = &corev1.ConfigMap{}
				target = m.configMap
			case "v1 Secret":
				m.secret = &corev1.Secret{}
				target = m.secret
			case "v1 ServiceAccount":
				m.serviceAccount = &corev1.ServiceAccount{}
				target = m.serviceAccount
			case "networking.k8s.io/v1 Ingress":
				m.ingress = &networkingv1.Ingress{}
				target = m.ingress
			case "autoscaling/v2 HorizontalPodAutoscaler":
				m.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
				target = m.hpa
			case "policy/v1 PodDisruptionBudget":
				m.pdb = &policyv1.PodDisruptionBudget{}
				target = m.pdb
			case "monitoring.coreos.com/v1 ServiceMonitor":
				m.serviceMonitor = &monitoringv1.ServiceMonitor{}
				target = m.serviceMonitor
			default:
				t.Fatalf("%s: unexpected %s %s", n, meta.APIVersion, meta.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
				t.Fatalf("%s does not match the %s schema: %v\n%s", n, meta.Kind, err, doc)
			}
		}
	}
	m.text = text.String()
	return m
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("rendered chart differs from %s (go test -update rewrites it after a deliberate change):\n%s", path, diff(string(want), got))
	}
}

// diff shows the first differing line with some context.
func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, x, y)
		}
	}
	return ""
}

func container(t *testing.T, m manifests) corev1.Container {
	t.Helper()
	if m.deployment == nil || len(m.deployment.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("no Deployment with one container")
	}
	return m.deployment.Spec.Template.Spec.Containers[0]
}

func env(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func TestLintDefault(t *testing.T) {
	l := lint.RunAll(chartDir, map[string]any{}, "llm")
	for _, msg := range l.Messages {
		t.Logf("lint: %s", msg)
	}
	if l.HighestSeverity >= support.WarningSev {
		t.Errorf("helm lint: highest severity %d", l.HighestSeverity)
	}
}

func TestRender(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Schema == nil {
		t.Fatal("the chart has no values.schema.json")
	}
	for _, tc := range []struct {
		name, values string
		check        func(t *testing.T, m manifests)
	}{
		{"default", "", func(t *testing.T, m manifests) {
			c := container(t, m)
			d := m.deployment
			if *d.Spec.Replicas != 1 {
				t.Errorf("replicas %d", *d.Spec.Replicas)
			}
			if p := c.ReadinessProbe.HTTPGet; p == nil || p.Path != "/api/health" || p.Port.StrVal != "http" {
				t.Errorf("readiness probe %+v, want GET /api/health", c.ReadinessProbe)
			}
			if p := c.LivenessProbe.HTTPGet; p == nil || p.Path != "/api/ping" {
				t.Errorf("liveness probe %+v, want GET /api/ping", c.LivenessProbe)
			}
			sc, psc := c.SecurityContext, d.Spec.Template.Spec.SecurityContext
			if sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot ||
				len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
				t.Errorf("container security context %+v", sc)
			}
			if psc == nil || !*psc.RunAsNonRoot || *psc.RunAsUser != 65532 || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod security context %+v", psc)
			}
			mounts := map[string]string{}
			for _, vm := range c.VolumeMounts {
				mounts[vm.MountPath] = vm.Name
			}
			vols := map[string]corev1.Volume{}
			for _, v := range d.Spec.Template.Spec.Volumes {
				vols[v.Name] = v
			}
			for _, p := range []string{"/var/lib/llm-router", "/tmp"} {
				if v, ok := vols[mounts[p]]; !ok || v.EmptyDir == nil {
					t.Errorf("%s is not an emptyDir under the read-only root: %+v", p, v)
				}
			}
			if v := vols[mounts["/etc/llm-router"]]; v.Projected == nil || v.Projected.Sources[0].ConfigMap.Name != "demo-llm-router" {
				t.Errorf("/etc/llm-router is not the ConfigMap: %+v", v)
			}
			if want := []string{"run", "--config", "/etc/llm-router/Caddyfile", "--adapter", "caddyfile"}; strings.Join(c.Args, " ") != strings.Join(want, " ") {
				t.Errorf("args %q", c.Args)
			}
			if d.Spec.Template.Annotations["checksum/config"] == "" {
				t.Error("no checksum/config annotation")
			}
			var mc map[string]any
			if err := json.Unmarshal([]byte(m.configMap.Data["models-config.json"]), &mc); err != nil || mc["active_models"] == nil {
				t.Errorf("models-config.json in the ConfigMap: %v\n%s", err, m.configMap.Data["models-config.json"])
			}
			if cf := m.configMap.Data["Caddyfile"]; !strings.Contains(cf, "models_config /etc/llm-router/models-config.json") || !strings.Contains(cf, ":9090 {\n\tmetrics\n}") {
				t.Errorf("Caddyfile:\n%s", cf)
			}
			if m.secret != nil || m.ingress != nil || m.hpa != nil || m.pdb != nil || m.serviceMonitor != nil {
				t.Error("optional objects rendered by default")
			}
			if len(m.service.Spec.Ports) != 2 || m.service.Spec.Ports[0].Port != 8080 || m.service.Spec.Ports[1].Name != "metrics" {
				t.Errorf("service ports %+v", m.service.Spec.Ports)
			}
			for _, name := range []string{"LLM_ROUTER_REDIS_HOST", "LLM_ROUTER_REDIS_SENTINELS", "LLM_ROUTER_REDIS_CLUSTER"} {
				if _, ok := env(c)[name]; ok {
					t.Errorf("%s set without Redis", name)
				}
			}
		}},
		{"redis", "redis.yaml", func(t *testing.T, m manifests) {
			e := env(container(t, m))
			if e["LLM_ROUTER_REDIS_HOST"].Value != "redis-master.data.svc" || e["LLM_ROUTER_REDIS_PORT"].Value != "6380" ||
				e["LLM_ROUTER_REDIS_DB"].Value != "2" || e["LLM_ROUTER_REDIS_TLS"].Value != "true" {
				t.Errorf("redis env %+v", e)
			}
			pw := e["LLM_ROUTER_REDIS_PASSWORD"]
			if pw.Value != "" || pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef.Name != "demo-llm-router" || pw.ValueFrom.SecretKeyRef.Key != "redis-password" {
				t.Errorf("password must come from the Secret: %+v", pw)
			}
			if m.secret == nil || string(m.secret.Data["redis-password"]) != "s3cret-redis" || string(m.secret.Data["OPENAI_API_KEY"]) != "sk-test" {
				t.Errorf("secret %+v", m.secret)
			}
			if strings.Contains(m.text, "s3cret-redis") || strings.Contains(m.text, "sk-test") {
				t.Error("a secret appears in plain text in the manifests")
			}
			if mc := m.configMap.Data["models-config.json"]; strings.Contains(mc, "ollama") || !strings.Contains(mc, "gpt-4o-mini") {
				t.Errorf("modelsConfig must replace the example, not merge with it:\n%s", mc)
			}
			if tok := e["OPENAI_API_KEY"]; tok.ValueFrom == nil || tok.ValueFrom.SecretKeyRef.Key != "OPENAI_API_KEY" {
				t.Errorf("provider token env %+v", tok)
			}
			if e["LLM_ROUTER_AUTH_ENABLED"].Value != "true" || e["LLM_ROUTER_AUTH_KEYS_FILE"].Value != "/etc/llm-router/keys.json" {
				t.Errorf("auth env %+v", e)
			}
			var keys bool
			for _, v := range m.deployment.Spec.Template.Spec.Volumes {
				if v.Projected != nil {
					for _, s := range v.Projected.Sources {
						keys = keys || (s.Secret != nil && s.Secret.Items[0].Key == "keys.json")
					}
				}
			}
			if !keys || !strings.Contains(string(m.secret.Data["keys.json"]), `"keys"`) {
				t.Error("keys.json is not mounted from the Secret")
			}
			if *m.deployment.Spec.Replicas != 3 || m.pdb == nil || m.pdb.Spec.MinAvailable.IntValue() != 2 {
				t.Errorf("replicas %d, pdb %+v", *m.deployment.Spec.Replicas, m.pdb)
			}
			if m.serviceMonitor == nil || m.serviceMonitor.Spec.Endpoints[0].Port != "metrics" || m.serviceMonitor.Labels["release"] != "prometheus" {
				t.Errorf("service monitor %+v", m.serviceMonitor)
			}
		}},
		{"sentinel", "sentinel.yaml", func(t *testing.T, m manifests) {
			e := env(container(t, m))
			if e["LLM_ROUTER_REDIS_SENTINELS"].Value != "sentinel-0.redis:26379,sentinel-1.redis:26379,sentinel-2.redis:26379" ||
				e["LLM_ROUTER_REDIS_MASTER_NAME"].Value != "llm" {
				t.Errorf("sentinel env %+v", e)
			}
			if _, ok := e["LLM_ROUTER_REDIS_HOST"]; ok {
				t.Error("LLM_ROUTER_REDIS_HOST set in sentinel mode")
			}
			pw := e["LLM_ROUTER_REDIS_PASSWORD"]
			if pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef.Name != "llm-router-secrets" || pw.ValueFrom.SecretKeyRef.Key != "redis-password" {
				t.Errorf("password %+v", pw)
			}
			if tok := e["ANTHROPIC_API_KEY"]; tok.ValueFrom == nil || tok.ValueFrom.SecretKeyRef.Name != "llm-router-secrets" {
				t.Errorf("token from the existing secret: %+v", tok)
			}
			if m.secret != nil {
				t.Error("a Secret rendered although existingSecret is set")
			}
		}},
		{"cluster", "cluster.yaml", func(t *testing.T, m manifests) {
			e := env(container(t, m))
			if e["LLM_ROUTER_REDIS_CLUSTER"].Value != "redis-0:6379,redis-1:6379,redis-2:6379" {
				t.Errorf("cluster env %+v", e)
			}
			if _, ok := e["LLM_ROUTER_REDIS_PASSWORD"]; ok {
				t.Error("a password env without a password")
			}
		}},
		{"ingress-hpa", "ingress-hpa.yaml", func(t *testing.T, m manifests) {
			if m.deployment.Spec.Replicas != nil {
				t.Error("replicas set although the HPA owns them")
			}
			if m.hpa == nil || m.hpa.Spec.MinReplicas == nil || *m.hpa.Spec.MinReplicas != 2 || m.hpa.Spec.MaxReplicas != 8 ||
				len(m.hpa.Spec.Metrics) != 2 || m.hpa.Spec.ScaleTargetRef.Name != "demo-llm-router" {
				t.Errorf("hpa %+v", m.hpa)
			}
			ing := m.ingress
			if ing == nil || *ing.Spec.IngressClassName != "nginx" || ing.Spec.Rules[0].Host != "llm.example.com" ||
				ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name != "http" || ing.Spec.TLS[0].SecretName != "llm-tls" {
				t.Errorf("ingress %+v", ing)
			}
			c := container(t, m)
			if p := c.ReadinessProbe.HTTPGet.Path; p != "/router/health" {
				t.Errorf("readiness path %s with prefix /router", p)
			}
			if env(c)["GOGC"].Value != "400" {
				t.Errorf("router.env not passed: %+v", c.Env)
			}
			if len(m.service.Spec.Ports) != 1 {
				t.Errorf("metrics port with metrics disabled: %+v", m.service.Spec.Ports)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := loadValues(t, tc.values)
			if l := lint.RunAll(chartDir, vals, "llm"); l.HighestSeverity >= support.WarningSev {
				t.Errorf("helm lint -f %s: %v", tc.values, l.Messages)
			}
			out, err := render(t, ch, vals)
			if err != nil {
				t.Fatal(err)
			}
			m := decode(t, out)
			tc.check(t, m)
			golden(t, tc.name, m.text)
		})
	}
}

// TestChecksumRollsPods: a changed models-config or Secret changes the pod
// template, so the Deployment rolls.
func TestChecksumRollsPods(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	annotations := func(vals map[string]any) map[string]string {
		out, err := render(t, ch, vals)
		if err != nil {
			t.Fatal(err)
		}
		return decode(t, out).deployment.Spec.Template.Annotations
	}
	base := annotations(map[string]any{})
	changed := annotations(map[string]any{"modelsConfig": map[string]any{
		"m": map[string]any{}, "active_models": map[string]any{"m": []any{}},
	}})
	if base["checksum/config"] == changed["checksum/config"] {
		t.Error("checksum/config unchanged after a models-config change")
	}
	tokens := annotations(map[string]any{"secrets": map[string]any{"providerTokens": map[string]any{"TOKEN": "a"}}})
	tokens2 := annotations(map[string]any{"secrets": map[string]any{"providerTokens": map[string]any{"TOKEN": "b"}}})
	if tokens["checksum/secret"] == tokens2["checksum/secret"] {
		t.Error("checksum/secret unchanged after a token change")
	}
}

// TestInvalidValues: a wrong value fails lint and render with a message that
// names it.
func TestInvalidValues(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vals string
		want []string
	}{
		{"strategy", "router: {strategy: round_robin}", []string{"/router/strategy", "must be one of 'balanced'"}},
		{"sentinel without nodes", "redis: {mode: sentinel}", []string{"/redis/sentinel/nodes", "minItems: got 0, want 1"}},
		{"standalone without host", "redis: {mode: standalone}", []string{"/redis/host", "minLength"}},
		{"bad node", "redis: {mode: cluster, cluster: {nodes: [redis-0]}}", []string{"/redis/cluster/nodes/0", "'redis-0' does not match pattern"}},
		{"unknown key", "replicas: 3", []string{"additional properties 'replicas' not allowed"}},
		{"type", "replicaCount: two", []string{"/replicaCount", "got string, want integer"}},
		{"prefix", "router: {prefix: api}", []string{"/router/prefix", "'api' does not match pattern"}},
		{"redis key store without redis", "auth: {enabled: true, store: redis}", []string{"/redis/mode", "must be one of 'standalone'"}},
		{"port", "service: {port: 70000}", []string{"/service/port", "maximum"}},
		{"models without active_models", "modelsConfig: {m: {}}", []string{"/modelsConfig", "missing property 'active_models'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := loader.LoadValues(strings.NewReader(tc.vals))
			if err != nil {
				t.Fatal(err)
			}
			l := lint.RunAll(chartDir, vals, "llm")
			if l.HighestSeverity != support.ErrorSev {
				t.Fatalf("lint accepted %s: %v", tc.vals, l.Messages)
			}
			var msgs []string
			for _, m := range l.Messages {
				msgs = append(msgs, m.Error())
			}
			all := strings.Join(msgs, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("lint messages lack %q:\n%s", w, all)
				}
			}
			if _, err := render(t, ch, vals); err == nil {
				t.Errorf("render accepted %s", tc.vals)
			}
		})
	}
}
