package awsapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/local/iam"
	"github.com/streamer-go/streamer/runtime/store/dynamostore/dynamotest"
)

const (
	region  = "us-east-1"
	account = "000000000000"
)

// fakeLambda records Invoke calls.
type fakeLambda struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeLambda) FunctionARN(name string) (string, bool) {
	if name == "worker" || name == "arn:aws:lambda:us-east-1:000000000000:function:worker" {
		return "arn:aws:lambda:us-east-1:000000000000:function:worker", true
	}
	return "", false
}

func (f *fakeLambda) Invoke(_ context.Context, caller *Principal, arn, typ string, payload []byte) (*InvokeResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, caller.Name+" "+typ+" "+string(payload))
	if typ == "Event" {
		return &InvokeResult{Status: 202}, nil
	}
	return &InvokeResult{Status: 200, Payload: []byte(`{"ok":true}`)}, nil
}

// setup starts an endpoint with one principal whose policy is doc.
func setup(t *testing.T, dynamoURL string, doc string) (*Endpoint, *Principal, *fakeLambda) {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(doc), &v))
	pol, err := iam.ParsePolicy("test-policy", v)
	require.NoError(t, err)
	fl := &fakeLambda{}
	e, err := New(Config{Region: region, AccountID: account, DynamoDB: dynamoURL, Lambda: fl})
	require.NoError(t, err)
	require.NoError(t, e.Start(t.TempDir()))
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	p := &Principal{Name: "fn", Session: "fn", RoleARN: "arn:aws:iam::000000000000:role/fn-role", AccessKeyID: "ASIATESTKEY", SecretAccessKey: "secret", SessionToken: "token", Policies: []iam.Policy{pol}}
	e.AddPrincipal(p)
	return e, p, fl
}

// direct is an SDK config that reaches the endpoint's plain URL as p.
func direct(e *Endpoint, p *Principal) aws.Config {
	return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, p.SessionToken), BaseEndpoint: aws.String(e.URL())}
}

// proxied is an SDK config that reaches the real AWS host names through the endpoint's
// proxy, trusting its CA: what a function process gets from HTTPS_PROXY and SSL_CERT_FILE.
func proxied(t *testing.T, e *Endpoint, p *Principal) aws.Config {
	t.Helper()
	pem, err := os.ReadFile(e.CAFile())
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	proxy, err := url.Parse(e.ProxyURL())
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: roots}}}
	return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, p.SessionToken), HTTPClient: client}
}

func apiCode(t *testing.T, err error) (string, string) {
	t.Helper()
	var ae smithy.APIError
	require.ErrorAs(t, err, &ae)
	return ae.ErrorCode(), ae.ErrorMessage()
}

func TestSecretsManagerThroughTheProxy(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:key-AbCdEf"
	e, p, _ := setup(t, "", `{"Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"`+arn+`"}]}`)
	e.AddSecret("key", arn, "s3cret", nil)
	e.AddSecret("other", "arn:aws:secretsmanager:us-east-1:000000000000:secret:other-XyZabc", "nope", nil)
	sm := secretsmanager.NewFromConfig(proxied(t, e, p))

	out, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	require.NoError(t, err)
	require.Equal(t, "s3cret", aws.ToString(out.SecretString))

	_, err = sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("other")})
	code, msg := apiCode(t, err)
	require.Equal(t, "AccessDeniedException", code)
	require.Equal(t, "User: arn:aws:sts::000000000000:assumed-role/fn-role/fn is not authorized to perform: secretsmanager:GetSecretValue on resource: "+
		"arn:aws:secretsmanager:us-east-1:000000000000:secret:other-XyZabc because no identity-based policy allows the secretsmanager:GetSecretValue action", msg)
}

func TestCallersAreAuthenticated(t *testing.T) {
	t.Parallel()
	e, p, _ := setup(t, "", `{"Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}`)
	e.AddSecret("key", "arn:aws:secretsmanager:us-east-1:000000000000:secret:key-AbCdEf", "s3cret", nil)

	unknown := *p
	unknown.AccessKeyID = "ASIAUNKNOWN"
	_, err := secretsmanager.NewFromConfig(direct(e, &unknown)).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("key")})
	code, _ := apiCode(t, err)
	require.Equal(t, "UnrecognizedClientException", code)

	forged := *p
	forged.SecretAccessKey = "guessed"
	_, err = secretsmanager.NewFromConfig(direct(e, &forged)).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("key")})
	code, _ = apiCode(t, err)
	require.Equal(t, "InvalidSignatureException", code, "another function's key without its secret gets nothing")
}

