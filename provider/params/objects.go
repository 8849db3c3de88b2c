package params

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// objectFields are the keys of one object document, as upstream spells them.
var objectFields = []string{"objectName", "objectAlias", "objectType", "objectVersion", "objectFormat", "objectEncoding", "objectVersionHistory", "filePermission"}

// MaxFiles bounds the files one Mount may write, so that a SecretProviderClass
// cannot make the provider (or the driver) hold millions of files.
const MaxFiles = 10000

// ParseObjects parses the objects parameter: a YAML mapping with key
// "array" whose items are YAML documents (usually block strings) describing
// one object each. defaultMode is the mode for objects without filePermission.
// Scalars are read as raw text, so filePermission 0644 stays octal text
// rather than becoming YAML 1.1's integer 420.
func ParseObjects(raw string, defaultMode os.FileMode) ([]Object, error) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(raw), &root); err != nil {
		return nil, errf("objects", "failed to unmarshal objects, error: %v; objects must be YAML with an 'array:' list", err)
	}
	doc := docNode(&root)
	if doc == nil || doc.Kind != yaml.MappingNode {
		return nil, errf("objects", "objects must be a YAML mapping with key 'array:' holding a list of object documents")
	}
	var arr *yaml.Node
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == "array" {
			arr = doc.Content[i+1]
		}
	}
	if arr == nil {
		return nil, errf("objects", "objects has no 'array:' key: write objects as 'array:' followed by a list of object documents")
	}
	if arr.Kind == yaml.ScalarNode && (arr.Tag == "!!null" || arr.Value == "") {
		return nil, nil // an empty array means no files
	}
	if arr.Kind != yaml.SequenceNode {
		return nil, errf("objects", "objects 'array:' must be a list of object documents")
	}
	objs := make([]Object, 0, len(arr.Content))
	for i, item := range arr.Content {
		o, err := parseObject(i, item, defaultMode)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	total := 0
	for _, o := range objs {
		total += max(o.VersionHistory, 1)
	}
	if total > MaxFiles {
		return nil, errf("objects", "objects would write %d files; at most %d per volume: split the objects over several SecretProviderClasses or lower objectVersionHistory", total, MaxFiles)
	}
	var paths []string
	var owners []int
	for i, o := range objs {
		for _, p := range o.Paths() {
			paths = append(paths, p)
			owners = append(owners, i)
		}
	}
	if err := CheckDistinctFiles(paths, func(i int) string { return fmt.Sprintf("object %d (%s)", owners[i], objs[owners[i]].Name) }); err != nil {
		return nil, err
	}
	return objs, nil
}

// Paths are the files an object writes, known before fetching: its file
// name, or <name>/0..N-1 with objectVersionHistory above 1.
func (o Object) Paths() []string {
	if !o.WithHistory() {
		return []string{o.FileName()}
	}
	ps := make([]string, o.VersionHistory)
	for i := range ps {
		ps[i] = fmt.Sprintf("%s/%d", o.FileName(), i)
	}
	return ps
}

// WithHistory reports whether the object is written as a history folder. As
// upstream, a history of 0 or 1 is the plain object: one file at its name.
func (o Object) WithHistory() bool { return o.VersionHistory > 1 }

func docNode(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return n.Content[0]
	}
	return n
}

func parseObject(i int, item *yaml.Node, defaultMode os.FileMode) (Object, error) {
	where := fmt.Sprintf("objects array item %d", i)
	n := item
	if item.Kind == yaml.ScalarNode {
		var inner yaml.Node
		if err := yaml.Unmarshal([]byte(item.Value), &inner); err != nil {
			return Object{}, errf("objects", "failed to unmarshal %s, error: %v", where, err)
		}
		n = docNode(&inner)
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return Object{}, errf("objects", "%s must be a YAML mapping with objectName and objectType", where)
	}
	f := map[string]string{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j].Value, n.Content[j+1]
		known := false
		for _, name := range objectFields {
			if k == name {
				known = true
			}
		}
		if !known {
			continue // upstream ignores unknown keys; stay drop-in
		}
		if v.Kind != yaml.ScalarNode {
			return Object{}, errf(k, "%s: %s must be a single value", where, k)
		}
		if v.Tag == "!!null" {
			continue
		}
		f[k] = strings.TrimSpace(v.Value)
	}
	o := Object{
		Name:     f["objectName"],
		Alias:    f["objectAlias"],
		Type:     strings.ToLower(f["objectType"]),
		Version:  f["objectVersion"],
		Format:   strings.ToLower(f["objectFormat"]),
		Encoding: strings.ToLower(f["objectEncoding"]),
		Mode:     defaultMode,
	}
	if o.Name == "" {
		return Object{}, errf("objectName", "%s: objectName is not set: name the Key Vault object to fetch", where)
	}
	if !objectNameRE.MatchString(o.Name) {
		return Object{}, errf("objectName", "%s: objectName %q is not a Key Vault object name: use 1-127 letters, digits and dashes", where, o.Name)
	}
	where = fmt.Sprintf("object %q", o.Name)
	switch o.Type {
	case TypeSecret, TypeKey, TypeCert:
	case "":
		return Object{}, errf("objectType", "%s: objectType is not set: use secret, key or cert", where)
	default:
		return Object{}, errf("objectType", "%s: invalid objectType %q: use secret, key or cert", where, f["objectType"])
	}
	if strings.EqualFold(o.Version, "latest") {
		o.Version = ""
	}
	if !versionRE.MatchString(o.Version) {
		return Object{}, errf("objectVersion", "%s: objectVersion %q is not a Key Vault version id: use the 32-character id, or leave it empty for the latest", where, o.Version)
	}
	switch o.Format {
	case "", "pem":
		o.Format = "pem"
	case "pfx":
		if o.Type != TypeSecret {
			return Object{}, errf("objectFormat", "%s: objectFormat pfx is only valid with objectType secret: to get a certificate's PFX, set objectType: secret", where)
		}
	default:
		return Object{}, errf("objectFormat", "%s: invalid objectFormat %q: use pem or pfx", where, f["objectFormat"])
	}
	switch o.Encoding {
	case "", "utf-8":
		o.Encoding = "utf-8"
	case "hex", "base64":
		if o.Type != TypeSecret {
			return Object{}, errf("objectEncoding", "%s: objectEncoding %s is only valid with objectType secret: remove it", where, o.Encoding)
		}
	default:
		return Object{}, errf("objectEncoding", "%s: invalid objectEncoding %q: use utf-8, hex or base64", where, f["objectEncoding"])
	}
	if h := f["objectVersionHistory"]; h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 || n > 1000 {
			return Object{}, errf("objectVersionHistory", "%s: objectVersionHistory %q must be a whole number from 0 to 1000", where, h)
		}
		o.VersionHistory = n
	}
	if p := f["filePermission"]; p != "" {
		m, err := strconv.ParseUint(strings.TrimPrefix(p, "0o"), 8, 32)
		if err != nil || m > 0o777 {
			return Object{}, errf("filePermission", "%s: filePermission %q must be an octal mode of at most 0777, e.g. \"0644\"", where, p)
		}
		o.Mode = os.FileMode(m)
	}
	if err := CheckFileName("objectAlias", o.FileName()); err != nil {
		e := err.(*Error)
		if o.Alias == "" {
			e.Field = "objectName"
		}
		e.Msg = where + ": " + e.Msg
		return Object{}, e
	}
	return o, nil
}
