package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// VerifyProblemsMax bounds the report; counting goes on past it.
const VerifyProblemsMax = 1000

const (
	// VerifyChunkRowsDefault bounds the rows one statement of a
	// verification reads, and so how long each of its snapshots lives: a
	// few tenths of a second, far from the statement timeout, at any size
	// of the journal.
	VerifyChunkRowsDefault = 20000
	// verifyOverlapDefault is how far before its start a clean run
	// vouches for the journal (verify_runs.mark_at). It must exceed the
	// life of any write transaction — a request ends after 30 s, a
	// coalesced call after 30 s — so that a transaction whose id was made
	// before a run began but which committed after it is checked by the
	// next run, never skipped.
	verifyOverlapDefault = 2 * time.Minute
	// verifySaveEvery: how often a full run records its progress (at a
	// chunk's end), so that a resumed run repeats at most this much work.
	verifySaveEvery = 2 * time.Second
)

// Problem is one mismatch found by Verify, precise enough to act on.
type Problem struct {
	Kind    string `json:"kind"`               // transaction_hash, unbalanced, chain_hash, sequence_gap, balance_after, account_state, asset_sum, trail_chain, account_status, idempotency_result, record_hash, …
	UseCase string `json:"use_case,omitempty"` // the use case whose check found it; empty for the engine's own
	Table   string `json:"table,omitempty"`    // the table holding the row at fault
	Row     string `json:"row,omitempty"`      // the row's key in that table
	Account string `json:"account,omitempty"`
	Shard   int    `json:"shard,omitempty"`
	Seq     int64  `json:"seq,omitempty"`
	TxID    string `json:"transaction_id,omitempty"`
	Detail  string `json:"detail"`
}

// VerifyReport is the result of recomputing the ledger from its journal.
type VerifyReport struct {
	OK            bool              `json:"ok"`
	Mode          VerifyMode        `json:"mode,omitempty"`  // full or incremental
	Since         string            `json:"since,omitempty"` // incremental: transactions made from this time on were checked
	Transactions  int64             `json:"transactions"`
	Postings      int64             `json:"postings"`
	Chains        int64             `json:"chains"`
	TrailEvents   int64             `json:"trail_events"`
	ProblemsTotal int64             `json:"problems_total"`
	Problems      []Problem         `json:"problems"`
	AssetTotals   map[Asset]string  `json:"asset_totals"`
	Root          string            `json:"root"` // digest of every chain head: publish it to anchor the journal (full runs)
	Duration      string            `json:"duration"`
	Notes         map[string]string `json:"notes,omitempty"`
}

func (r *VerifyReport) add(p Problem) {
	r.ProblemsTotal++
	if len(r.Problems) < VerifyProblemsMax {
		r.Problems = append(r.Problems, p)
	}
}

func (r *VerifyReport) note(k, v string) {
	if r.Notes == nil {
		r.Notes = map[string]string{}
	}
	r.Notes[k] = v
}

// VerifyMode chooses how much of the journal a verification reads.
type VerifyMode string

const (
	// VerifyFull reads the whole journal, in chunks.
	VerifyFull VerifyMode = "full"
	// VerifyIncremental reads what was written since the last clean
	// verification: its transactions, and the chains they touched from
	// the last verified posting on. Without an earlier clean run it is a
	// full run.
	VerifyIncremental VerifyMode = "incremental"
)

// VerifyOptions configure one verification. Zero values take the defaults:
// a full run in chunks of VerifyChunkRowsDefault that records its progress
// and, if clean, the point the next incremental run starts from.
type VerifyOptions struct {
	Mode      VerifyMode    // "" is full
	ChunkRows int           // rows per statement (and per snapshot); default VerifyChunkRowsDefault
	Overlap   time.Duration // see verifyOverlapDefault; 0 is the default, negative is none (tests)
	// Resume continues the newest unfinished full run where it last
	// recorded its progress (a new run when there is none).
	Resume bool
	// NoRecord writes nothing (a read-only standby): no progress, no
	// mark, so nothing to resume and no new starting point.
	NoRecord bool
	Progress func(VerifyProgress) // called after every chunk; may be nil
}

// VerifyProgress is where a running verification stands.
type VerifyProgress struct {
	Run          uuid.UUID     `json:"run"`
	Mode         VerifyMode    `json:"mode"`
	Stage        string        `json:"stage"` // transactions, chains, accounts
	Transactions int64         `json:"transactions"`
	Postings     int64         `json:"postings"`
	Accounts     int64         `json:"accounts"`
	Problems     int64         `json:"problems"`
	Elapsed      time.Duration `json:"elapsed"`
}

