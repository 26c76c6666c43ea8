package template

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// ErrUnresolvable is wrapped by the errors of Resolver for a value that cannot be resolved
// here: an unknown reference, an attribute nobody assigned, an unsupported function.
var ErrUnresolvable = errors.New("template: cannot resolve")

// Pseudo parameters, the names Ref takes for the deployment environment.
const (
	PseudoAccountID        = "AWS::AccountId"
	PseudoRegion           = "AWS::Region"
	PseudoPartition        = "AWS::Partition"
	PseudoURLSuffix        = "AWS::URLSuffix"
	PseudoStackName        = "AWS::StackName"
	PseudoStackID          = "AWS::StackId"
	PseudoNotificationARNs = "AWS::NotificationARNs"
	PseudoNoValue          = "AWS::NoValue"
)

// Env is the environment a template is deployed in: the values of the pseudo parameters.
type Env struct {
	StackName string
	Region    string
	AccountID string
	// Partition defaults to "aws", URLSuffix to "amazonaws.com".
	Partition, URLSuffix string
}

// ARN returns arn:{partition}:{service}:{region}:{account}:{resource}; region and
// account are left out where the service has none (iam).
func (e Env) ARN(service, resource string, global bool) string {
	if global {
		return "arn:" + e.Partition + ":" + service + "::" + e.AccountID + ":" + resource
	}
	return "arn:" + e.Partition + ":" + service + ":" + e.Region + ":" + e.AccountID + ":" + resource
}

// Physical is what a created resource is to the rest of the template: the value Ref
// returns and the attributes Fn::GetAtt reads.
type Physical struct {
	// Ref is the value of {"Ref": logicalID}.
	Ref string
	// Attrs are the values of {"Fn::GetAtt": [logicalID, name]}: strings, or lists of
	// strings.
	Attrs map[string]any
}

// Resolver resolves template values over the physical resources assigned to it. It is
// not safe for concurrent use while resources are being assigned.
type Resolver struct {
	t          *Template
	env        Env
	params     map[string]any
	physical   map[string]Physical
	conditions map[string]bool
}

// noValue is what {"Ref": "AWS::NoValue"} resolves to: the property or list element is
// removed.
type noValue struct{}

