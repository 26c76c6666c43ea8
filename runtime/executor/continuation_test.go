package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// stepsRequest is the payload of stepJob: how many steps, each this long.
type stepsRequest struct {
	Steps  int `json:"steps"`
	StepMS int `json:"step_ms"`
}

// stepsState is stepJob's checkpoint: the next step to run.
type stepsState struct {
	Next int `json:"next"`
}

// stepLog records what every run of stepJob did: the step it resumed at and the steps it
// completed, in order.
type stepLog struct {
	mu      sync.Mutex
	resumes []int // the first step of each run
	done    []int // every completed step, across runs
	started chan int
	killed  chan struct{} // when closed, a run stops doing anything until its context ends
}

func newStepLog() *stepLog {
	return &stepLog{started: make(chan int, 100), killed: make(chan struct{})}
}

// stepJob runs steps 1..Steps, checkpointing after each step and reporting progress; it
// returns the number of steps when done and its context's error when stopped.
func (l *stepLog) stepJob(ctx context.Context, job *streamer.Job[stepsRequest]) (int, error) {
	st := stepsState{Next: 1}
	if _, err := job.Resume(&st); err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.resumes = append(l.resumes, st.Next)
	killed := l.killed
	l.mu.Unlock()
	l.started <- st.Next
	for ; st.Next <= job.Payload.Steps; st.Next++ {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-killed:
			<-ctx.Done()
			return 0, ctx.Err()
		case <-time.After(time.Duration(job.Payload.StepMS) * time.Millisecond):
		}
		l.mu.Lock()
		l.done = append(l.done, st.Next)
		l.mu.Unlock()
		if err := job.Checkpoint(stepsState{Next: st.Next + 1}); err != nil {
			return 0, err
		}
		_ = job.Report(float64(st.Next)*100/float64(job.Payload.Steps), "step done")
	}
	return job.Payload.Steps, nil
}

func (l *stepLog) snapshot() (resumes, done []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.resumes...), append([]int(nil), l.done...)
}

// enqueueSteps queues a stepJob request as the router does.
func (b *bundle) enqueueSteps(t *testing.T, clientID, action string, p stepsRequest) string {
	t.Helper()
	payload, err := json.Marshal(p)
	require.NoError(t, err)
	id := store.ScopedID(testTenant, testUser, clientID)
	require.NoError(t, b.queue.Enqueue(t.Context(), &store.AsyncRequest{
		RequestID: id, ClientID: clientID, ConnectionID: testConn, Action: action,
		Payload: payload, UserID: testUser, TenantID: testTenant,
	}))
	return id
}

// invocation is the deadline of the tests' short worker invocations: the worker keeps
// 250 ms of it to hand the request on.
const invocation = time.Second

// invokeFor runs one worker invocation whose deadline is d away.
func invokeFor(t *testing.T, w *executor.Worker, id string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	require.NoError(t, w.Handle(ctx, executor.WorkerEvent{RequestID: id}))
}

// requireEveryStepOnce checks that steps 1..n were each completed exactly once, in order:
// every run resumed where the last one stopped.
func requireEveryStepOnce(t *testing.T, done []int, n int) {
	t.Helper()
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	require.Equal(t, want, done, "every step ran exactly once")
}