// Verify recomputes every transaction hash, every per-account hash chain
// and balance from the postings, and the per-asset totals, and compares
// them with what is stored: VerifyJournal in full with the defaults.
func (l *Ledger) Verify(ctx context.Context) (*VerifyReport, error) {
	return l.VerifyJournal(ctx, VerifyOptions{})
}

// VerifyJournal verifies the engine's journal as o says. It reads in
// chunks, each on its own short read-only snapshot, so no statement comes
// near the statement timeout and no snapshot holds back the database's
// cleanup for long, whatever the journal's size. Writes may go on
// meanwhile: every transaction is read whole, and every chain is compared
// with its account's stored state as of the snapshot that read the
// chain's last posting. The asset totals are sums over whole
// transactions, so they too are exact while writes go on. Errors are
// domain errors (a timeout is unavailable), never the driver's.
func (l *Ledger) VerifyJournal(ctx context.Context, o VerifyOptions) (*VerifyReport, error) {
	start := time.Now()
	v, err := l.startVerify(ctx, o)
	if err != nil {
		return nil, translate(err)
	}
	if err := v.run(); err != nil {
		return nil, translate(err)
	}
	rep := v.rep
	rep.OK = rep.ProblemsTotal == 0
	rep.Duration = time.Since(start).Round(time.Millisecond).String()
	return rep, nil
}

// chainPos is a posting's key, the keyset cursor of the chain stage.
type chainPos struct {
	Account string `json:"account"`
	Shard   int    `json:"shard"`
	Seq     int64  `json:"seq"`
}

// verifyState is everything a full run needs to go on from a chunk's
// end; it is what verify_runs.state records.
type verifyState struct {
	Run       uuid.UUID                 `json:"run"`
	Mode      VerifyMode                `json:"mode"`
	StartedAt time.Time                 `json:"started_at"`
	MarkAt    time.Time                 `json:"mark_at"`
	Since     time.Time                 `json:"since"` // incremental only
	Stage     int                       `json:"stage"`
	TxAfter   uuid.UUID                 `json:"tx_after"`
	ChainPos  chainPos                  `json:"chain_pos"`
	AcctAfter string                    `json:"acct_after"`
	Accounts  int64                     `json:"accounts"`
	Chain     *verifyChain              `json:"chain,omitempty"` // the chain being replayed at ChainPos
	LastHead  *chainPos                 `json:"last_head,omitempty"`
	Totals    map[Asset]decimal.Decimal `json:"totals"`
	Digest    []byte                    `json:"digest,omitempty"` // the root's SHA-256 state so far
	Report    *VerifyReport             `json:"report"`
}

const (
	stageTransactions = iota + 1
	stageChains
	stageAccounts
	stageDone
)

var stageNames = map[int]string{stageTransactions: "transactions", stageChains: "chains", stageAccounts: "accounts", stageDone: "done"}

// verifyRun carries one verification through its stages and chunks.
type verifyRun struct {
	l      *Ledger
	ctx    context.Context
	o      VerifyOptions
	st     *verifyState
	rep    *VerifyReport
	scales scaleOf
	// byteOrder: the database orders text by bytes (C collation, or
	// CockroachDB), so chains arrive in the root's order and its digest
	// is streamed. Otherwise the heads are kept and sorted at the end,
	// and a run cannot be resumed.
	byteOrder bool
	digest    hash.Hash
	heads     []headLine
	touched   map[chainKey]int64 // incremental: chain → its first new seq
	started   time.Time
	saved     time.Time
}

type chainKey struct {
	account string
	shard   int
}

