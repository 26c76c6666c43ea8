package dynamostore_test

import (
	"testing"

	"github.com/streamer-go/streamer/runtime/store/dynamostore"
	"github.com/streamer-go/streamer/runtime/store/dynamostore/dynamotest"
	"github.com/streamer-go/streamer/runtime/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	db := dynamotest.DB(t)
	s := dynamostore.New(db, dynamotest.Tables(t, db, "conformance"))
	storetest.Run(t, func(*testing.T) storetest.Stores {
		return storetest.Stores{Connections: s.Connections(), Requests: s.Requests(), Limits: s.Limits(), LoadConnection: s.Connections().Load}
	})
}
