package iam

import (
	"strconv"
	"strings"
)

// conditionsHold evaluates a statement's Condition block against the request's context:
// every operator and every key in it must hold (values of one key are alternatives). It
// also returns what it could not evaluate (an unknown operator), which makes the block
// fail.
func (st Statement) conditionsHold(ctx map[string][]string) (bool, []string) {
	for op, keys := range st.Condition {
		for key, want := range keys {
			ok, supported := evalCondition(op, ctx, key, want)
			if !supported {
				return false, []string{op + " " + key}
			}
			if !ok {
				return false, nil
			}
		}
	}
	return true, nil
}

// evalCondition evaluates one operator on one key. A key absent from the context makes
// the operator false, except for the ...IfExists forms (true) and Null. ForAnyValue: and
// ForAllValues: compare multi-valued keys.
func evalCondition(op string, ctx map[string][]string, key string, want []string) (result, supported bool) {
	got, present := lookup(ctx, key)
	if op == "Null" {
		if len(want) != 1 {
			return false, false
		}
		isNull, err := strconv.ParseBool(want[0])
		return err == nil && isNull == !present, err == nil
	}
	set := ""
	if rest, ok := strings.CutPrefix(op, "ForAnyValue:"); ok {
		op, set = rest, "any"
	} else if rest, ok := strings.CutPrefix(op, "ForAllValues:"); ok {
		op, set = rest, "all"
	}
	op, ifExists := strings.CutSuffix(op, "IfExists")
	match, negated, ok := comparator(op)
	if !ok {
		return false, false
	}
	if !present {
		return ifExists || set == "all", true
	}
	anyMatches := func(v string) bool {
		for _, w := range want {
			if match(w, v) {
				return true
			}
		}
		return false
	}
	switch set {
	case "all":
		for _, v := range got {
			if anyMatches(v) == negated {
				return false, true
			}
		}
		return true, true
	default: // single-valued keys and ForAnyValue: any value satisfies the operator
		for _, v := range got {
			if anyMatches(v) != negated {
				return true, true
			}
		}
		return false, true
	}
}

// lookup finds a context key; key names are case-insensitive.
func lookup(ctx map[string][]string, key string) ([]string, bool) {
	if v, ok := ctx[key]; ok {
		return v, true
	}
	for k, v := range ctx {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// comparator returns the comparison of an operator (policy value, request value) and
// whether the operator is a negation of it.
func comparator(op string) (func(want, got string) bool, bool, bool) {
	switch op {
	case "StringEquals", "ArnEquals":
		return func(w, g string) bool { return w == g }, false, true
	case "StringNotEquals", "ArnNotEquals":
		return func(w, g string) bool { return w == g }, true, true
	case "StringEqualsIgnoreCase":
		return strings.EqualFold, false, true
	case "StringNotEqualsIgnoreCase":
		return strings.EqualFold, true, true
	case "StringLike", "ArnLike":
		return Match, false, true
	case "StringNotLike", "ArnNotLike":
		return Match, true, true
	case "Bool":
		return func(w, g string) bool { return strings.EqualFold(w, g) }, false, true
	case "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals":
		return numeric(op), op == "NumericNotEquals", true
	}
	return nil, false, false
}

// numeric returns the comparison of a Numeric operator.
func numeric(op string) func(want, got string) bool {
	return func(w, g string) bool {
		a, err1 := strconv.ParseFloat(g, 64)
		b, err2 := strconv.ParseFloat(w, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		switch op {
		case "NumericLessThan":
			return a < b
		case "NumericLessThanEquals":
			return a <= b
		case "NumericGreaterThan":
			return a > b
		case "NumericGreaterThanEquals":
			return a >= b
		}
		return a == b
	}
}
