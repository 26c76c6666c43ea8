package dynamostore_test

import (
	"testing"

	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/dynamostore"
	"github.com/streamer-go/streamer/runtime/store/dynamostore/dynamotest"
	"github.com/streamer-go/streamer/runtime/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	db := dynamotest.DB(t)
	s := dynamostore.New(db, dynamotest.Tables(t, db, "conformance"))
	storetest.Run(t, func(*testing.T) (store.ConnectionStore, store.RequestQueue) {
		return s.Connections(), s.Requests()
	})
}
