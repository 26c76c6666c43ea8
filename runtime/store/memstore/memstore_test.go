package memstore_test

import (
	"testing"

	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) (store.ConnectionStore, store.RequestQueue) {
		s := memstore.New(memstore.Options{})
		return s.Connections(), s.Requests()
	})
}
