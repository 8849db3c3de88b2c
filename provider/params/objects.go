package params

import (
	"fmt"
	"os"
	"slices"
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
// rather than becoming YAML 1.1's integer 420. Settings upstream accepts
// that kvcsi would refuse are handled as upstream does and returned as
// warnings, or refused with strict.
func ParseObjects(raw string, defaultMode os.FileMode, strict bool) ([]Object, []Warning, error) {
	items, err := objectItems(raw)
	if err != nil || len(items) == 0 {
		return nil, nil, err
	}
	l := &Lenient{Strict: strict}
	objs := make([]Object, 0, len(items))
	for i, item := range items {
		o, err := parseObject(i, item, defaultMode, l)
		if err != nil {
			return nil, nil, err
		}
		objs = append(objs, o)
	}
	if err := checkObjectFiles(objs, l); err != nil {
		return nil, nil, err
	}
	return objs, l.Warnings, nil
}

// objectItems are the nodes of the objects parameter's 'array:' list.
func objectItems(raw string) ([]*yaml.Node, error) {
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
	return arr.Content, nil
}

// checkObjectFiles bounds the number of files and checks that the objects'
// files can all be written: two objects writing one file is upstream's
// "last one wins" (a warning); a file used as a directory is refused.
func checkObjectFiles(objs []Object, l *Lenient) error {
	total := 0
	for _, o := range objs {
		total += max(o.VersionHistory, 1)
	}
	if total > MaxFiles {
		return errf("objects", "objects would write %d files; at most %d per volume: split the objects over several SecretProviderClasses or lower objectVersionHistory", total, MaxFiles)
	}
	var paths []string
	var owners []int
	for i, o := range objs {
		for _, p := range o.Paths() {
			paths = append(paths, p)
			owners = append(owners, i)
		}
	}
	owner := func(i int) string { return fmt.Sprintf("object %d (%s)", owners[i], objs[owners[i]].Name) }
	return CheckDistinctFiles(paths, owner, DuplicateWarning(l, paths, owner))
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

func parseObject(i int, item *yaml.Node, defaultMode os.FileMode, l *Lenient) (Object, error) {
	f, err := objectFieldValues(i, item)
	if err != nil {
		return Object{}, err
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
	if err := o.checkNameAndType(i, f["objectType"]); err != nil {
		return Object{}, err
	}
	where := fmt.Sprintf("object %q", o.Name)
	for _, step := range []func(string, map[string]string, *Lenient) error{
		o.parseVersion, o.parseFormat, o.parseEncoding, o.parseHistory, o.parsePermission, o.checkFileName,
	} {
		if err := step(where, f, l); err != nil {
			return Object{}, err
		}
	}
	return o, nil
}

// objectFieldValues reads one array item (a YAML document in a string, or
// an inline mapping) into its known fields, trimmed.
func objectFieldValues(i int, item *yaml.Node) (map[string]string, error) {
	where := fmt.Sprintf("objects array item %d", i)
	n := item
	if item.Kind == yaml.ScalarNode {
		var inner yaml.Node
		if err := yaml.Unmarshal([]byte(item.Value), &inner); err != nil {
			return nil, errf("objects", "failed to unmarshal %s, error: %v", where, err)
		}
		n = docNode(&inner)
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, errf("objects", "%s must be a YAML mapping with objectName and objectType", where)
	}
	f := map[string]string{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j].Value, n.Content[j+1]
		if !slices.Contains(objectFields, k) {
			continue // upstream ignores unknown keys; stay drop-in
		}
		if v.Kind != yaml.ScalarNode {
			return nil, errf(k, "%s: %s must be a single value", where, k)
		}
		if v.Tag == "!!null" {
			continue
		}
		f[k] = strings.TrimSpace(v.Value)
	}
	return f, nil
}

func (o *Object) checkNameAndType(i int, rawType string) error {
	where := fmt.Sprintf("objects array item %d", i)
	if o.Name == "" {
		return errf("objectName", "%s: objectName is not set: name the Key Vault object to fetch", where)
	}
	if !objectNameRE.MatchString(o.Name) {
		return errf("objectName", "%s: objectName %q is not a Key Vault object name: use 1-127 letters, digits and dashes", where, o.Name)
	}
	where = fmt.Sprintf("object %q", o.Name)
	switch o.Type {
	case TypeSecret, TypeKey, TypeCert:
		return nil
	case "":
		return errf("objectType", "%s: objectType is not set: use secret, key or cert", where)
	default:
		return errf("objectType", "%s: invalid objectType %q: use secret, key or cert", where, rawType)
	}
}

func (o *Object) parseVersion(where string, _ map[string]string, _ *Lenient) error {
	if strings.EqualFold(o.Version, "latest") {
		o.Version = ""
	}
	if !versionRE.MatchString(o.Version) {
		return errf("objectVersion", "%s: objectVersion %q is not a Key Vault version id: use the 32-character id, or leave it empty for the latest", where, o.Version)
	}
	return nil
}

// parseFormat: pem or pfx; upstream ignores pfx on a key or certificate and
// writes the PEM, so kvcsi does too, with a warning.
func (o *Object) parseFormat(where string, f map[string]string, l *Lenient) error {
	switch o.Format {
	case "", "pem":
		o.Format = "pem"
	case "pfx":
		if o.Type != TypeSecret {
			if err := l.Warn(where, "objectFormat", fmt.Sprintf("objectFormat %q applies only to objectType secret", f["objectFormat"]),
				"mounted the PEM "+typeNoun(o.Type),
				"remove objectFormat, or set objectType: secret to get the certificate's PFX"); err != nil {
				return err
			}
			o.Format = "pem"
		}
	default:
		return errf("objectFormat", "%s: invalid objectFormat %q: use pem or pfx", where, f["objectFormat"])
	}
	return nil
}

func typeNoun(t string) string {
	if t == TypeKey {
		return "public key"
	}
	return "certificate"
}

func (o *Object) parseEncoding(where string, f map[string]string, _ *Lenient) error {
	switch o.Encoding {
	case "", "utf-8":
		o.Encoding = "utf-8"
	case "hex", "base64":
		if o.Type != TypeSecret {
			return errf("objectEncoding", "%s: objectEncoding %s is only valid with objectType secret: remove it", where, o.Encoding)
		}
	default:
		return errf("objectEncoding", "%s: invalid objectEncoding %q: use utf-8, hex or base64", where, f["objectEncoding"])
	}
	return nil
}

// parseHistory: a negative history is upstream's "unset" (one version).
func (o *Object) parseHistory(where string, f map[string]string, l *Lenient) error {
	h := f["objectVersionHistory"]
	if h == "" {
		return nil
	}
	n, err := strconv.Atoi(h)
	if err != nil || n > 1000 {
		return errf("objectVersionHistory", "%s: objectVersionHistory %q must be a whole number from 0 to 1000", where, h)
	}
	if n < 0 {
		if err := l.Warn(where, "objectVersionHistory", fmt.Sprintf("objectVersionHistory %d is negative", n),
			"mounted one version, as if it were unset", "remove objectVersionHistory, or set it to the number of versions to mount"); err != nil {
			return err
		}
		n = 0
	}
	o.VersionHistory = n
	return nil
}

// parsePermission: an octal mode. Upstream ignores a parse error and writes
// mode 0000, so kvcsi does too, with a warning. setuid, setgid and sticky
// bits are never written: 07777 becomes 0777, with a warning.
func (o *Object) parsePermission(where string, f map[string]string, l *Lenient) error {
	p := f["filePermission"]
	if p == "" {
		return nil
	}
	m, err := strconv.ParseUint(strings.TrimPrefix(p, "0o"), 8, 32)
	switch {
	case err != nil:
		if err := l.Warn(where, "filePermission", fmt.Sprintf("filePermission %q is not an octal mode", p),
			"mounted the file with mode 0000 (unreadable but by root)", "write an octal mode such as \"0644\" or \"0440\""); err != nil {
			return err
		}
		m = 0
	case m > 0o777:
		if err := l.Warn(where, "filePermission", fmt.Sprintf("filePermission %q has bits above 0777 (setuid, setgid, sticky or beyond)", p),
			fmt.Sprintf("mounted the file with mode %04o: kvcsi never writes setuid, setgid or sticky bits", m&0o777), fmt.Sprintf("write %04o", m&0o777)); err != nil {
			return err
		}
		m &= 0o777
	}
	o.Mode = os.FileMode(m)
	return nil
}

func (o *Object) checkFileName(where string, _ map[string]string, _ *Lenient) error {
	if err := CheckFileName("objectAlias", o.FileName()); err != nil {
		e := err.(*Error)
		if o.Alias == "" {
			e.Field = "objectName"
		}
		e.Msg = where + ": " + e.Msg
		return e
	}
	return nil
}