func (l *Ledger) startVerify(ctx context.Context, o VerifyOptions) (*verifyRun, error) {
	if o.ChunkRows <= 0 {
		o.ChunkRows = VerifyChunkRowsDefault
	}
	switch {
	case o.Overlap == 0:
		o.Overlap = verifyOverlapDefault
	case o.Overlap < 0:
		o.Overlap = 0
	}
	if o.Mode == "" {
		o.Mode = VerifyFull
	}
	if o.Mode != VerifyFull && o.Mode != VerifyIncremental {
		return nil, Errf(CodeInvalidRequest, "verify mode %q: want full or incremental", o.Mode).At("mode")
	}
	v := &verifyRun{l: l, ctx: ctx, o: o, scales: l.AssetScale, digest: sha256.New(), started: time.Now(), touched: map[chainKey]int64{}}
	v.byteOrder = l.cockroach
	if !l.cockroach {
		var coll string
		if err := l.pool.QueryRow(ctx, `SELECT datcollate FROM pg_database WHERE datname = current_database()`).Scan(&coll); err != nil {
			return nil, err
		}
		// glibc's C.UTF-8 orders by code point, which for UTF-8 text is
		// byte order too.
		switch coll {
		case "C", "POSIX", "C.UTF-8", "C.utf8":
			v.byteOrder = true
		}
	}
	if o.Mode == VerifyFull && o.Resume && !o.NoRecord && v.byteOrder {
		resumed, err := v.resume()
		if err != nil {
			return nil, err
		}
		if resumed {
			return v, nil
		}
	}
	// Wall clock, not the ledger's: ids are made from the wall clock.
	now := time.Now()
	v.st = &verifyState{Run: NewID(), Mode: o.Mode, StartedAt: now, MarkAt: now.Add(-o.Overlap), Stage: stageTransactions,
		Totals: map[Asset]decimal.Decimal{}, Report: &VerifyReport{Problems: []Problem{}, AssetTotals: map[Asset]string{}}}
	v.rep = v.st.Report
	if o.Mode == VerifyIncremental {
		var since time.Time
		err := l.pool.QueryRow(ctx, `SELECT mark_at FROM verify_runs WHERE journal_ok ORDER BY mark_at DESC LIMIT 1`).Scan(&since)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			v.st.Mode = VerifyFull
			v.rep.note("incremental", "no earlier clean verification to start from: this run read the whole journal")
		case err != nil:
			return nil, err
		default:
			v.st.Since = since
			v.st.TxAfter = idFloor(since)
		}
	}
	v.rep.Mode = v.st.Mode
	if v.st.Mode == VerifyIncremental {
		v.rep.Since = v.st.Since.UTC().Format(time.RFC3339Nano)
	}
	if !o.NoRecord {
		if _, err := l.pool.Exec(ctx, `INSERT INTO verify_runs (id, mode, started_at, updated_at, mark_at) VALUES ($1, $2, $3, $3, $4)`,
			v.st.Run, string(v.st.Mode), now, v.st.MarkAt); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// resume loads the newest unfinished full run that recorded progress.
func (v *verifyRun) resume() (bool, error) {
	var state string
	err := v.l.pool.QueryRow(v.ctx, `SELECT state FROM verify_runs WHERE mode = 'full' AND finished_at IS NULL AND state <> '' ORDER BY started_at DESC LIMIT 1`).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var st verifyState
	if err := json.Unmarshal([]byte(state), &st); err != nil || st.Report == nil {
		return false, fmt.Errorf("verify: recorded progress is unreadable: %v", err)
	}
	if st.Totals == nil {
		st.Totals = map[Asset]decimal.Decimal{}
	}
	if st.Report.Problems == nil {
		st.Report.Problems = []Problem{}
	}
	st.Report.AssetTotals = map[Asset]string{}
	if len(st.Digest) > 0 {
		if err := v.digest.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Digest); err != nil {
			return false, fmt.Errorf("verify: recorded digest: %w", err)
		}
	}
	v.st, v.rep = &st, st.Report
	v.rep.note("resumed", fmt.Sprintf("run %s resumed at stage %s", st.Run, stageNames[st.Stage]))
	return true, nil
}

// idFloor is the smallest UUIDv7 made at t's millisecond: every id made
// from t on sorts after it.
func idFloor(t time.Time) uuid.UUID {
	var u uuid.UUID
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(u[:6], ms[2:])
	return u
}

func (v *verifyRun) run() error {
	for v.st.Stage != stageDone {
		var done bool
		var err error
		switch v.st.Stage {
		case stageTransactions:
			done, err = v.transactionsChunk()
		case stageChains:
			if v.st.Mode == VerifyIncremental {
				err, done = v.touchedChains(), true
			} else {
				done, err = v.chainsChunk()
			}
		case stageAccounts:
			if v.st.Mode == VerifyIncremental {
				err, done = v.storedSums(), true
			} else {
				done, err = v.accountsChunk()
			}
		}
		if err != nil {
			return err
		}
		if done {
			v.st.Stage++
		}
		if err := v.progress(done); err != nil { // a new stage: record it
			return err
		}
	}
	return v.finish()
}

// progress reports after a chunk, and records the state now and then.
func (v *verifyRun) progress(force bool) error {
	if err := v.save(force); err != nil {
		return err
	}
	if f := v.o.Progress; f != nil {
		f(VerifyProgress{Run: v.st.Run, Mode: v.st.Mode, Stage: stageNames[v.st.Stage], Transactions: v.rep.Transactions, Postings: v.rep.Postings,
			Accounts: v.st.Accounts, Problems: v.rep.ProblemsTotal, Elapsed: time.Since(v.started)})
	}
	return nil
}

