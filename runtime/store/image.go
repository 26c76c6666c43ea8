package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
)

// ErrInvalidImage: an item or stream image cannot be decoded into a request (a missing
// key, a wrong attribute type, a malformed time or number). Retrying will not help.
var ErrInvalidImage = errors.New("store: invalid image")

// TimeLayout is how every time attribute is stored: RFC 3339 in UTC with nanoseconds,
// always the same width, so that string order is time order (created_at is a sort key,
// lease_until is compared in condition expressions).
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// FormatTime renders t in TimeLayout (UTC).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// EncodeImage encodes a request as the item dynamostore writes and the stream carries as
// NewImage: key and string attributes as S (empty strings omitted: an index key may not
// be empty), JSON fields as S JSON text, times as S in TimeLayout (zero times omitted),
// counters and progress as N (continuations omitted when zero), cancel_requested as BOOL
// (omitted when false), ttl as N Unix seconds (omitted when zero), and unfinished_shard
// (UnfinishedShard) while the status is PENDING or PROCESSING. It fails on a missing
// request id, invalid JSON or a non-finite progress.
func EncodeImage(r *AsyncRequest) (map[string]events.DynamoDBAttributeValue, error) {
	if r == nil || r.RequestID == "" {
		return nil, fmt.Errorf("%w: request id is empty", ErrInvalidImage)
	}
	e := imageEncoder{item: make(map[string]events.DynamoDBAttributeValue, 24)}
	e.str(contract.AttrRequestID, r.RequestID)
	e.str(contract.AttrClientID, r.ClientID)
	e.str(contract.AttrRequestConnectionID, r.ConnectionID)
	e.str(contract.AttrStatus, string(r.Status))
	e.time(contract.AttrCreatedAt, r.CreatedAt)
	e.time(contract.AttrUpdatedAt, r.UpdatedAt)
	e.str(contract.AttrAction, r.Action)
	e.json(contract.AttrPayload, r.Payload)
	e.int(contract.AttrAttempt, int64(r.Attempt))
	e.int(contract.AttrMaxAttempts, int64(r.MaxAttempts))
	e.time(contract.AttrLeaseUntil, r.LeaseUntil)
	e.str(contract.AttrLeaseOwner, r.LeaseOwner)
	e.time(contract.AttrStartedAt, r.StartedAt)
	e.time(contract.AttrEndedAt, r.EndedAt)
	e.float(contract.AttrProgress, r.Progress)
	e.str(contract.AttrProgressMessage, r.ProgressMessage)
	e.json(contract.AttrProgressMetadata, r.ProgressMetadata)
	e.json(contract.AttrResult, r.Result)
	e.json(contract.AttrError, r.Error)
	if r.CancelRequested {
		e.item[contract.AttrCancelRequested] = events.NewBooleanAttribute(true)
	}
	e.json(contract.AttrCheckpoint, r.Checkpoint)
	if r.Continuations != 0 {
		e.int(contract.AttrContinuations, int64(r.Continuations))
	}
	e.str(contract.AttrUserID, r.UserID)
	e.str(contract.AttrTenantID, r.TenantID)
	if r.Status != "" && !r.Status.Terminal() {
		e.str(contract.AttrUnfinishedShard, UnfinishedShard(r.RequestID))
	}
	if r.TTL != 0 {
		e.int(contract.AttrTTL, r.TTL)
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.item, nil
}

// UnfinishedShard is the unfinished index's partition key of a request: one of
// contract.UnfinishedShards values ("00" to "15"), from an FNV-1a hash of its id, so the
// requests in flight spread over that many index partitions.
func UnfinishedShard(requestID string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(requestID)) // a hash never fails to write
	return UnfinishedShardName(int(h.Sum32() % contract.UnfinishedShards))
}

// UnfinishedShardName is the attribute value of shard number n (0 to
// contract.UnfinishedShards-1).
func UnfinishedShardName(n int) string { return fmt.Sprintf("%02d", n) }

