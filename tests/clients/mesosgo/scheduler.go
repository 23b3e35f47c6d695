// A Mesos framework written the way Go frameworks are: on mesos-go's api/v1
// (httpsched's caller, the extras/scheduler controller and its event rules), speaking
// protobuf. tests/mesos_go_client.rs runs it against `ratufa local` unchanged.
//
// It subscribes, launches -tasks command tasks from the offers it gets, acknowledges
// every status update that carries a uuid (the library's own AckStatusUpdates rule),
// sends one implicit RECONCILE once every task is launched, waits until every task has
// reached TASK_FINISHED through an acknowledged update, and tears the framework down.
// Exit 0 on success; 1, with a line saying why on stderr, on anything else (an ERROR
// event, a task in another terminal state, a failed call, a lost stream, the timeout).
//
// Built in GOPATH mode against Debian's golang-github-mesos-mesos-go-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o scheduler scheduler.go
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/callrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/eventrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/store"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"
)

type config struct {
	endpoint string
	tasks    int
	command  string
	cpus     float64
	mem      float64
	timeout  time.Duration
	hold     bool
}

// run is the framework's state. The controller calls the handlers from one goroutine
// (its event loop); the mutex is for the summary read after it stops.
type run struct {
	cfg    config
	caller calls.Caller
	fid    store.Singleton
	cancel context.CancelFunc

	mu        sync.Mutex
	launched  map[string]bool // task id -> launched
	finished  map[string]bool // task id -> TASK_FINISHED seen (and acknowledged)
	next      int             // index of the next task to launch
	offers    int             // offers received
	updates   int             // UPDATE events with a uuid (all acknowledged)
	acks      int             // ACKNOWLEDGE calls answered 202
	reconcile struct {
		sent    bool
		replies int // UPDATEs with reason REASON_RECONCILIATION
	}
	tornDown bool
	failure  error
}

func main() {
	var cfg config
	flag.StringVar(&cfg.endpoint, "master", "http://127.0.0.1:5050/api/v1/scheduler", "the master's scheduler API URL")
	flag.IntVar(&cfg.tasks, "tasks", 12, "how many tasks to launch")
	flag.StringVar(&cfg.command, "command", "sleep 1", "each task's shell command")
	flag.Float64Var(&cfg.cpus, "task-cpus", 0.5, "cpus per task")
	flag.Float64Var(&cfg.mem, "task-mem", 32, "mem (MB) per task")
	flag.DurationVar(&cfg.timeout, "timeout", 45*time.Second, "give up (exit 1) after this long")
	flag.BoolVar(&cfg.hold, "hold", false,
		"once every task has finished and been acknowledged, print 'READY <framework id>' "+
			"and wait for a line on stdin before TEARDOWN (so a test can inspect the master first)")
	flag.Parse()
	if cfg.tasks < 1 {
		fail(errors.New("-tasks must be at least 1"))
	}

	r := &run{
		cfg:      cfg,
		fid:      store.NewInMemorySingleton(),
		launched: map[string]bool{},
		finished: map[string]bool{},
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	r.cancel = cancel

	// The protobuf codec is httpcli's default; it is named here because speaking
	// protobuf is the point of this client.
	http := httpcli.New(
		httpcli.Endpoint(cfg.endpoint),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
	)
	// Every call but SUBSCRIBE gets the framework id from the store; ACKNOWLEDGEs
	// that Mesos answered 202 are counted.
	r.caller = callrules.New(
		callrules.WithFrameworkID(store.GetIgnoreErrors(r.fid)),
		r.countAcks,
	).Caller(httpsched.NewCaller(http))

	info := &mesos.FrameworkInfo{
		User: "root",
		Name: "mesos-go-httpsched",
	}
	if u := os.Getenv("USER"); u != "" {
		info.User = u
	}

	// Register once: a stream that ends before the work is done is a failure here,
	// not something to resubscribe through.
	tokens := make(chan struct{}, 1)
	tokens <- struct{}{}
	err := controller.Run(ctx, info, r.caller,
		controller.WithEventHandler(r.handler()),
		controller.WithFrameworkID(store.GetIgnoreErrors(r.fid)),
		controller.WithRegistrationTokens(tokens),
		controller.WithSubscriptionTerminated(func(err error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if !r.tornDown && r.failure == nil {
				if err == nil {
					err = errors.New("the subscription ended")
				}
				r.failure = fmt.Errorf("subscription lost: %v", err)
			}
			close(tokens)
			cancel()
		}),
	)

	r.mu.Lock()
	defer r.mu.Unlock()
	summary := r.summaryLocked()
	if r.failure != nil {
		fail(fmt.Errorf("%v (%s)", r.failure, summary))
	}
	if !r.tornDown {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			fail(fmt.Errorf("timed out after %v (%s)", cfg.timeout, summary))
		}
		fail(fmt.Errorf("stopped before the work was done: %v (%s)", err, summary))
	}
	fmt.Printf("DONE %s\n", summary)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "mesos-go scheduler: %v\n", err)
	os.Exit(1)
}

