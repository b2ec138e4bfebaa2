package api

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// startNATS runs a NATS server with JetStream in the test process, on a
// free loopback port with its store in a temporary directory, so the test
// passes whether or not a server already runs on this machine and never
// touches its streams.
func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestNATSPublishesOnceAcrossACrash: the publisher dies after JetStream
// stored a batch but before it recorded its position (the kill between
// publish and commit); after the restart it publishes the batch again and
// JetStream drops every repeat by Nats-Msg-Id, so a consumer of the stream
// gets each event exactly once, in position order.
func TestNATSPublishesOnceAcrossACrash(t *testing.T) {
	ctx := context.Background()
	nc := startNATS(t)
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	h.openFunded(prov, "50.00", "nats-a", "nats-b")
	h.relay()

	p, err := NewNATSPublisher(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	crash := errors.New("killed after publishing, before recording the position")
	_, err = h.l.Consume(ctx, natsPublisherName, ledger.JobBatchMax, func(evs []ledger.Event) error {
		if err := p.Deliver(ctx, evs); err != nil {
			return err
		}
		return crash
	})
	if !errors.Is(err, crash) {
		t.Fatalf("first run: %v", err)
	}
	// More events commit while the publisher is down.
	h.post("/v1/transactions", prov, transfer("org:nats-a:CNY", "org:nats-b:CNY", "2.00")).want(t, 201)
	h.relay()
	// The restarted publisher, as the job runs it.
	n, err := p.Job().Run(ctx, h.l)
	if err != nil || n != 3 {
		t.Fatalf("after restart published %d (%v), want 3", n, err)
	}
	if n, err := p.Publish(ctx, h.l); err != nil || n != 0 {
		t.Fatalf("nothing left: %d, %v", n, err)
	}

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, NATSStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Fatalf("stream holds %d messages, want 3: a republish after the crash was not dropped", info.State.Msgs)
	}
	seen := map[string]bool{}
	for seq := uint64(1); seq <= info.State.Msgs; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var e ledger.Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatal(err)
		}
		if e.Position != int64(seq) || m.Subject != NATSSubjectPrefix+e.Type || m.Header.Get(jetstream.MsgIDHeader) != e.ID.String() {
			t.Fatalf("message %d: subject %s, position %d, msg id %q (event %s)", seq, m.Subject, e.Position, m.Header.Get(jetstream.MsgIDHeader), e.ID)
		}
		if seen[e.ID.String()] {
			t.Fatalf("event %s delivered twice", e.ID)
		}
		seen[e.ID.String()] = true
	}
	st, err := h.l.FeedStatus(ctx)
	if err != nil || st.Consumers[natsPublisherName] != st.Head {
		t.Fatalf("publisher position %v, head %d: %v", st.Consumers, st.Head, err)
	}
}
