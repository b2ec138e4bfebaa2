package ledger_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// relayAll runs the relay until it has nothing left to stamp.
func relayAll(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	for {
		n, err := l.RelayEvents(ctx, ledger.JobBatchMax)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// readAll reads the whole feed as the actor sees it.
func readAll(t *testing.T, l *ledger.Ledger, a ledger.Actor, types ...string) []ledger.Event {
	t.Helper()
	var out []ledger.Event
	q := ledger.EventQuery{Limit: ledger.EventsPageMax}
	if len(types) > 0 {
		q.Types = types
	}
	for {
		p, err := l.Events(ctx, a, q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Items...)
		if p.Next == q.After {
			return out
		}
		q.After = p.Next
	}
}

// emit commits one event of a use case in its own database transaction.
func emit(t *testing.T, l *ledger.Ledger, typ, subject string, vis ledger.Visibility) {
	t.Helper()
	if err := l.Update(ctx, func(w *ledger.Writer) error {
		return w.Emit(typ, subject, vis, map[string]string{"subject": subject})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestFeedEventsCommitWithTheirWrite: a write that commits has its events
// (the engine's transaction.recorded and the use case's own facts); one
// that fails has none, even when it emitted before failing.
func TestFeedEventsCommitWithTheirWrite(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Fresh(t), ledger.Options{})
	accts := fund(t, l, "100.00", "org-a", "org-b")
	relayAll(t, l)
	before := len(readAll(t, l, province))
	if before != 2 {
		t.Fatalf("two deposits made %d events, want 2", before)
	}

	// A committed transfer with a fact of its own.
	type out struct{ ID uuid.UUID }
	res, _, err := ledger.Run(ctx, l, ledger.KeyOf(province, key()), "test.transfer", "x", func(w *ledger.Writer) (out, error) {
		tx, err := w.Build(province, ledger.TxInput{Kind: "transfer", Postings: legs(accts[0], "-10.00", accts[1], "10.00")})
		if err != nil {
			return out{}, err
		}
		if err := w.Apply(tx); err != nil {
			return out{}, err
		}
		return out{tx.ID}, w.Emit("test.transferred", "transaction:"+tx.ID.String(), ledger.VisibilityOf([]string{accts[0]}), map[string]string{"tx": tx.ID.String()})
	})
	if err != nil {
		t.Fatal(err)
	}
	// A write that emits and then fails: an overdraft after the emit.
	_, _, err = ledger.Run(ctx, l, ledger.KeyOf(province, key()), "test.transfer", "y", func(w *ledger.Writer) (out, error) {
		if err := w.Emit("test.transferred", "transaction:none", nil, nil); err != nil {
			return out{}, err
		}
		tx, err := w.Build(province, ledger.TxInput{Kind: "transfer", Postings: legs(accts[0], "-1000.00", accts[1], "1000.00")})
		if err != nil {
			return out{}, err
		}
		return out{}, w.Apply(tx)
	})
	if ledger.ErrorCode(err) != ledger.CodeInsufficientBalance {
		t.Fatalf("overdraft: %v", err)
	}
	// A failed Post has no event either.
	if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(accts[0], "-1000.00", accts[1], "1000.00")}); ledger.ErrorCode(err) != ledger.CodeInsufficientBalance {
		t.Fatalf("overdraft post: %v", err)
	}
	relayAll(t, l)
	evs := readAll(t, l, province)[before:]
	if len(evs) != 2 {
		t.Fatalf("after one committed and two failed writes: %d new events, want 2: %+v", len(evs), evs)
	}
	if evs[0].Type != ledger.EventTransaction || evs[1].Type != "test.transferred" {
		t.Fatalf("types %s, %s: want the engine's event, then the use case's", evs[0].Type, evs[1].Type)
	}
	var body ledger.TransactionEventData
	if err := json.Unmarshal(evs[0].Data, &body); err != nil {
		t.Fatal(err)
	}
	if body.ID != res.ID || len(body.Postings) != 2 || body.Postings[0].Amount != "-10.00" {
		t.Fatalf("transaction event body %+v, want transaction %s with its two legs", body, res.ID)
	}
	if want := (ledger.Visibility{"org:org-a", "org:org-b"}); !slices.Equal(evs[0].Visibility, want) {
		t.Fatalf("visibility %v, want the owners of its accounts %v", evs[0].Visibility, want)
	}
	if evs[0].SchemaVersion != ledger.EventSchemaVersion || evs[0].Subject != "transaction:"+res.ID.String() {
		t.Fatalf("event %+v", evs[0])
	}
	for i, e := range readAll(t, l, province) {
		if e.Position != int64(i+1) {
			t.Fatalf("event %d has position %d: positions must be 1, 2, 3 …", i, e.Position)
		}
	}
}

// TestFeedOrderWithOutOfOrderCommits is the trap the relay exists for:
// writers commit in another order than they began (a barrier holds the
// earliest transactions open while later ones commit), two relays run at
// once, and a consumer reads concurrently from its cursor. The consumer
// must see every committed event exactly once, at consecutive positions,
// and an event held open must come after those that committed before it.
func TestFeedOrderWithOutOfOrderCommits(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Fresh(t), ledger.Options{})
	const (
		held    = 4
		writers = 8
		each    = 15
	)
	var orgs []string
	for i := range held {
		orgs = append(orgs, fmt.Sprintf("h%d", i), fmt.Sprintf("h%db", i))
	}
	fund(t, l, "100.00", orgs...)
	relayAll(t, l)
	base := int64(len(orgs))
	release := make(chan struct{})
	releaseHeld := sync.OnceFunc(func() { close(release) })
	// A failing assertion must not leave transactions open: the database
	// could not be dropped.
	t.Cleanup(releaseHeld)
	var heldOpen sync.WaitGroup
	heldOpen.Add(held)
	var writing sync.WaitGroup
	var committed sync.Map // subject -> true
	var total atomic.Int64
	errs := make(chan error, held+writers+4)
	// The held transactions write their engine transaction (and so its
	// event row) first, and then wait, open, for release. Each moves money
	// between accounts of its own, so none waits for another's locks.
	for i := range held {
		writing.Add(1)
		go func() {
			defer writing.Done()
			var subject string
			once := sync.Once{}
			err := l.Update(ctx, func(w *ledger.Writer) error {
				tx, err := w.Build(province, ledger.TxInput{Kind: "transfer",
					Postings: legs(ledger.OrgMoneyAccount(orgs[2*i]), "-1.00", ledger.OrgMoneyAccount(orgs[2*i+1]), "1.00")})
				if err != nil {
					return err
				}
				if err := w.Apply(tx); err != nil {
					return err
				}
				subject = "transaction:" + tx.ID.String()
				once.Do(heldOpen.Done)
				<-release
				return nil
			})
			if err == nil {
				committed.Store(subject, true)
				total.Add(1)
			}
			errs <- err
		}()
	}
	heldOpen.Wait()
	// Later writers commit while the held ones are open.
	for i := range writers {
		writing.Add(1)
		go func() {
			defer writing.Done()
			for j := range each {
				subject := fmt.Sprintf("w%d:%d", i, j)
				if err := l.Update(ctx, func(w *ledger.Writer) error {
					return w.Emit("test.write", subject, nil, nil)
				}); err != nil {
					errs <- err
					return
				}
				committed.Store(subject, true)
				total.Add(1)
			}
			errs <- nil
		}()
	}
	// Two relays at once, and one consumer.
	stop := make(chan struct{})
	stopBackground := sync.OnceFunc(func() { close(stop) })
	t.Cleanup(stopBackground)
	var bg sync.WaitGroup
	for range 2 {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.RelayEvents(ctx, 7); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var seen []ledger.Event
	var consumer sync.WaitGroup
	consumer.Add(1)
	done := make(chan struct{})
	go func() {
		defer consumer.Done()
		q := ledger.EventQuery{After: base, Limit: 5}
		var deadline time.Time
		for {
			p, err := l.Events(ctx, province, q)
			if err != nil {
				errs <- err
				return
			}
			seen = append(seen, p.Items...)
			q.After = p.Next
			select {
			case <-done:
				if p.Next == p.Head && int64(len(seen)) == total.Load() {
					return
				}
				if deadline.IsZero() {
					deadline = time.Now().Add(30 * time.Second)
				} else if time.Now().After(deadline) {
					errs <- fmt.Errorf("consumer: %d events seen of %d committed after 30 s", len(seen), total.Load())
					return
				}
			default:
			}
		}
	}()
	// Let the later writers finish and their events be read, then commit
	// the held transactions.
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Every later commit is stamped before the held ones commit: then their
	// place must be after all of them.
	for waitUntil := time.Now().Add(30 * time.Second); ; {
		st, err := l.FeedStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Head == base+writers*each {
			break
		}
		if time.Now().After(waitUntil) {
			t.Fatalf("relays stamped %d of %d events in 30 s", st.Head-base, writers*each)
		}
		time.Sleep(10 * time.Millisecond)
	}
	releaseHeld()
	writing.Wait()
	for range held {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	consumer.Wait()
	stopBackground()
	bg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}

	if want := held + writers*each; len(seen) != want {
		t.Fatalf("consumer saw %d events, want %d", len(seen), want)
	}
	got := map[string]int64{}
	for i, e := range seen {
		if e.Position != base+int64(i+1) {
			t.Fatalf("event %d at position %d: the consumer must see consecutive positions with no gap and no repeat", i, e.Position)
		}
		if _, dup := got[e.Subject]; dup {
			t.Fatalf("event %s seen twice", e.Subject)
		}
		if _, ok := committed.Load(e.Subject); !ok {
			t.Fatalf("event %s seen but its write did not commit", e.Subject)
		}
		got[e.Subject] = e.Position
	}
	// The held events committed last, so they come after every later
	// writer's event: their place is commit order, not begin order.
	maxWrite := int64(0)
	for s, p := range got {
		if s[0] == 'w' {
			maxWrite = max(maxWrite, p)
		}
	}
	heldSeen := 0
	for s, p := range got {
		if s[0] == 't' {
			heldSeen++
			if p <= maxWrite {
				t.Fatalf("held event %s at position %d, before a later commit at %d", s, p, maxWrite)
			}
		}
	}
	if heldSeen != held {
		t.Fatalf("%d held events seen, want %d", heldSeen, held)
	}
}

// TestFeedVisibility: each role sees exactly the events it may see.
func TestFeedVisibility(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Fresh(t), ledger.Options{})
	events := []struct {
		subject string
		vis     ledger.Visibility
	}{
		{"c1-credit", ledger.VisibilityOf([]string{"programme:CP:issuance", ledger.CitizenPendingAccount("C1")}, "operator:metro")},
		{"c2-credit", ledger.VisibilityOf([]string{"programme:CP:issuance", ledger.CitizenPendingAccount("C2")}, "operator:bus")},
		{"trade", ledger.VisibilityOf([]string{ledger.HolderAccount("E1"), ledger.HolderAccount("E2")})},
		{"money", ledger.VisibilityOf([]string{ledger.OrgMoneyAccount("E1"), "external:CNY"})},
		{"batch", ledger.Visibility{"operator:metro", ledger.SeenByOrg("V1")}},
		{"source", ledger.Visibility{"enterprise:E2", ledger.SeenByCity("JN")}},
		{"reserve", ledger.VisibilityOf([]string{"city:QD:CEI:reserve", "province:CEI:reserve"})},
		{"policy", nil},
	}
	for _, e := range events {
		emit(t, l, "test.visible", e.subject, e.vis)
	}
	relayAll(t, l)
	all := []string{"c1-credit", "c2-credit", "trade", "money", "batch", "source", "reserve", "policy"}
	for _, c := range []struct {
		name  string
		actor ledger.Actor
		want  []string
	}{
		{"citizen C1", ledger.Actor{Sub: "C1", Role: ledger.RoleCitizen}, []string{"c1-credit"}},
		{"citizen C2", ledger.Actor{Sub: "C2", Role: ledger.RoleCitizen}, []string{"c2-credit"}},
		{"citizen without events", ledger.Actor{Sub: "C3", Role: ledger.RoleCitizen}, nil},
		{"operator metro", ledger.Actor{Sub: "u", Role: ledger.RoleOperator, Org: "metro"}, []string{"c1-credit", "batch"}},
		{"operator bus", ledger.Actor{Sub: "u", Role: ledger.RoleOperator, Org: "bus"}, []string{"c2-credit"}},
		{"enterprise E1", ledger.Actor{Sub: "u", Role: ledger.RoleEnterprise, Org: "E1"}, []string{"trade", "money"}},
		{"enterprise E2", ledger.Actor{Sub: "u", Role: ledger.RoleEnterprise, Org: "E2"}, []string{"trade", "source"}},
		{"verifier V1", ledger.Actor{Sub: "u", Role: ledger.RoleVerifier, Org: "V1"}, []string{"batch"}},
		{"city JN", ledger.Actor{Sub: "u", Role: ledger.RoleCity, City: "JN"}, []string{"source"}},
		{"city QD", ledger.Actor{Sub: "u", Role: ledger.RoleCity, City: "QD"}, []string{"reserve"}},
		{"operator without org", ledger.Actor{Sub: "u", Role: ledger.RoleOperator}, nil},
		{"unknown role", ledger.Actor{Sub: "C1", Role: "guest"}, nil},
		{"province", ledger.Actor{Sub: "u", Role: ledger.RoleProvince}, all},
		{"auditor", ledger.Actor{Sub: "u", Role: ledger.RoleAuditor}, all},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, e := range readAll(t, l, c.actor) {
				got = append(got, e.Subject)
				if !ledger.CanSeeEvent(c.actor, e.Visibility) {
					t.Errorf("CanSeeEvent disagrees with the feed's query on %s", e.Subject)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("sees %v, want %v", got, c.want)
			}
		})
	}
}

