package entra

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/internal/faults"
	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Managed identity endpoints on plain HTTP, as on a VM or in App Service:
// IMDS (/metadata/identity/oauth2/token), the App Service style endpoint
// (IDENTITY_ENDPOINT + X-IDENTITY-HEADER) and aad-pod-identity's NMI
// (/host/token/ with podns/podname headers).

const (
	IMDSTokenPath       = "/metadata/identity/oauth2/token"
	AppServiceTokenPath = "/msi/token"
	nmiTokenPath        = "/host/token/"
)

func (s *Service) MSIHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+IMDSTokenPath, s.imdsToken)
	mux.HandleFunc("GET "+AppServiceTokenPath, s.appServiceToken)
	mux.HandleFunc("GET "+nmiTokenPath, s.nmiToken)
	mux.HandleFunc("GET /host/token", s.nmiToken)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		kverr.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": r.URL.Path + " is not a managed identity endpoint of this emulator"})
	})
	return mux
}

// identityHeader is the secret App Service puts in IDENTITY_HEADER; derived
// from the signing key so it is stable across restarts with persistence.
func (s *Service) IdentityHeader() string {
	sum := sha256.Sum256(append([]byte("kvemulator identity header\x00"), s.Tokens.key.N.Bytes()...))
	return hex.EncodeToString(sum[:16])
}

func msiError(w http.ResponseWriter, status int, code, desc string) {
	kverr.WriteJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// selectManaged finds the managed identity a request names by client id,
// object id or resource id; with no selector, the default (or only) one.
func (s *Service) selectManaged(clientID, objectID, resID string) (store.Identity, string) {
	var found []store.Identity
	_ = s.Store.View(func(st *store.State) error {
		for _, id := range st.Identities {
			if id.Type != store.IdentityManaged {
				continue
			}
			switch {
			case clientID != "":
				if strings.EqualFold(id.ClientID, clientID) {
					found = append(found, *id)
				}
			case objectID != "":
				if strings.EqualFold(id.ObjectID, objectID) {
					found = append(found, *id)
				}
			case resID != "":
				if strings.EqualFold(id.ResourceID, resID) {
					found = append(found, *id)
				}
			default:
				found = append(found, *id)
			}
		}
		return nil
	})
	if clientID != "" || objectID != "" || resID != "" {
		if len(found) == 0 {
			return store.Identity{}, "Identity not found"
		}
		return found[0], ""
	}
	for _, id := range found {
		if id.Default {
			return id, ""
		}
	}
	if len(found) == 1 {
		return found[0], ""
	}
	if len(found) == 0 {
		return store.Identity{}, "Identity not found: no managed identity is assigned (declare one with type: managedIdentity in the seed)"
	}
	return store.Identity{}, "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"
}

func (s *Service) issueManaged(id store.Identity, resource string) (string, time.Time, error) {
	return s.Tokens.Issue(id, strings.TrimSuffix(resource, "/.default"), s.tokenTTL(), time.Now())
}

func (s *Service) imdsToken(w http.ResponseWriter, r *http.Request) {
	status, who := http.StatusOK, ""
	defer func() { s.Counters.Add(faults.CounterKey{Op: "IMDSToken", Identity: who, Status: status}) }()
	q := r.URL.Query()
	if r.Header.Get("X-Forwarded-For") != "" {
		// IMDS answers the VM itself, never a request relayed by a proxy.
		status = http.StatusBadRequest
		msiError(w, status, "invalid_request", "Requests with an X-Forwarded-For header are refused: the instance metadata service answers only the machine itself, not a proxy")
		return
	}
	if !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		status = http.StatusBadRequest
		msiError(w, status, "invalid_request", "Required metadata header not specified")
		return
	}
	if q.Get("api-version") == "" {
		status = http.StatusBadRequest
		msiError(w, status, "invalid_request", "Required query variable 'api-version' is missing")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		status = http.StatusBadRequest
		msiError(w, status, "invalid_request", "Required audience parameter not specified")
		return
	}
	resID := q.Get("msi_res_id")
	if resID == "" {
		resID = q.Get("mi_res_id")
	}
	id, problem := s.selectManaged(q.Get("client_id"), q.Get("object_id"), resID)
	if problem != "" {
		status = http.StatusBadRequest
		msiError(w, status, "invalid_request", problem)
		return
	}
	who = id.Name
	tok, exp, err := s.issueManaged(id, resource)
	if err != nil {
		status = http.StatusInternalServerError
		msiError(w, status, "server_error", "signing the token failed")
		return
	}
	now := time.Now().Unix()
	ttl := strconv.FormatInt(exp.Unix()-now, 10)
	kverr.WriteJSON(w, http.StatusOK, map[string]string{
		"access_token": tok, "client_id": id.ClientID, "expires_in": ttl, "ext_expires_in": ttl,
		"expires_on": strconv.FormatInt(exp.Unix(), 10), "not_before": strconv.FormatInt(now, 10),
		"resource": resource, "token_type": "Bearer",
	})
}

