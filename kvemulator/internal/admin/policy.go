package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// AccessPolicyChange is the body of PATCH
// /vaults/{vault}/access-policies/{identity}: the permissions the identity
// gets on each object kind, replacing what its access policies granted for
// that kind, as `az keyvault set-policy` (and, with an empty list,
// `delete-policy`) changes a vault that uses access policies. A kind left
// out (null) keeps its permissions.
type AccessPolicyChange struct {
	Secrets      *[]string `json:"secrets,omitempty"`
	Keys         *[]string `json:"keys,omitempty"`
	Certificates *[]string `json:"certificates,omitempty"`
}

// AccessPolicyResult is what the identity's access policies granted before
// and after a change.
type AccessPolicyResult struct {
	Previous store.AccessPolicy `json:"previous"`
	Current  store.AccessPolicy `json:"current"`
}

// setAccessPolicy applies ch to the access policies of the identity named
// ident (its seed name, client id or object id) on vault. The data plane
// reads the policies on every request, so the next request of that identity
// meets the change: 403 Forbidden (innererror AccessDenied) for a
// permission taken away.
func setAccessPolicy(s Deps, vault, ident string, ch AccessPolicyChange) (AccessPolicyResult, error) {
	for _, l := range []*[]string{ch.Secrets, ch.Keys, ch.Certificates} {
		if l == nil {
			continue
		}
		for _, p := range *l {
			if strings.TrimSpace(p) == "" || len(p) > 64 {
				return AccessPolicyResult{}, fmt.Errorf("permission %q: use the service's names (get, list, set, delete, ..., all)", kverr.Truncate(p, 64))
			}
		}
	}
	id, ok := s.Store.IdentityBy(func(i *store.Identity) bool {
		return strings.EqualFold(i.Name, ident) || strings.EqualFold(i.ClientID, ident) || strings.EqualFold(i.ObjectID, ident)
	})
	if !ok {
		return AccessPolicyResult{}, fmt.Errorf("no identity %q in the emulator's tenants: name one of the seed's identities (name, clientId or objectId)", kverr.Truncate(ident, 100))
	}
	var res AccessPolicyResult
	err := s.Store.UpdateVault(strings.ToLower(vault), func(v *store.Vault) error {
		res.Previous = mergedPolicy(v, id)
		cur := res.Previous
		if ch.Secrets != nil {
			cur.Secrets = slices.Clone(*ch.Secrets)
		}
		if ch.Keys != nil {
			cur.Keys = slices.Clone(*ch.Keys)
		}
		if ch.Certificates != nil {
			cur.Certificates = slices.Clone(*ch.Certificates)
		}
		// One entry per identity after a change, as the service keeps
		// (set-policy merges into the identity's entry).
		v.AccessPolicies = slices.DeleteFunc(v.AccessPolicies, func(ap store.AccessPolicy) bool {
			return strings.EqualFold(ap.ObjectID, id.ObjectID)
		})
		if len(cur.Secrets)+len(cur.Keys)+len(cur.Certificates) > 0 {
			v.AccessPolicies = append(v.AccessPolicies, cur)
		}
		res.Current = cur
		return nil
	})
	return res, err
}

// mergedPolicy is what all of the identity's entries on v grant.
func mergedPolicy(v *store.Vault, id store.Identity) store.AccessPolicy {
	out := store.AccessPolicy{ObjectID: id.ObjectID, TenantID: id.TenantID}
	for _, ap := range v.AccessPolicies {
		if !strings.EqualFold(ap.ObjectID, id.ObjectID) {
			continue
		}
		if ap.TenantID != "" {
			out.TenantID = ap.TenantID
		}
		out.Secrets = append(out.Secrets, ap.Secrets...)
		out.Keys = append(out.Keys, ap.Keys...)
		out.Certificates = append(out.Certificates, ap.Certificates...)
	}
	return out
}

func accessPolicyRoute(s Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			adminFail(w, http.StatusBadRequest, "reading the body: %v", err)
			return
		}
		// Strict: a misspelt kind must not be a change that did nothing.
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var ch AccessPolicyChange
		if err := dec.Decode(&ch); err != nil {
			adminFail(w, http.StatusBadRequest, "the body is not an access policy change ({\"secrets\":[...],\"keys\":[...],\"certificates\":[...]}): %v", err)
			return
		}
		res, err := setAccessPolicy(s, r.PathValue("vault"), r.PathValue("identity"), ch)
		if err != nil {
			status := http.StatusBadRequest
			if ae, ok := err.(*kverr.APIError); ok {
				status = ae.Status
			}
			adminFail(w, status, "%v", err)
			return
		}
		kverr.WriteJSON(w, http.StatusOK, res)
	}
}
