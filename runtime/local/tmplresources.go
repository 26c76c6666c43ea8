package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/local/awsapi"
	"github.com/streamer-go/streamer/runtime/local/iam"
	"github.com/streamer-go/streamer/runtime/local/runtimeapi"
	"github.com/streamer-go/streamer/runtime/local/template"
)

// maxStarting bounds the environments of one function that start at once (see
// runtimeapi.Function.MaxStarting): each is a process on this machine.
const maxStarting = 4

// createFunctions prepares every AWS::Lambda::Function: its code (rebuilt for this
// machine when needed), its role's policies and credentials, its environment, its event
// invoke config and permissions, and the pool of its environments.
func (ts *tmplStack) createFunctions(_ context.Context, s *Stack) error {
	roles, err := ts.rolePolicies()
	if err != nil {
		return err
	}
	builds := &assetBuilds{done: map[string]string{}, log: s.cfg.Logger}
	out := &sync.Mutex{}
	err = ts.eachCreated("AWS::Lambda::Function", func(res *template.Resource, props map[string]any) error {
		f, err := ts.newFunction(res, props, roles)
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		bootstrap, err := builds.bootstrapFor(res, ts.dir)
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		logGroup := "/aws/lambda/" + f.name
		logFormat := ""
		if lc, ok := props["LoggingConfig"].(map[string]any); ok {
			if g, ok := lc["LogGroup"].(string); ok && g != "" {
				logGroup = g
			}
			logFormat, _ = lc["LogFormat"].(string)
		}
		reserved := 0
		if v, ok := props["ReservedConcurrentExecutions"].(float64); ok {
			reserved = int(v)
		}
		ts.endpoint.AddPrincipal(f.principal)
		f.pool = runtimeapi.NewPool(runtimeapi.Function{
			Name:           f.key,
			ARN:            f.arn,
			Bootstrap:      bootstrap,
			Env:            functionEnv(f, s.cfg.Region, logGroup, logFormat, filepath.Dir(bootstrap), ts.endpoint),
			Timeout:        f.timeout,
			MemoryMB:       f.memoryMB,
			MaxConcurrency: reserved,
			MaxStarting:    maxStarting,
			Output:         &functionLog{w: s.cfg.FunctionOutput, key: f.key, mu: out},
			Logger:         s.cfg.Logger,
		})
		ts.functions[res.LogicalID] = f
		ts.lambda.functions[f.arn] = f
		s.m.addFunction(f.key, f.memoryMB)
		return nil
	})
	if err != nil {
		return err
	}
	if err := ts.invokeConfigs(); err != nil {
		return err
	}
	return ts.lambdaPermissions()
}

// newFunction reads one function's settings from its resolved properties.
func (ts *tmplStack) newFunction(res *template.Resource, props map[string]any, roles map[string]*awsapi.Principal) (*tmplFunction, error) {
	p, _ := ts.r.Physical(res.LogicalID)
	f := &tmplFunction{logicalID: res.LogicalID, name: p.Ref, arn: p.Attrs["Arn"].(string), timeout: 3 * time.Second, memoryMB: 128,
		env: map[string]string{}, async: asyncConfig{retries: defaultAsyncRetries, maxAge: defaultAsyncMaxAge}}
	if rt, _ := props["Runtime"].(string); !strings.HasPrefix(rt, "provided") {
		return nil, fmt.Errorf("function %s: runtime %q: the local stack runs OS-only runtimes (provided.al2023, provided.al2), whose bootstrap is the function", res.LogicalID, rt)
	}
	if v, ok := props["Timeout"].(float64); ok {
		f.timeout = time.Duration(v) * time.Second
	}
	if v, ok := props["MemorySize"].(float64); ok {
		f.memoryMB = int(v)
	}
	if env, ok := props["Environment"].(map[string]any); ok {
		vars, _ := env["Variables"].(map[string]any)
		for k, v := range vars {
			s, ok := v.(string)
			if !ok {
				s = fmt.Sprint(v)
			}
			if slices.Contains(lambdaReserved, k) {
				return nil, fmt.Errorf("function %s: environment variable %s is reserved by Lambda (the deploy would fail)", res.LogicalID, k)
			}
			f.env[k] = s
		}
	}
	f.key = roleKey(res.LogicalID, f.env)
	roleARN, _ := props["Role"].(string)
	principal, ok := roles[roleARN]
	if !ok {
		ts.findings = append(ts.findings, fmt.Sprintf("function %s: its role %s is not defined in the template: every AWS call it makes is refused", res.LogicalID, roleARN))
		principal = &awsapi.Principal{RoleARN: roleARN}
	}
	key, secret, token := newCredentials()
	f.principal = &awsapi.Principal{Name: f.key, Session: f.name, RoleARN: roleARN, AccessKeyID: key, SecretAccessKey: secret, SessionToken: token, Policies: principal.Policies}
	return f, nil
}

