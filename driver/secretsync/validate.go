package secretsync

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

// secretTypeTLS is corev1.SecretTypeTLS, spelled out where it is compared against user input.
const secretTypeTLS = "kubernetes.io/tls"

// Normalize returns a copy of spc whose spec.secretObjects are what upstream's driver v1.6 would
// sync, and a warning for each place where that differs from what the class says: names and keys
// with surrounding spaces are trimmed (upstream trims them), a key listed twice in one entry keeps
// its last object (upstream writes the data through a map), and an entry whose secretName an
// earlier entry already uses is ignored (upstream creates the Secret from the first and leaves it).
// Validate then refuses only what upstream cannot sync either.
func Normalize(spc *ssv1.SecretProviderClass) (*ssv1.SecretProviderClass, []string) {
	if spc == nil || len(spc.Spec.SecretObjects) == 0 {
		return spc, nil
	}
	out := spc.DeepCopy()
	var warnings []string
	names := map[string]int{}
	kept := out.Spec.SecretObjects[:0]
	for i, so := range spc.Spec.SecretObjects {
		field := fmt.Sprintf("spec.secretObjects[%d]", i)
		so = *so.DeepCopy()
		if t := strings.TrimSpace(so.SecretName); t != so.SecretName {
			warnings = append(warnings, fmt.Sprintf("%s.secretName %q has surrounding spaces; synced as %q: remove them", field, so.SecretName, t))
			so.SecretName = t
		}
		if j, dup := names[so.SecretName]; dup && so.SecretName != "" {
			warnings = append(warnings, fmt.Sprintf("%s.secretName %q is also spec.secretObjects[%d].secretName; this entry is ignored, as upstream does: merge the two entries", field, so.SecretName, j))
			continue
		}
		names[so.SecretName] = i
		last := map[string]int{}
		for j := range so.Data {
			d := &so.Data[j]
			df := fmt.Sprintf("%s.data[%d]", field, j)
			if t := strings.TrimSpace(d.ObjectName); t != d.ObjectName {
				warnings = append(warnings, fmt.Sprintf("%s.objectName %q has surrounding spaces; read as %q: remove them", df, d.ObjectName, t))
				d.ObjectName = t
			}
			if t := strings.TrimSpace(d.Key); t != d.Key {
				warnings = append(warnings, fmt.Sprintf("%s.key %q has surrounding spaces; written as %q: remove them", df, d.Key, t))
				d.Key = t
			}
			if k, dup := last[d.Key]; dup && d.Key != "" {
				warnings = append(warnings, fmt.Sprintf("%s.key %q is also %s.data[%d].key; the last one wins, as upstream: each key can hold one object", df, d.Key, field, k))
			}
			last[d.Key] = j
		}
		data := so.Data[:0]
		for j, d := range so.Data {
			if last[d.Key] == j || d.Key == "" {
				data = append(data, d)
			}
		}
		so.Data = data
		kept = append(kept, so)
	}
	out.Spec.SecretObjects = kept
	return out, warnings
}

// Validate checks spec.secretObjects of a SecretProviderClass before anything is read or written,
// so one bad entry is reported with its index, the field and the fix, and no Secret is half synced.
func Validate(spc *ssv1.SecretProviderClass) error {
	var errs []error
	names := map[string]int{}
	for i, so := range spc.Spec.SecretObjects {
		field := fmt.Sprintf("spec.secretObjects[%d]", i)
		if so.SecretName == "" {
			errs = append(errs, fmt.Errorf("%s.secretName is empty: name the Kubernetes Secret to create", field))
		} else if msgs := validation.IsDNS1123Subdomain(so.SecretName); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s.secretName %q is not a valid Secret name: %s", field, so.SecretName, strings.Join(msgs, "; ")))
		} else if j, dup := names[so.SecretName]; dup {
			errs = append(errs, fmt.Errorf("%s.secretName %q is also spec.secretObjects[%d].secretName: merge the two entries", field, so.SecretName, j))
		} else {
			names[so.SecretName] = i
		}
		if so.Type == "" {
			errs = append(errs, fmt.Errorf("%s.type is empty: set Opaque, kubernetes.io/tls or another Secret type", field))
		}
		if len(so.Data) == 0 {
			errs = append(errs, fmt.Errorf("%s.data is empty: list the mounted objects (objectName) and the Secret keys (key) they become", field))
		}
		keys := map[string]int{}
		for j, d := range so.Data {
			df := fmt.Sprintf("%s.data[%d]", field, j)
			if d.ObjectName == "" {
				errs = append(errs, fmt.Errorf("%s.objectName is empty: name a mounted object (its objectAlias if it has one)", df))
			} else if err := validObjectName(d.ObjectName); err != nil {
				errs = append(errs, fmt.Errorf("%s.objectName %q %v", df, d.ObjectName, err))
			}
			switch {
			case d.Key == "":
				errs = append(errs, fmt.Errorf("%s.key is empty: name the key in Secret %q", df, so.SecretName))
			case len(validation.IsConfigMapKey(d.Key)) > 0:
				errs = append(errs, fmt.Errorf("%s.key %q is not a valid Secret key: %s", df, d.Key, strings.Join(validation.IsConfigMapKey(d.Key), "; ")))
			case so.Type == secretTypeTLS && d.Key != keyTLSCert && d.Key != keyTLSKey && d.Key != keyCACert:
				errs = append(errs, fmt.Errorf("%s.key %q is not allowed in a kubernetes.io/tls Secret: use %s, %s or %s", df, d.Key, keyTLSCert, keyTLSKey, keyCACert))
			}
			if k, dup := keys[d.Key]; dup && d.Key != "" {
				errs = append(errs, fmt.Errorf("%s.key %q is also %s.data[%d].key: each key can hold one object", df, d.Key, field, k))
			} else {
				keys[d.Key] = j
			}
		}
		if so.Type == secretTypeTLS {
			_, crt := keys[keyTLSCert]
			_, key := keys[keyTLSKey]
			if !crt || !key {
				errs = append(errs, fmt.Errorf("%s: a kubernetes.io/tls Secret needs both %s and %s in data (both may name the same object)", field, keyTLSCert, keyTLSKey))
			}
		}
	}
	if len(errs) > 0 {
		return permanent(fmt.Errorf("SecretProviderClass %s/%s: %w", spc.Namespace, spc.Name, errors.Join(errs...)))
	}
	return nil
}

// validObjectName refuses names that would read outside the mount; os.Root enforces the same
// at read time, this only gives the clearer message.
func validObjectName(name string) error {
	switch {
	case path.IsAbs(name) || strings.HasPrefix(name, `\`):
		return errors.New("is an absolute path: use the file name the object is mounted as")
	case path.Clean(name) != name || strings.HasPrefix(name, ".."):
		return errors.New("is not a clean relative path: use the file name the object is mounted as")
	}
	return nil
}