func TestWorkerContinuesACheckpointedJobInANewInvocation(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	log := newStepLog()
	require.NoError(t, b.reg.Handle("steps", streamer.Async(log.stepJob)))
	id := b.enqueueSteps(t, "r-long", "steps", stepsRequest{Steps: 24, StepMS: 100})

	// Each invocation ends at its deadline, well before the job's 2.4 s of work.
	invokeFor(t, b.worker, id, invocation)
	r := b.get(t, id)
	require.Equal(t, store.StatusPending, r.Status, "handed on, not failed")
	require.Equal(t, 1, r.Attempt, "a continuation uses no attempt")
	require.Equal(t, 1, r.Continuations)
	require.Empty(t, r.Error)
	require.Empty(t, r.LeaseOwner)
	var st stepsState
	require.NoError(t, json.Unmarshal(r.Checkpoint, &st))
	_, done := log.snapshot()
	require.Equal(t, len(done)+1, st.Next, "the latest checkpoint is stored with the hand-on")
	require.Equal(t, float64(len(done))*100/24, r.Progress, "and the latest progress")
	for _, m := range b.sender.messages("r-long") {
		require.False(t, m.terminal(), "no terminal message when a job is handed on")
	}

	invocations := 1
	for ; invocations < 20 && !b.get(t, id).Status.Terminal(); invocations++ {
		invokeFor(t, b.worker, id, invocation)
	}
	r = b.get(t, id)
	require.Equal(t, store.StatusCompleted, r.Status)
	require.GreaterOrEqual(t, invocations, 3)
	require.Equal(t, invocations-1, r.Continuations)
	require.Equal(t, 1, r.Attempt)
	require.Empty(t, r.Checkpoint, "a finished request keeps no checkpoint")
	resumes, done := log.snapshot()
	requireEveryStepOnce(t, done, 24)
	require.Len(t, resumes, invocations)
	require.Equal(t, 1, resumes[0])
	for i := 1; i < len(resumes); i++ {
		require.Greater(t, resumes[i], resumes[i-1], "every invocation resumed further on")
	}
	term := requireOneTerminalLast(t, b.sender.messages("r-long"))
	require.Equal(t, protocol.TypeResult, term.Type)
	require.JSONEq(t, `24`, string(term.Data))
	var result protocol.ResultMessage
	require.NoError(t, json.Unmarshal(term.Raw, &result))
	require.GreaterOrEqual(t, result.DurationMS, int64(2400), "the whole job's time, not its last run's")
}

func TestWorkerRetriesAnInvocationThatSavedNoCheckpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	log := newStepLog()
	require.NoError(t, b.reg.Handle("steps", streamer.Async(log.stepJob)))
	id := b.enqueueSteps(t, "r-stuck", "steps", stepsRequest{Steps: 20, StepMS: 100})

	invokeFor(t, b.worker, id, invocation)
	require.Equal(t, 1, b.get(t, id).Continuations)
	// The next invocation gets nowhere (its handler stalls): no checkpoint, so its end is
	// a timeout that uses an attempt, and the checkpoint stays for the retry.
	before := b.get(t, id).Checkpoint
	close(log.killed)
	invokeFor(t, b.worker, id, invocation)
	r := b.get(t, id)
	require.Equal(t, store.StatusPending, r.Status)
	require.Equal(t, 2, r.Attempt)
	require.Equal(t, 1, r.Continuations)
	require.Equal(t, streamer.ErrCodeTimeout, storedError(t, r).Code)
	require.JSONEq(t, string(before), string(r.Checkpoint), "a retry resumes from the checkpoint")

	log.mu.Lock()
	log.killed = make(chan struct{})
	log.mu.Unlock()
	b.handleUntilTerminal(t, id, 10)
	_, done := log.snapshot()
	requireEveryStepOnce(t, done, 20)
	requireOneTerminalLast(t, b.sender.messages("r-stuck"))
}

func TestWorkerStoresACheckpointWithoutProgressReports(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	stored := make(chan struct{})
	require.NoError(t, b.reg.Handle("silent", streamer.Async(func(ctx context.Context, job *streamer.Job[stepsRequest]) (int, error) {
		if err := job.Checkpoint(stepsState{Next: 2}); err != nil {
			return 0, err
		}
		<-stored // reports nothing while the test looks for the checkpoint
		return 1, nil
	})))
	id := b.enqueueSteps(t, "r-silent", "silent", stepsRequest{Steps: 1})

	done := make(chan error, 1)
	go func() { done <- b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}) }()
	require.Eventually(t, func() bool {
		return string(b.get(t, id).Checkpoint) == `{"next":2}`
	}, 10*time.Second, 10*time.Millisecond, "a checkpoint is stored even when the handler reports nothing")
	close(stored)
	require.NoError(t, await(t, done))
	require.Equal(t, store.StatusCompleted, b.get(t, id).Status)
}

