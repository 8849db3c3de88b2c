// Package content is the one step that fills a volume: call the provider's
// Mount, validate what it returned, and write it atomically. NodePublishVolume
// runs it on a fresh tmpfs; rotation and kubelet's republish run it again on
// a live target, where an error must leave the old content in place.
package content

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"

	providerv1alpha1 "github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/atomicwriter"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultFileMode is the permission sent to providers (0644, sent as "420").
// A file's mode is the provider's File.mode as is, like upstream: proto3
// cannot tell an unset mode from 0, and upstream writes 0 as 0000, which is
// what filePermission: "0000" asks for.
const DefaultFileMode fs.FileMode = 0o644

// Request is one refresh of one volume.
type Request struct {
	// Provider is the SecretProviderClass spec.provider.
	Provider string
	// Attributes are sent as MountRequest.attributes (see
	// driver.BuildAttributes).
	Attributes map[string]string
	// Secrets are the nodePublishSecretRef data, sent as JSON.
	Secrets map[string]string
	// TargetPath is the volume directory.
	TargetPath string
	// CurrentObjectVersions are the versions mounted now (nil on first
	// mount).
	CurrentObjectVersions []driver.ObjectVersion
}

// Result is what a refresh produced.
type Result struct {
	// Objects are the provider's object versions, sorted by ID.
	Objects []driver.ObjectVersion
	// Files are the payload paths below TargetPath, sorted; empty when the
	// provider wrote the files itself (legacy providers).
	Files []string
	// Changed is false when the provider returned exactly the content
	// already mounted, in which case nothing was written.
	Changed bool
	// Warnings are the provider's MountResponse.warnings followed by the
	// driver's own (a mode it narrowed); one line each, no secret values.
	// The caller reports them (csiplugin: SecretProviderClassWarning events).
	Warnings []string
}

// Providers gives a client for a provider name.
type Providers interface {
	Client(provider string) (providerv1alpha1.CSIDriverProviderClient, error)
}

// Refresher runs refreshes. It holds no per-volume state, so one Refresher
// serves all volumes concurrently; callers serialise refreshes of one
// target.
type Refresher struct {
	Providers Providers
}

var _ Providers = (*providerclient.Pool)(nil)

// Error is a refresh failure with a gRPC code and a bounded error type for
// the error_type metric label. It implements GRPCStatus so handlers can
// return it as is.
type Error struct {
	Code codes.Code
	// Type is the provider's MountResponse.error.code, or the gRPC code
	// name.
	Type string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// GRPCStatus lets grpc and status.FromError see the code.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Msg) }

// ErrorType returns the error_type metric label for err.
func ErrorType(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Type
	}
	if s, ok := status.FromError(err); ok {
		return s.Code().String()
	}
	return codes.Unknown.String()
}

func fail(code codes.Code, typ, format string, args ...any) *Error {
	if typ == "" {
		typ = code.String()
	}
	return &Error{Code: code, Type: typ, Msg: fmt.Sprintf(format, args...)}
}