// rolePolicies returns every role of the template (by ARN) with the policies attached to
// it: its inline Policies, the AWS::IAM::Policy and AWS::IAM::ManagedPolicy resources that
// name it, and the managed policies of the template its ManagedPolicyArns lists. AWS
// managed policies are not known here: they are listed, and grant nothing.
func (ts *tmplStack) rolePolicies() (map[string]*awsapi.Principal, error) {
	byName := map[string]*awsapi.Principal{}
	out := map[string]*awsapi.Principal{}
	managed := map[string]iam.Policy{} // by ARN
	attach := func(res *template.Resource, props map[string]any) error {
		pol, err := iam.ParsePolicy(res.LogicalID, props["PolicyDocument"])
		if err != nil {
			return err
		}
		roles, _ := props["Roles"].([]any)
		for _, r := range roles {
			name, _ := r.(string)
			if p, ok := byName[name]; ok {
				p.Policies = append(p.Policies, pol)
			}
		}
		if res.Type == "AWS::IAM::ManagedPolicy" {
			p, _ := ts.r.Physical(res.LogicalID)
			managed[p.Ref] = pol
		}
		return nil
	}
	for _, res := range ts.t.OfType("AWS::IAM::Role") {
		if !ts.r.Exists(res) {
			continue
		}
		props, err := ts.r.Properties(res)
		if err != nil {
			return nil, fmt.Errorf("local: %w", err)
		}
		p, _ := ts.r.Physical(res.LogicalID)
		principal := &awsapi.Principal{RoleARN: p.Attrs["Arn"].(string)}
		inline, _ := props["Policies"].([]any)
		for i, raw := range inline {
			m, _ := raw.(map[string]any)
			name, _ := m["PolicyName"].(string)
			pol, err := iam.ParsePolicy(fmt.Sprintf("%s inline policy %s", res.LogicalID, name), m["PolicyDocument"])
			if err != nil {
				return nil, fmt.Errorf("local: %s policy %d: %w", res.LogicalID, i, err)
			}
			principal.Policies = append(principal.Policies, pol)
		}
		if _, ok := props["PermissionsBoundary"]; ok {
			ts.findings = append(ts.findings, "role "+res.LogicalID+": PermissionsBoundary is not applied (its policies alone decide)")
		}
		byName[p.Ref] = principal
		out[principal.RoleARN] = principal
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, res := range ts.t.OfType(typ) {
			if !ts.r.Exists(res) {
				continue
			}
			props, err := ts.r.Properties(res)
			if err != nil {
				return nil, fmt.Errorf("local: %w", err)
			}
			if err := attach(res, props); err != nil {
				return nil, fmt.Errorf("local: %w", err)
			}
		}
	}
	for _, res := range ts.t.OfType("AWS::IAM::Role") {
		if !ts.r.Exists(res) {
			continue
		}
		props, _ := ts.r.Properties(res)
		arns, _ := props["ManagedPolicyArns"].([]any)
		p, _ := ts.r.Physical(res.LogicalID)
		for _, a := range arns {
			arn, _ := a.(string)
			if pol, ok := managed[arn]; ok {
				byName[p.Ref].Policies = append(byName[p.Ref].Policies, pol)
				continue
			}
			ts.findings = append(ts.findings, "role "+res.LogicalID+": managed policy "+arn+" is not defined in the template: it grants nothing here")
		}
	}
	for _, p := range out {
		for _, pol := range p.Policies {
			for _, st := range pol.Statements {
				for op, keys := range st.Condition {
					for key := range keys {
						if !knownConditionKey(key) {
							ts.findings = append(ts.findings, fmt.Sprintf("policy %s: condition %s on %s is not known locally: the statement does not apply", pol.Name, op, key))
						}
					}
				}
			}
		}
	}
	return out, nil
}

// knownConditionKey reports the condition keys the endpoint puts in a request's context.
func knownConditionKey(key string) bool {
	switch strings.ToLower(key) {
	case "aws:securetransport", "aws:principalarn", "aws:principalaccount", "aws:requestedregion":
		return true
	}
	return false
}

// invokeConfigs applies every AWS::Lambda::EventInvokeConfig to its function.
func (ts *tmplStack) invokeConfigs() error {
	return ts.eachCreated("AWS::Lambda::EventInvokeConfig", func(res *template.Resource, props map[string]any) error {
		name, _ := props["FunctionName"].(string)
		f := ts.function(name)
		if f == nil {
			return fmt.Errorf("local: %s: no function %q in the template", res.LogicalID, name)
		}
		if q, _ := props["Qualifier"].(string); q != "" && q != "$LATEST" {
			ts.findings = append(ts.findings, res.LogicalID+": qualifier "+q+" (only $LATEST runs locally)")
			return nil
		}
		if v, ok := props["MaximumRetryAttempts"].(float64); ok {
			f.async.retries = int(v)
		}
		if v, ok := props["MaximumEventAgeInSeconds"].(float64); ok {
			f.async.maxAge = time.Duration(v) * time.Second
		}
		f.async.onFailure = destinationARN(props, "OnFailure")
		f.async.onSuccess = destinationARN(props, "OnSuccess")
		return nil
	})
}

// destinationARN reads DestinationConfig.{kind}.Destination.
func destinationARN(props map[string]any, kind string) string {
	dc, _ := props["DestinationConfig"].(map[string]any)
	k, _ := dc[kind].(map[string]any)
	arn, _ := k["Destination"].(string)
	return arn
}