func (s *Service) appServiceToken(w http.ResponseWriter, r *http.Request) {
	status, who := http.StatusOK, ""
	defer func() { s.Counters.Add(faults.CounterKey{Op: "AppServiceToken", Identity: who, Status: status}) }()
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(s.IdentityHeader())) != 1 {
		status = http.StatusUnauthorized
		msiError(w, status, "invalid_request", "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER")
		return
	}
	q := r.URL.Query()
	resource := q.Get("resource")
	if resource == "" {
		status = http.StatusBadRequest
		msiError(w, status, "invalid_request", "Required query parameter 'resource' is missing")
		return
	}
	objectID := q.Get("object_id")
	if objectID == "" {
		objectID = q.Get("principal_id")
	}
	resID := q.Get("mi_res_id")
	if resID == "" {
		resID = q.Get("msi_res_id")
	}
	id, problem := s.selectManaged(q.Get("client_id"), objectID, resID)
	if problem != "" {
		status = http.StatusBadRequest
		msiError(w, status, "invalid_request", problem)
		return
	}
	who = id.Name
	tok, exp, err := s.issueManaged(id, resource)
	if err != nil {
		status = http.StatusInternalServerError
		msiError(w, status, "server_error", "signing the token failed")
		return
	}
	kverr.WriteJSON(w, http.StatusOK, map[string]string{
		"access_token": tok, "expires_on": strconv.FormatInt(exp.Unix(), 10), "resource": resource,
		"token_type": "Bearer", "client_id": id.ClientID,
	})
}

// nmiToken is aad-pod-identity's NMI: the pod is named by headers and mapped
// to an identity through podIdentities in the seed.
func (s *Service) nmiToken(w http.ResponseWriter, r *http.Request) {
	status, who := http.StatusOK, ""
	defer func() { s.Counters.Add(faults.CounterKey{Op: "NMIToken", Identity: who, Status: status}) }()
	ns, pod := r.Header.Get("podns"), r.Header.Get("podname")
	resource := r.URL.Query().Get("resource")
	if ns == "" || pod == "" || resource == "" {
		status = http.StatusBadRequest
		http.Error(w, "missing podns/podname header or resource parameter", status)
		return
	}
	var name string
	_ = s.Store.View(func(st *store.State) error {
		for _, pi := range st.PodIdentities {
			if pi.Namespace == ns && (pi.Pod == pod || pi.Pod == "*") {
				name = pi.Identity
				return nil
			}
		}
		return nil
	})
	clientID := r.URL.Query().Get("clientid")
	id, ok := s.Store.IdentityBy(func(i *store.Identity) bool {
		return i.Name == name && (clientID == "" || strings.EqualFold(i.ClientID, clientID))
	})
	if name == "" || !ok {
		status = http.StatusForbidden
		http.Error(w, "no AzureAssignedIdentity found for pod:"+ns+"/"+pod+" (map it under podIdentities: in the seed)", status)
		return
	}
	who = id.Name
	tok, exp, err := s.issueManaged(id, resource)
	if err != nil {
		status = http.StatusInternalServerError
		http.Error(w, "signing the token failed", status)
		return
	}
	now := time.Now().Unix()
	kverr.WriteJSON(w, http.StatusOK, map[string]any{
		"token": map[string]string{
			"access_token": tok, "refresh_token": "", "expires_in": strconv.FormatInt(exp.Unix()-now, 10),
			"expires_on": strconv.FormatInt(exp.Unix(), 10), "not_before": strconv.FormatInt(now, 10),
			"resource": resource, "token_type": "Bearer",
		},
		"clientid": id.ClientID,
	})
}
