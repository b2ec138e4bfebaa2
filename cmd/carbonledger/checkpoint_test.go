package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// (e) checkpoint takes one, export prints every one as a JSON line, and
// verify finds a cut that the plain verify cannot.
func TestCheckpointCommands(t *testing.T) {
	ctx := context.Background()
	url := ledgertest.FreshURL(t)
	keyFile := t.TempDir() + "/k"
	common := []string{"-database-url", url, "-signing-key-file", keyFile}
	if err := cmdSeed(ctx, common); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for i := 0; i < 2; i++ {
		if err := runCheckpoint(ctx, common, &out); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(out.String(), "checkpoint 1 at") || !strings.Contains(out.String(), "checkpoint 2 at") {
		t.Fatalf("checkpoint output:\n%s", out.String())
	}
	out.Reset()
	if err := runCheckpoint(ctx, append([]string{"export"}, common...), &out); err != nil {
		t.Fatal(err)
	}
	var got []ledger.Checkpoint
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var cp ledger.Checkpoint
		if err := json.Unmarshal(sc.Bytes(), &cp); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, cp)
	}
	if len(got) != 2 || got[0].Number != 1 || got[1].Statement.Prev != got[0].Hash || got[1].JWS == "" || got[0].Statement.Transactions == 0 {
		t.Fatalf("export: %+v", got)
	}
	out.Reset()
	if err := runCheckpoint(ctx, append([]string{"verify"}, common...), &out); err != nil {
		t.Fatalf("verify clean: %v\n%s", err, out.String())
	}
	// Removing a checkpoint (here the first, with its heads) is found: the
	// numbers have a gap. (Cuts of the journal itself: ledger's tests.)
	pool, err := ledger.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, sql := range []string{
		`DELETE FROM checkpoint_heads WHERE checkpoint_id IN (SELECT id FROM checkpoints WHERE number = 1)`,
		`DELETE FROM checkpoint_trail_heads WHERE checkpoint_id IN (SELECT id FROM checkpoints WHERE number = 1)`,
		`DELETE FROM checkpoints WHERE number = 1`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if err := runCheckpoint(ctx, append([]string{"verify"}, common...), &out); err == nil || !strings.Contains(out.String(), "checkpoint 2: expected number 1") {
		t.Fatalf("removed checkpoint not reported: %v\n%s", err, out.String())
	}
}