// save records a full run's state (at a chunk's end), at most every
// verifySaveEvery unless forced.
func (v *verifyRun) save(force bool) error {
	if v.o.NoRecord || v.st.Mode != VerifyFull || !v.byteOrder || (!force && time.Since(v.saved) < verifySaveEvery) {
		return nil
	}
	v.saved = time.Now()
	d, err := v.digest.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	v.st.Digest = d
	state, err := json.Marshal(v.st)
	if err != nil {
		return err
	}
	_, err = v.l.pool.Exec(v.ctx, `UPDATE verify_runs SET state = $2, updated_at = $3, postings = $4, problems = $5 WHERE id = $1`,
		v.st.Run, string(state), time.Now(), v.rep.Postings, v.rep.ProblemsTotal)
	return err
}

// finish adds the asset totals and the root, and records the run: if the
// journal was clean, its mark is where the next incremental run starts.
func (v *verifyRun) finish() error {
	rep := v.rep
	if v.st.Mode == VerifyFull {
		for _, a := range slices.Sorted(maps.Keys(v.st.Totals)) {
			s := v.st.Totals[a]
			rep.AssetTotals[a] = s.String()
			if !s.IsZero() {
				rep.add(Problem{Kind: "asset_sum", Detail: fmt.Sprintf("balances of %s sum to %s, not zero", a, s)})
			}
		}
		if v.byteOrder {
			rep.Root = hex.EncodeToString(v.digest.Sum(nil))
		} else {
			rep.Root = hex.EncodeToString(headsDigest(v.heads)) // never resumed: the heads are all here
		}
	} else {
		rep.note("root", "computed by full runs only: an incremental run reads the chains it touched, not every head")
		rep.note("coverage", "the transactions made since "+rep.Since+" (the start of the last clean run, less an overlap), "+
			"every chain they touched from its last verified posting on, and the stored balances of all accounts summed per asset")
	}
	if v.o.NoRecord {
		return nil
	}
	_, err := v.l.pool.Exec(v.ctx, `UPDATE verify_runs SET finished_at = $2, updated_at = $2, journal_ok = $3, problems = $4, postings = $5, state = '' WHERE id = $1`,
		v.st.Run, time.Now(), rep.ProblemsTotal == 0, rep.ProblemsTotal, rep.Postings)
	return err
}

// read runs fn on a fresh read-only snapshot: one chunk.
func (v *verifyRun) read(fn func(tx pgx.Tx) error) error {
	return v.l.Read(v.ctx, func(r *Reader) error { return fn(r.tx) })
}

// transactionsChunk is stage 1, one chunk: up to ChunkRows transactions
// after the cursor (a range of the primary key), each with all its
// postings (LATERAL with OFFSET 0, which the planner cannot flatten: one
// probe of postings_tx_idx per transaction, never a join over the whole
// table, which a cached generic plan chose at 10,000,000 postings), checked for their content
// hash and balance per asset and phase; posted amounts add to the asset
// totals. Incremental runs also note each chain's first new posting.
func (v *verifyRun) transactionsChunk() (done bool, err error) {
	n := 0
	err = v.read(func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(v.ctx, `
			SELECT t.id, t.kind, t.actor, t.effective_at, t.created_at, t.metadata, t.corrects, t.resolves, t.pending, t.expires_at, t.hash,
			       p.account_id, p.asset, p.phase, p.amount::TEXT, p.idx, p.shard, p.seq
			FROM (SELECT * FROM transactions WHERE id > $1 ORDER BY id LIMIT $2) t
			LEFT JOIN LATERAL (SELECT * FROM postings WHERE tx_id = t.id OFFSET 0) p ON true
			ORDER BY t.id, p.idx`, v.st.TxAfter, v.o.ChunkRows)
		if err != nil {
			return err
		}
		defer rows.Close()
		var cur *Transaction
		for rows.Next() {
			var t Transaction
			var meta map[string]string
			var acct, asset, phase, amount *string
			var idx, shard *int
			var seq *int64
			if err := rows.Scan(&t.ID, &t.Kind, &t.Actor, &t.EffectiveAt, &t.CreatedAt, &meta, &t.Corrects, &t.Resolves, &t.Pending, &t.ExpiresAt, &t.Hash,
				&acct, &asset, &phase, &amount, &idx, &shard, &seq); err != nil {
				return err
			}
			if cur == nil || cur.ID != t.ID {
				v.finishTx(cur)
				t.Metadata = meta
				cur = &t
				n++
			}
			if acct == nil {
				continue
			}
			a := Asset(*asset)
			amt, err := decimal.NewFromString(*amount)
			if err != nil {
				return err
			}
			if checkScaleOf(v.scales, a, amt) != nil {
				v.rep.add(Problem{Kind: "amount_scale", Account: *acct, TxID: t.ID.String(),
					Detail: fmt.Sprintf("amount %s has more decimals than %s allows", amt, a)})
			}
			if Phase(*phase) == PhasePosted {
				v.st.Totals[a] = v.st.Totals[a].Add(amt)
			} else if _, ok := v.st.Totals[a]; !ok {
				v.st.Totals[a] = decimal.Zero
			}
			if v.st.Mode == VerifyIncremental {
				k := chainKey{*acct, *shard}
				if s, ok := v.touched[k]; !ok || *seq < s {
					v.touched[k] = *seq
				}
			}
			cur.Postings = append(cur.Postings, Posting{Account: *acct, Asset: a, Phase: Phase(*phase), Amount: amt})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		v.finishTx(cur)
		if cur != nil {
			v.st.TxAfter = cur.ID
		}
		return nil
	})
	return n < v.o.ChunkRows, err
}

