package dynamostore

import (
	"context"
	"errors"

	"github.com/guregu/dynamo/v2"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

// limitTable implements store.LimitTable on the Limits table: GetItem (strongly
// consistent) and PutItem conditioned on the version read.
type limitTable struct{ table dynamo.Table }

var _ store.LimitTable = limitTable{}

// limitItem is a Limits item; the names are the contract's.
type limitItem struct {
	LimitKey string `dynamo:"limit_key,hash"`
	Version  int64  `dynamo:"version"`
	State    string `dynamo:"state,omitempty"`
	TTL      int64  `dynamo:"ttl,omitempty"`
}

// LoadLimits implements store.LimitTable.
func (t limitTable) LoadLimits(ctx context.Context, tenantID string) (store.LimitItem, error) {
	var it limitItem
	err := t.table.Get(contract.AttrLimitKey, tenantID).Consistent(true).One(ctx, &it)
	switch {
	case err == nil:
		return store.LimitItem{State: []byte(it.State), Version: it.Version, TTL: it.TTL}, nil
	case errors.Is(err, dynamo.ErrNotFound):
		return store.LimitItem{}, nil
	}
	return store.LimitItem{}, mapErr(err, "get limits of "+tenantID)
}

// SaveLimits implements store.LimitTable.
func (t limitTable) SaveLimits(ctx context.Context, tenantID string, item store.LimitItem, prev int64) error {
	put := t.table.Put(limitItem{LimitKey: tenantID, Version: item.Version, State: string(item.State), TTL: item.TTL})
	if prev == 0 {
		put = put.If("attribute_not_exists($)", contract.AttrLimitKey)
	} else {
		put = put.If("$ = ?", contract.AttrLimitVersion, prev)
	}
	return mapErr(put.Run(ctx), "save limits of "+tenantID)
}
