// Package iam evaluates AWS IAM policies the way AWS does for a request within one
// account: every statement of the caller's identity-based policies and of the
// resource's resource-based policy that applies to the request is considered; an
// explicit Deny wins, then any Allow, and otherwise the request is implicitly denied.
// Actions and resources match with the * and ? wildcards (actions case-insensitively),
// NotAction and NotResource invert them, and the common condition operators are
// evaluated against the request's context keys. It has no AWS dependency: the local
// stack uses it to enforce a template's policies on the calls its functions make.
package iam

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidPolicy is wrapped by the errors of ParsePolicy.
var ErrInvalidPolicy = errors.New("iam: invalid policy")

// Policy is a policy document.
type Policy struct {
	// Name says where the policy comes from, for messages (a logical ID).
	Name string
	// Statements are the policy's statements.
	Statements []Statement
}

// Statement is one policy statement.
type Statement struct {
	Sid         string
	Effect      Effect
	Action      []string
	NotAction   []string
	Resource    []string
	NotResource []string
	// Principal lists the principals a resource-based statement applies to: "*" for
	// anyone, else ARNs (an account root ARN or a bare account id covers the account's
	// roles) and service principals. Empty in identity-based policies.
	Principal []string
	// Condition maps an operator (StringEquals, ArnLike, Bool, ...) to its keys and the
	// values each key is compared with.
	Condition map[string]map[string][]string
}

// Effect is Allow or Deny.
type Effect string

// The two effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// ParsePolicy reads a policy document: a resolved JSON value (map[string]any), as
// CloudFormation templates embed them.
func ParsePolicy(name string, doc any) (Policy, error) {
	m, ok := doc.(map[string]any)
	if !ok {
		return Policy{}, fmt.Errorf("%w: %s: not an object", ErrInvalidPolicy, name)
	}
	p := Policy{Name: name}
	var raw []any
	switch st := m["Statement"].(type) {
	case []any:
		raw = st
	case map[string]any:
		raw = []any{st}
	default:
		return Policy{}, fmt.Errorf("%w: %s: no Statement", ErrInvalidPolicy, name)
	}
	for i, r := range raw {
		st, err := parseStatement(r)
		if err != nil {
			return Policy{}, fmt.Errorf("%w: %s: statement %d: %v", ErrInvalidPolicy, name, i, err)
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func parseStatement(v any) (Statement, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Statement{}, errors.New("not an object")
	}
	var st Statement
	st.Sid, _ = m["Sid"].(string)
	switch e, _ := m["Effect"].(string); e {
	case "Allow", "Deny":
		st.Effect = Effect(e)
	default:
		return Statement{}, fmt.Errorf("effect %q", e)
	}
	var err error
	for _, f := range []struct {
		key string
		dst *[]string
	}{{"Action", &st.Action}, {"NotAction", &st.NotAction}, {"Resource", &st.Resource}, {"NotResource", &st.NotResource}} {
		if *f.dst, err = stringList(m[f.key]); err != nil {
			return Statement{}, fmt.Errorf("%s: %w", f.key, err)
		}
	}
	if len(st.Action) == 0 && len(st.NotAction) == 0 {
		return Statement{}, errors.New("no Action or NotAction")
	}
	if st.Principal, err = principals(m["Principal"]); err != nil {
		return Statement{}, fmt.Errorf("principal: %w", err)
	}
	if c, ok := m["Condition"].(map[string]any); ok {
		st.Condition = make(map[string]map[string][]string, len(c))
		for op, keys := range c {
			km, ok := keys.(map[string]any)
			if !ok {
				return Statement{}, fmt.Errorf("condition %s: not an object", op)
			}
			st.Condition[op] = make(map[string][]string, len(km))
			for k, vals := range km {
				if st.Condition[op][k], err = stringList(vals); err != nil {
					return Statement{}, fmt.Errorf("condition %s %s: %w", op, k, err)
				}
			}
		}
	}
	return st, nil
}

// stringList reads a string or a list of strings (numbers and booleans as text).
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case bool, float64:
		return []string{fmt.Sprint(v)}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, err := stringList(e)
			if err != nil || len(s) != 1 {
				return nil, fmt.Errorf("element %v is not a string", e)
			}
			out = append(out, s[0])
		}
		return out, nil
	}
	return nil, fmt.Errorf("%T is not a string or a list", v)
}