func TestLambdaInvoke(t *testing.T) {
	t.Parallel()
	e, p, fl := setup(t, "", `{"Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:000000000000:function:worker"}]}`)
	lc := lambda.NewFromConfig(proxied(t, e, p))
	out, err := lc.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("worker"), InvocationType: ltypes.InvocationTypeEvent, Payload: []byte(`{"n":1}`)})
	require.NoError(t, err)
	require.EqualValues(t, 202, out.StatusCode)
	sync, err := lc.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:worker"), Payload: []byte(`{"n":2}`)})
	require.NoError(t, err)
	require.JSONEq(t, `{"ok":true}`, string(sync.Payload))
	require.Equal(t, []string{`fn Event {"n":1}`, `fn RequestResponse {"n":2}`}, fl.calls)

	_, err = lc.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("router")})
	code, msg := apiCode(t, err)
	require.Equal(t, "AccessDeniedException", code, "denied before the function's existence is revealed")
	require.Contains(t, msg, "lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:000000000000:function:router")
}

func TestSQS(t *testing.T) {
	t.Parallel()
	const queue = "arn:aws:sqs:us-east-1:000000000000:dlq"
	e, p, _ := setup(t, "", `{"Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"`+queue+`"}]}`)
	var v any
	require.NoError(t, json.Unmarshal([]byte(`{"Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"sqs:*","Resource":"`+queue+`","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`), &v))
	tlsOnly, err := iam.ParsePolicy("queue-policy", v)
	require.NoError(t, err)
	e.AddQueue("dlq", queue, "https://sqs.us-east-1.amazonaws.com/000000000000/dlq", 0, []iam.Policy{tlsOnly})

	require.NoError(t, e.SendMessage(p, queue, `{"failed":true}`))
	require.Equal(t, QueueStats{Sent: 1, Messages: 1}, e.QueueStats()["dlq"])

	other := &Principal{Name: "other", RoleARN: "arn:aws:iam::000000000000:role/other"}
	var denied *AccessDeniedError
	require.ErrorAs(t, e.SendMessage(other, queue, "x"), &denied)
	require.Contains(t, denied.Message, "sqs:SendMessage on resource: "+queue)
}

func TestDynamoDBIsForwardedAndAuthorized(t *testing.T) {
	t.Parallel()
	cfg := dynamotest.Config(t)
	table := "awsapi-" + t.Name()
	admin := dynamodb.NewFromConfig(cfg)
	_, err := admin.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []dtypes.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: dtypes.ScalarAttributeTypeS}},
		KeySchema:            []dtypes.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: dtypes.KeyTypeHash}},
		BillingMode:          dtypes.BillingModePayPerRequest,
		StreamSpecification:  &dtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: dtypes.StreamViewTypeNewImage},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})

	arn := "arn:aws:dynamodb:us-east-1:000000000000:table/" + table
	e, p, _ := setup(t, aws.ToString(cfg.BaseEndpoint), `{"Statement":[{"Effect":"Allow","Action":["dynamodb:PutItem","dynamodb:DescribeTable"],"Resource":"`+arn+`"}]}`)
	var counted []string
	e.cfg.OnDynamoDB = func(table, op string, condFailed bool) { counted = append(counted, op) }
	db := dynamodb.NewFromConfig(proxied(t, e, p))

	_, err = db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]dtypes.AttributeValue{"k": &dtypes.AttributeValueMemberS{Value: "1"}}})
	require.NoError(t, err)
	desc, err := db.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	require.NoError(t, err)
	require.Equal(t, arn, aws.ToString(desc.Table.TableArn), "DynamoDB Local's ARNs are the stack's")
	require.Contains(t, aws.ToString(desc.Table.LatestStreamArn), arn+"/stream/")

	_, err = db.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: map[string]dtypes.AttributeValue{"k": &dtypes.AttributeValueMemberS{Value: "1"}}})
	code, msg := apiCode(t, err)
	require.Equal(t, "AccessDeniedException", code)
	require.Contains(t, msg, "is not authorized to perform: dynamodb:UpdateItem on resource: "+arn)
	require.Equal(t, []string{"PutItem", "DescribeTable"}, counted, "a refused call never reaches DynamoDB")
}
