package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shandong-carbon/carbonledger/api"
	"github.com/shandong-carbon/carbonledger/ledger"
)

// carbonledger checkpoint [export|verify]: take a signed checkpoint now,
// print every checkpoint as JSON lines (to publish them outside the
// database, docs/checkpoints.md), or verify them against the journal.
func cmdCheckpoint(ctx context.Context, args []string) error {
	return runCheckpoint(ctx, args, os.Stdout)
}

func runCheckpoint(ctx context.Context, args []string, out io.Writer) error {
	sub := ""
	if len(args) > 0 && (args[0] == "export" || args[0] == "verify") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("checkpoint", flag.ExitOnError)
	c := commonFlags(fs)
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return errors.New("usage: carbonledger checkpoint [export|verify]")
	}
	l, closePool, err := c.ledger(ctx)
	if err != nil {
		return err
	}
	defer closePool()
	switch sub {
	case "export":
		enc := json.NewEncoder(out) // one object per line
		return l.EachCheckpoint(ctx, func(cp ledger.Checkpoint) error { return enc.Encode(cp) })
	case "verify":
		key, err := c.signingKey(nil, true)
		if err != nil {
			return err
		}
		rep, err := l.VerifyCheckpoints(ctx, key.CheckpointKeys())
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "checkpoints %s, problems %d (%s)\n", rep.Notes["checkpoints"], rep.ProblemsTotal, rep.Duration)
		for _, p := range rep.Problems {
			fmt.Fprintf(out, "PROBLEM %s table=%s row=%s: %s\n", p.Kind, p.Table, p.Row, p.Detail)
		}
		if !rep.OK {
			return exitError(3)
		}
		fmt.Fprintln(out, "OK: every checkpoint is signed and chained, and the journal holds everything they cover")
		return nil
	}
	key, err := c.signingKey(nil, true)
	if err != nil {
		return err
	}
	cp, err := l.Checkpoint(ctx, key.Private, key.KID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "checkpoint %d at %s: transactions %d, postings %d, chains %d (%d changed), root %s, hash %s\n",
		cp.Number, cp.Statement.TakenAt, cp.Statement.Transactions, cp.Statement.Postings, cp.Statement.Chains,
		cp.Statement.HeadsChanged, cp.Statement.ChainRoot, cp.Hash)
	return nil
}

// feedRetention is CARBONLEDGER_FEED_RETENTION (default 168h): how long
// the change feed keeps events every publisher has passed.
func feedRetention() (time.Duration, error) {
	v := os.Getenv("CARBONLEDGER_FEED_RETENTION")
	if v == "" {
		return ledger.FeedRetentionDefault, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("CARBONLEDGER_FEED_RETENTION must be a duration of at least 1m, got %q", v)
	}
	return d, nil
}

// idempotencyRetention is CARBONLEDGER_IDEMPOTENCY_RETENTION (default 90
// days, at least a day: clients retry for longer than an hour).
func idempotencyRetention() (time.Duration, error) {
	v := os.Getenv("CARBONLEDGER_IDEMPOTENCY_RETENTION")
	if v == "" {
		return ledger.IdempotencyRetentionDefault, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 24*time.Hour {
		return 0, fmt.Errorf("CARBONLEDGER_IDEMPOTENCY_RETENTION must be a duration of at least 24h, got %q", v)
	}
	return d, nil
}

// checkpointInterval is CARBONLEDGER_CHECKPOINT_INTERVAL (default 10m):
// how often serve takes a signed checkpoint.
func checkpointInterval() (time.Duration, error) {
	v := os.Getenv("CARBONLEDGER_CHECKPOINT_INTERVAL")
	if v == "" {
		return api.CheckpointIntervalDefault, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("CARBONLEDGER_CHECKPOINT_INTERVAL must be a duration of at least 1s, got %q", v)
	}
	return d, nil
}