// TestFeedScopedReaderMovesOn: a reader who may see nothing in a long
// stretch of the feed still reaches the head, one bounded window per read.
func TestFeedScopedReaderMovesOn(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Fresh(t), ledger.Options{})
	if err := l.Update(ctx, func(w *ledger.Writer) error {
		for i := range ledger.EventsScanMax + 10 {
			if err := w.Emit("test.noise", fmt.Sprintf("n:%d", i), nil, nil); err != nil {
				return err
			}
		}
		return nil
	}); ledger.ErrorCode(err) != ledger.CodeLimitExceeded {
		t.Fatalf("more than EventsPerWriteMax events in one write: %v, want limit_exceeded", err)
	}
	for range 3 {
		if err := l.Update(ctx, func(w *ledger.Writer) error {
			for i := range ledger.EventsPerWriteMax {
				if err := w.Emit("test.noise", fmt.Sprintf("n:%d", i), nil, nil); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	emit(t, l, "test.mine", "mine", ledger.Visibility{ledger.SeenByCitizen("C9")})
	relayAll(t, l)
	c9 := ledger.Actor{Sub: "C9", Role: ledger.RoleCitizen}
	q := ledger.EventQuery{}
	reads := 0
	for {
		p, err := l.Events(ctx, c9, q)
		if err != nil {
			t.Fatal(err)
		}
		reads++
		if len(p.Items) > 0 {
			if p.Items[0].Subject != "mine" || p.Items[0].Position != p.Head {
				t.Fatalf("got %+v", p.Items)
			}
			break
		}
		if p.Next <= q.After {
			t.Fatalf("an empty page did not move the cursor (%d → %d)", q.After, p.Next)
		}
		q.After = p.Next
	}
	if reads < 2 {
		t.Fatalf("%d reads: a window must be bounded by EventsScanMax", reads)
	}
	// Types filter; a cursor beyond the head.
	if evs := readAll(t, l, province, "test.mine"); len(evs) != 1 {
		t.Fatalf("type filter: %d events", len(evs))
	}
	if _, err := l.Events(ctx, province, ledger.EventQuery{After: 1 << 40}); ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
		t.Fatalf("cursor beyond head: %v", err)
	}
}

// TestFeedRetentionAndCursorExpired: retention deletes old events that
// every publisher has passed, in position order; a cursor older than the
// deleted ones is cursor_expired, and reading from the mark works.
func TestFeedRetentionAndCursorExpired(t *testing.T) {
	clk := ledgertest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	l := ledgertest.Ledger(t, ledgertest.Fresh(t), ledger.Options{Now: clk.Now, FeedRetention: time.Hour})
	for i := range 5 {
		emit(t, l, "test.old", fmt.Sprint("old:", i), nil)
	}
	relayAll(t, l)
	// A publisher that has read two events holds retention back.
	if _, err := l.Consume(ctx, "test-publisher", 2, func([]ledger.Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	emit(t, l, "test.new", "new", nil)
	relayAll(t, l)
	if n, err := l.PruneEvents(ctx, ledger.JobBatchMax); err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want the 2 the publisher has passed", n, err)
	}
	if _, err := l.Consume(ctx, "test-publisher", 100, func([]ledger.Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n, err := l.PruneEvents(ctx, ledger.JobBatchMax); err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want the 3 other old ones, not the new one", n, err)
	}
	_, err := l.Events(ctx, province, ledger.EventQuery{After: 4})
	var e *ledger.Error
	if !errors.As(err, &e) || e.Code != ledger.CodeCursorExpired || e.Detail["oldest_cursor"] != "5" {
		t.Fatalf("old cursor: %v, want cursor_expired naming 5", err)
	}
	p, err := l.Events(ctx, province, ledger.EventQuery{After: 5})
	if err != nil || len(p.Items) != 1 || p.Items[0].Subject != "new" {
		t.Fatalf("from the mark: %+v, %v", p, err)
	}
	st, err := l.FeedStatus(ctx)
	if err != nil || st.Head != 6 || st.Pruned != 5 || st.Consumers["test-publisher"] != 6 || st.Unstamped != 0 {
		t.Fatalf("status %+v, %v", st, err)
	}
}

// TestFeedConsumeRedeliversAfterACrash: a publisher that dies between
// delivering and recording its position delivers the same events again,
// and nothing is skipped.
func TestFeedConsumeRedeliversAfterACrash(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Fresh(t), ledger.Options{})
	for i := range 3 {
		emit(t, l, "test.e", fmt.Sprint("e:", i), nil)
	}
	relayAll(t, l)
	var delivered []int64
	crash := errors.New("crash after publish")
	_, err := l.Consume(ctx, "p", 10, func(evs []ledger.Event) error {
		for _, e := range evs {
			delivered = append(delivered, e.Position)
		}
		return crash
	})
	if !errors.Is(err, crash) {
		t.Fatalf("consume: %v", err)
	}
	n, err := l.Consume(ctx, "p", 10, func(evs []ledger.Event) error {
		for _, e := range evs {
			delivered = append(delivered, e.Position)
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("after restart: %d, %v", n, err)
	}
	if !slices.Equal(delivered, []int64{1, 2, 3, 1, 2, 3}) {
		t.Fatalf("delivered %v", delivered)
	}
	if n, err := l.Consume(ctx, "p", 10, func([]ledger.Event) error { return nil }); err != nil || n != 0 {
		t.Fatalf("nothing left: %d, %v", n, err)
	}
}

// TestFanOutAfterDeleteLeavesNoCursor: a fan-out that listed a webhook
// before it was deleted must not bring its position back (nothing would
// ever move it again, and retention would stop at it for ever).
func TestFanOutAfterDeleteLeavesNoCursor(t *testing.T) {
	clk := ledgertest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	l := ledgertest.Ledger(t, ledgertest.Fresh(t), ledger.Options{Now: clk.Now, FeedRetention: time.Hour})
	owner := ledger.Actor{Role: ledger.RoleProvince, Sub: "p-hooks"}
	w, _, err := l.CreateWebhook(ctx, owner, "hook-1", ledger.WebhookInput{URL: "https://hooks.example/x"})
	if err != nil {
		t.Fatal(err)
	}
	emit(t, l, "test.old", "old", nil)
	relayAll(t, l)
	if _, err := l.DeleteWebhook(ctx, owner, w.ID); err != nil {
		t.Fatal(err)
	}
	// The fan-out's list was read before the delete: it still holds w.
	if _, err := l.FanOutOne(ctx, w, 10); err != nil {
		t.Fatal(err)
	}
	st, err := l.FeedStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name := range st.Consumers {
		if strings.Contains(name, w.ID.String()) {
			t.Fatalf("the deleted webhook's position %q is back: %+v", name, st.Consumers)
		}
	}
	clk.Advance(2 * time.Hour)
	if n, err := l.PruneEvents(ctx, ledger.JobBatchMax); err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want the old event: no deleted webhook holds retention back", n, err)
	}
}

// writtenBody is a transaction.recorded body as the engine encoded it
// when it stored bodies: from the transaction as the write returned it.
func writtenBody(t *testing.T, tx *ledger.Transaction) string {
	t.Helper()
	d := ledger.TransactionEventData{ID: tx.ID, Kind: tx.Kind, Actor: tx.Actor, EffectiveAt: tx.EffectiveAt, Pending: tx.Pending,
		ExpiresAt: tx.ExpiresAt, Resolves: tx.Resolves, Corrects: tx.Corrects, Metadata: tx.Metadata}
	for _, p := range tx.Postings {
		d.Postings = append(d.Postings, ledger.PostingEventData{Account: p.Account, Asset: p.Asset, Phase: p.Phase, Amount: ledger.FormatAmount(p.Asset, p.Amount)})
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTransactionEventBodiesComeFromTheJournal: a transaction.recorded
// row stores no body (the journal holds it once, issue 11); every reader
// (Events, a publisher through Consume) gets the body the write would
// have stored, byte for byte, for a plain transfer with metadata, a hold
// with a timeout and its resolution; an event stored with its body (before
// the change) is served as stored.
func TestTransactionEventBodiesComeFromTheJournal(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Fresh(t), ledger.Options{})
	accts := fund(t, l, "100.00", "org-a", "org-b")
	relayAll(t, l)
	start := int64(len(readAll(t, l, province)))
	plain, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(accts[0], "-10.50", accts[1], "10.50"),
		Metadata: map[string]string{"memo": "订单 7", "ref": "r-1"}})
	if err != nil {
		t.Fatal(err)
	}
	hold, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "trade", Postings: legs(accts[1], "-3.00", accts[0], "3.00"), Pending: true, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	settle, _, err := l.PostPending(ctx, province, key(), hold.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{writtenBody(t, plain), writtenBody(t, hold), writtenBody(t, settle)}
	if hold.ExpiresAt == nil || settle.Resolves == nil || len(plain.Metadata) != 2 {
		t.Fatalf("the cases do not cover expires_at, resolves and metadata: %+v %+v %+v", hold, settle, plain)
	}

	// A legacy row: an event stored with its body, in its own chunk.
	legacy := `{"id":"00000000-0000-0000-0000-000000000000","kind":"legacy","actor":"province:p","effective_at":"2026-01-01T00:00:00Z","pending":false,"postings":[]}`
	chunk := ledger.NewID()
	if _, err := l.Pool().Exec(ctx, `INSERT INTO feed_chunks (id, events, created_at) VALUES ($1, 1, now())`, chunk); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Pool().Exec(ctx, `
		INSERT INTO feed_events (chunk_id, ordinal, id, type, schema_version, subject, visibility, occurred_at, body)
		VALUES ($1, 0, $2, $3, 1, 'transaction:00000000-0000-0000-0000-000000000000', '{}', now(), $4)`, chunk, ledger.NewID(), ledger.EventTransaction, legacy); err != nil {
		t.Fatal(err)
	}
	want = append(want, legacy)
	relayAll(t, l)

	var stored int
	if err := l.Pool().QueryRow(ctx, `SELECT count(*) FROM feed_events WHERE type = $1 AND body <> ''`, ledger.EventTransaction).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("%d transaction.recorded rows store a body (%v), want only the legacy one", stored, err)
	}
	check := func(how string, evs []ledger.Event) {
		t.Helper()
		var got []string
		for _, e := range evs {
			if e.Type == ledger.EventTransaction {
				got = append(got, string(e.Data))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: bodies\n%s\nwant\n%s", how, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	check("Events", readAll(t, l, province)[start:])
	// A scoped reader sees the three it owns accounts of.
	var scoped []ledger.Event
	for _, e := range readAll(t, l, ledger.Actor{Sub: "u", Role: ledger.RoleEnterprise, Org: "org-a"}) {
		if e.Position > start {
			scoped = append(scoped, e)
		}
	}
	if len(scoped) != 3 || string(scoped[0].Data) != want[0] {
		t.Fatalf("org-a reads %d events after the funding, first %s", len(scoped), scoped[0].Data)
	}
	var consumed []ledger.Event
	for {
		n, err := l.Consume(ctx, "test-bodies", 2, func(evs []ledger.Event) error { consumed = append(consumed, evs...); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	check("Consume", consumed[start:])
}