// finishTx checks one transaction read in full (none when cur is nil).
func (v *verifyRun) finishTx(cur *Transaction) {
	if cur == nil {
		return
	}
	rep := v.rep
	rep.Transactions++
	if got := cur.computeHash(); !bytes.Equal(got, cur.Hash) {
		rep.add(Problem{Kind: "transaction_hash", TxID: cur.ID.String(), Detail: "stored hash does not match the transaction's header and postings: they were changed, added or removed"})
	}
	sums := map[string]decimal.Decimal{}
	for _, p := range cur.Postings {
		k := string(p.Asset) + "/" + string(p.Phase)
		sums[k] = sums[k].Add(p.Amount)
	}
	for k, s := range sums {
		if !s.IsZero() {
			rep.add(Problem{Kind: "unbalanced", TxID: cur.ID.String(), Detail: fmt.Sprintf("%s postings sum to %s", k, s)})
		}
	}
}

// verifyChain is one account's (or issuer shard's) chain as Verify replays
// it: what the journal adds up to so far, and the stored state (St*) to
// compare it with at the end — the state as of the snapshot that read the
// chain's newest posting. Exported fields: a full run records it.
type verifyChain struct {
	Account       string          `json:"account"`
	Shard         int             `json:"shard"`
	Asset         Asset           `json:"asset"`
	Issuer        bool            `json:"issuer"`
	Seq           int64           `json:"seq"`
	Bal           decimal.Decimal `json:"bal"`
	Pend          decimal.Decimal `json:"pend"`
	Head          []byte          `json:"head"`
	StBal, StPend string
	StSeq         int64
	StHead        []byte
}

const chainColumns = `p.account_id, p.shard, p.seq, p.tx_id, p.idx, p.asset, p.phase, p.amount::TEXT, p.balance_after::TEXT, p.pending_after::TEXT,
		       p.chain_hash, t.hash, a.sharded,
		       COALESCE(s.balance, a.balance)::TEXT, a.pending_debits::TEXT, COALESCE(s.seq, a.seq), COALESCE(s.head_hash, a.head_hash)`

// chainJoins looks up each posting's transaction and account by its
// primary key. The lookups are LATERAL with OFFSET 0, which the planner
// cannot flatten into a join it might hash: at 10,000,000 postings a
// round of the incremental run planned as a hash join over transactions
// ran past the 15 s statement timeout (issue 11). A probe per row keeps a
// statement's cost to its chunk, whatever the journal's size.
const chainJoins = `
		JOIN LATERAL (SELECT t.hash FROM transactions t WHERE t.id = p.tx_id OFFSET 0) t ON true
		JOIN LATERAL (SELECT a.sharded, a.balance, a.pending_debits, a.seq, a.head_hash FROM accounts a WHERE a.id = p.account_id OFFSET 0) a ON true
		LEFT JOIN issuer_shards s ON a.sharded AND s.account_id = p.account_id AND s.shard = p.shard`

// chainsChunk is stage 2 of a full run, one chunk: up to ChunkRows
// postings after the cursor, in chain and sequence order. Each posting is
// checked against its chain replayed so far; a chain is checked against
// its stored state when the next one begins.
func (v *verifyRun) chainsChunk() (done bool, err error) {
	n := 0
	err = v.read(func(tx pgx.Tx) error {
		var err error
		n, err = v.readChains(tx, `SELECT `+chainColumns+`
			FROM (SELECT * FROM postings WHERE (account_id, shard, seq) > ($1, $2, $3) ORDER BY account_id, shard, seq LIMIT $4) p`+chainJoins+`
			ORDER BY p.account_id, p.shard, p.seq`, v.st.ChainPos.Account, v.st.ChainPos.Shard, v.st.ChainPos.Seq, v.o.ChunkRows)
		return err
	})
	if err != nil {
		return false, err
	}
	if n < v.o.ChunkRows {
		v.finishChain(v.st.Chain)
		v.st.Chain = nil
		return true, nil
	}
	return false, nil
}

