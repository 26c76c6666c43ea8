package store_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

func TestCheckOwner(t *testing.T) {
	t.Parallel()
	for _, ok := range []store.Owner{
		{TenantID: "acme", UserID: "alice"},
		{TenantID: "ÄÖÜ-東京", UserID: "auth0|5f7c8ec7c33c6c004bbafe82"},
		{TenantID: strings.Repeat("t", contract.MaxTenantIDBytes), UserID: strings.Repeat("u", contract.MaxUserIDBytes)},
		{TenantID: "acme", UserID: "alice@example.com"},
	} {
		require.NoError(t, store.CheckOwner(ok), "%+v", ok)
	}
	for name, bad := range map[string]store.Owner{
		"empty tenant":   {UserID: "alice"},
		"empty user":     {TenantID: "acme"},
		"# in tenant":    {TenantID: "ac#me", UserID: "alice"},
		"# in user":      {TenantID: "acme", UserID: "al#ice"},
		"10 KB tenant":   {TenantID: strings.Repeat("t", 10*1024), UserID: "alice"},
		"long tenant":    {TenantID: strings.Repeat("t", contract.MaxTenantIDBytes+1), UserID: "alice"},
		"long user":      {TenantID: "acme", UserID: strings.Repeat("u", contract.MaxUserIDBytes+1)},
		"invalid UTF-8":  {TenantID: "acme\xff", UserID: "alice"},
		"control":        {TenantID: "acme", UserID: "ali\nce"},
		"NUL":            {TenantID: "ac\x00me", UserID: "alice"},
		"C1 control":     {TenantID: "acme", UserID: "alice\u0085"},
		"long multibyte": {TenantID: strings.Repeat("東", contract.MaxTenantIDBytes/3+1), UserID: "alice"},
	} {
		require.ErrorIs(t, store.CheckOwner(bad), store.ErrInvalidOwner, name)
	}
	// Whatever passes keys a request within DynamoDB's 2,048-byte partition key limit.
	longest := store.ScopedID(strings.Repeat("t", contract.MaxTenantIDBytes), strings.Repeat("u", contract.MaxUserIDBytes), strings.Repeat("i", 128))
	require.Less(t, len(longest), 2048)
}
