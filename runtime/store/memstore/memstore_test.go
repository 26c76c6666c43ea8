package memstore_test

import (
	"testing"

	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) storetest.Stores {
		s := memstore.New(memstore.Options{})
		return storetest.Stores{Connections: s.Connections(), Requests: s.Requests(), Limits: s.Limits(), LoadConnection: s.Connections().Load}
	})
}