// lambdaPermissions gives each function its AWS::Lambda::Permission statements.
func (ts *tmplStack) lambdaPermissions() error {
	return ts.eachCreated("AWS::Lambda::Permission", func(res *template.Resource, props map[string]any) error {
		name, _ := props["FunctionName"].(string)
		f := ts.function(name)
		if f == nil {
			return fmt.Errorf("local: %s: no function %q in the template", res.LogicalID, name)
		}
		str := func(k string) string { v, _ := props[k].(string); return v }
		f.permissions = append(f.permissions, lambdaPermission{action: str("Action"), principal: str("Principal"), sourceARN: str("SourceArn"), sourceAccount: str("SourceAccount")})
		return nil
	})
}

// function finds a function by name, ARN or partial ARN.
func (ts *tmplStack) function(nameOrARN string) *tmplFunction {
	if arn, ok := ts.lambda.FunctionARN(nameOrARN); ok {
		return ts.lambda.functions[arn]
	}
	return nil
}

// generateSecret generates a GenerateSecretString value.
func generateSecret(gen map[string]any) (string, error) {
	length := 32
	if v, ok := gen["PasswordLength"].(float64); ok {
		length = int(v)
	}
	flag := func(k string) bool { b, _ := gen[k].(bool); return b }
	alphabet := ""
	if !flag("ExcludeLowercase") {
		alphabet += "abcdefghijklmnopqrstuvwxyz"
	}
	if !flag("ExcludeUppercase") {
		alphabet += "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	}
	if !flag("ExcludeNumbers") {
		alphabet += "0123456789"
	}
	if !flag("ExcludePunctuation") {
		alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	}
	if flag("IncludeSpace") {
		alphabet += " "
	}
	if excl, ok := gen["ExcludeCharacters"].(string); ok {
		alphabet = strings.Map(func(r rune) rune {
			if strings.ContainsRune(excl, r) {
				return -1
			}
			return r
		}, alphabet)
	}
	if alphabet == "" || length < 1 {
		return "", errors.New("GenerateSecretString leaves no characters to choose from")
	}
	value := randomString(length, alphabet)
	tmpl, _ := gen["SecretStringTemplate"].(string)
	key, _ := gen["GenerateStringKey"].(string)
	if tmpl == "" {
		return value, nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(tmpl), &obj); err != nil {
		return "", fmt.Errorf("SecretStringTemplate: %w", err)
	}
	obj[key] = value
	b, err := json.Marshal(obj)
	return string(b), err
}

// ddbLocal calls DynamoDB Local's JSON API directly: the stack creates and deletes the
// template's tables with it (as CloudFormation would, not as a function).
type ddbLocal struct {
	url, region string
	client      *http.Client
}

func newDDBLocal(url, region string) *ddbLocal {
	return &ddbLocal{url: url, region: region, client: &http.Client{Timeout: time.Minute}}
}

func (d *ddbLocal) call(ctx context.Context, op string, in any) (map[string]any, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20200101/"+d.region+"/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("DynamoDB Local at %s: %w", d.url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", op, resp.Status, bytes.TrimSpace(raw))
	}
	return out, nil
}

// createTable creates a table from an AWS::DynamoDB::Table's resolved properties (the
// CloudFormation properties are CreateTable's parameters) and returns its stream ARN.
func (d *ddbLocal) createTable(ctx context.Context, name string, props map[string]any) (string, error) {
	in := map[string]any{"TableName": name}
	for _, k := range []string{"AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "BillingMode", "ProvisionedThroughput"} {
		if v, ok := props[k]; ok {
			in[k] = v
		}
	}
	if in["BillingMode"] == nil {
		in["BillingMode"] = "PROVISIONED"
	}
	if ss, ok := props["StreamSpecification"].(map[string]any); ok {
		in["StreamSpecification"] = map[string]any{"StreamEnabled": true, "StreamViewType": ss["StreamViewType"]}
	}
	out, err := d.call(ctx, "CreateTable", in)
	if err != nil {
		return "", err
	}
	if ttl, ok := props["TimeToLiveSpecification"].(map[string]any); ok && ttl["Enabled"] == true {
		if _, err := d.call(ctx, "UpdateTimeToLive", map[string]any{"TableName": name, "TimeToLiveSpecification": ttl}); err != nil {
			return "", err
		}
	}
	desc, _ := out["TableDescription"].(map[string]any)
	arn, _ := desc["LatestStreamArn"].(string)
	return arn, nil
}

func (d *ddbLocal) deleteTable(ctx context.Context, name string) error {
	_, err := d.call(ctx, "DeleteTable", map[string]any{"TableName": name})
	return err
}

// tokenMinter mints the dev tokens of /dev/token.
type tokenMinter interface {
	Mint(user, tenant string, ttl time.Duration) (string, error)
}

// errNoMinter answers /dev/token when the stack cannot mint tokens its authorizer accepts.
var errNoMinter = errors.New("local: this stack's authorizer does not verify tokens with a key the local stack holds; get a token from your identity provider")