// touchedChains is stage 2 of an incremental run: every chain a checked
// transaction touched, replayed from its last posting before the new ones
// (taken as verified: its hash is the head the first new posting chains
// onto) to its end. Chains go in batches; each round reads a bounded
// range of sequence numbers of every unfinished chain of the batch (an
// index range each, at most ChunkRows rows in all), so a chain with many
// new postings — an issuer shard — costs rounds, not a sort of all of them.
func (v *verifyRun) touchedChains() error {
	keys := slices.SortedFunc(maps.Keys(v.touched), func(x, y chainKey) int {
		if c := strings.Compare(x.account, y.account); c != 0 {
			return c
		}
		return x.shard - y.shard
	})
	type open struct {
		from, next int64 // first new seq; next seq to read
		c          *verifyChain
		started    bool // the anchor (or the first row) was read
	}
	for batch := range slices.Chunk(keys, max(1, v.o.ChunkRows/8)) {
		chains := map[chainKey]*open{}
		for _, k := range batch {
			from := v.touched[k]
			chains[k] = &open{from: from, next: max(from-1, 1), c: &verifyChain{Account: k.account, Shard: k.shard, Head: []byte{}}}
		}
		for len(chains) > 0 {
			per := int64(max(1, v.o.ChunkRows/len(chains)))
			accts, shards, los, his := make([]string, 0, len(chains)), make([]int64, 0, len(chains)), make([]int64, 0, len(chains)), make([]int64, 0, len(chains))
			for k, o := range chains {
				accts, shards, los, his = append(accts, k.account), append(shards, int64(k.shard)), append(los, o.next), append(his, o.next+per-1)
			}
			read := map[chainKey]int64{}
			err := v.read(func(tx pgx.Tx) error {
				clear(read)
				rows, err := tx.Query(v.ctx, `SELECT `+chainColumns+`
					FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[]) AS c (account_id, shard, lo, hi)
					JOIN LATERAL (SELECT * FROM postings p WHERE p.account_id = c.account_id AND p.shard = c.shard AND p.seq BETWEEN c.lo AND c.hi OFFSET 0) p ON true`+chainJoins+`
					ORDER BY p.account_id, p.shard, p.seq`, accts, shards, los, his)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					r, err := scanChainRow(rows)
					if err != nil {
						return err
					}
					k := chainKey{r.p.Account, r.p.Shard}
					o := chains[k]
					read[k]++
					o.next = r.p.Seq + 1
					if !o.started {
						o.started = true
						o.c.Asset, o.c.Issuer = r.p.Asset, r.issuer
						if v.anchor(o.c, o.from, &r) {
							continue
						}
					}
					v.replay(o.c, &r)
				}
				return rows.Err()
			})
			if err != nil {
				return err
			}
			for k, o := range chains {
				if read[k] == per {
					continue
				}
				delete(chains, k)
				if !o.started {
					v.rep.add(Problem{Kind: "sequence_gap", Account: k.account, Shard: k.shard, Seq: o.from,
						Detail: fmt.Sprintf("postings from seq %d were there when their transactions were read and are gone: they were removed", o.from)})
					continue
				}
				v.finishChain(o.c)
			}
			if err := v.progress(false); err != nil {
				return err
			}
		}
	}
	return nil
}

// readChains reads one chunk of a full run's chain rows and replays them;
// it returns how many rows it read and leaves the cursor at the last.
func (v *verifyRun) readChains(tx pgx.Tx, sql string, args ...any) (int, error) {
	rows, err := tx.Query(v.ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		r, err := scanChainRow(rows)
		if err != nil {
			return n, err
		}
		n++
		p := &r.p
		v.st.ChainPos = chainPos{Account: p.Account, Shard: p.Shard, Seq: p.Seq}
		c := v.st.Chain
		if c == nil || c.Account != p.Account || c.Shard != p.Shard {
			v.finishChain(c)
			c = &verifyChain{Account: p.Account, Shard: p.Shard, Asset: p.Asset, Issuer: r.issuer, Head: []byte{}}
			v.st.Chain = c
		}
		v.replay(c, &r)
	}
	return n, rows.Err()
}

func scanChainRow(rows pgx.Rows) (chainRow, error) {
	var r chainRow
	p := &r.p
	err := rows.Scan(&p.Account, &p.Shard, &p.Seq, &r.txID, &r.idx, &p.Asset, &p.Phase, &r.amt, &r.balAfter, &r.pendAfter,
		&p.ChainHash, &r.txHash, &r.issuer, &r.stBal, &r.stPend, &r.stSeq, &r.stHead)
	return r, err
}

// replay checks row r against chain c and notes the chain's stored state
// as of r's snapshot.
func (v *verifyRun) replay(c *verifyChain, r *chainRow) {
	c.StBal, c.StPend, c.StSeq, c.StHead = r.stBal, r.stPend, r.stSeq, r.stHead
	v.rep.Postings++
	v.checkPosting(c, r)
}