// principals reads a Principal: "*", or {"AWS": ..., "Service": ..., "Federated": ...}.
func principals(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case map[string]any:
		var out []string
		for _, kind := range []string{"AWS", "Service", "Federated", "CanonicalUser"} {
			l, err := stringList(v[kind])
			if err != nil {
				return nil, err
			}
			out = append(out, l...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%T", v)
}

// Request is one call to authorize.
type Request struct {
	// Principal is the caller: its role ARN (arn:aws:iam::ACCOUNT:role/NAME).
	Principal string
	// Action is service:Operation, such as dynamodb:UpdateItem.
	Action string
	// Resource is the ARN the service authorizes the call on.
	Resource string
	// Context holds the condition keys of the request (aws:SecureTransport,
	// aws:SourceArn, ...), by key name.
	Context map[string][]string
}

// Decision is the outcome of an evaluation.
type Decision int

// Decisions.
const (
	// ImplicitDeny: no statement allows the request.
	ImplicitDeny Decision = iota
	// Allowed: a statement allows it and none denies it.
	Allowed
	// ExplicitDeny: a Deny statement applies.
	ExplicitDeny
)

// Result is an evaluation's decision, with what it rests on.
type Result struct {
	Decision Decision
	// Policy and Statement name the deciding statement (the explicit Deny, or the first
	// Allow); empty for an implicit deny.
	Policy    string
	Statement int
	// ResourceBased is true when the deciding statement is in the resource's policy.
	ResourceBased bool
	// Unsupported lists condition operators and keys the evaluation could not check; a
	// statement with one does not apply.
	Unsupported []string
}

// Allowed reports whether the request is allowed.
func (r Result) Allowed() bool { return r.Decision == Allowed }

// Evaluate decides req against the caller's identity-based policies and the resource's
// resource-based policies (within one account, either may allow; a Deny in either wins).
func Evaluate(identity, resource []Policy, req Request) Result {
	var res Result
	var allow *Result
	check := func(pols []Policy, resourceBased bool) bool {
		for _, p := range pols {
			for i, st := range p.Statements {
				if resourceBased && !principalMatches(st.Principal, req.Principal) {
					continue
				}
				applies, unsupported := st.applies(req)
				res.Unsupported = append(res.Unsupported, unsupported...)
				if !applies {
					continue
				}
				if st.Effect == Deny {
					res.Decision, res.Policy, res.Statement, res.ResourceBased = ExplicitDeny, p.Name, i, resourceBased
					return true
				}
				if allow == nil {
					allow = &Result{Decision: Allowed, Policy: p.Name, Statement: i, ResourceBased: resourceBased}
				}
			}
		}
		return false
	}
	if check(identity, false) || check(resource, true) {
		return res
	}
	if allow != nil {
		allow.Unsupported = res.Unsupported
		return *allow
	}
	return res
}

// applies reports whether the statement covers req: its action, resource and conditions.
func (st Statement) applies(req Request) (bool, []string) {
	if len(st.Action) > 0 && !matchAny(st.Action, req.Action, true) {
		return false, nil
	}
	if len(st.NotAction) > 0 && matchAny(st.NotAction, req.Action, true) {
		return false, nil
	}
	if len(st.Resource) > 0 && !matchAny(st.Resource, req.Resource, false) {
		return false, nil
	}
	if len(st.NotResource) > 0 && matchAny(st.NotResource, req.Resource, false) {
		return false, nil
	}
	if len(st.Resource) == 0 && len(st.NotResource) == 0 && len(st.Principal) == 0 {
		// An identity-based statement without a resource applies to nothing.
		return false, nil
	}
	return st.conditionsHold(req.Context)
}

// principalMatches reports whether a resource-based statement's Principal covers the
// caller: "*", the role's ARN, or its account (a root ARN or a bare account id).
func principalMatches(principals []string, caller string) bool {
	account := accountOf(caller)
	for _, p := range principals {
		switch {
		case p == "*", p == caller:
			return true
		case account != "" && (p == account || p == "arn:aws:iam::"+account+":root"):
			return true
		}
	}
	return false
}

// accountOf returns the account id of an ARN.
func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

func matchAny(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			if Match(strings.ToLower(p), strings.ToLower(s)) {
				return true
			}
		} else if Match(p, s) {
			return true
		}
	}
	return false
}

// Match matches an IAM pattern: '*' is any run of characters (slashes and colons
// included), '?' any one character, everything else itself.
func Match(pattern, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// Message is the text AWS puts in an AccessDenied error for a denied request made by
// principal (the caller's session ARN).
func (r Result) Message(principal, action, resource string) string {
	why := "because no identity-based policy allows the " + action + " action"
	if r.Decision == ExplicitDeny {
		why = "with an explicit deny in an identity-based policy"
		if r.ResourceBased {
			why = "with an explicit deny in a resource-based policy"
		}
	}
	return "User: " + principal + " is not authorized to perform: " + action + " on resource: " + resource + " " + why
}
