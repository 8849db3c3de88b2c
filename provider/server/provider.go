package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"github.com/kvcsi/kvcsi/provider/auth"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/provider/params"
	"github.com/kvcsi/kvcsi/provider/render"
)

// RuntimeName is reported by Version: upstream's, so that drivers and
// dashboards that show or match it see the same provider.
const RuntimeName = "secrets-store-csi-driver-provider-azure"

// ErrorPrefix starts every Mount error message, as upstream's do, so alert
// rules and runbooks written against upstream still match.
const ErrorPrefix = "failed to mount objects, error: "

var _ v1alpha1.CSIDriverProviderServer = (*Server)(nil)

// Version reports the protocol version and this build.
func (s *Server) Version(ctx context.Context, req *v1alpha1.VersionRequest) (*v1alpha1.VersionResponse, error) {
	return &v1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: RuntimeName, RuntimeVersion: buildinfo.Version}, nil
}

// Mount fetches and renders a SecretProviderClass's objects.
func (s *Server) Mount(ctx context.Context, req *v1alpha1.MountRequest) (*v1alpha1.MountResponse, error) {
	start := time.Now()
	resp, m, err := s.mount(ctx, req)
	code := status.Code(err)
	if err != nil {
		reason := reasonOf(err)
		setReason(ctx, reason)
		err = &mountError{st: status.New(code, ErrorPrefix+status.Convert(err).Message()), reason: reason}
	}
	if resp != nil {
		s.warned(m, resp.Warnings)
	}
	if m != nil {
		attrs := []any{"pod", m.PodNamespace + "/" + m.PodName, "vault", m.KeyVaultName, "identity", m.Identity.Mode.String(), "objects", len(m.Objects), "code", code.String(), "duration", time.Since(start).String()}
		if err != nil {
			attrs = append(attrs, "error", status.Convert(err).Message())
		}
		s.log.Info("mount", attrs...)
	} else {
		s.log.Info("mount rejected", "code", code.String(), "error", err)
	}
	return resp, err
}

// reasonOf is the short error reason of a Mount error, for metric labels.
func reasonOf(err error) string {
	var f *keyvault.Failure
	if errors.As(err, &f) {
		return f.Reason
	}
	var pe *params.Error
	if errors.As(err, &pe) {
		return "invalid_parameters"
	}
	if e, ok := err.(interface{ Reason() string }); ok {
		return e.Reason()
	}
	return "error"
}

// mountError is a gRPC status that keeps its short reason.
type mountError struct {
	st     *status.Status
	reason string
}

func (e *mountError) Error() string              { return e.st.Message() }
func (e *mountError) GRPCStatus() *status.Status { return e.st }
func (e *mountError) Reason() string             { return e.reason }

func fail(code codes.Code, reason, format string, a ...any) error {
	return &mountError{st: status.New(code, fmt.Sprintf(format, a...)), reason: reason}
}

func (s *Server) mount(ctx context.Context, req *v1alpha1.MountRequest) (*v1alpha1.MountResponse, *params.Mount, error) {
	m, err := params.Parse(req.GetAttributes(), req.GetSecrets(), req.GetPermission(), params.Defaults{CloudName: s.cfg.CloudName, Strict: s.cfg.Strict})
	if err != nil {
		return nil, nil, fail(codes.InvalidArgument, "invalid_parameters", "%v", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.MountTimeout)
		defer cancel()
	}
	cred, idKey, err := s.creds.Get(m)
	if err != nil {
		return nil, m, fail(codes.InvalidArgument, "credential", "cannot build the %s credential: %v", m.Identity.Mode, err)
	}
	// Pod identity: nothing is shared before NMI has answered for this pod.
	if idKey, err = auth.Proof(ctx, m, cred, idKey); err != nil {
		if len(m.Objects) > 0 {
			return nil, m, s.objectError(m, m.Objects[0], err)
		}
		f := keyvault.Classify(err, m.KeyVaultName)
		return nil, m, &mountError{st: status.New(f.Code, f.Msg), reason: f.Reason}
	}
	// Only a re-mount (rotation: the driver sends the versions mounted now)
	// may be served from the cache; a new pod sees the vault as it is now.
	t := keyvault.Target{VaultName: m.KeyVaultName, VaultURL: m.VaultURL(), IdentityKey: idKey, Credential: cred,
		Fresh: len(req.GetCurrentObjectVersion()) == 0}

	for _, o := range m.Objects {
		s.log.Debug("object", "pod", m.PodNamespace+"/"+m.PodName, "object", o.Describe(), "file", o.FileName())
	}
	results := make([]objectResult, len(m.Objects))
	sem := make(chan struct{}, s.cfg.MaxConcurrentFetches)
	var wg sync.WaitGroup
	for i := range m.Objects {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i].err = s.objectError(m, m.Objects[i], ctx.Err())
				return
			}
			defer func() { <-sem }()
			results[i] = s.fetchObject(ctx, t, m, m.Objects[i])
		}(i)
	}
	wg.Wait()

	return s.assemble(m, results)
}

