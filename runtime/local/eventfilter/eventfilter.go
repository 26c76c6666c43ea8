// Package eventfilter implements Lambda event filtering: the filter patterns of an event
// source mapping's FilterCriteria, matched against a record as Lambda sees it (for a
// DynamoDB stream: eventName, dynamodb.NewImage with typed attribute values, ...).
//
// A pattern is a JSON object whose keys follow the record's fields; a leaf is a list of
// rules, any of which may match: a literal string, number or boolean (equality), null,
// "" (the empty string), {"prefix": s}, {"suffix": s}, {"equals-ignore-case": s},
// {"anything-but": value or [values] or {"prefix": s}}, {"numeric": [op, n, ...]} and
// {"exists": bool}. "$or": [patterns] matches when any of its patterns does. A field the
// pattern names must be present in the record (unless {"exists": false}); a record
// field that is a list matches when any element does. A record passes a mapping when it
// matches any of its filters.
package eventfilter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidPattern is wrapped by the errors of Parse for a pattern Lambda would refuse.
var ErrInvalidPattern = errors.New("eventfilter: invalid pattern")

// Pattern is one parsed filter pattern.
type Pattern struct {
	root node
	text string
}

// node is an object level of a pattern: fields with their rules or nested objects, and
// $or alternatives.
type node struct {
	fields map[string]field
	or     [][]node // each alternative is a conjunction of nodes (one per $or element)
}

// field is what a pattern says about one field: either rules (a leaf) or a nested object.
type field struct {
	rules  []rule
	nested *node
}

// rule is one leaf rule.
type rule struct {
	kind  string // "exact", "null", "prefix", "suffix", "equals-ignore-case", "anything-but", "anything-but-prefix", "numeric", "exists"
	value any    // the literal, the string, the excluded values, the exists flag
	ops   []numericOp
}

type numericOp struct {
	op string
	n  float64
}

// Parse parses a filter pattern (the Pattern string of a FilterCriteria filter).
func Parse(text string) (*Pattern, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPattern, err)
	}
	root, err := parseNode(raw, "")
	if err != nil {
		return nil, err
	}
	return &Pattern{root: root, text: text}, nil
}

// String returns the pattern's text.
func (p *Pattern) String() string { return p.text }

func parseNode(raw map[string]any, path string) (node, error) {
	n := node{fields: make(map[string]field, len(raw))}
	for key, v := range raw {
		at := strings.TrimPrefix(path+"."+key, ".")
		if key == "$or" {
			alts, ok := v.([]any)
			if !ok || len(alts) < 2 {
				return node{}, fmt.Errorf("%w: %s: $or needs a list of at least two patterns", ErrInvalidPattern, at)
			}
			var or []node
			for i, a := range alts {
				m, ok := a.(map[string]any)
				if !ok {
					return node{}, fmt.Errorf("%w: %s[%d]: not an object", ErrInvalidPattern, at, i)
				}
				alt, err := parseNode(m, path)
				if err != nil {
					return node{}, err
				}
				or = append(or, alt)
			}
			n.or = append(n.or, or)
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			nested, err := parseNode(v, at)
			if err != nil {
				return node{}, err
			}
			n.fields[key] = field{nested: &nested}
		case []any:
			if len(v) == 0 {
				return node{}, fmt.Errorf("%w: %s: an empty list matches nothing", ErrInvalidPattern, at)
			}
			var rules []rule
			for _, r := range v {
				parsed, err := parseRule(r, at)
				if err != nil {
					return node{}, err
				}
				rules = append(rules, parsed)
			}
			n.fields[key] = field{rules: rules}
		default:
			return node{}, fmt.Errorf("%w: %s: a leaf must be a list of rules, got %v", ErrInvalidPattern, at, v)
		}
	}
	return n, nil
}

func parseRule(v any, at string) (rule, error) {
	switch v := v.(type) {
	case nil:
		return rule{kind: "null"}, nil
	case string, float64, bool:
		return rule{kind: "exact", value: v}, nil
	case map[string]any:
		if len(v) != 1 {
			return rule{}, fmt.Errorf("%w: %s: a rule object has one key", ErrInvalidPattern, at)
		}
		for k, arg := range v {
			switch k {
			case "prefix", "suffix", "equals-ignore-case":
				s, ok := arg.(string)
				if !ok {
					return rule{}, fmt.Errorf("%w: %s: %s takes a string", ErrInvalidPattern, at, k)
				}
				return rule{kind: k, value: s}, nil
			case "exists":
				b, ok := arg.(bool)
				if !ok {
					return rule{}, fmt.Errorf("%w: %s: exists takes true or false", ErrInvalidPattern, at)
				}
				return rule{kind: k, value: b}, nil
			case "anything-but":
				switch a := arg.(type) {
				case string, float64, bool:
					return rule{kind: k, value: []any{a}}, nil
				case []any:
					return rule{kind: k, value: a}, nil
				case map[string]any:
					if p, ok := a["prefix"].(string); ok && len(a) == 1 {
						return rule{kind: "anything-but-prefix", value: p}, nil
					}
				}
				return rule{}, fmt.Errorf("%w: %s: anything-but takes a value, a list or {\"prefix\": s}", ErrInvalidPattern, at)
			case "numeric":
				ops, err := parseNumeric(arg)
				if err != nil {
					return rule{}, fmt.Errorf("%w: %s: %v", ErrInvalidPattern, at, err)
				}
				return rule{kind: k, ops: ops}, nil
			}
			return rule{}, fmt.Errorf("%w: %s: unknown rule %q", ErrInvalidPattern, at, k)
		}
	}
	return rule{}, fmt.Errorf("%w: %s: unsupported rule %v", ErrInvalidPattern, at, v)
}

