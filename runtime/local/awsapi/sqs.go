package awsapi

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/local/iam"
)

// sqsContentType is the SQS JSON protocol's content type.
const sqsContentType = "application/x-amz-json-1.0"

// queue is one SQS queue of the stand-in.
type queue struct {
	name, arn, url string
	policies       []iam.Policy
	visibility     time.Duration

	messages []*message
	sent     int64
}

// message is one queued message.
type message struct {
	id, body, receipt string
	hiddenUntil       time.Time
	receives          int
}

// queues holds the stand-in's queues.
type queues struct {
	mu     sync.Mutex
	byName map[string]*queue
}

func newQueues() *queues { return &queues{byName: make(map[string]*queue)} }

// QueueStats are the counts of one queue.
type QueueStats struct {
	// Sent counts messages ever sent to the queue.
	Sent int64 `json:"sent"`
	// Messages counts messages in the queue now (visible or being received).
	Messages int `json:"messages"`
}

// AddQueue creates a queue; policies are its resource-based policies (QueuePolicy).
func (e *Endpoint) AddQueue(name, arn, url string, visibility time.Duration, policies []iam.Policy) {
	e.queues.mu.Lock()
	defer e.queues.mu.Unlock()
	if visibility <= 0 {
		visibility = 30 * time.Second
	}
	e.queues.byName[name] = &queue{name: name, arn: arn, url: url, policies: policies, visibility: visibility}
}

// QueueStats returns each queue's counts, by queue name.
func (e *Endpoint) QueueStats() map[string]QueueStats {
	e.queues.mu.Lock()
	defer e.queues.mu.Unlock()
	out := make(map[string]QueueStats, len(e.queues.byName))
	for name, q := range e.queues.byName {
		out[name] = QueueStats{Sent: q.sent, Messages: len(q.messages)}
	}
	return out
}

// SendMessage sends body to the queue with ARN queueARN as caller, authorized like the
// SendMessage API (the stack sends Lambda's destination records this way).
func (e *Endpoint) SendMessage(caller *Principal, queueARN, body string) error {
	q := e.queueBy(func(q *queue) bool { return q.arn == queueARN })
	if q == nil {
		return &AccessDeniedError{Message: "queue " + queueARN + " does not exist"}
	}
	if err := e.Authorize(caller, "sqs:SendMessage", q.arn, q.policies); err != nil {
		return err
	}
	e.enqueue(q, body)
	return nil
}

func (e *Endpoint) queueBy(match func(*queue) bool) *queue {
	e.queues.mu.Lock()
	defer e.queues.mu.Unlock()
	for _, q := range e.queues.byName {
		if match(q) {
			return q
		}
	}
	return nil
}

func (e *Endpoint) enqueue(q *queue, body string) string {
	e.queues.mu.Lock()
	defer e.queues.mu.Unlock()
	m := &message{id: newID(), body: body}
	q.messages = append(q.messages, m)
	q.sent++
	return m.id
}

// sqs serves the SQS JSON protocol: SendMessage, ReceiveMessage, DeleteMessage,
// GetQueueUrl and GetQueueAttributes.
func (e *Endpoint) sqs(w http.ResponseWriter, r *http.Request, caller *Principal) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if !ok {
		jsonError(w, http.StatusBadRequest, "com.amazonaws.sqs#UnsupportedOperation", "the local stack speaks the SQS JSON protocol only")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req struct {
		QueueURL            string   `json:"QueueUrl"`
		QueueName           string   `json:"QueueName"`
		MessageBody         string   `json:"MessageBody"`
		ReceiptHandle       string   `json:"ReceiptHandle"`
		MaxNumberOfMessages int      `json:"MaxNumberOfMessages"`
		AttributeNames      []string `json:"AttributeNames"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		jsonError(w, http.StatusBadRequest, "com.amazonaws.sqs#InvalidParameterValue", err.Error())
		return
	}
	var q *queue
	if op == "GetQueueUrl" {
		q = e.queueBy(func(q *queue) bool { return q.name == req.QueueName })
	} else {
		q = e.queueBy(func(q *queue) bool { return q.url == req.QueueURL || strings.HasSuffix(req.QueueURL, "/"+q.name) })
	}
	if q == nil {
		jsonError(w, http.StatusBadRequest, "com.amazonaws.sqs#QueueDoesNotExist", "The specified queue does not exist.")
		return
	}
	if err := e.Authorize(caller, "sqs:"+op, q.arn, q.policies); err != nil {
		jsonError(w, http.StatusForbidden, "com.amazon.coral.service#AccessDeniedException", err.(*AccessDeniedError).Message)
		return
	}
	switch op {
	case "SendMessage":
		sum := md5.Sum([]byte(req.MessageBody))
		writeJSON(w, sqsContentType, map[string]string{"MessageId": e.enqueue(q, req.MessageBody), "MD5OfMessageBody": hex.EncodeToString(sum[:])})
	case "ReceiveMessage":
		writeJSON(w, sqsContentType, map[string]any{"Messages": e.receive(q, max(1, min(req.MaxNumberOfMessages, 10)))})
	case "DeleteMessage":
		e.deleteMessage(q, req.ReceiptHandle)
		writeJSON(w, sqsContentType, map[string]any{})
	case "GetQueueUrl":
		writeJSON(w, sqsContentType, map[string]string{"QueueUrl": q.url})
	case "GetQueueAttributes":
		e.queues.mu.Lock()
		n := len(q.messages)
		e.queues.mu.Unlock()
		writeJSON(w, sqsContentType, map[string]any{"Attributes": map[string]string{
			"QueueArn": q.arn, "ApproximateNumberOfMessages": strconv.Itoa(n),
		}})
	default:
		jsonError(w, http.StatusBadRequest, "com.amazonaws.sqs#UnsupportedOperation", "the local stack does not provide SQS "+op)
	}
}

// receive hands out up to n visible messages, hidden for the queue's visibility timeout.
func (e *Endpoint) receive(q *queue, n int) []map[string]string {
	e.queues.mu.Lock()
	defer e.queues.mu.Unlock()
	now := time.Now()
	var out []map[string]string
	for _, m := range q.messages {
		if len(out) == n {
			break
		}
		if m.hiddenUntil.After(now) {
			continue
		}
		m.hiddenUntil = now.Add(q.visibility)
		m.receives++
		m.receipt = newID()
		sum := md5.Sum([]byte(m.body))
		out = append(out, map[string]string{"MessageId": m.id, "ReceiptHandle": m.receipt, "Body": m.body, "MD5OfBody": hex.EncodeToString(sum[:])})
	}
	return out
}

func (e *Endpoint) deleteMessage(q *queue, receipt string) {
	e.queues.mu.Lock()
	defer e.queues.mu.Unlock()
	for i, m := range q.messages {
		if m.receipt != "" && m.receipt == receipt {
			q.messages = append(q.messages[:i], q.messages[i+1:]...)
			return
		}
	}
}

// newID returns a random id shaped like an SQS message id.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
