package dataplane

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Certificate contacts (/certificates/contacts) and issuers
// (/certificates/issuers[/{name}]): the vault-wide certificate settings,
// stored in Vault.CertificateSettings. Their paths share a segment with
// /certificates/{name}/policy and friends, which net/http's ServeMux cannot
// tell apart from /certificates/issuers/{name}, so Serve moves them under
// /certificatesettings/ before routing (settingsPath).

const settingsPrefix = "/certificatesettings/"

// settingsPath maps /certificates/contacts and /certificates/issuers[/…] to
// the internal /certificatesettings/ routes; other paths are unchanged.
func settingsPath(r *http.Request) *http.Request {
	p := strings.ToLower(r.URL.Path)
	for _, part := range []string{"contacts", "issuers"} {
		if p == "/certificates/"+part || strings.HasPrefix(p, "/certificates/"+part+"/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = settingsPrefix + r.URL.Path[len("/certificates/"):]
			r2.URL.RawPath = ""
			return r2
		}
	}
	return r
}

func certSettingsRoutes() []Route {
	k := store.KindCertificate
	return []Route{
		{Method: "PUT", Path: settingsPrefix + "contacts", Kind: k, Permission: "managecontacts", Op: "SetCertificateContacts", Handler: setContacts},
		{Method: "GET", Path: settingsPrefix + "contacts", Kind: k, Permission: "managecontacts", Op: "GetCertificateContacts", Handler: getContacts},
		{Method: "DELETE", Path: settingsPrefix + "contacts", Kind: k, Permission: "managecontacts", Op: "DeleteCertificateContacts", Handler: deleteContacts},
		{Method: "GET", Path: settingsPrefix + "issuers", Kind: k, Permission: "listissuers", Op: "GetCertificateIssuers", Handler: listIssuers},
		{Method: "PUT", Path: settingsPrefix + "issuers/{issuer}", Kind: k, Permission: "setissuers", Op: "SetCertificateIssuer", Handler: setIssuer},
		{Method: "GET", Path: settingsPrefix + "issuers/{issuer}", Kind: k, Permission: "getissuers", Op: "GetCertificateIssuer", Handler: getIssuer},
		{Method: "PATCH", Path: settingsPrefix + "issuers/{issuer}", Kind: k, Permission: "setissuers", Op: "UpdateCertificateIssuer", Handler: updateIssuer},
		{Method: "DELETE", Path: settingsPrefix + "issuers/{issuer}", Kind: k, Permission: "deleteissuers", Op: "DeleteCertificateIssuer", Handler: deleteIssuer},
	}
}

