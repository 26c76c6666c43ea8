package local

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/local/awsapi"
	"github.com/streamer-go/streamer/runtime/local/iam"
	"github.com/streamer-go/streamer/runtime/local/runtimeapi"
	"github.com/streamer-go/streamer/runtime/local/template"
)

// tmplStack is what the template mode adds to a Stack: the template, its resolver, the
// AWS endpoint, the functions and the tables it created.
type tmplStack struct {
	t         *template.Template
	r         *template.Resolver
	dir       string // the template's directory (cdk.out)
	endpoint  *awsapi.Endpoint
	tmp       string // the CA bundle's directory
	ddb       *ddbLocal
	tables    map[string]string // logical ID -> physical name of the tables created
	functions map[string]*tmplFunction
	maps      []*mapping
	lambda    *lambdaService
	findings  []string // what the mode does not model, listed at start
}

// startTemplate builds the stack cfg.Template describes (see StartTemplate's doc on
// Config.Template) on s, whose listener and counters exist already.
func (s *Stack) startTemplate(ctx context.Context) error {
	cfg := &s.cfg
	t, err := template.Load(cfg.Template)
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	stack := strings.TrimSuffix(filepath.Base(cfg.Template), ".template.json")
	r, err := template.NewResolver(t, template.Env{StackName: stack, Region: cfg.Region, AccountID: cfg.AccountID}, nil)
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if err := template.AssignNames(t, r, nil); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(cfg.Template))
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	ts := &tmplStack{t: t, r: r, dir: dir, tables: map[string]string{}, functions: map[string]*tmplFunction{},
		ddb: newDDBLocal(cfg.DynamoDBEndpoint, cfg.Region)}
	s.tmpl = ts
	ts.findings = inventory(t, r)

	if ts.tmp, err = os.MkdirTemp("", "streamer-local-"); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	ts.lambda = &lambdaService{functions: map[string]*tmplFunction{}, rt: s.rt, base: s.base, retryDelay: cfg.WorkerRetryDelay, log: cfg.Logger}
	ts.endpoint, err = awsapi.New(awsapi.Config{
		Region: cfg.Region, AccountID: cfg.AccountID, DynamoDB: cfg.DynamoDBEndpoint,
		Lambda:     ts.lambda,
		ExecuteAPI: s.executeAPI,
		OnDynamoDB: func(table, op string, condFailed bool) { s.m.dynamoOp(ts.tableKey(table), op, condFailed) },
		Logger:     cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	ts.lambda.endpoint = ts.endpoint
	if err := ts.endpoint.Start(ts.tmp); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	for _, step := range []func(context.Context, *Stack) error{ts.createTables, ts.createSecrets, ts.createQueues, ts.createFunctions} {
		if err := step(ctx, s); err != nil {
			return err
		}
	}
	ws, apiID, stage, err := ts.webSocketAPI(s)
	if err != nil {
		return err
	}
	s.gw.ws = ws
	s.gw.api.apiID, s.gw.api.stage = apiID, stage
	s.cfg.Stage = stage
	if err := ts.readMappings(); err != nil {
		return err
	}
	ts.logFindings(cfg)
	// Every problem at once: the checks, and each function's first start.
	if err := errors.Join(ts.check(), ts.warm(ctx, s)); err != nil {
		return err
	}
	s.tokens = ts.tokenMinter(ws, cfg)
	ts.startMappings(s)
	return nil
}

// logFindings lists, once, what the mode does not model.
func (ts *tmplStack) logFindings(cfg *Config) {
	if len(ts.findings) == 0 {
		return
	}
	cfg.Logger.Warn(fmt.Sprintf("template: %d things in %s are not modelled locally (listed once)", len(ts.findings), filepath.Base(cfg.Template)))
	for _, f := range ts.findings {
		cfg.Logger.Warn("template: not modelled: " + f)
	}
}

// executeAPI is the @connections API of the stack's WebSocket API, for the endpoint.
func (s *Stack) executeAPI(apiID string) http.Handler {
	if s.gw == nil || apiID != s.gw.api.apiID {
		return nil
	}
	mux := http.NewServeMux()
	// Reached through the AWS API endpoint, where SigV4 and the role's IAM policy guard
	// every call: no loopback guard of its own.
	(&connectionsAPI{g: s.gw}).register(mux, func(h http.Handler) http.Handler { return h })
	return mux
}

// tableKey names a table in the counters: "connections", "requests" and "limits" for the
// tables the runtime's variables name, the logical ID otherwise.
func (ts *tmplStack) tableKey(physical string) string {
	for _, f := range ts.functions {
		switch physical {
		case f.env[contract.EnvConnectionsTable]:
			return TableConnections
		case f.env[contract.EnvRequestsTable]:
			return TableRequests
		case f.env[contract.EnvLimitsTable]:
			return TableLimits
		}
	}
	for id, name := range ts.tables {
		if name == physical {
			return id
		}
	}
	return physical
}

// createTables creates every AWS::DynamoDB::Table on DynamoDB Local, as the template
// defines it, and records its stream ARN.
func (ts *tmplStack) createTables(ctx context.Context, s *Stack) error {
	return ts.eachCreated("AWS::DynamoDB::Table", func(res *template.Resource, props map[string]any) error {
		p, _ := ts.r.Physical(res.LogicalID)
		streamARN, err := ts.ddb.createTable(ctx, p.Ref, props)
		if err != nil {
			return fmt.Errorf("local: table %s: %w", res.LogicalID, err)
		}
		ts.tables[res.LogicalID] = p.Ref
		if streamARN != "" {
			ts.r.SetAttr(res.LogicalID, "StreamArn", strings.Replace(streamARN, "arn:aws:dynamodb:ddblocal:000000000000:",
				"arn:aws:dynamodb:"+s.cfg.Region+":"+s.cfg.AccountID+":", 1))
		}
		return nil
	})
}

// createSecrets gives the Secrets Manager stand-in every AWS::SecretsManager::Secret:
// SecretString as it is, GenerateSecretString generated now.
func (ts *tmplStack) createSecrets(_ context.Context, _ *Stack) error {
	return ts.eachCreated("AWS::SecretsManager::Secret", func(res *template.Resource, props map[string]any) error {
		value, _ := props["SecretString"].(string)
		if gen, ok := props["GenerateSecretString"].(map[string]any); ok {
			var err error
			if value, err = generateSecret(gen); err != nil {
				return fmt.Errorf("local: secret %s: %w", res.LogicalID, err)
			}
		}
		p, _ := ts.r.Physical(res.LogicalID)
		name := p.Ref[strings.LastIndex(p.Ref, ":")+1 : len(p.Ref)-7] // arn:...:secret:NAME-XXXXXX
		ts.endpoint.AddSecret(name, p.Ref, value, nil)
		return nil
	})
}

// createQueues gives the SQS stand-in every AWS::SQS::Queue with its queue policies.
func (ts *tmplStack) createQueues(_ context.Context, _ *Stack) error {
	policies := map[string][]iam.Policy{} // by queue URL
	err := ts.eachCreated("AWS::SQS::QueuePolicy", func(res *template.Resource, props map[string]any) error {
		pol, err := iam.ParsePolicy(res.LogicalID, props["PolicyDocument"])
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		queues, _ := props["Queues"].([]any)
		for _, q := range queues {
			if url, ok := q.(string); ok {
				policies[url] = append(policies[url], pol)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return ts.eachCreated("AWS::SQS::Queue", func(res *template.Resource, props map[string]any) error {
		p, _ := ts.r.Physical(res.LogicalID)
		visibility := 30 * time.Second
		if v, ok := props["VisibilityTimeout"].(float64); ok {
			visibility = time.Duration(v) * time.Second
		}
		ts.endpoint.AddQueue(p.Attrs["QueueName"].(string), p.Attrs["Arn"].(string), p.Ref, visibility, policies[p.Ref])
		return nil
	})
}

// warm starts one environment of every function, so a function that cannot initialize
// stops the start with its output, instead of failing its first request.
func (ts *tmplStack) warm(ctx context.Context, s *Stack) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, f := range ts.functions {
		wg.Go(func() {
			if err := f.pool.Warm(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("function %s (%s) cannot start: %w", f.key, f.logicalID, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return fmt.Errorf("local: %w", errors.Join(errs...))
	}
	s.cfg.Logger.Info("template: every function started once", "functions", len(ts.functions))
	return nil
}

// tokenMinter returns what /dev/token signs with: the HS256 secret the authorizer reads
// from Secrets Manager (STREAMER_HMAC_SECRET_ARN), with its issuer and audience. nil when
// the authorizer verifies tokens another way (a JWKS), whose tokens only its identity
// provider can mint.
func (ts *tmplStack) tokenMinter(ws *webSocketAPI, cfg *Config) tokenMinter {
	if ws.authorizer == nil {
		return nil
	}
	f := ts.functions[ws.authorizer.function]
	if f == nil {
		for _, fn := range ts.functions {
			if fn.key == ws.authorizer.function {
				f = fn
			}
		}
	}
	if f == nil {
		return nil
	}
	secret, ok := ts.endpoint.SecretValue(f.env[contract.EnvHMACSecretARN])
	if !ok {
		cfg.Logger.Warn("template: /dev/token is off: the authorizer does not verify tokens with a Secrets Manager HS256 key of this template (tokens come from its identity provider)")
		return nil
	}
	issuer, err := auth.NewHMACIssuer([]byte(secret), f.env[contract.EnvIssuer], f.env[contract.EnvAudience])
	if err != nil {
		cfg.Logger.Warn("template: /dev/token is off", "error", err)
		return nil
	}
	return issuer
}

// shutdown stops what the template mode started: the environments, the endpoint, the
// tables.
func (ts *tmplStack) shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range ts.functions {
		if err := f.pool.Close(ctx); err != nil && !errors.Is(err, runtimeapi.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if ts.endpoint != nil {
		errs = append(errs, ts.endpoint.Close(ctx))
	}
	for id, name := range ts.tables {
		if err := ts.ddb.deleteTable(context.WithoutCancel(ctx), name); err != nil {
			errs = append(errs, fmt.Errorf("local: delete table %s: %w", id, err))
		}
	}
	if ts.tmp != "" {
		_ = os.RemoveAll(ts.tmp)
	}
	return errors.Join(errs...)
}

// eachCreated calls fn with every resource of typ that the template creates (its
// condition holds) and its resolved properties, in the template's order; it stops at the
// first error.
func (ts *tmplStack) eachCreated(typ string, fn func(res *template.Resource, props map[string]any) error) error {
	for _, res := range ts.t.OfType(typ) {
		if !ts.r.Exists(res) {
			continue
		}
		props, err := ts.r.Properties(res)
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		if err := fn(res, props); err != nil {
			return err
		}
	}
	return nil
}
