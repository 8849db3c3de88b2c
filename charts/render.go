package charts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Options select one rendering of the chart. The zero value renders the chart's
// defaults into kube-system, as `helm template kvcsi charts/kvcsi -n kube-system`.
type Options struct {
	// ReleaseName is .Release.Name; default "kvcsi".
	ReleaseName string
	// Namespace is .Release.Namespace; default "kube-system".
	Namespace string
	// ManagedBy replaces .Release.Service (the app.kubernetes.io/managed-by
	// label); default "Helm".
	ManagedBy string
	// Values override values.yaml, merged as `helm --values` does.
	Values map[string]any
	// KubeVersion is .Capabilities.KubeVersion, e.g. "v1.37.2" (what the
	// target server reports); default Helm's offline default, as `helm template`.
	KubeVersion string
}

// File is one rendered template (or CRD file) of the chart.
type File struct {
	// Name is the path inside the chart, e.g. "templates/csidriver.yaml".
	Name    string
	Content string
}

// Rendering is a rendered chart: the CRDs first, then every non-empty template
// in name order.
type Rendering struct {
	Files []File
}

// Load reads the embedded chart.
func Load() (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(FS, ChartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := FS.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(p, ChartDir+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded chart: %w", err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load embedded chart: %w", err)
	}
	return c, nil
}

// Render renders the embedded chart with Helm's engine. Template failures (the
// chart's own value checks among them) come back as errors naming the value.
func Render(o Options) (*Rendering, error) {
	if o.ReleaseName == "" {
		o.ReleaseName = "kvcsi"
	}
	if o.Namespace == "" {
		o.Namespace = "kube-system"
	}
	c, err := Load()
	if err != nil {
		return nil, err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	if o.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(o.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("charts.Options.KubeVersion %q: %w", o.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	vals, err := chartutil.ToRenderValues(c, o.Values, chartutil.ReleaseOptions{
		Name: o.ReleaseName, Namespace: o.Namespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		if strings.Contains(err.Error(), "additional properties") {
			// values.schema.json names each key the chart does not have.
			return nil, fmt.Errorf("chart values: %w\n(kvcsi's chart has its own values, not those of upstream's secrets-store-csi-driver and csi-secrets-store-provider-azure charts: see docs/compatibility.md#chart-values for the mapping)", err)
		}
		return nil, fmt.Errorf("chart values: %w", err)
	}
	if o.ManagedBy != "" {
		vals["Release"].(map[string]any)["Service"] = o.ManagedBy
	}
	out, err := engine.Engine{Strict: true}.Render(c, vals)
	if err != nil {
		return nil, fmt.Errorf("render chart: %w", cleanTemplateError(err))
	}
	r := &Rendering{}
	for _, crd := range c.CRDObjects() {
		r.Files = append(r.Files, File{Name: strings.TrimPrefix(crd.Filename, c.Name()+"/"), Content: string(crd.File.Data)})
	}
	var names []string
	for name, content := range out {
		base := path.Base(name)
		if strings.HasPrefix(base, "_") || strings.HasSuffix(base, ".txt") || strings.TrimSpace(content) == "" {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r.Files = append(r.Files, File{Name: strings.TrimPrefix(name, c.Name()+"/"), Content: out[name]})
	}
	return r, nil
}

// cleanTemplateError keeps the message of a chart's `fail` call and drops the
// template stack Helm puts in front of it.
func cleanTemplateError(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, "error calling fail: "); i >= 0 {
		return errors.New(msg[i+len("error calling fail: "):])
	}
	return err
}

// Objects decodes every YAML document of the rendering, in install order
// (namespaces and CRDs first, workloads last).
func (r *Rendering) Objects() ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, f := range r.Files {
		docs, err := splitDocuments(f.Content)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		for _, d := range docs {
			j, err := yaml.YAMLToJSON(d)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			if t := bytes.TrimSpace(j); bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("{}")) {
				continue
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(j); err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
				return nil, fmt.Errorf("%s: document without apiVersion, kind or metadata.name", f.Name)
			}
			objs = append(objs, u)
		}
	}
	SortForInstall(objs)
	return objs, nil
}

func splitDocuments(s string) ([][]byte, error) {
	rd := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(s)))
	var docs [][]byte
	for {
		d, err := rd.Read()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
}

// SortForInstall orders objects as they must be applied: namespaces and CRDs
// first, workloads last (stable within a kind). Deletion runs it backwards.
func SortForInstall(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool { return kindOrder(objs[i].GetKind()) < kindOrder(objs[j].GetKind()) })
}

// installOrder is the order objects are applied in; deletion runs it backwards.
var installOrder = []string{
	"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
	"Role", "RoleBinding", "ConfigMap", "Secret", "CSIDriver", "Service", "DaemonSet", "Deployment",
}

func kindOrder(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	return len(installOrder)
}