// NewResolver returns a resolver for t deployed in env with the given parameter values
// (parameters without one take their Default), and evaluates the template's conditions.
func NewResolver(t *Template, env Env, params map[string]string) (*Resolver, error) {
	if env.Partition == "" {
		env.Partition = "aws"
	}
	if env.URLSuffix == "" {
		env.URLSuffix = "amazonaws.com"
	}
	r := &Resolver{t: t, env: env, params: make(map[string]any), physical: make(map[string]Physical)}
	for name, p := range t.Parameters {
		switch v, ok := params[name]; {
		case ok:
			r.params[name] = v
		case p.Default != nil && !strings.HasPrefix(p.Type, "AWS::SSM::Parameter::"):
			r.params[name] = p.Default
		}
	}
	r.conditions = make(map[string]bool, len(t.Conditions))
	for _, name := range slices.Sorted(maps.Keys(t.Conditions)) {
		if _, err := r.condition(name, nil); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Env returns the resolver's environment.
func (r *Resolver) Env() Env { return r.env }

// Assign records what the resource logicalID is once created.
func (r *Resolver) Assign(logicalID string, p Physical) { r.physical[logicalID] = p }

// Physical returns what was assigned to logicalID.
func (r *Resolver) Physical(logicalID string) (Physical, bool) {
	p, ok := r.physical[logicalID]
	return p, ok
}

// SetAttr sets one attribute of an assigned resource (one known only once it exists, such
// as a table's stream ARN).
func (r *Resolver) SetAttr(logicalID, name string, v any) {
	p := r.physical[logicalID]
	if p.Attrs == nil {
		p.Attrs = make(map[string]any)
	}
	p.Attrs[name] = v
	r.physical[logicalID] = p
}

// Exists reports whether the resource is part of the stack: it has no Condition, or its
// condition is true.
func (r *Resolver) Exists(res *Resource) bool {
	return res.Condition == "" || r.conditions[res.Condition]
}

// Condition returns the value of a named condition.
func (r *Resolver) Condition(name string) (bool, bool) {
	v, ok := r.conditions[name]
	return v, ok
}

// condition evaluates a named condition once, detecting cycles.
func (r *Resolver) condition(name string, visiting []string) (bool, error) {
	if v, ok := r.conditions[name]; ok {
		return v, nil
	}
	expr, ok := r.t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("%w: unknown condition %s", ErrUnresolvable, name)
	}
	if slices.Contains(visiting, name) {
		return false, fmt.Errorf("%w: condition %s refers to itself", ErrUnresolvable, name)
	}
	v, err := r.boolean(expr, append(visiting, name))
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	r.conditions[name] = v
	return v, nil
}

// boolean evaluates a condition function.
func (r *Resolver) boolean(expr any, visiting []string) (bool, error) {
	fn, arg, ok := intrinsic(expr)
	if !ok {
		if b, isBool := expr.(bool); isBool {
			return b, nil
		}
		return false, fmt.Errorf("%w: not a condition: %v", ErrUnresolvable, expr)
	}
	switch fn {
	case "Condition":
		name, _ := arg.(string)
		return r.condition(name, visiting)
	case "Fn::Equals":
		args, _ := arg.([]any)
		if len(args) != 2 {
			return false, fmt.Errorf("%w: Fn::Equals takes two values", ErrUnresolvable)
		}
		a, err := r.value(args[0], visiting)
		if err != nil {
			return false, err
		}
		b, err := r.value(args[1], visiting)
		if err != nil {
			return false, err
		}
		return reflect.DeepEqual(scalarString(a), scalarString(b)), nil
	case "Fn::Not":
		args, _ := arg.([]any)
		if len(args) != 1 {
			return false, fmt.Errorf("%w: Fn::Not takes one condition", ErrUnresolvable)
		}
		v, err := r.boolean(args[0], visiting)
		return !v, err
	case "Fn::And", "Fn::Or":
		args, _ := arg.([]any)
		if len(args) < 2 {
			return false, fmt.Errorf("%w: %s takes at least two conditions", ErrUnresolvable, fn)
		}
		for _, a := range args {
			v, err := r.boolean(a, visiting)
			if err != nil {
				return false, err
			}
			if fn == "Fn::Or" && v {
				return true, nil
			}
			if fn == "Fn::And" && !v {
				return false, nil
			}
		}
		return fn == "Fn::And", nil
	}
	return false, fmt.Errorf("%w: %s in a condition", ErrUnresolvable, fn)
}

// scalarString makes numbers and strings comparable the way Fn::Equals compares them.
func scalarString(v any) any {
	switch v := v.(type) {
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return v
}

// Resolve returns v with every intrinsic function evaluated: plain JSON values (strings,
// float64, bool, []any, map[string]any), with AWS::NoValue properties and elements
// removed.
func (r *Resolver) Resolve(v any) (any, error) {
	out, err := r.value(v, nil)
	if err != nil {
		return nil, err
	}
	if _, ok := out.(noValue); ok {
		return nil, nil
	}
	return out, nil
}

// String resolves v and requires a string (numbers and booleans are turned into their
// text, as CloudFormation does for string properties).
func (r *Resolver) String(v any) (string, error) {
	out, err := r.Resolve(v)
	if err != nil {
		return "", err
	}
	switch s := scalarString(out).(type) {
	case string:
		return s, nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("%w: want a string, got %T", ErrUnresolvable, out)
}

// Properties resolves every property of res.
func (r *Resolver) Properties(res *Resource) (map[string]any, error) {
	out, err := r.Resolve(res.Properties)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", res.LogicalID, res.Type, err)
	}
	m, _ := out.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// intrinsic reports whether v is a one-key object naming an intrinsic function (or Ref,
// or Condition), and returns its name and argument.
func intrinsic(v any) (string, any, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", nil, false
	}
	for k, arg := range m {
		if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return k, arg, true
		}
	}
	return "", nil, false
}

func (r *Resolver) value(v any, visiting []string) (any, error) {
	if fn, arg, ok := intrinsic(v); ok && fn != "Condition" {
		return r.call(fn, arg, visiting)
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			rv, err := r.value(e, visiting)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, skip := rv.(noValue); !skip {
				out[k] = rv
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(v))
		for i, e := range v {
			rv, err := r.value(e, visiting)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if _, skip := rv.(noValue); !skip {
				out = append(out, rv)
			}
		}
		return out, nil
	}
	return v, nil
}

func (r *Resolver) call(fn string, arg any, visiting []string) (any, error) {
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		return r.ref(name)
	case "Fn::GetAtt":
		return r.getAtt(arg)
	case "Fn::Join":
		args, _ := arg.([]any)
		if len(args) != 2 {
			return nil, fmt.Errorf("%w: Fn::Join takes a delimiter and a list", ErrUnresolvable)
		}
		list, err := r.list(args[1], visiting)
		if err != nil {
			return nil, fmt.Errorf("Fn::Join: %w", err)
		}
		parts := make([]string, len(list))
		for i, p := range list {
			s, ok := scalarString(p).(string)
			if !ok {
				return nil, fmt.Errorf("%w: Fn::Join: element %d is not a string", ErrUnresolvable, i)
			}
			parts[i] = s
		}
		delim, _ := args[0].(string)
		return strings.Join(parts, delim), nil
	case "Fn::Sub":
		return r.sub(arg, visiting)
	case "Fn::Select":
		args, _ := arg.([]any)
		if len(args) != 2 {
			return nil, fmt.Errorf("%w: Fn::Select takes an index and a list", ErrUnresolvable)
		}
		idx, err := r.value(args[0], visiting)
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(fmt.Sprint(scalarString(idx)))
		if err != nil {
			return nil, fmt.Errorf("%w: Fn::Select index %v", ErrUnresolvable, idx)
		}
		list, err := r.list(args[1], visiting)
		if err != nil {
			return nil, fmt.Errorf("Fn::Select: %w", err)
		}
		if i < 0 || i >= len(list) {
			return nil, fmt.Errorf("%w: Fn::Select index %d out of %d", ErrUnresolvable, i, len(list))
		}
		return list[i], nil
	case "Fn::Split":
		args, _ := arg.([]any)
		if len(args) != 2 {
			return nil, fmt.Errorf("%w: Fn::Split takes a delimiter and a string", ErrUnresolvable)
		}
		s, err := r.value(args[1], visiting)
		if err != nil {
			return nil, err
		}
		str, ok := s.(string)
		delim, _ := args[0].(string)
		if !ok || delim == "" {
			return nil, fmt.Errorf("%w: Fn::Split needs a delimiter and a string", ErrUnresolvable)
		}
		var out []any
		for _, p := range strings.Split(str, delim) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::If":
		args, _ := arg.([]any)
		if len(args) != 3 {
			return nil, fmt.Errorf("%w: Fn::If takes a condition and two values", ErrUnresolvable)
		}
		name, _ := args[0].(string)
		cond, err := r.condition(name, visiting)
		if err != nil {
			return nil, err
		}
		if cond {
			return r.value(args[1], visiting)
		}
		return r.value(args[2], visiting)
	case "Fn::FindInMap":
		args, _ := arg.([]any)
		if len(args) != 3 {
			return nil, fmt.Errorf("%w: Fn::FindInMap takes a map name and two keys", ErrUnresolvable)
		}
		var keys [3]string
		for i, a := range args {
			v, err := r.value(a, visiting)
			if err != nil {
				return nil, err
			}
			keys[i], _ = scalarString(v).(string)
		}
		v, ok := r.t.Mappings[keys[0]][keys[1]][keys[2]]
		if !ok {
			return nil, fmt.Errorf("%w: Fn::FindInMap %s/%s/%s: no such entry", ErrUnresolvable, keys[0], keys[1], keys[2])
		}
		return v, nil
	case "Fn::Base64":
		v, err := r.value(arg, visiting)
		if err != nil {
			return nil, err
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: Fn::Base64 of a non-string", ErrUnresolvable)
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "Fn::GetAZs":
		return []any{r.env.Region + "a", r.env.Region + "b", r.env.Region + "c"}, nil
	}
	return nil, fmt.Errorf("%w: %s is not supported", ErrUnresolvable, fn)
}

// list resolves v and requires a list.
func (r *Resolver) list(v any, visiting []string) ([]any, error) {
	out, err := r.value(v, visiting)
	if err != nil {
		return nil, err
	}
	switch l := out.(type) {
	case []any:
		return l, nil
	case []string:
		res := make([]any, len(l))
		for i, s := range l {
			res[i] = s
		}
		return res, nil
	}
	return nil, fmt.Errorf("%w: want a list, got %T", ErrUnresolvable, out)
}

// ref resolves {"Ref": name}: a pseudo parameter, a parameter or a resource.
func (r *Resolver) ref(name string) (any, error) {
	switch name {
	case PseudoAccountID:
		return r.env.AccountID, nil
	case PseudoRegion:
		return r.env.Region, nil
	case PseudoPartition:
		return r.env.Partition, nil
	case PseudoURLSuffix:
		return r.env.URLSuffix, nil
	case PseudoStackName:
		return r.env.StackName, nil
	case PseudoStackID:
		return r.env.ARN("cloudformation", "stack/"+r.env.StackName+"/00000000-0000-0000-0000-000000000000", false), nil
	case PseudoNotificationARNs:
		return []any{}, nil
	case PseudoNoValue:
		return noValue{}, nil
	}
	if p, ok := r.t.Parameters[name]; ok {
		v, set := r.params[name]
		if !set {
			return nil, fmt.Errorf("%w: parameter %s (%s) has no value here", ErrUnresolvable, name, p.Type)
		}
		return v, nil
	}
	if _, ok := r.t.Resources[name]; !ok {
		return nil, fmt.Errorf("%w: Ref to unknown %s", ErrUnresolvable, name)
	}
	p, ok := r.physical[name]
	if !ok || p.Ref == "" {
		return nil, fmt.Errorf("%w: Ref to %s, which is not created here", ErrUnresolvable, name)
	}
	return p.Ref, nil
}

// getAtt resolves Fn::GetAtt: ["LogicalID", "Attr"] or "LogicalID.Attr".
func (r *Resolver) getAtt(arg any) (any, error) {
	var id, attr string
	switch a := arg.(type) {
	case []any:
		if len(a) == 2 {
			id, _ = a[0].(string)
			attr, _ = a[1].(string)
		}
	case string:
		id, attr, _ = strings.Cut(a, ".")
	}
	if id == "" || attr == "" {
		return nil, fmt.Errorf("%w: Fn::GetAtt %v", ErrUnresolvable, arg)
	}
	return r.attr(id, attr)
}

func (r *Resolver) attr(id, attr string) (any, error) {
	if _, ok := r.t.Resources[id]; !ok {
		return nil, fmt.Errorf("%w: Fn::GetAtt of unknown %s", ErrUnresolvable, id)
	}
	v, ok := r.physical[id].Attrs[attr]
	if !ok {
		return nil, fmt.Errorf("%w: Fn::GetAtt %s.%s: attribute not known here", ErrUnresolvable, id, attr)
	}
	return v, nil
}

// sub resolves Fn::Sub: "text ${Name} ${Id.Attr} ${!Literal}" or [text, {vars}].
func (r *Resolver) sub(arg any, visiting []string) (any, error) {
	text, vars := "", map[string]any{}
	switch a := arg.(type) {
	case string:
		text = a
	case []any:
		if len(a) != 2 {
			return nil, fmt.Errorf("%w: Fn::Sub takes a string and a map", ErrUnresolvable)
		}
		text, _ = a[0].(string)
		m, _ := a[1].(map[string]any)
		for k, v := range m {
			rv, err := r.value(v, visiting)
			if err != nil {
				return nil, fmt.Errorf("Fn::Sub variable %s: %w", k, err)
			}
			vars[k] = rv
		}
	default:
		return nil, fmt.Errorf("%w: Fn::Sub of %T", ErrUnresolvable, arg)
	}
	var b strings.Builder
	for {
		i := strings.Index(text, "${")
		if i < 0 {
			b.WriteString(text)
			return b.String(), nil
		}
		j := strings.Index(text[i:], "}")
		if j < 0 {
			return nil, fmt.Errorf("%w: Fn::Sub: unclosed ${ in %q", ErrUnresolvable, text)
		}
		b.WriteString(text[:i])
		name := text[i+2 : i+j]
		text = text[i+j+1:]
		if lit, ok := strings.CutPrefix(name, "!"); ok {
			b.WriteString("${" + lit + "}")
			continue
		}
		var v any
		var err error
		if vv, ok := vars[name]; ok {
			v = vv
		} else if id, attr, dotted := strings.Cut(name, "."); dotted && !strings.HasPrefix(name, "AWS::") {
			v, err = r.attr(id, attr)
		} else {
			v, err = r.ref(name)
		}
		if err != nil {
			return nil, fmt.Errorf("Fn::Sub ${%s}: %w", name, err)
		}
		s, ok := scalarString(v).(string)
		if !ok {
			return nil, fmt.Errorf("%w: Fn::Sub ${%s} is not a string", ErrUnresolvable, name)
		}
		b.WriteString(s)
	}
}