func TestWorkerStopsAJobAtItsMaximumDuration(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	log := newStepLog()
	require.NoError(t, b.reg.Handle("steps", streamer.Async(log.stepJob).WithMaxDuration(1200*time.Millisecond)))
	id := b.enqueueSteps(t, "r-runaway", "steps", stepsRequest{Steps: 1000, StepMS: 10})

	// Short invocations hand the job on until its total reaches the limit.
	for range 10 {
		if b.get(t, id).Status.Terminal() {
			break
		}
		invokeFor(t, b.worker, id, invocation)
	}
	r := b.get(t, id)
	require.Equal(t, store.StatusFailed, r.Status)
	e := storedError(t, r)
	require.Equal(t, streamer.ErrCodeTimeout, e.Code)
	require.Contains(t, e.Message, "maximum duration")
	require.InDelta(t, 1.2, e.Details["max_duration_s"], 1e-9)
	require.Equal(t, 1, r.Continuations, "it was handed on once, then stopped")
	term := requireOneTerminalLast(t, b.sender.messages("r-runaway"))
	require.Equal(t, streamer.ErrCodeTimeout, term.Error.Code)
	_, done := log.snapshot()
	require.Less(t, len(done), 1000, "the job was stopped")

	// A request already past its limit when a worker gets it does not run at all.
	late := b.enqueueSteps(t, "r-late", "steps", stepsRequest{Steps: 1, StepMS: 1})
	time.Sleep(1300 * time.Millisecond)
	runs := len(log.started)
	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: late}))
	require.Equal(t, store.StatusFailed, b.get(t, late).Status)
	require.Equal(t, runs, len(log.started), "the handler did not run")
}

func TestWorkerDefaultMaxDurationAppliesToPlainHandlers(t *testing.T) {
	t.Parallel()
	cfg := fastConfig()
	cfg.MaxDuration = 100 * time.Millisecond
	b := setup(t, cfg)
	h := b.register(t, "forever", func(ctx context.Context, _ int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		return reportUntil(ctx, rep, func() (*streamer.Result, bool) { return nil, false })
	})
	id := b.enqueue(t, "r-forever", "forever", 0)
	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))
	r := b.get(t, id)
	require.Equal(t, store.StatusFailed, r.Status)
	require.Equal(t, streamer.ErrCodeTimeout, storedError(t, r).Code)
	require.EqualValues(t, 1, h.runs.Load(), "not retried: the limit is for the whole request")
}

func TestWorkerDuplicateDeliveryDoesNotWaitForALiveLease(t *testing.T) {
	t.Parallel()
	cfg := fastConfig()
	cfg.Lease = time.Minute // a duplicate that waited for this lease would stall the test
	b := setup(t, cfg)
	log := newStepLog()
	require.NoError(t, b.reg.Handle("steps", streamer.Async(log.stepJob)))
	id := b.enqueueSteps(t, "r-twice", "steps", stepsRequest{Steps: 50, StepMS: 20})

	first := make(chan error, 1)
	go func() { first <- b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}) }()
	await(t, log.started)
	// The stream's record of the same request arrives while the first worker runs it.
	duplicate := make(chan error, 1)
	go func() { duplicate <- b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}) }()
	require.NoError(t, await(t, duplicate))
	require.Equal(t, store.StatusProcessing, b.get(t, id).Status, "the duplicate returned while the job runs")
	require.NoError(t, await(t, first))

	resumes, done := log.snapshot()
	require.Len(t, resumes, 1, "the handler ran once")
	requireEveryStepOnce(t, done, 50)
	requireOneTerminalLast(t, b.sender.messages("r-twice"))
}

// killSwitch is the death of a worker process: once thrown, its store writes and its
// messages never arrive.
type killSwitch struct {
	mu     sync.Mutex
	killed bool
}

var errKilled = errors.New("the worker process is gone")

func (k *killSwitch) kill() {
	k.mu.Lock()
	k.killed = true
	k.mu.Unlock()
}

func (k *killSwitch) dead() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.killed
}

// killableQueue is a worker's queue behind a kill switch.
type killableQueue struct {
	executor.Queue
	*killSwitch
}

// killableSender is a worker's sender behind a kill switch.
type killableSender struct {
	executor.Sender
	*killSwitch
}

func (s killableSender) Send(ctx context.Context, connectionID string, message any) error {
	if s.dead() {
		return errKilled
	}
	return s.Sender.Send(ctx, connectionID, message)
}

func (q *killableQueue) Checkpoint(ctx context.Context, id, owner string, p store.ProgressState, leaseUntil time.Time) (*store.AsyncRequest, error) {
	if q.dead() {
		return nil, errKilled
	}
	return q.Queue.Checkpoint(ctx, id, owner, p, leaseUntil)
}

func (q *killableQueue) Finish(ctx context.Context, id, owner string, status store.RequestStatus, p store.ProgressState, result, errJSON json.RawMessage) (*store.AsyncRequest, error) {
	if q.dead() {
		return nil, errKilled
	}
	return q.Queue.Finish(ctx, id, owner, status, p, result, errJSON)
}

