package dataplane

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// pageResult is the service's list page. NextLink is absolute and keeps the
// api-version, because the SDK pager follows it verbatim.
type pageResult struct {
	Value    []any   `json:"value"`
	NextLink *string `json:"nextLink"`
}

// page cuts items into the page the request asks for: maxresults (1..limit,
// default limit) and the opaque $skiptoken of the previous page.
func (c *Call) page(items []any, limit int) (int, any, error) {
	q := c.R.URL.Query()
	size := limit
	if s := q.Get("maxresults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > limit {
			return 0, nil, kverr.ErrBadParameter("maxresults %q is invalid: use an integer from 1 to %d.", kverr.Truncate(s, 20), limit)
		}
		size = n
	}
	skip := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			return 0, nil, kverr.ErrBadParameter("$skiptoken is not one this vault issued; restart the listing without it.")
		}
		skip = n
	}
	if skip > len(items) {
		skip = len(items)
	}
	end := min(skip+size, len(items))
	res := pageResult{Value: items[skip:end]}
	if res.Value == nil {
		res.Value = []any{}
	}
	if end < len(items) {
		nq := url.Values{}
		nq.Set("api-version", c.APIVersion)
		nq.Set("maxresults", strconv.Itoa(size))
		nq.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))))
		link := c.Base + c.R.URL.Path + "?" + nq.Encode()
		res.NextLink = &link
	}
	return http.StatusOK, res, nil
}

// listObjects pages the objects of one kind that keep accepts, in name
// order, rendered by render. pick selects the kind's map from the vault.
func listObjects[V any](c *Call, pick func(*store.Vault) map[string]*store.Object[V], keep func(*store.Object[V]) bool, render func(*store.Object[V]) any) (int, any, error) {
	var items []any
	err := c.View(func(v *store.Vault) error {
		m := pick(v)
		for _, n := range store.SortedNames(m) {
			if obj := m[n]; keep(obj) {
				items = append(items, render(obj))
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return c.page(items, 25)
}

// listVersions pages every version of a live object, oldest first.
func listVersions[V any](c *Call, kind string, pick func(*store.Vault) map[string]*store.Object[V], render func(*store.Object[V], *V) any) (int, any, error) {
	name := c.Name()
	var items []any
	err := c.View(func(v *store.Vault) error {
		obj := pick(v)[name]
		if !obj.Live() {
			return kverr.ErrNotFound(kind, name, "")
		}
		for _, ver := range obj.Versions {
			items = append(items, render(obj, ver))
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return c.page(items, 25)
}
