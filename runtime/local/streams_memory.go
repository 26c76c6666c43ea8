package local

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/store/memstore"
)

// memoryShardID is the id of the in-memory feed's only shard.
const memoryShardID = "shardId-00000000000000000001-memstore"

// iteratorPrefix starts the iterators of the in-memory feed; the rest is the checkpoint.
const iteratorPrefix = "memstore-iterator:"

var _ streamReader = (*memoryStream)(nil)

// memoryStream reads the in-memory store's change feed as a one-shard stream. Reads do
// not wait for records: the poller polls, as the event source mapping does.
type memoryStream struct {
	feed *memstore.Feed
}

// Shards returns the feed's one shard.
func (s *memoryStream) Shards(context.Context) ([]string, error) {
	return []string{memoryShardID}, nil
}

// Iterator encodes the checkpoint after ("" for the oldest record).
func (s *memoryStream) Iterator(_ context.Context, shardID, after string) (string, error) {
	if shardID != memoryShardID {
		return "", fmt.Errorf("local: memory stream: unknown shard %q", shardID)
	}
	return iteratorPrefix + after, nil
}

// Records reads up to limit records after the iterator's checkpoint without waiting.
func (s *memoryStream) Records(ctx context.Context, iterator string, limit int) ([]events.DynamoDBEventRecord, string, error) {
	after, ok := strings.CutPrefix(iterator, iteratorPrefix)
	if !ok {
		return nil, "", fmt.Errorf("local: memory stream: bad iterator %q", iterator)
	}
	// A done context makes Read return at once when there is nothing new.
	now, cancel := context.WithCancel(ctx)
	cancel()
	recs, err := s.feed.Read(now, after, limit)
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() == nil:
		return nil, iterator, nil
	case err != nil:
		return nil, "", fmt.Errorf("local: memory stream: %w", err)
	}
	return recs, iteratorPrefix + recs[len(recs)-1].Change.SequenceNumber, nil
}
