package ledger

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Single transfers arriving concurrently are written together: a few
// executor goroutines each take one waiting request and whatever else is
// queued at that moment (up to coalesceBatchMax), and write them as one
// database transaction with one commit. Under light load a batch is one
// request and adds no latency; under heavy load the commit, the round
// trips and the lock acquisitions are shared, which is what lets one
// PostgreSQL on two cores carry thousands of transfers a second. Every
// request keeps its own idempotency key, result and error; a request that
// fails its own checks never fails the others.
const (
	coalesceBatchMax    = 256
	coalesceExecutors   = 6
	coalesceQueueMax    = 4096
	coalesceCallTimeout = 30 * time.Second
)

type coalesced struct {
	ctx  context.Context
	item *postItem
	done chan error
}

type coalescer struct {
	queue  chan *coalesced
	stop   chan struct{}
	closed atomic.Bool
	wg     sync.WaitGroup
}

func (l *Ledger) startCoalescer() {
	c := &coalescer{queue: make(chan *coalesced, coalesceQueueMax), stop: make(chan struct{})}
	for i := 0; i < coalesceExecutors; i++ {
		c.wg.Add(1)
		go c.execute(l)
	}
	l.coalescer = c
}

// submit writes one item, through the coalescer while it runs.
func (l *Ledger) submit(ctx context.Context, it *postItem) error {
	c := l.coalescer
	if c == nil || c.closed.Load() {
		return l.postItems(ctx, []*postItem{it})
	}
	req := &coalesced{ctx: ctx, item: it, done: make(chan error, 1)}
	select {
	case c.queue <- req:
	case <-ctx.Done():
		return withOutcome(translate(ctx.Err()))
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The write may still happen; the caller resolves it by replaying
		// with the same idempotency key.
		l.stats.CommitUnknown.Add(1)
		return withOutcome(&Error{Code: CodeCommitUnknown, Msg: "request ended before the write was confirmed; replay with the same idempotency key", cause: ctx.Err()})
	}
}

func (c *coalescer) execute(l *Ledger) {
	defer c.wg.Done()
	for {
		var first *coalesced
		select {
		case first = <-c.queue:
		case <-c.stop:
			// Answer whatever is still queued before leaving.
			for {
				select {
				case r := <-c.queue:
					c.write(l, []*coalesced{r})
				default:
					return
				}
			}
		}
		batch := []*coalesced{first}
	drain:
		for len(batch) < coalesceBatchMax {
			select {
			case r := <-c.queue:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		c.write(l, batch)
	}
}

// write runs one shared database transaction and answers every request.
// If it fails for a reason that is not a domain error (which would be
// one request's own), each request is tried alone, so one bad request
// cannot fail the others.
func (c *coalescer) write(l *Ledger, batch []*coalesced) {
	items := make([]*postItem, 0, len(batch))
	live := make([]*coalesced, 0, len(batch))
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.done <- withOutcome(translate(r.ctx.Err()))
			continue
		}
		items, live = append(items, r.item), append(live, r)
	}
	if len(items) == 0 {
		return
	}
	l.stats.CoalescedBatches.Observe(len(items))
	ctx, cancel := context.WithTimeout(context.Background(), coalesceCallTimeout)
	defer cancel()
	err := l.postItems(ctx, items)
	if _, domain := AsError(err); err != nil && !domain && len(items) > 1 {
		for _, r := range live {
			r.done <- l.postItems(ctx, []*postItem{r.item})
		}
		return
	}
	for _, r := range live {
		r.done <- err
	}
}

// Close stops the executors after they answered every queued request;
// later calls write directly. Call it once the server stopped taking
// requests.
func (l *Ledger) Close() {
	c := l.coalescer
	if c == nil || !c.closed.CompareAndSwap(false, true) {
		return
	}
	close(c.stop)
	c.wg.Wait()
}
