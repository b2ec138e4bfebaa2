package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
		key, err := c.signingKey(nil)
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
	key, err := c.signingKey(nil)
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

// startCheckpoints runs the checkpoint job in serve, every
// CARBONLEDGER_CHECKPOINT_INTERVAL (default 10m). It has its own small
// loop, apart from api.RunJobs, so it needs only the ledger and the key.
func startCheckpoints(ctx context.Context, l *ledger.Ledger, key *api.SigningKey, log *slog.Logger) error {
	every := api.CheckpointIntervalDefault
	if v := os.Getenv("CARBONLEDGER_CHECKPOINT_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return fmt.Errorf("CARBONLEDGER_CHECKPOINT_INTERVAL must be a duration of at least 1s, got %q", v)
		}
		every = d
	}
	go runLedgerJob(ctx, l, api.CheckpointJob(key, every), log)
	return nil
}

// runLedgerJob runs j on its period until ctx ends.
func runLedgerJob(ctx context.Context, l *ledger.Ledger, j ledger.Job, log *slog.Logger) {
	t := time.NewTicker(j.Every)
	defer t.Stop()
	for {
		n, err := j.Run(ctx, l)
		if err != nil && ctx.Err() == nil {
			log.Warn("job failed", "job", j.Name, "err", err)
		} else if n > 0 {
			log.Info("job ran", "job", j.Name, "items", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