func (q *killableQueue) Release(ctx context.Context, id, owner string, errJSON json.RawMessage) (*store.AsyncRequest, error) {
	if q.dead() {
		return nil, errKilled
	}
	return q.Queue.Release(ctx, id, owner, errJSON)
}

func (q *killableQueue) Continue(ctx context.Context, id, owner string, p store.ProgressState) (*store.AsyncRequest, error) {
	if q.dead() {
		return nil, errKilled
	}
	return q.Queue.Continue(ctx, id, owner, p)
}

// killedWorkerResumes runs a checkpointing job on a worker that is killed mid-invocation
// and shows that the invocation taking it over, once the dead worker's lease expired,
// resumes from the last stored checkpoint, not from the start.
func killedWorkerResumes(t *testing.T, queue *store.Queue) {
	cfg := fastConfig()
	cfg.Lease = 400 * time.Millisecond
	b := &bundle{queue: queue, reg: streamer.NewRegistry()}
	b.sender = &recordingSender{queue: queue, terminals: make(chan wire, 10), gone: map[string]bool{}}
	log := newStepLog()
	require.NoError(t, b.reg.Handle("steps", streamer.Async(log.stepJob)))
	id := b.enqueueSteps(t, "r-killed", "steps", stepsRequest{Steps: 40, StepMS: 10})

	death := &killSwitch{}
	doomed, err := executor.NewWorker(&killableQueue{queue, death}, b.reg, killableSender{b.sender, death}, cfg)
	require.NoError(t, err)
	doomedCtx, stopDoomed := context.WithCancel(t.Context())
	doomedDone := make(chan error, 1)
	go func() { doomedDone <- doomed.Handle(doomedCtx, executor.WorkerEvent{RequestID: id}) }()

	var st stepsState
	require.Eventually(t, func() bool {
		r, err := queue.Get(t.Context(), id)
		return err == nil && len(r.Checkpoint) > 0 && json.Unmarshal(r.Checkpoint, &st) == nil && st.Next > 5
	}, 10*time.Second, 5*time.Millisecond, "the doomed worker stores a few checkpoints")
	death.kill()
	close(log.killed) // and its handler does nothing more

	// Its lease runs out, unrenewed; then the retried invocation takes the request over.
	require.Eventually(t, func() bool {
		r, err := queue.Get(t.Context(), id)
		return err == nil && r.LeaseUntil.Before(time.Now())
	}, 10*time.Second, 10*time.Millisecond, "the dead worker's lease expires")
	stored, err := queue.Get(t.Context(), id)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(stored.Checkpoint, &st))
	before := len(b.sender.messages("r-killed"))
	log.mu.Lock()
	log.killed = make(chan struct{}) // the next run is in a new process
	log.mu.Unlock()
	survivor, err := executor.NewWorker(queue, b.reg, b.sender, cfg)
	require.NoError(t, err)
	require.NoError(t, survivor.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))

	resumes, _ := log.snapshot()
	require.Len(t, resumes, 2)
	require.Equal(t, 1, resumes[0])
	require.Equal(t, st.Next, resumes[1], "the takeover resumed from the last stored checkpoint")
	require.Greater(t, resumes[1], 1, "not from the start")
	r, err := queue.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, r.Status)
	require.Equal(t, 1, r.Attempt, "a takeover uses no attempt")
	// The survivor's messages start from the progress stored last (the dead worker may
	// have pushed up to one persist interval more: ARCHITECTURE.md, Guarantees) and never
	// go down; one terminal message ends them.
	after := b.sender.messages("r-killed")[before:]
	require.Equal(t, stored.Progress, after[0].Percentage)
	term := requireOneTerminalLast(t, after)
	require.JSONEq(t, `40`, string(term.Data))

	stopDoomed()
	require.ErrorIs(t, await(t, doomedDone), errKilled, "the dead worker could store nothing")
	require.Equal(t, store.StatusCompleted, b.get(t, id).Status)
	require.Len(t, b.sender.messages("r-killed"), before+len(after), "nor send anything")
}

func TestWorkerKilledMidInvocationResumesFromTheLastCheckpoint(t *testing.T) {
	t.Parallel()
	killedWorkerResumes(t, setup(t, fastConfig()).queue)
}
