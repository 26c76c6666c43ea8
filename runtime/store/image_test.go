package store_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

func fullRequest() *store.AsyncRequest {
	at := time.Date(2026, 3, 4, 5, 6, 7, 89, time.UTC)
	return &store.AsyncRequest{
		RequestID:        store.ScopedID("t1", "u1", "c1"),
		ClientID:         "c1",
		ConnectionID:     "conn-1",
		Status:           store.StatusProcessing,
		CreatedAt:        at,
		UpdatedAt:        at.Add(time.Second),
		Action:           "generate_report",
		Payload:          json.RawMessage(`{"a":[1,2,{"b":"<c>"}]}`),
		Attempt:          2,
		MaxAttempts:      3,
		LeaseUntil:       at.Add(time.Minute),
		LeaseOwner:       "worker-1",
		StartedAt:        at.Add(2 * time.Second),
		EndedAt:          at.Add(3 * time.Second),
		Progress:         33.333333333333336,
		ProgressMessage:  "a third",
		ProgressMetadata: json.RawMessage(`{"step":1}`),
		Result:           json.RawMessage(`{"url":"https://example.com"}`),
		Error:            json.RawMessage(`{"code":"TIMEOUT","message":"slow"}`),
		CancelRequested:  true,
		Checkpoint:       json.RawMessage(`{"next":7}`),
		Continuations:    2,
		UserID:           "u1",
		TenantID:         "t1",
		TTL:              1_800_000_000,
	}
}

func TestImageRoundTrip(t *testing.T) {
	t.Parallel()
	for name, r := range map[string]*store.AsyncRequest{
		"full":    fullRequest(),
		"minimal": {RequestID: "t#u#c", Status: store.StatusPending},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			img, err := store.EncodeImage(r)
			require.NoError(t, err)
			got, err := store.DecodeImage(img)
			require.NoError(t, err)
			require.Equal(t, r, got)
		})
	}
}

func TestEncodeImageAttributes(t *testing.T) {
	t.Parallel()
	img, err := store.EncodeImage(fullRequest())
	require.NoError(t, err)
	require.Equal(t, events.DataTypeString, img[contract.AttrPayload].DataType(), "JSON is stored as S text, not B")
	require.Equal(t, `{"a":[1,2,{"b":"<c>"}]}`, img[contract.AttrPayload].String())
	require.Equal(t, "2026-03-04T05:06:07.000000089Z", img[contract.AttrCreatedAt].String())
	require.Equal(t, "1800000000", img[contract.AttrTTL].Number())
	require.Equal(t, "33.333333333333336", img[contract.AttrProgress].Number())
	require.True(t, img[contract.AttrCancelRequested].Boolean())
	require.Equal(t, `{"next":7}`, img[contract.AttrCheckpoint].String())
	require.Equal(t, "2", img[contract.AttrContinuations].Number())

	minimal, err := store.EncodeImage(&store.AsyncRequest{RequestID: "t#u#c", Status: store.StatusPending})
	require.NoError(t, err)
	names := slices.Sorted(maps.Keys(minimal))
	require.Equal(t, []string{contract.AttrAttempt, contract.AttrMaxAttempts, contract.AttrProgress, contract.AttrRequestID, contract.AttrStatus, contract.AttrUnfinishedShard}, names,
		"empty strings, zero times, false, no continuations and a zero ttl are omitted (an index key may not be empty; ttl 0 would expire at once)")
}

// TestUnfinishedShard checks that the unfinished index's key is there exactly while a
// request is not finished, and that it spreads requests over every shard.
func TestUnfinishedShard(t *testing.T) {
	t.Parallel()
	for status, indexed := range map[store.RequestStatus]bool{
		store.StatusPending: true, store.StatusProcessing: true,
		store.StatusCompleted: false, store.StatusFailed: false, store.StatusCancelled: false,
	} {
		img, err := store.EncodeImage(&store.AsyncRequest{RequestID: "t#u#c", Status: status})
		require.NoError(t, err)
		v, ok := img[contract.AttrUnfinishedShard]
		require.Equal(t, indexed, ok, status)
		if ok {
			require.Equal(t, store.UnfinishedShard("t#u#c"), v.String())
		}
	}

	counts := map[string]int{}
	for i := range 16_000 {
		counts[store.UnfinishedShard(store.ScopedID("tenant", "user", fmt.Sprintf("r-%d", i)))]++
	}
	require.Len(t, counts, contract.UnfinishedShards)
	for shard, n := range counts {
		require.Len(t, shard, 2)
		require.InDelta(t, 1000, n, 150, "shard %s", shard)
	}
}

func TestTimeLayoutSorts(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	times := []time.Time{base, base.Add(time.Nanosecond), base.Add(100 * time.Millisecond), base.Add(time.Second), base.Add(10 * time.Hour)}
	var formatted []string
	for _, tm := range times {
		formatted = append(formatted, store.FormatTime(tm.In(time.FixedZone("X", 5*3600))))
	}
	require.True(t, slices.IsSorted(formatted), "string order is time order: %v", formatted)
	for _, f := range formatted {
		require.Len(t, f, len(store.TimeLayout))
	}
}