type certContact struct {
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

type issuerCredentials struct {
	AccountID string `json:"account_id,omitempty"`
	Password  string `json:"pwd,omitempty"` // stored, never answered
}

type issuerAdmin struct {
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
}

type issuerOrg struct {
	ID           string        `json:"id,omitempty"`
	AdminDetails []issuerAdmin `json:"admin_details,omitempty"`
}

type issuerAttrs struct {
	Enabled *bool `json:"enabled,omitempty"`
	Created int64 `json:"created,omitempty"`
	Updated int64 `json:"updated,omitempty"`
}

type certIssuer struct {
	Name        string             `json:"name"`
	Provider    string             `json:"provider"`
	Credentials *issuerCredentials `json:"credentials,omitempty"`
	OrgDetails  *issuerOrg         `json:"org_details,omitempty"`
	Attributes  issuerAttrs        `json:"attributes"`
}

type certSettings struct {
	Contacts []certContact          `json:"contacts,omitempty"`
	Issuers  map[string]*certIssuer `json:"issuers,omitempty"` // by lower-case name
	// Pending are certificate requests for external issuers awaiting merge
	// (certpending.go), by certificate name.
	Pending map[string]*pendingCert `json:"pending,omitempty"`
}

func settingsOf(v *store.Vault) certSettings {
	var s certSettings
	if len(v.CertificateSettings) > 0 {
		_ = json.Unmarshal(v.CertificateSettings, &s)
	}
	return s
}

func setSettings(v *store.Vault, s certSettings) {
	if len(s.Contacts) == 0 && len(s.Issuers) == 0 && len(s.Pending) == 0 {
		v.CertificateSettings = nil
		return
	}
	v.CertificateSettings, _ = json.Marshal(s)
}

// issuerExists reports whether the vault has an issuer of that name
// (certificate policies name issuers case-insensitively).
func issuerExists(v *store.Vault, name string) bool {
	_, ok := settingsOf(v).Issuers[strings.ToLower(name)]
	return ok
}

func errContactsNotFound() *kverr.APIError {
	return &kverr.APIError{Status: http.StatusNotFound, Code: "ContactsNotFound", Message: "Contacts not found"}
}

func errIssuerNotFound() *kverr.APIError {
	return &kverr.APIError{Status: http.StatusNotFound, Code: "CertificateIssuerNotFound", Message: "Issuer not found"}
}

// --- contacts ---------------------------------------------------------------

type contactsBundle struct {
	ID       string        `json:"id"`
	Contacts []certContact `json:"contacts,omitempty"`
}

func (c *Call) contactsBundle(cs []certContact) contactsBundle {
	return contactsBundle{ID: c.Base + "/certificates/contacts", Contacts: cs}
}

func setContacts(c *Call) (int, any, error) {
	var req struct {
		Contacts []certContact `json:"contacts"`
	}
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	for i, ct := range req.Contacts {
		if ct.Email == "" {
			return 0, nil, kverr.ErrBadParameter("contacts[%d].email is required.", i)
		}
	}
	err := c.Update(func(v *store.Vault) error {
		s := settingsOf(v)
		s.Contacts = req.Contacts
		setSettings(v, s)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.contactsBundle(req.Contacts), nil
}

func getContacts(c *Call) (int, any, error) {
	var cs []certContact
	_ = c.View(func(v *store.Vault) error { cs = settingsOf(v).Contacts; return nil })
	if len(cs) == 0 {
		return 0, nil, errContactsNotFound()
	}
	return http.StatusOK, c.contactsBundle(cs), nil
}

func deleteContacts(c *Call) (int, any, error) {
	var cs []certContact
	err := c.Update(func(v *store.Vault) error {
		s := settingsOf(v)
		if len(s.Contacts) == 0 {
			return errContactsNotFound()
		}
		cs = s.Contacts
		s.Contacts = nil
		setSettings(v, s)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.contactsBundle(cs), nil
}

// --- issuers ----------------------------------------------------------------

var issuerNameRE = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

type issuerRequest struct {
	Provider    *string            `json:"provider"`
	Credentials *issuerCredentials `json:"credentials"`
	OrgDetails  *issuerOrg         `json:"org_details"`
	Attributes  *issuerAttrs       `json:"attributes"`
}

type issuerBundle struct {
	ID          string             `json:"id"`
	Provider    string             `json:"provider,omitempty"`
	Credentials *issuerCredentials `json:"credentials,omitempty"`
	OrgDetails  *struct {
		ID           string        `json:"id,omitempty"`
		Zip          int           `json:"zip"`
		AdminDetails []issuerAdmin `json:"admin_details,omitempty"`
	} `json:"org_details,omitempty"`
	Attributes *issuerAttrs `json:"attributes,omitempty"`
}

// renderIssuer is the IssuerBundle (full) or the list item; the password
// is never answered.
func (c *Call) renderIssuer(is *certIssuer, full bool) issuerBundle {
	b := issuerBundle{ID: c.Base + "/certificates/issuers/" + is.Name, Provider: is.Provider}
	if !full {
		return b
	}
	if is.Credentials != nil && is.Credentials.AccountID != "" {
		b.Credentials = &issuerCredentials{AccountID: is.Credentials.AccountID}
	}
	if is.OrgDetails != nil {
		b.OrgDetails = &struct {
			ID           string        `json:"id,omitempty"`
			Zip          int           `json:"zip"`
			AdminDetails []issuerAdmin `json:"admin_details,omitempty"`
		}{ID: is.OrgDetails.ID, AdminDetails: is.OrgDetails.AdminDetails}
	}
	a := is.Attributes
	b.Attributes = &a
	return b
}

func issuerName(c *Call) (string, error) {
	name := c.R.PathValue("issuer")
	if !issuerNameRE.MatchString(name) {
		return "", kverr.ErrBadParameter("The issuer name %q is invalid: use 1-127 letters, digits and dashes.", kverr.Truncate(name, 130))
	}
	return name, nil
}

func (r *issuerRequest) applyTo(is *certIssuer, now int64) {
	if r.Provider != nil {
		is.Provider = *r.Provider
	}
	if r.Credentials != nil {
		is.Credentials = r.Credentials
	}
	if r.OrgDetails != nil {
		is.OrgDetails = r.OrgDetails
	}
	if r.Attributes != nil && r.Attributes.Enabled != nil {
		is.Attributes.Enabled = r.Attributes.Enabled
	}
	is.Attributes.Updated = now
}

func setIssuer(c *Call) (int, any, error) {
	name, err := issuerName(c)
	if err != nil {
		return 0, nil, err
	}
	var req issuerRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	if req.Provider == nil || *req.Provider == "" {
		return 0, nil, kverr.ErrBadParameter("Property provider is required: name the issuer provider, e.g. \"Test\", \"DigiCert\" or \"GlobalSign\".")
	}
	now := c.Now.Unix()
	is := &certIssuer{Name: name, Attributes: issuerAttrs{Enabled: ptrTo(true), Created: now}}
	req.applyTo(is, now)
	err = c.Update(func(v *store.Vault) error {
		s := settingsOf(v)
		if s.Issuers == nil {
			s.Issuers = map[string]*certIssuer{}
		}
		if old := s.Issuers[strings.ToLower(name)]; old != nil {
			is.Attributes.Created = old.Attributes.Created
		}
		s.Issuers[strings.ToLower(name)] = is
		setSettings(v, s)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.renderIssuer(is, true), nil
}

func getIssuer(c *Call) (int, any, error) {
	name, err := issuerName(c)
	if err != nil {
		return 0, nil, err
	}
	var is *certIssuer
	_ = c.View(func(v *store.Vault) error { is = settingsOf(v).Issuers[strings.ToLower(name)]; return nil })
	if is == nil {
		return 0, nil, errIssuerNotFound()
	}
	return http.StatusOK, c.renderIssuer(is, true), nil
}

func updateIssuer(c *Call) (int, any, error) {
	name, err := issuerName(c)
	if err != nil {
		return 0, nil, err
	}
	var req issuerRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	var out issuerBundle
	err = c.Update(func(v *store.Vault) error {
		s := settingsOf(v)
		is := s.Issuers[strings.ToLower(name)]
		if is == nil {
			return errIssuerNotFound()
		}
		req.applyTo(is, c.Now.Unix())
		setSettings(v, s)
		out = c.renderIssuer(is, true)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func deleteIssuer(c *Call) (int, any, error) {
	name, err := issuerName(c)
	if err != nil {
		return 0, nil, err
	}
	var out issuerBundle
	err = c.Update(func(v *store.Vault) error {
		s := settingsOf(v)
		is := s.Issuers[strings.ToLower(name)]
		if is == nil {
			return errIssuerNotFound()
		}
		delete(s.Issuers, strings.ToLower(name))
		setSettings(v, s)
		out = c.renderIssuer(is, true)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func listIssuers(c *Call) (int, any, error) {
	var items []any
	_ = c.View(func(v *store.Vault) error {
		s := settingsOf(v)
		names := make([]string, 0, len(s.Issuers))
		for n := range s.Issuers {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			items = append(items, c.renderIssuer(s.Issuers[n], false))
		}
		return nil
	})
	c.R.URL.Path = "/certificates/issuers" // the nextLink carries the public path
	return c.page(items, 25)
}