// assemble builds the response from the objects' results in parameter
// order: the first failing object fails the Mount; two files at one path are
// upstream's "last one wins" (with a warning; params already warned about
// the paths it knew before fetching, so only new ones such as a split
// <file>.crt are warned here).
func (s *Server) assemble(m *params.Mount, results []objectResult) (*v1alpha1.MountResponse, *params.Mount, error) {
	results = brokenSkipFailed(results) // mutation tests only (break.go)
	resp := &v1alpha1.MountResponse{}
	for _, w := range m.Warnings {
		resp.Warnings = append(resp.Warnings, w.Msg)
	}
	var paths, owners []string
	for i, r := range results {
		if r.err != nil {
			return nil, m, r.err // the first failing object in parameter order
		}
		for _, f := range r.files {
			resp.Files = append(resp.Files, f)
			paths = append(paths, f.Path)
			owners = append(owners, m.Objects[i].Describe())
		}
		resp.ObjectVersion = append(resp.ObjectVersion, r.versions...)
		resp.Warnings = append(resp.Warnings, r.warnings...)
	}
	known := map[string]bool{}
	for _, o := range m.Objects {
		for _, p := range o.Paths() {
			known[p] = true
		}
	}
	l := &params.Lenient{Strict: s.cfg.Strict}
	owner := func(i int) string { return owners[i] }
	warnDup := params.DuplicateWarning(l, paths, owner)
	drop := map[int]bool{}
	err := params.CheckDistinctFiles(paths, owner, func(first, last int) error {
		drop[first] = true
		if known[paths[last]] {
			return nil
		}
		return warnDup(first, last)
	})
	if err != nil {
		return nil, m, fail(codes.InvalidArgument, "invalid_parameters", "%v", err)
	}
	if len(drop) > 0 {
		files := resp.Files[:0]
		for i, f := range resp.Files {
			if !drop[i] {
				files = append(files, f)
			}
		}
		resp.Files = files
		resp.ObjectVersion = lastVersionPerID(resp.ObjectVersion)
	}
	for _, w := range l.Warnings {
		resp.Warnings = append(resp.Warnings, w.Msg)
	}
	return resp, m, nil
}

// lastVersionPerID keeps one version per object id, the last, in the order
// of their last appearance (an object named twice reports its version once).
func lastVersionPerID(vs []*v1alpha1.ObjectVersion) []*v1alpha1.ObjectVersion {
	last := map[string]int{}
	for i, v := range vs {
		last[v.GetId()] = i
	}
	out := vs[:0:0]
	for i, v := range vs {
		if last[v.GetId()] == i {
			out = append(out, v)
		}
	}
	return out
}

// warned logs and counts each warning of a Mount.
func (s *Server) warned(m *params.Mount, warnings []string) {
	for _, w := range warnings {
		pod := ""
		if m != nil {
			pod = m.PodNamespace + "/" + m.PodName
		}
		s.log.Warn("SecretProviderClass handled leniently", "pod", pod, "reason", params.WarningReason, "warning", w)
		s.metrics.Warning(warningField(w))
	}
}

// warningField is the SecretProviderClass field a warning names (a bounded
// label value).
func warningField(w string) string {
	for _, f := range []string{"objectVersionHistory", "objectFormat", "objectEncoding", "filePermission", "objectAlias"} {
		if strings.Contains(w, f) {
			return f
		}
	}
	return "other"
}

