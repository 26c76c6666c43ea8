// Package template reads an AWS CloudFormation template (the JSON that `cdk synth` writes)
// and resolves its values the way CloudFormation does at deploy time: intrinsic functions
// (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::If, Fn::FindInMap,
// Fn::Base64, Fn::GetAZs), conditions and pseudo parameters, over the physical names and
// attributes the caller assigns to the stack's resources. It knows nothing of the local
// stack; package local builds the stack a template describes on top of it.
package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
)

// ErrInvalid is wrapped by the errors of Parse for a document that is not a template.
var ErrInvalid = errors.New("template: invalid template")

// Template is a parsed CloudFormation template.
type Template struct {
	// Description is the template's description.
	Description string
	// Parameters are the template's parameters by name.
	Parameters map[string]Parameter
	// Mappings are the template's mappings (Fn::FindInMap).
	Mappings map[string]map[string]map[string]any
	// Conditions are the template's condition expressions by name.
	Conditions map[string]any
	// Resources are the template's resources by logical ID.
	Resources map[string]*Resource
	// Outputs are the template's outputs by name.
	Outputs map[string]Output
	// Rules are the template's rules, which CloudFormation checks before a deploy.
	Rules map[string]any
	// Transform lists the template's transforms (macros).
	Transform []string
}

// Parameter is one template parameter.
type Parameter struct {
	// Type is the parameter type, such as String or AWS::SSM::Parameter::Value<String>.
	Type string `json:"Type"`
	// Default is the default value, nil when there is none.
	Default any `json:"Default"`
	// Description is the parameter's description.
	Description string `json:"Description"`
}

// Resource is one resource of a template.
type Resource struct {
	// LogicalID is the resource's key in Resources.
	LogicalID string `json:"-"`
	// Type is the resource type, such as AWS::Lambda::Function.
	Type string `json:"Type"`
	// Properties are the resource's properties, unresolved.
	Properties map[string]any `json:"Properties"`
	// Metadata is the resource's metadata (the CDK puts its construct path and asset
	// information there).
	Metadata map[string]any `json:"Metadata"`
	// Condition names the condition that decides whether the resource exists.
	Condition string `json:"Condition"`
	// DependsOn lists the logical IDs the resource is created after.
	DependsOn []string `json:"-"`
}

// Output is one template output.
type Output struct {
	// Description is the output's description.
	Description string `json:"Description"`
	// Value is the output's value, unresolved.
	Value any `json:"Value"`
	// Condition names the condition that decides whether the output exists.
	Condition string `json:"Condition"`
}

// document is the JSON shape of a template.
type document struct {
	Description string                               `json:"Description"`
	Parameters  map[string]Parameter                 `json:"Parameters"`
	Mappings    map[string]map[string]map[string]any `json:"Mappings"`
	Conditions  map[string]any                       `json:"Conditions"`
	Resources   map[string]json.RawMessage           `json:"Resources"`
	Outputs     map[string]Output                    `json:"Outputs"`
	Rules       map[string]any                       `json:"Rules"`
	Transform   json.RawMessage                      `json:"Transform"`
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return t, nil
}

// Parse parses a template in JSON (YAML templates are not supported: `cdk synth` writes
// JSON to cdk.out).
func Parse(data []byte) (*Template, error) {
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(doc.Resources) == 0 {
		return nil, fmt.Errorf("%w: no Resources", ErrInvalid)
	}
	t := &Template{
		Description: doc.Description,
		Parameters:  doc.Parameters,
		Mappings:    doc.Mappings,
		Conditions:  doc.Conditions,
		Resources:   make(map[string]*Resource, len(doc.Resources)),
		Outputs:     doc.Outputs,
		Rules:       doc.Rules,
	}
	if len(doc.Transform) > 0 {
		var one string
		if json.Unmarshal(doc.Transform, &one) == nil {
			t.Transform = []string{one}
		} else if err := json.Unmarshal(doc.Transform, &t.Transform); err != nil {
			return nil, fmt.Errorf("%w: Transform: %v", ErrInvalid, err)
		}
	}
	for id, raw := range doc.Resources {
		r, err := parseResource(id, raw)
		if err != nil {
			return nil, err
		}
		t.Resources[id] = r
	}
	for id, r := range t.Resources {
		for _, dep := range r.DependsOn {
			if _, ok := t.Resources[dep]; !ok {
				return nil, fmt.Errorf("%w: %s depends on unknown resource %s", ErrInvalid, id, dep)
			}
		}
		if r.Condition != "" {
			if _, ok := t.Conditions[r.Condition]; !ok {
				return nil, fmt.Errorf("%w: %s: unknown condition %s", ErrInvalid, id, r.Condition)
			}
		}
	}
	return t, nil
}

func parseResource(id string, raw json.RawMessage) (*Resource, error) {
	var r Resource
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%w: resource %s: %v", ErrInvalid, id, err)
	}
	if r.Type == "" {
		return nil, fmt.Errorf("%w: resource %s has no Type", ErrInvalid, id)
	}
	var deps struct {
		DependsOn json.RawMessage `json:"DependsOn"`
	}
	if err := json.Unmarshal(raw, &deps); err != nil {
		return nil, fmt.Errorf("%w: resource %s: %v", ErrInvalid, id, err)
	}
	if len(deps.DependsOn) > 0 {
		var one string
		if json.Unmarshal(deps.DependsOn, &one) == nil {
			r.DependsOn = []string{one}
		} else if err := json.Unmarshal(deps.DependsOn, &r.DependsOn); err != nil {
			return nil, fmt.Errorf("%w: resource %s: DependsOn: %v", ErrInvalid, id, err)
		}
	}
	r.LogicalID = id
	if r.Properties == nil {
		r.Properties = map[string]any{}
	}
	return &r, nil
}

// OfType returns the resources of one type, sorted by logical ID.
func (t *Template) OfType(typ string) []*Resource {
	var out []*Resource
	for _, id := range slices.Sorted(maps.Keys(t.Resources)) {
		if r := t.Resources[id]; r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Sorted returns every resource, sorted by logical ID.
func (t *Template) Sorted() []*Resource {
	out := make([]*Resource, 0, len(t.Resources))
	for _, id := range slices.Sorted(maps.Keys(t.Resources)) {
		out = append(out, t.Resources[id])
	}
	return out
}

// MetadataString returns the string metadata value under key, "" when absent.
func (r *Resource) MetadataString(key string) string {
	s, _ := r.Metadata[key].(string)
	return s
}