func (r *run) summaryLocked() string {
	fid, _ := r.fid.Get()
	return fmt.Sprintf("framework=%s launched=%d finished=%d offers=%d updates=%d acks=%d reconcile_replies=%d",
		fid, len(r.launched), len(r.finished), r.offers, r.updates, r.acks, r.reconcile.replies)
}

// countAcks counts the ACKNOWLEDGE calls that went through.
func (r *run) countAcks(ctx context.Context, c *scheduler.Call, resp mesos.Response, err error, ch callrules.Chain) (context.Context, *scheduler.Call, mesos.Response, error) {
	ctx, c, resp, err = ch(ctx, c, resp, err)
	if c.GetType() == scheduler.Call_ACKNOWLEDGE && err == nil {
		r.mu.Lock()
		r.acks++
		r.mu.Unlock()
	}
	return ctx, c, resp, err
}

func (r *run) handler() events.Handler {
	return eventrules.New(
		controller.LiftErrors(),
		controller.TrackSubscription(r.fid, 0),
		// Acknowledge first: an update that could not be acknowledged is dropped
		// with an error, which ends the event loop (and so fails the run).
		controller.AckStatusUpdates(r.caller),
	).Handle(events.Handlers{
		scheduler.Event_SUBSCRIBED: events.HandlerFunc(r.subscribed),
		scheduler.Event_OFFERS:     events.HandlerFunc(r.offered),
		scheduler.Event_UPDATE:     events.HandlerFunc(r.updated),
		scheduler.Event_FAILURE: events.HandlerFunc(func(_ context.Context, e *scheduler.Event) error {
			return fmt.Errorf("FAILURE event: %v", e.GetFailure())
		}),
	}.Otherwise(func(context.Context, *scheduler.Event) error { return nil }))
}

func (r *run) subscribed(_ context.Context, e *scheduler.Event) error {
	s := e.GetSubscribed()
	fmt.Printf("SUBSCRIBED framework=%s heartbeat=%vs master=%s\n",
		s.GetFrameworkID().GetValue(), s.GetHeartbeatIntervalSeconds(), s.GetMasterInfo().GetID())
	return nil
}

