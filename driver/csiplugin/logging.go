package csiplugin

import (
	"context"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/kvcsi/kvcsi/driver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const redacted = "***stripped***"

// LoggingInterceptor logs every CSI call: the method at -v=2, the request
// with every secret stripped at -v=5, and failures with their code. Secrets
// are the fields the CSI spec marks csi_secret (req.Secrets) and the
// service-account tokens kubelet passes in the volume context.
func LoggingInterceptor(log logr.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		l := log.WithValues("method", info.FullMethod)
		if l.V(5).Enabled() {
			if m, ok := req.(proto.Message); ok {
				l.V(5).Info("CSI request", "request", Sanitize(m))
			}
		}
		resp, err := handler(logr.NewContext(ctx, l), req)
		if err != nil {
			s := status.Convert(err)
			l.Error(nil, "CSI call failed", "code", s.Code().String(), "message", s.Message(), "took", time.Since(start).String())
		} else {
			l.V(2).Info("CSI call", "took", time.Since(start).String())
		}
		return resp, err
	}
}

// Sanitize returns the compact text of a copy of m in which every field
// marked csi_secret and every service-account token is replaced. The result
// is safe to log.
func Sanitize(m proto.Message) string {
	c := proto.Clone(m)
	strip(c.ProtoReflect())
	b, err := prototext.MarshalOptions{}.Marshal(c)
	if err != nil {
		return "<unprintable request>"
	}
	return string(b)
}

func strip(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if isSecret(fd) {
			switch {
			case fd.IsMap():
				mp := m.Mutable(fd).Map()
				mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
					mp.Set(k, protoreflect.ValueOfString(redacted))
					return true
				})
			case fd.Kind() == protoreflect.StringKind && !fd.IsList():
				m.Set(fd, protoreflect.ValueOfString(redacted))
			default:
				m.Clear(fd)
			}
			return true
		}
		if fd.IsMap() && fd.MapValue().Kind() == protoreflect.StringKind && fd.Name() == "volume_context" {
			mp := m.Mutable(fd).Map()
			k := protoreflect.ValueOfString(driver.AttrServiceAccountToken).MapKey()
			if mp.Has(k) {
				mp.Set(k, protoreflect.ValueOfString(redacted))
			}
			return true
		}
		if fd.Kind() == protoreflect.MessageKind && !fd.IsMap() {
			if fd.IsList() {
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					strip(l.Get(i).Message())
				}
			} else {
				strip(m.Mutable(fd).Message())
			}
		}
		return true
	})
}

func isSecret(fd protoreflect.FieldDescriptor) bool {
	opts := fd.Options()
	if opts == nil {
		return false
	}
	v, ok := proto.GetExtension(opts, csi.E_CsiSecret).(bool)
	return ok && v
}
