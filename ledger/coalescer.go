package ledger

import (
	"context"
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
	queue chan *coalesced
	stop  chan struct{}
}

func (l *Ledger) startCoalescer() {
	c := &coalescer{queue: make(chan *coalesced, coalesceQueueMax), stop: make(chan struct{})}
	for i := 0; i < coalesceExecutors; i++ {
		go c.execute(l)
	}
	l.coalescer = c
}

// submit writes one item, through the coalescer when it runs.
func (l *Ledger) submit(ctx context.Context, it *postItem) error {
	if l.coalescer == nil {
		return l.postItems(ctx, []*postItem{it})
	}
	req := &coalesced{ctx: ctx, item: it, done: make(chan error, 1)}
	select {
	case l.coalescer.queue <- req:
	case <-ctx.Done():
		return translate(ctx.Err())
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The write may still happen; the caller resolves it by replaying
		// with the same idempotency key.
		return &Error{Code: CodeCommitUnknown, Msg: "request ended before the write was confirmed; replay with the same idempotency key", cause: ctx.Err()}
	}
}

func (c *coalescer) execute(l *Ledger) {
	for {
		var first *coalesced
		select {
		case first = <-c.queue:
		case <-c.stop:
			return
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
		items := make([]*postItem, 0, len(batch))
		live := batch[:0]
		for _, r := range batch {
			if r.ctx.Err() != nil {
				r.done <- translate(r.ctx.Err())
				continue
			}
			items, live = append(items, r.item), append(live, r)
		}
		if len(items) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), coalesceCallTimeout)
		err := l.postItems(ctx, items)
		cancel()
		for _, r := range live {
			r.done <- err
		}
	}
}

// Close stops the background executors. In-flight requests finish first
// only if the caller waits for them; call it after the server shut down.
func (l *Ledger) Close() {
	if l.coalescer != nil {
		close(l.coalescer.stop)
		l.coalescer = nil
	}
}