type objectResult struct {
	files    []*v1alpha1.File
	versions []*v1alpha1.ObjectVersion
	warnings []string
	err      error
}

// objectError wraps a failure with upstream's object description.
func (s *Server) objectError(m *params.Mount, o params.Object, err error) error {
	f := keyvault.Classify(err, m.KeyVaultName)
	return &mountError{st: status.New(f.Code, fmt.Sprintf("failed to get %s: %s", o.Describe(), f.Msg)), reason: f.Reason}
}

func (s *Server) fetchObject(ctx context.Context, t keyvault.Target, m *params.Mount, o params.Object) objectResult {
	if !o.WithHistory() {
		it, err := s.fetcher.Get(ctx, t, o.Type, o.Name, o.Version)
		if err != nil {
			return objectResult{err: s.objectError(m, o, err)}
		}
		files, warns, err := s.render(o, o.FileName(), it)
		if err != nil {
			return objectResult{err: err}
		}
		return objectResult{files: files, warnings: warns, versions: []*v1alpha1.ObjectVersion{{Id: o.Type + "/" + o.Name, Version: it.Version}}}
	}
	all, err := s.fetcher.EnabledVersions(ctx, t, o.Type, o.Name)
	if err != nil {
		return objectResult{err: s.objectError(m, o, err)}
	}
	from := 0
	if o.Version != "" {
		from = -1
		for i, v := range all {
			if v == o.Version {
				from = i
			}
		}
		if from < 0 {
			return objectResult{err: fail(codes.NotFound, "not_found", "failed to get %s: objectVersion %s is not an enabled version of it in key vault %q: check objectVersion", o.Describe(), o.Version, m.KeyVaultName)}
		}
	}
	if len(all) == from {
		return objectResult{err: fail(codes.NotFound, "not_found", "failed to get %s: it has no enabled version in key vault %q", o.Describe(), m.KeyVaultName)}
	}
	versions := all[from:]
	if len(versions) > o.VersionHistory {
		versions = versions[:o.VersionHistory]
	}
	var res objectResult
	for i, v := range versions {
		it, err := s.fetcher.Get(ctx, t, o.Type, o.Name, v)
		if err != nil {
			return objectResult{err: s.objectError(m, o, err)}
		}
		files, warns, err := s.render(o, fmt.Sprintf("%s/%d", o.FileName(), i), it)
		if err != nil {
			return objectResult{err: err}
		}
		res.files = append(res.files, files...)
		if i == 0 {
			res.warnings = warns // the same setting warns once, not per version
		}
		res.versions = append(res.versions, &v1alpha1.ObjectVersion{Id: fmt.Sprintf("%s/%s/%d", o.Type, o.Name, i), Version: it.Version})
	}
	return res
}

// render turns one fetched version into its file(s) at path, with the
// warnings of settings rendered leniently.
func (s *Server) render(o params.Object, path string, it *keyvault.Item) ([]*v1alpha1.File, []string, error) {
	var (
		data  []byte
		warns []render.Warning
		err   error
	)
	switch {
	case it.Secret != nil:
		data, warns, err = render.RenderSecret(*it.Secret, render.SecretOptions{Format: o.Format, Encoding: o.Encoding, ConstructPEMChain: s.cfg.ConstructPEMChain, Strict: s.cfg.Strict})
	case it.Key != nil:
		data, err = render.RenderKey(*it.Key)
	default:
		data, err = render.RenderCert(it.Cert)
	}
	if err != nil {
		return nil, nil, fail(codes.InvalidArgument, "render", "failed to get %s: %v", o.Describe(), err)
	}
	var msgs []string
	for _, w := range warns {
		msgs = append(msgs, fmt.Sprintf("object %q: %s", o.Name, w.Msg))
	}
	mode := int32(o.Mode)
	files := []*v1alpha1.File{{Path: path, Mode: mode, Contents: data}}
	if s.cfg.WriteCertAndKeyInSeparateFiles && it.Secret != nil && it.Secret.CertBacked && o.Format != "pfx" {
		crt, key := render.SplitCertAndKey(data)
		files = append(files, &v1alpha1.File{Path: path + ".crt", Mode: mode, Contents: crt}, &v1alpha1.File{Path: path + ".key", Mode: mode, Contents: key})
	}
	return files, msgs, nil
}
