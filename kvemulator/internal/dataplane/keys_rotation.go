package dataplane

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Key rotation policies: stored and returned as the service does. The emulator does not run
// the policy on a clock; scenarios rotate explicitly (the rotate operation or the admin API),
// which keeps tests deterministic.

type rotationPolicy struct {
	ID              string           `json:"id,omitempty"`
	LifetimeActions []rotationAction `json:"lifetimeActions"`
	Attributes      rotationAttrs    `json:"attributes"`
}

type rotationAction struct {
	Trigger struct {
		TimeAfterCreate  string `json:"timeAfterCreate,omitempty"`
		TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
	} `json:"trigger"`
	Action struct {
		Type string `json:"type"`
	} `json:"action"`
}

type rotationAttrs struct {
	ExpiryTime string `json:"expiryTime,omitempty"`
	Created    int64  `json:"created,omitempty"`
	Updated    int64  `json:"updated,omitempty"`
}

// keyObjectExtra is Object[KeyVersion].Extra.
type keyObjectExtra struct {
	RotationPolicy *rotationPolicy `json:"rotationPolicy,omitempty"`
}

// isoDuration matches the ISO 8601 durations Key Vault takes (P90D, P1Y2M, PT12H, ...).
var isoDuration = regexp.MustCompile(`^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$`)

func validDuration(s string) bool {
	return s != "P" && !strings.HasSuffix(s, "T") && isoDuration.MatchString(s)
}

func (p *rotationPolicy) validate() error {
	if p.Attributes.ExpiryTime != "" && !validDuration(p.Attributes.ExpiryTime) {
		return kverr.ErrBadParameter("attributes.expiryTime %q is not an ISO 8601 duration such as P90D.", kverr.Truncate(p.Attributes.ExpiryTime, 40))
	}
	for i, a := range p.LifetimeActions {
		switch {
		case strings.EqualFold(a.Action.Type, "Rotate"):
			p.LifetimeActions[i].Action.Type = "Rotate"
		case strings.EqualFold(a.Action.Type, "Notify"):
			p.LifetimeActions[i].Action.Type = "Notify"
		default:
			return kverr.ErrBadParameter("lifetimeActions[%d].action.type %q is invalid: use Rotate or Notify.", i, kverr.Truncate(a.Action.Type, 40))
		}
		after, before := a.Trigger.TimeAfterCreate, a.Trigger.TimeBeforeExpiry
		if (after == "") == (before == "") {
			return kverr.ErrBadParameter("lifetimeActions[%d].trigger needs exactly one of timeAfterCreate or timeBeforeExpiry.", i)
		}
		if d := after + before; !validDuration(d) {
			return kverr.ErrBadParameter("lifetimeActions[%d].trigger %q is not an ISO 8601 duration such as P30D.", i, kverr.Truncate(d, 40))
		}
		if before != "" && p.Attributes.ExpiryTime == "" {
			return kverr.ErrBadParameter("lifetimeActions[%d].trigger.timeBeforeExpiry needs attributes.expiryTime.", i)
		}
	}
	return nil
}

// defaultRotationPolicy is what the service returns for a key without a policy.
func defaultRotationPolicy() *rotationPolicy {
	p := &rotationPolicy{LifetimeActions: []rotationAction{{}}}
	p.LifetimeActions[0].Trigger.TimeBeforeExpiry = "P30D"
	p.LifetimeActions[0].Action.Type = "Notify"
	return p
}

func keyExtra(obj *store.Object[store.KeyVersion]) keyObjectExtra {
	var x keyObjectExtra
	if len(obj.Extra) > 0 {
		_ = json.Unmarshal(obj.Extra, &x)
	}
	return x
}

func getKeyRotationPolicy(c *Call) (int, any, error) {
	name := c.Name()
	var out *rotationPolicy
	err := c.View(func(v *store.Vault) error {
		obj := v.Keys[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindKey, name, "")
		}
		out = keyExtra(obj).RotationPolicy
		if out == nil {
			out = defaultRotationPolicy()
		}
		out.ID = c.ID("keys", name, "rotationpolicy")
		return nil
	})
	return http.StatusOK, out, err
}

func updateKeyRotationPolicy(c *Call) (int, any, error) {
	name := c.Name()
	var p rotationPolicy
	if err := c.Decode(&p); err != nil {
		return 0, nil, err
	}
	if err := p.validate(); err != nil {
		return 0, nil, err
	}
	if p.LifetimeActions == nil {
		p.LifetimeActions = []rotationAction{}
	}
	err := c.Update(func(v *store.Vault) error {
		obj := v.Keys[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindKey, name, "")
		}
		x := keyExtra(obj)
		p.Attributes.Created = c.Now.Unix()
		if x.RotationPolicy != nil && x.RotationPolicy.Attributes.Created != 0 {
			p.Attributes.Created = x.RotationPolicy.Attributes.Created
		}
		p.Attributes.Updated = c.Now.Unix()
		p.ID = ""
		x.RotationPolicy = &p
		obj.Extra, _ = json.Marshal(x)
		return nil
	})
	p.ID = c.ID("keys", name, "rotationpolicy")
	return http.StatusOK, &p, err
}