// offered launches as many of the remaining tasks as each offer holds and declines
// what is left over.
func (r *run) offered(ctx context.Context, e *scheduler.Event) error {
	for _, offer := range e.GetOffers().GetOffers() {
		r.mu.Lock()
		r.offers++
		r.mu.Unlock()

		cpus, _ := resources.CPUs(offer.Resources...)
		mem, _ := resources.Memory(offer.Resources...)
		var tasks []mesos.TaskInfo
		r.mu.Lock()
		for r.next < r.cfg.tasks && cpus >= r.cfg.cpus && float64(mem) >= r.cfg.mem {
			id := fmt.Sprintf("mesos-go-task-%02d", r.next)
			r.next++
			cpus -= r.cfg.cpus
			mem -= uint64(r.cfg.mem)
			shell := true
			command := r.cfg.command
			tasks = append(tasks, mesos.TaskInfo{
				Name:    id,
				TaskID:  mesos.TaskID{Value: id},
				AgentID: offer.AgentID,
				Resources: []mesos.Resource{
					resources.NewCPUs(r.cfg.cpus).Resource,
					resources.NewMemory(r.cfg.mem).Resource,
				},
				Command: &mesos.CommandInfo{Value: &command, Shell: &shell},
			})
			r.launched[id] = true
		}
		allLaunched := r.next == r.cfg.tasks
		r.mu.Unlock()

		if len(tasks) == 0 {
			decline := calls.Decline(offer.ID).With(calls.RefuseSeconds(time.Minute))
			if err := calls.CallNoData(ctx, r.caller, decline); err != nil {
				return fmt.Errorf("DECLINE of offer %s: %v", offer.ID.Value, err)
			}
			continue
		}
		accept := calls.Accept(
			calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(offer.ID),
		).With(calls.RefuseSeconds(time.Minute))
		if err := calls.CallNoData(ctx, r.caller, accept); err != nil {
			return fmt.Errorf("ACCEPT of offer %s (%d tasks): %v", offer.ID.Value, len(tasks), err)
		}
		fmt.Printf("LAUNCHED %d tasks on agent %s\n", len(tasks), offer.AgentID.Value)

		r.mu.Lock()
		reconcileNow := allLaunched && !r.reconcile.sent
		r.reconcile.sent = r.reconcile.sent || reconcileNow
		r.mu.Unlock()
		if reconcileNow {
			// Implicit reconciliation: the master answers with the state of every
			// task it knows for this framework.
			if err := calls.CallNoData(ctx, r.caller, calls.Reconcile()); err != nil {
				return fmt.Errorf("RECONCILE: %v", err)
			}
		}
	}
	return nil
}

func (r *run) updated(ctx context.Context, e *scheduler.Event) error {
	status := e.GetUpdate().GetStatus()
	id := status.GetTaskID().Value
	state := status.GetState()

	r.mu.Lock()
	if !r.launched[id] {
		r.mu.Unlock()
		return fmt.Errorf("UPDATE for a task this framework never launched: %q (%v)", id, state)
	}
	if status.GetReason() == mesos.REASON_RECONCILIATION {
		r.reconcile.replies++
		r.mu.Unlock()
		if len(status.GetUUID()) != 0 || status.GetSource() != mesos.SOURCE_MASTER {
			return fmt.Errorf("reconciliation reply for %s with a uuid or not from the master: %v", id, status)
		}
		fmt.Printf("RECONCILED %s %v\n", id, state)
		return nil
	}
	if len(status.GetUUID()) == 0 {
		r.mu.Unlock()
		return fmt.Errorf("an update without a uuid that is not a reconciliation reply: %v", status)
	}
	// AckStatusUpdates has acknowledged it by now (or the event would not be here).
	r.updates++
	switch state {
	case mesos.TASK_STAGING, mesos.TASK_STARTING, mesos.TASK_RUNNING:
	case mesos.TASK_FINISHED:
		r.finished[id] = true
	default:
		r.mu.Unlock()
		return fmt.Errorf("task %s reached %v: %s", id, state, status.GetMessage())
	}
	done := len(r.finished) == r.cfg.tasks
	fid, _ := r.fid.Get()
	r.mu.Unlock()

	if !done {
		return nil
	}
	if r.cfg.hold {
		fmt.Printf("READY %s\n", fid)
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "teardown" {
			return fmt.Errorf("expected 'teardown' on stdin, got %q (%v)", line, err)
		}
	}
	if err := calls.CallNoData(ctx, r.caller, &scheduler.Call{Type: scheduler.Call_TEARDOWN}); err != nil {
		return fmt.Errorf("TEARDOWN: %v", err)
	}
	r.mu.Lock()
	r.tornDown = true
	ids := make([]string, 0, len(r.finished))
	for id := range r.finished {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	sort.Strings(ids)
	fmt.Printf("FINISHED %s\n", strings.Join(ids, " "))
	// The master closes the stream after TEARDOWN; stop the controller either way.
	r.cancel()
	return nil
}