// anchor starts an incremental replay of chain c at its last posting
// before the new ones (from is the first new seq), which row r should be;
// it reports whether r was it (and so is not replayed itself).
func (v *verifyRun) anchor(c *verifyChain, from int64, r *chainRow) bool {
	if from <= 1 {
		return false
	}
	c.Seq = from - 1
	c.StBal, c.StPend, c.StSeq, c.StHead = r.stBal, r.stPend, r.stSeq, r.stHead
	if r.p.Seq != from-1 {
		v.rep.add(Problem{Kind: "sequence_gap", Account: c.Account, Shard: c.Shard, Seq: from - 1,
			Detail: fmt.Sprintf("posting %d, the last before the new ones, is missing: postings were removed", from-1)})
		return false
	}
	c.Bal, _ = decimal.NewFromString(r.balAfter)
	c.Pend, _ = decimal.NewFromString(r.pendAfter)
	c.Head = r.p.ChainHash
	return true
}

// chainRow is one row of the chain stage's query: a posting with its
// transaction's hash and its account's (or shard's) stored state.
type chainRow struct {
	p                                       Posting
	txID                                    uuid.UUID
	idx                                     int
	amt, balAfter, pendAfter, stBal, stPend string
	txHash, stHead                          []byte
	issuer                                  bool
	stSeq                                   int64
}

// checkPosting replays the posting of row r onto chain c and checks its
// sequence, its stored balance_after and pending_after, and its chain hash.
func (v *verifyRun) checkPosting(c *verifyChain, r *chainRow) {
	rep, p, txID, issuer := v.rep, &r.p, r.txID, r.issuer
	if p.Seq != c.Seq+1 {
		rep.add(Problem{Kind: "sequence_gap", Account: p.Account, Shard: p.Shard, Seq: p.Seq, TxID: txID.String(),
			Detail: fmt.Sprintf("expected seq %d: postings were removed or inserted", c.Seq+1)})
	}
	c.Seq = p.Seq
	p.Amount, _ = decimal.NewFromString(r.amt)
	switch {
	case p.Phase == PhasePosted:
		c.Bal = c.Bal.Add(p.Amount)
	case issuer:
	case p.Phase == PhaseHold && p.Amount.IsNegative():
		c.Pend = c.Pend.Sub(p.Amount)
	case p.Phase == PhaseRelease && p.Amount.IsPositive():
		c.Pend = c.Pend.Sub(p.Amount)
	}
	storedBal, _ := decimal.NewFromString(r.balAfter)
	storedPend, _ := decimal.NewFromString(r.pendAfter)
	if !storedBal.Equal(c.Bal) || !storedPend.Equal(c.Pend) {
		rep.add(Problem{Kind: "balance_after", Account: p.Account, Shard: p.Shard, Seq: p.Seq, TxID: txID.String(),
			Detail: fmt.Sprintf("stored balance_after %s pending_after %s, recomputed %s %s", storedBal, storedPend, c.Bal, c.Pend)})
	}
	if !issuer && c.Bal.Sub(c.Pend).IsNegative() {
		rep.add(Problem{Kind: "negative_balance", Account: p.Account, Seq: p.Seq, TxID: txID.String(),
			Detail: fmt.Sprintf("holder available balance went to %s", c.Bal.Sub(c.Pend))})
	}
	p.BalanceAfter, p.PendingAfter = storedBal, storedPend
	want := chainHash(c.Head, r.txHash, r.idx, p)
	if !bytes.Equal(want, p.ChainHash) {
		rep.add(Problem{Kind: "chain_hash", Account: p.Account, Shard: p.Shard, Seq: p.Seq, TxID: txID.String(),
			Detail: "posting does not match its chain hash: it was changed after it was written"})
	}
	c.Head = p.ChainHash
}