// Refresh calls the provider and writes what it returned. On any error the
// target keeps its previous content.
func (r *Refresher) Refresh(ctx context.Context, req Request) (Result, error) {
	client, err := r.Providers.Client(req.Provider)
	if err != nil {
		s := status.Convert(err)
		return Result{}, fail(s.Code(), "", "%s", s.Message())
	}
	attrs, err := json.Marshal(req.Attributes)
	if err != nil {
		return Result{}, fail(codes.Internal, "", "encode attributes: %v", err)
	}
	secrets := req.Secrets
	if secrets == nil {
		secrets = map[string]string{}
	}
	secretsJSON, err := json.Marshal(secrets)
	if err != nil {
		return Result{}, fail(codes.Internal, "", "encode nodePublishSecretRef data: %v", err)
	}
	mreq := &providerv1alpha1.MountRequest{
		Attributes: string(attrs),
		Secrets:    string(secretsJSON),
		TargetPath: req.TargetPath,
		Permission: strconv.Itoa(int(DefaultFileMode)),
	}
	for _, o := range req.CurrentObjectVersions {
		mreq.CurrentObjectVersion = append(mreq.CurrentObjectVersion, &providerv1alpha1.ObjectVersion{Id: o.ID, Version: o.Version})
	}

	resp, err := client.Mount(ctx, mreq)
	if err != nil {
		s := status.Convert(err)
		code := s.Code()
		if code == codes.OK || code == codes.Unknown {
			code = codes.Internal
		}
		return Result{}, fail(code, s.Code().String(), "provider %q failed to mount: %s", req.Provider, s.Message())
	}
	if c := resp.GetError().GetCode(); c != "" {
		return Result{}, fail(codes.Internal, c, "provider %q failed to mount: error code %s", req.Provider, c)
	}
	if len(resp.GetObjectVersion()) == 0 {
		return Result{}, fail(codes.Internal, "MissingObjectVersion", "provider %q returned no object versions; a provider must return the version of every object it mounts", req.Provider)
	}

	objects := make([]driver.ObjectVersion, 0, len(resp.GetObjectVersion()))
	for _, o := range resp.GetObjectVersion() {
		objects = append(objects, driver.ObjectVersion{ID: o.GetId(), Version: o.GetVersion()})
	}
	sort.Slice(objects, func(i, j int) bool { return objects[i].ID < objects[j].ID })

	warnings := append([]string(nil), resp.GetWarnings()...)
	if len(resp.GetFiles()) == 0 {
		// Legacy provider: it wrote into TargetPath itself.
		return Result{Objects: objects, Changed: !sameVersions(objects, req.CurrentObjectVersions), Warnings: warnings}, nil
	}
	files := make([]atomicwriter.File, 0, len(resp.GetFiles()))
	paths := make([]string, 0, len(resp.GetFiles()))
	for _, f := range resp.GetFiles() {
		if err := atomicwriter.ValidatePath(f.GetPath()); err != nil {
			return Result{}, fail(codes.Internal, "InvalidFilePath", "provider %q returned an invalid file: %v", req.Provider, err)
		}
		mode, warning := fileMode(f.GetPath(), f.GetMode())
		if warning != "" {
			warnings = append(warnings, warning)
		}
		files = append(files, atomicwriter.File{Path: f.GetPath(), Mode: mode, Data: f.GetContents()})
		paths = append(paths, f.GetPath())
	}
	sort.Strings(paths)
	changed, err := atomicwriter.Write(req.TargetPath, files)
	if err != nil && !errors.Is(err, atomicwriter.ErrCleanup) {
		return Result{}, fail(codes.Internal, "WriteFailed", "write files of provider %q: %v", req.Provider, err)
	}
	return Result{Objects: objects, Files: paths, Changed: changed, Warnings: warnings}, nil
}

// fileMode turns a provider's File.mode into the permission written: the
// mode as is (0 is 0000), but never setuid, setgid or sticky: bits beyond
// 0777 are dropped with a warning naming the file and the mode written.
func fileMode(path string, raw int32) (fs.FileMode, string) {
	perm := fs.FileMode(uint32(raw) & 0o777)
	if uint32(raw)&^0o777 == 0 {
		return perm, ""
	}
	return perm, fmt.Sprintf("file %q: mode %#o has bits beyond 0777 (setuid, setgid or sticky), which the driver never writes; written as %#o: set filePermission to at most 0777", path, uint32(raw), uint32(perm))
}

func sameVersions(a, b []driver.ObjectVersion) bool {
	if len(a) != len(b) {
		return false
	}
	bs := append([]driver.ObjectVersion(nil), b...)
	sort.Slice(bs, func(i, j int) bool { return bs[i].ID < bs[j].ID })
	for i := range a {
		if a[i] != bs[i] {
			return false
		}
	}
	return true
}