func TestEncodeImageRejects(t *testing.T) {
	t.Parallel()
	bad := map[string]*store.AsyncRequest{
		"nil":          nil,
		"no id":        {Status: store.StatusPending},
		"invalid JSON": {RequestID: "x", Payload: json.RawMessage(`{`)},
		"NaN progress": {RequestID: "x", Progress: nan()},
	}
	for name, r := range bad {
		_, err := store.EncodeImage(r)
		require.ErrorIs(t, err, store.ErrInvalidImage, name)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestDecodeImageRejectsWithoutPanic(t *testing.T) {
	t.Parallel()
	good, err := store.EncodeImage(fullRequest())
	require.NoError(t, err)
	for name, change := range map[string]func(map[string]events.DynamoDBAttributeValue){
		"no key": func(m map[string]events.DynamoDBAttributeValue) { delete(m, contract.AttrRequestID) },
		"number as string": func(m map[string]events.DynamoDBAttributeValue) {
			m[contract.AttrAttempt] = events.NewStringAttribute("2")
		},
		"string as number": func(m map[string]events.DynamoDBAttributeValue) {
			m[contract.AttrStatus] = events.NewNumberAttribute("1")
		},
		"bad time": func(m map[string]events.DynamoDBAttributeValue) {
			m[contract.AttrCreatedAt] = events.NewStringAttribute("yesterday")
		},
		"bad number": func(m map[string]events.DynamoDBAttributeValue) {
			m[contract.AttrTTL] = events.NewNumberAttribute("1e")
		},
		"zero value": func(m map[string]events.DynamoDBAttributeValue) {
			m[contract.AttrAction] = events.DynamoDBAttributeValue{}
		},
		"bool as list": func(m map[string]events.DynamoDBAttributeValue) {
			m[contract.AttrCancelRequested] = events.NewListAttribute(nil)
		},
	} {
		img := maps.Clone(good)
		change(img)
		_, err := store.DecodeImage(img)
		require.ErrorIs(t, err, store.ErrInvalidImage, name)
	}
}

// TestDecodeFixture decodes a NewImage captured from a real DynamoDB (Local) stream
// written by dynamostore (TestStreamImagesDecode -update rewrites it).
func TestDecodeFixture(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "dynamodb_stream_event.json"))
	require.NoError(t, err)
	var event events.DynamoDBEvent
	require.NoError(t, json.Unmarshal(data, &event))
	require.Len(t, event.Records, 1)
	rec := event.Records[0]
	require.Equal(t, "INSERT", rec.EventName)
	require.Equal(t, "NEW_IMAGE", rec.Change.StreamViewType)
	r, err := store.DecodeImage(rec.Change.NewImage)
	require.NoError(t, err)
	require.Equal(t, store.ScopedID("tenant-1", "user-1", "report-7"), r.RequestID)
	require.Equal(t, store.StatusPending, r.Status)
	require.Equal(t, "generate_report", r.Action)
	require.JSONEq(t, `{"pages":3,"title":"Q3 <draft> & notes"}`, string(r.Payload))
	require.Equal(t, 1, r.Attempt)
	require.Equal(t, contract.DefaultMaxAttempts, r.MaxAttempts)
	require.Equal(t, r.CreatedAt.Add(contract.RequestTTL).Unix(), r.TTL)
	again, err := store.EncodeImage(r)
	require.NoError(t, err)
	require.Equal(t, rec.Change.NewImage, again, "the stream image is exactly EncodeImage's encoding")
}

func TestItemSize(t *testing.T) {
	t.Parallel()
	item := map[string]events.DynamoDBAttributeValue{
		"s":  events.NewStringAttribute("héllo"),                                                                    // 1 + 6
		"n":  events.NewNumberAttribute("123"),                                                                      // 1 + 3
		"b":  events.NewBooleanAttribute(true),                                                                      // 1 + 1
		"m":  events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{"k": events.NewStringAttribute("v")}), // 1 + 3 + 1+1+1
		"l":  events.NewListAttribute([]events.DynamoDBAttributeValue{events.NewNullAttribute()}),                   // 1 + 3 + 1+1
		"ss": events.NewStringSetAttribute([]string{"ab", "c"}),                                                     // 2 + 3
	}
	require.Equal(t, 7+4+2+7+6+5, store.ItemSize(item))

	big := map[string]events.DynamoDBAttributeValue{"p": events.NewStringAttribute(strings.Repeat("x", contract.MaxItemBytes))}
	require.ErrorIs(t, store.CheckItemSize(big), store.ErrTooLarge)
	ok := map[string]events.DynamoDBAttributeValue{"p": events.NewStringAttribute(strings.Repeat("x", contract.MaxItemBytes-1))}
	require.NoError(t, store.CheckItemSize(ok))
}
