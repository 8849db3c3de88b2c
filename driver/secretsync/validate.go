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