func parseNumeric(arg any) ([]numericOp, error) {
	l, ok := arg.([]any)
	if !ok || len(l) == 0 || len(l)%2 != 0 || len(l) > 4 {
		return nil, errors.New("numeric takes one or two [operator, number] pairs")
	}
	var ops []numericOp
	for i := 0; i < len(l); i += 2 {
		op, _ := l[i].(string)
		n, isNum := l[i+1].(float64)
		switch op {
		case "=", "<", "<=", ">", ">=":
		default:
			return nil, fmt.Errorf("numeric operator %q", op)
		}
		if !isNum {
			return nil, fmt.Errorf("numeric %s needs a number", op)
		}
		ops = append(ops, numericOp{op, n})
	}
	return ops, nil
}

// Match reports whether record (a JSON document) matches the pattern.
func (p *Pattern) Match(record []byte) (bool, error) {
	var doc map[string]any
	if err := json.Unmarshal(record, &doc); err != nil {
		return false, fmt.Errorf("eventfilter: record: %w", err)
	}
	return p.root.match(doc), nil
}

// MatchAny reports whether record matches any of patterns: a record passes a mapping
// whose filters include one it matches.
func MatchAny(patterns []*Pattern, record []byte) (bool, error) {
	var doc map[string]any
	if err := json.Unmarshal(record, &doc); err != nil {
		return false, fmt.Errorf("eventfilter: record: %w", err)
	}
	for _, p := range patterns {
		if p.root.match(doc) {
			return true, nil
		}
	}
	return false, nil
}

func (n node) match(doc map[string]any) bool {
	for key, f := range n.fields {
		v, present := doc[key]
		if f.nested != nil {
			obj, ok := v.(map[string]any)
			if !present || !ok || !f.nested.match(obj) {
				return false
			}
			continue
		}
		if !matchRules(f.rules, v, present) {
			return false
		}
	}
	for _, alts := range n.or {
		matched := false
		for _, alt := range alts {
			if alt.match(doc) {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	return true
}

// matchRules reports whether any rule matches the value (any element of a list value).
func matchRules(rules []rule, v any, present bool) bool {
	for _, r := range rules {
		if r.kind == "exists" {
			if r.value.(bool) == present {
				return true
			}
			continue
		}
		if !present {
			continue
		}
		values, isList := v.([]any)
		if !isList {
			values = []any{v}
		}
		for _, e := range values {
			if r.match(e) {
				return true
			}
		}
	}
	return false
}

func (r rule) match(v any) bool {
	switch r.kind {
	case "null":
		return v == nil
	case "exact":
		return equal(r.value, v)
	case "prefix":
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, r.value.(string))
	case "suffix":
		s, ok := v.(string)
		return ok && strings.HasSuffix(s, r.value.(string))
	case "equals-ignore-case":
		s, ok := v.(string)
		return ok && strings.EqualFold(s, r.value.(string))
	case "anything-but":
		if v == nil {
			return false
		}
		for _, x := range r.value.([]any) {
			if equal(x, v) {
				return false
			}
		}
		return true
	case "anything-but-prefix":
		s, ok := v.(string)
		return ok && !strings.HasPrefix(s, r.value.(string))
	case "numeric":
		n, ok := number(v)
		if !ok {
			return false
		}
		for _, op := range r.ops {
			if !op.holds(n) {
				return false
			}
		}
		return true
	}
	return false
}

// equal compares a literal with a record value: strings and booleans exactly, numbers by
// value.
func equal(want, got any) bool {
	if w, ok := want.(float64); ok {
		g, ok := got.(float64)
		return ok && g == w
	}
	return want == got
}

// number reads a numeric record value: a JSON number only. A DynamoDB "N" attribute is a
// string in the record, so numeric rules do not match it (Lambda compares it as text).
func number(v any) (float64, bool) {
	n, ok := v.(float64)
	return n, ok
}

func (o numericOp) holds(n float64) bool {
	switch o.op {
	case "=":
		return n == o.n
	case "<":
		return n < o.n
	case "<=":
		return n <= o.n
	case ">":
		return n > o.n
	}
	return n >= o.n
}
