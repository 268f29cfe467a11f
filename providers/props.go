package providers

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/slipway/slipway/stack"
)

// props reads nested properties (lists of objects, as ELBv2's actions and
// conditions are) by path, remembering the first problem in
// CloudFormation's words, so that a provider reads everything and checks
// once.
type props struct {
	logical string
	err     error
}

func readProps(r *stack.Request) *props { return &props{logical: r.Logical} }

// fail records a problem at path ("DefaultActions/0/Type").
func (p *props) fail(path, format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("Properties validation failed for resource %s with message: #/%s: %s", p.logical, path, fmt.Sprintf(format, args...))
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "/" + key
}

// found names a value's JSON type for an error.
func found(v any) string {
	switch v.(type) {
	case []any:
		return "JSONArray"
	case map[string]any:
		return "JSONObject"
	case bool:
		return "Boolean"
	case json.Number:
		return "Number"
	}
	return "String"
}

// str reads m[key] as a string ("" when absent); numbers and booleans are
// taken in their JSON form.
func (p *props) str(m map[string]any, path, key string) string {
	switch v := m[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	default:
		p.fail(join(path, key), "expected type: String, found: %s", found(v))
		return ""
	}
}

// integer reads m[key] as a whole number, also from a string as
// CloudFormation does; ok is false when it is absent.
func (p *props) integer(m map[string]any, path, key string) (n int, ok bool) {
	var s string
	switch v := m[key].(type) {
	case nil:
		return 0, false
	case json.Number:
		s = v.String()
	case string:
		s = strings.TrimSpace(v)
	case int:
		return v, true
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		p.fail(join(path, key), "expected type: Integer, found: %s", found(v))
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		p.fail(join(path, key), "expected type: Integer, found: %q", s)
		return 0, false
	}
	return n, true
}

// boolean reads m[key] as a boolean, also from "true" or "false".
func (p *props) boolean(m map[string]any, path, key string) bool {
	switch v := m[key].(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	p.fail(join(path, key), "expected type: Boolean, found: %s", found(m[key]))
	return false
}

// list reads m[key] as a list (nil when absent).
func (p *props) list(m map[string]any, path, key string) []any {
	switch v := m[key].(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		p.fail(join(path, key), "expected type: JSONArray, found: %s", found(v))
		return nil
	}
}

// object reads m[key] as an object (nil when absent).
func (p *props) object(m map[string]any, path, key string) map[string]any {
	switch v := m[key].(type) {
	case nil:
		return nil
	case map[string]any:
		return v
	default:
		p.fail(join(path, key), "expected type: JSONObject, found: %s", found(v))
		return nil
	}
}

// objects reads m[key] as a list of objects.
func (p *props) objects(m map[string]any, path, key string) []map[string]any {
	var out []map[string]any
	for i, v := range p.list(m, path, key) {
		o, ok := v.(map[string]any)
		if !ok {
			p.fail(fmt.Sprintf("%s/%d", join(path, key), i), "expected type: JSONObject, found: %s", found(v))
			continue
		}
		out = append(out, o)
	}
	return out
}

// strings reads m[key] as a list of strings.
func (p *props) strings(m map[string]any, path, key string) []string {
	var out []string
	for i, v := range p.list(m, path, key) {
		out = append(out, p.str(map[string]any{strconv.Itoa(i): v}, join(path, key), strconv.Itoa(i)))
	}
	return out
}

// without returns m without the keys.
func without(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}
