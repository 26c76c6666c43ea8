package local

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/guregu/dynamo/v2"

	"github.com/streamer-go/streamer/runtime/store/dynamostore"
	"github.com/streamer-go/streamer/runtime/store/memstore"
)

// awsConfig is the SDK configuration of the clients the stack makes: its region, fixed
// credentials (DynamoDB Local accepts any; the @connections API checks none) and the
// stack's own HTTP transport, whose idle connections Shutdown closes.
func (s *Stack) awsConfig() aws.Config {
	return aws.Config{
		Region:      s.cfg.Region,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:  &http.Client{Transport: s.transport},
	}
}

// storeName names the store in logs and the banner.
func (s *Stack) storeName() string {
	if s.cfg.DynamoDBEndpoint == "" {
		return "memory"
	}
	return "dynamodb " + s.cfg.DynamoDBEndpoint
}

// openStore opens the configured store: memstore, or the tables on DynamoDBEndpoint,
// created when they do not exist (dropped first with FreshTables).
func (s *Stack) openStore(ctx context.Context) (*storeHandles, error) {
	if s.cfg.DynamoDBEndpoint == "" {
		st := memstore.New(memstore.Options{Region: s.cfg.Region})
		return &storeHandles{
			connections: st.Connections(),
			requests:    st.Requests(),
			limits:      st.Limits(),
			stream:      &memoryStream{feed: st.Feed()},
			cleanup:     func(context.Context) error { return nil },
		}, nil
	}
	cfg := s.awsConfig()
	endpoint := aws.String(s.cfg.DynamoDBEndpoint)
	db := dynamo.New(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = endpoint })
	p := s.cfg.TablePrefix
	tables := dynamostore.Tables{Connections: p + "connections", Requests: p + "requests", Limits: p + "limits"}
	if s.cfg.FreshTables {
		if err := dynamostore.DeleteTables(ctx, db, tables); err != nil {
			return nil, fmt.Errorf("local: %w", err)
		}
	}
	created, err := dynamostore.EnsureTables(ctx, db, tables)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	cleanup := func(context.Context) error { return nil }
	if s.cfg.DropTablesOnShutdown {
		cleanup = func(ctx context.Context) error {
			if err := dynamostore.DeleteTables(ctx, db, tables); err != nil {
				return fmt.Errorf("local: %w", err)
			}
			return nil
		}
	}
	desc, err := db.Table(tables.Requests).Describe().Run(ctx)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("local: describe the requests table: %w", err), cleanup(ctx))
	}
	if desc.LatestStreamARN == "" {
		return nil, errors.Join(errors.New("local: the requests table has no stream"), cleanup(ctx))
	}
	st := dynamostore.New(db, tables)
	return &storeHandles{
		connections: st.Connections(),
		requests:    st.Requests(),
		limits:      st.Limits(),
		stream: &dynamoStream{
			api:       dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = endpoint }),
			streamARN: desc.LatestStreamARN,
		},
		kept:    !created,
		cleanup: cleanup,
	}, nil
}
