package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Publishing the change feed to NATS JetStream (docs/events.md), when
// CARBONLEDGER_NATS_URL is set: each event once to carbonledger.<type>,
// in position order, with Nats-Msg-Id = the event's id. The publisher's
// position is a row of feed_cursors moved in the same database
// transaction that read the events, after JetStream acknowledged them
// all (ledger.Consume); a crash in between publishes them again, and
// JetStream drops the repeats by their Nats-Msg-Id within the stream's
// duplicate window.

// Named settings of the NATS publisher.
const (
	NATSStream            = "CARBONLEDGER"
	NATSSubjectPrefix     = "carbonledger."
	natsPublisherName     = "nats"
	natsDuplicateWindow   = 10 * time.Minute // a publisher restarted within it republishes harmlessly
	natsPublishEvery      = 100 * time.Millisecond
	natsAckWait           = 10 * time.Second
	natsPositionHeader    = "Carbonledger-Position"
	natsSchemaVersionHead = "Carbonledger-Schema-Version"
)

// NATSPublisher publishes the feed to a JetStream stream.
type NATSPublisher struct {
	js jetstream.JetStream
}

// NewNATSPublisher uses the connection's JetStream and makes sure the
// stream exists with the subjects carbonledger.> and a duplicate window.
func NewNATSPublisher(ctx context.Context, nc *nats.Conn) (*NATSPublisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       NATSStream,
		Subjects:   []string{NATSSubjectPrefix + ">"},
		Duplicates: natsDuplicateWindow,
		Storage:    jetstream.FileStorage,
	}); err != nil {
		return nil, fmt.Errorf("nats: stream %s: %w", NATSStream, err)
	}
	return &NATSPublisher{js: js}, nil
}

// Job is the publisher as a background job: one replica at a time
// publishes (the others find its row locked).
func (p *NATSPublisher) Job() ledger.Job {
	return ledger.Job{Name: "publish-nats", Every: natsPublishEvery, Quiet: true, Run: p.Publish}
}

// Publish publishes the next events after the publisher's position.
func (p *NATSPublisher) Publish(ctx context.Context, l *ledger.Ledger) (int, error) {
	return l.Consume(ctx, natsPublisherName, ledger.JobBatchMax, func(evs []ledger.Event) error { return p.Deliver(ctx, evs) })
}

// Deliver publishes events and waits until JetStream has acknowledged
// every one (stored, or dropped as a duplicate of the same id).
func (p *NATSPublisher) Deliver(ctx context.Context, evs []ledger.Event) error {
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	for _, e := range evs {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		msg := nats.NewMsg(NATSSubjectPrefix + e.Type)
		msg.Data = data
		msg.Header.Set(natsPositionHeader, strconv.FormatInt(e.Position, 10))
		msg.Header.Set(natsSchemaVersionHead, strconv.Itoa(e.SchemaVersion))
		f, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(e.ID.String()))
		if err != nil {
			return fmt.Errorf("nats: publish %s: %w", e.ID, err)
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(natsAckWait)
	defer timeout.Stop()
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("nats: publish %s: %w", evs[i].ID, err)
		case <-timeout.C:
			return errors.New("nats: no acknowledgement from JetStream in time")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// DialNATS connects to url (reconnecting for ever, since the publisher's
// position waits in the database meanwhile) and returns the publisher
// and a function that closes the connection.
func DialNATS(ctx context.Context, url string) (*NATSPublisher, func(), error) {
	nc, err := nats.Connect(url, nats.Name("carbonledger"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, nil, fmt.Errorf("nats %s: %w", url, err)
	}
	p, err := NewNATSPublisher(ctx, nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return p, nc.Close, nil
}
