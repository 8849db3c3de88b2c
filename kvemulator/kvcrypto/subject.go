package kvcrypto

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"slices"
	"strings"
)

// dnAttr is an attribute type Key Vault subjects use, with its short name and OID.
type dnAttr struct {
	name string
	oid  asn1.ObjectIdentifier
}

var dnAttrs = []dnAttr{
	{"CN", asn1.ObjectIdentifier{2, 5, 4, 3}},
	{"SERIALNUMBER", asn1.ObjectIdentifier{2, 5, 4, 5}},
	{"C", asn1.ObjectIdentifier{2, 5, 4, 6}},
	{"L", asn1.ObjectIdentifier{2, 5, 4, 7}},
	{"ST", asn1.ObjectIdentifier{2, 5, 4, 8}},
	{"STREET", asn1.ObjectIdentifier{2, 5, 4, 9}},
	{"O", asn1.ObjectIdentifier{2, 5, 4, 10}},
	{"OU", asn1.ObjectIdentifier{2, 5, 4, 11}},
	{"T", asn1.ObjectIdentifier{2, 5, 4, 12}},
	{"PostalCode", asn1.ObjectIdentifier{2, 5, 4, 17}},
	{"E", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}},
	{"DC", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}},
	{"UID", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}},
}

var dnAliases = map[string]string{"EMAIL": "E", "EMAILADDRESS": "E", "S": "ST", "POSTALCODE": "PostalCode"}

// ParseSubject parses an X.500 distinguished name as Key Vault policies write it
// ("CN=example.com, O=Contoso, C=US": most specific first, comma or semicolon separated,
// values optionally quoted, backslash escapes) into the RDN sequence of a certificate.
func ParseSubject(s string) (pkix.RDNSequence, error) {
	parts, err := splitDN(s)
	if err != nil {
		return nil, err
	}
	var seq pkix.RDNSequence
	for _, part := range parts {
		typ, val, ok := strings.Cut(part, "=")
		typ = strings.TrimSpace(typ)
		val = strings.TrimSpace(val)
		if !ok || typ == "" {
			return nil, badParam("policy.x509_props.subject", "policy.x509_props.subject %q is not a distinguished name: %q has no \"=\"; write it like \"CN=example.com, O=Contoso\"", s, part)
		}
		if alias, ok := dnAliases[strings.ToUpper(typ)]; ok {
			typ = alias
		}
		i := slices.IndexFunc(dnAttrs, func(a dnAttr) bool { return strings.EqualFold(a.name, typ) })
		if i < 0 {
			return nil, badParam("policy.x509_props.subject", "policy.x509_props.subject has the unknown attribute type %q: use CN, O, OU, L, ST, C, E, DC, STREET, SERIALNUMBER, T, PostalCode or UID", typ)
		}
		val = unquoteDN(val)
		if val == "" {
			return nil, badParam("policy.x509_props.subject", "policy.x509_props.subject has an empty value for %s", typ)
		}
		if dnAttrs[i].name == "C" && len(val) != 2 {
			return nil, badParam("policy.x509_props.subject", "policy.x509_props.subject: C must be a two-letter country code, not %q", val)
		}
		// The string form is most specific first; the certificate stores the reverse.
		seq = append(pkix.RDNSequence{{{Type: dnAttrs[i].oid, Value: val}}}, seq...)
	}
	return seq, nil
}

// splitDN splits on unescaped, unquoted ',' or ';'.
func splitDN(s string) ([]string, error) {
	var parts []string
	var cur strings.Builder
	quoted, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune('\\')
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case (r == ',' || r == ';') && !quoted:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	if quoted || escaped {
		return nil, badParam("policy.x509_props.subject", "policy.x509_props.subject %q has an unterminated quote or escape", s)
	}
	parts = append(parts, cur.String())
	return parts, nil
}

func unquoteDN(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	var b strings.Builder
	escaped := false
	for _, r := range v {
		if !escaped && r == '\\' {
			escaped = true
			continue
		}
		escaped = false
		b.WriteRune(r)
	}
	return b.String()
}

// FormatSubject renders a certificate's raw subject the way Key Vault shows it in a policy:
// most specific first, ", " separated, values quoted when they contain separators.
func FormatSubject(rawSubject []byte) string {
	var seq pkix.RDNSequence
	if _, err := asn1.Unmarshal(rawSubject, &seq); err != nil {
		return ""
	}
	var parts []string
	for i := len(seq) - 1; i >= 0; i-- {
		for _, atv := range seq[i] {
			name := atv.Type.String()
			for _, a := range dnAttrs {
				if a.oid.Equal(atv.Type) {
					name = a.name
				}
			}
			val := fmt.Sprint(atv.Value)
			if strings.ContainsAny(val, ",;+\"\\=") {
				val = `"` + strings.ReplaceAll(strings.ReplaceAll(val, `\`, `\\`), `"`, `\"`) + `"`
			}
			parts = append(parts, name+"="+val)
		}
	}
	return strings.Join(parts, ", ")
}