// DecodeImage is the inverse of EncodeImage: it reads a stream NewImage (or a stored
// item) back into a request. Absent attributes stay zero; a wrong type is ErrInvalidImage.
func DecodeImage(item map[string]events.DynamoDBAttributeValue) (*AsyncRequest, error) {
	d := imageDecoder{item: item}
	r := &AsyncRequest{
		RequestID:        d.str(contract.AttrRequestID),
		ClientID:         d.str(contract.AttrClientID),
		ConnectionID:     d.str(contract.AttrRequestConnectionID),
		Status:           RequestStatus(d.str(contract.AttrStatus)),
		CreatedAt:        d.time(contract.AttrCreatedAt),
		UpdatedAt:        d.time(contract.AttrUpdatedAt),
		Action:           d.str(contract.AttrAction),
		Payload:          d.json(contract.AttrPayload),
		Attempt:          int(d.int(contract.AttrAttempt)),
		MaxAttempts:      int(d.int(contract.AttrMaxAttempts)),
		LeaseUntil:       d.time(contract.AttrLeaseUntil),
		LeaseOwner:       d.str(contract.AttrLeaseOwner),
		StartedAt:        d.time(contract.AttrStartedAt),
		EndedAt:          d.time(contract.AttrEndedAt),
		Progress:         d.float(contract.AttrProgress),
		ProgressMessage:  d.str(contract.AttrProgressMessage),
		ProgressMetadata: d.json(contract.AttrProgressMetadata),
		Result:           d.json(contract.AttrResult),
		Error:            d.json(contract.AttrError),
		CancelRequested:  d.bool(contract.AttrCancelRequested),
		Checkpoint:       d.json(contract.AttrCheckpoint),
		Continuations:    int(d.int(contract.AttrContinuations)),
		UserID:           d.str(contract.AttrUserID),
		TenantID:         d.str(contract.AttrTenantID),
		TTL:              d.int(contract.AttrTTL),
	}
	if d.err == nil && r.RequestID == "" {
		d.err = fmt.Errorf("%w: no %s", ErrInvalidImage, contract.AttrRequestID)
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// ItemSize approximates DynamoDB's size of an item: the UTF-8 length of every attribute
// name plus the size of its value (strings and binaries their length, numbers their
// digits, booleans and nulls one byte, lists and maps 3 bytes plus one per element plus
// their content).
func ItemSize(item map[string]events.DynamoDBAttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

// CheckItemSize returns ErrTooLarge when item is over contract.MaxItemBytes.
func CheckItemSize(item map[string]events.DynamoDBAttributeValue) error {
	if n := ItemSize(item); n > contract.MaxItemBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, contract.MaxItemBytes)
	}
	return nil
}

func valueSize(v events.DynamoDBAttributeValue) int {
	switch v.DataType() {
	case events.DataTypeString:
		return len(v.String())
	case events.DataTypeNumber:
		return len(v.Number())
	case events.DataTypeBinary:
		return len(v.Binary())
	case events.DataTypeBoolean, events.DataTypeNull:
		return 1
	case events.DataTypeStringSet:
		return sumLen(v.StringSet())
	case events.DataTypeNumberSet:
		return sumLen(v.NumberSet())
	case events.DataTypeBinarySet:
		n := 0
		for _, b := range v.BinarySet() {
			n += len(b)
		}
		return n
	case events.DataTypeList:
		n := 3
		for _, e := range v.List() {
			n += 1 + valueSize(e)
		}
		return n
	case events.DataTypeMap:
		n := 3
		for k, e := range v.Map() {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}

func sumLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}

// imageEncoder builds one item; the first error sticks.
type imageEncoder struct {
	item map[string]events.DynamoDBAttributeValue
	err  error
}

func (e *imageEncoder) str(name, v string) {
	if v != "" {
		e.item[name] = events.NewStringAttribute(v)
	}
}

func (e *imageEncoder) time(name string, t time.Time) {
	if !t.IsZero() {
		e.item[name] = events.NewStringAttribute(FormatTime(t))
	}
}

func (e *imageEncoder) int(name string, v int64) {
	e.item[name] = events.NewNumberAttribute(strconv.FormatInt(v, 10))
}

func (e *imageEncoder) float(name string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		e.fail(fmt.Errorf("%w: %s is %v", ErrInvalidImage, name, v))
		return
	}
	e.item[name] = events.NewNumberAttribute(strconv.FormatFloat(v, 'f', -1, 64))
}

func (e *imageEncoder) json(name string, v json.RawMessage) {
	if len(v) == 0 {
		return
	}
	if !json.Valid(v) {
		e.fail(fmt.Errorf("%w: %s is not valid JSON", ErrInvalidImage, name))
		return
	}
	e.item[name] = events.NewStringAttribute(string(v))
}

func (e *imageEncoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// imageDecoder reads one item; the first error sticks. It checks every type before
// touching a value, because the events accessors panic on a mismatch.
type imageDecoder struct {
	item map[string]events.DynamoDBAttributeValue
	err  error
}

func (d *imageDecoder) get(name string, want events.DynamoDBDataType) (events.DynamoDBAttributeValue, bool) {
	v, ok := d.item[name]
	if !ok || v.DataType() == events.DataTypeNull {
		return v, false
	}
	if v.DataType() != want {
		d.fail(fmt.Errorf("%w: %s has type %d, want %d", ErrInvalidImage, name, v.DataType(), want))
		return v, false
	}
	return v, true
}

func (d *imageDecoder) str(name string) string {
	if v, ok := d.get(name, events.DataTypeString); ok {
		return v.String()
	}
	return ""
}

func (d *imageDecoder) time(name string) time.Time {
	s := d.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d.fail(fmt.Errorf("%w: %s: %w", ErrInvalidImage, name, err))
	}
	return t.UTC()
}

func (d *imageDecoder) int(name string) int64 {
	v, ok := d.get(name, events.DataTypeNumber)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v.Number(), 10, 64)
	if err != nil {
		d.fail(fmt.Errorf("%w: %s: %w", ErrInvalidImage, name, err))
	}
	return n
}

func (d *imageDecoder) float(name string) float64 {
	v, ok := d.get(name, events.DataTypeNumber)
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(v.Number(), 64)
	if err != nil {
		d.fail(fmt.Errorf("%w: %s: %w", ErrInvalidImage, name, err))
	}
	return f
}

func (d *imageDecoder) json(name string) json.RawMessage {
	if s := d.str(name); s != "" {
		return json.RawMessage(s)
	}
	return nil
}

func (d *imageDecoder) bool(name string) bool {
	if v, ok := d.get(name, events.DataTypeBoolean); ok {
		return v.Boolean()
	}
	return false
}

func (d *imageDecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}