// finishChain adds a chain replayed in full (none when c is nil) to the
// root, and compares it with its stored state.
func (v *verifyRun) finishChain(c *verifyChain) {
	if c == nil {
		return
	}
	v.rep.Chains++
	if v.st.Mode == VerifyFull {
		h := headLine{headKey: headKey{chain: true, a: c.Account, shard: int64(c.Shard)}, seq: c.Seq, hash: c.Head}
		if v.byteOrder {
			pos := &chainPos{Account: c.Account, Shard: c.Shard}
			if last := v.st.LastHead; last != nil && (last.Account > pos.Account || last.Account == pos.Account && last.Shard >= pos.Shard) {
				// Cannot happen on a byte-ordered database; a root over
				// heads out of order would silently differ, so say so.
				v.rep.note("root", "chains arrived out of byte order: the root is not the digest of the sorted heads")
			}
			v.st.LastHead = pos
			_, _ = v.digest.Write([]byte(h.String()))
		} else {
			v.heads = append(v.heads, h)
		}
	}
	stBal, _ := decimal.NewFromString(c.StBal)
	stPend, _ := decimal.NewFromString(c.StPend)
	if c.Issuer {
		stPend = decimal.Zero
	}
	if !stBal.Equal(c.Bal) || !stPend.Equal(c.Pend) || c.StSeq != c.Seq || !bytes.Equal(c.StHead, c.Head) {
		v.rep.add(Problem{Kind: "account_state", Account: c.Account, Shard: c.Shard, Seq: c.Seq,
			Detail: fmt.Sprintf("stored balance %s pending %s seq %d head %x differ from the journal's balance %s pending %s seq %d head %x",
				stBal, stPend, c.StSeq, shortHash(c.StHead), c.Bal, c.Pend, c.Seq, shortHash(c.Head))})
	}
}

// accountsChunk is stage 3 of a full run: stored state with no journal
// behind it, which the chain stage cannot see since it starts from the
// postings — up to ChunkRows accounts after the cursor, then (once, they
// are few) every issuer shard.
func (v *verifyRun) accountsChunk() (done bool, err error) {
	n := 0
	err = v.read(func(tx pgx.Tx) error {
		rows, err := tx.Query(v.ctx, `
			SELECT a.id, a.balance::TEXT, a.seq,
			       (NOT a.sharded AND (a.balance <> 0 OR a.pending_debits <> 0 OR a.seq <> 0)
			        AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.account_id = a.id))
			FROM (SELECT id, sharded, balance, pending_debits, seq FROM accounts WHERE id > $1 ORDER BY id LIMIT $2) a
			ORDER BY a.id`, v.st.AcctAfter, v.o.ChunkRows)
		if err != nil {
			return err
		}
		var id, bal string
		var seq int64
		var bad bool
		_, err = pgx.ForEachRow(rows, []any{&id, &bal, &seq, &bad}, func() error {
			n++
			v.st.AcctAfter = id
			if bad {
				v.rep.add(Problem{Kind: "account_state", Account: id, Seq: seq,
					Detail: fmt.Sprintf("stored balance %s at seq %d but the journal has no postings for it", bal, seq)})
			}
			return nil
		})
		return err
	})
	v.st.Accounts += int64(n)
	if err != nil || n == v.o.ChunkRows {
		return false, err
	}
	return true, v.read(func(tx pgx.Tx) error {
		rows, err := tx.Query(v.ctx, `
			SELECT s.account_id, s.shard, s.balance::TEXT, s.seq FROM issuer_shards s
			WHERE (s.balance <> 0 OR s.seq <> 0)
			  AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.account_id = s.account_id AND p.shard = s.shard)
			ORDER BY s.account_id, s.shard`)
		if err != nil {
			return err
		}
		var id, bal string
		var shard int
		var seq int64
		_, err = pgx.ForEachRow(rows, []any{&id, &shard, &bal, &seq}, func() error {
			v.rep.add(Problem{Kind: "account_state", Account: id, Shard: shard, Seq: seq,
				Detail: fmt.Sprintf("stored balance %s at seq %d but the journal has no postings for it", bal, seq)})
			return nil
		})
		return err
	})
}

// storedSums is stage 3 of an incremental run: the stored balances of
// every account (and shard) sum to zero per asset — each posted leg has
// its opposite — so a balance changed behind the engine's back on an
// account the new transactions did not touch is still seen. One
// aggregate over the chart (accounts, not postings).
func (v *verifyRun) storedSums() error {
	return v.read(func(tx pgx.Tx) error {
		rows, err := tx.Query(v.ctx, `
			SELECT asset, sum(balance)::TEXT FROM (
				SELECT asset, balance FROM accounts WHERE NOT sharded
				UNION ALL
				SELECT a.asset, s.balance FROM issuer_shards s JOIN accounts a ON a.id = s.account_id) b
			GROUP BY asset ORDER BY asset`)
		if err != nil {
			return err
		}
		var asset, sum string
		_, err = pgx.ForEachRow(rows, []any{&asset, &sum}, func() error {
			s, err := decimal.NewFromString(sum)
			if err != nil {
				return err
			}
			v.rep.AssetTotals[Asset(asset)] = s.String()
			if !s.IsZero() {
				v.rep.add(Problem{Kind: "asset_sum", Detail: fmt.Sprintf("stored balances of %s sum to %s, not zero", asset, s)})
			}
			return nil
		})
		return err
	})
}

func shortHash(b []byte) []byte {
	if len(b) > 6 {
		return b[:6]
	}
	return b
}
