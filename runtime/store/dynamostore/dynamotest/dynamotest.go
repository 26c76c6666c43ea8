// Package dynamotest connects tests to DynamoDB Local: it reads the endpoint from
// STREAMER_TEST_DYNAMODB_ENDPOINT (scripts/dynamodb-local.sh sets it), skips the test
// when it is unset, and fails it instead when CI=true or STREAMER_REQUIRE_DYNAMODB=1, so
// `make test` can never skip DynamoDB silently.
package dynamotest

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/guregu/dynamo/v2"

	"github.com/streamer-go/streamer/runtime/store/dynamostore"
)

// Environment variables.
const (
	// EnvEndpoint is the DynamoDB Local endpoint, e.g. http://127.0.0.1:8000.
	EnvEndpoint = "STREAMER_TEST_DYNAMODB_ENDPOINT"
	// EnvRequire, set to 1, turns a missing endpoint into a test failure.
	EnvRequire = "STREAMER_REQUIRE_DYNAMODB"
)

// Region is the region of every test client.
const Region = "us-east-1"

// Config returns an AWS config for DynamoDB Local with dummy static credentials, or
// skips tb when no endpoint is set (fails it when one is required).
func Config(tb testing.TB) aws.Config {
	tb.Helper()
	endpoint := os.Getenv(EnvEndpoint)
	if endpoint == "" {
		const why = EnvEndpoint + " is not set: run through scripts/dynamodb-local.sh run -- go test ... (or `make test`)"
		if os.Getenv("CI") == "true" || os.Getenv(EnvRequire) == "1" {
			tb.Fatal("DynamoDB Local is required (CI=true or " + EnvRequire + "=1) but " + why)
		}
		tb.Skip("skipping DynamoDB Local test: " + why)
	}
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("dummy", "dummy", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// DB returns a dynamo.DB on DynamoDB Local (see Config).
func DB(tb testing.TB) *dynamo.DB {
	tb.Helper()
	return dynamo.New(Config(tb))
}

// Tables creates a fresh set of tables named prefix + a random suffix, with the
// production schema (dynamostore.CreateTables), and deletes them when tb ends.
func Tables(tb testing.TB, db *dynamo.DB, prefix string) dynamostore.Tables {
	tb.Helper()
	suffix := strings.ToLower(rand.Text()[:10])
	tables := dynamostore.Tables{
		Connections: prefix + "-connections-" + suffix,
		Requests:    prefix + "-requests-" + suffix,
		Limits:      prefix + "-limits-" + suffix,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamostore.CreateTables(ctx, db, tables); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := dynamostore.DeleteTables(ctx, db, tables); err != nil {
			tb.Error(err)
		}
	})
	return tables
}
