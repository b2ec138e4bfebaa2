package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Checkpoints (docs/checkpoints.md). The hash chains make an edit in the
// middle of the journal visible, but a cut at its end — the newest
// transaction deleted and its accounts rolled back consistently — or a
// whole chain rewritten from some posting on leaves a journal that
// verifies: only the root digest changes, and nothing kept the old root.
// A checkpoint keeps it, signed: the journal's high-water mark (counts,
// roots, and the heads of the chains that changed since the previous
// checkpoint), chained to its predecessor by hash. VerifyCheckpoints then
// finds every recorded head that the journal no longer holds.
//
// The engine signs with a plain Ed25519 key and kid; the api passes the
// service's token-signing key, whose public half is in the JWKS, so a
// third party verifies a published checkpoint with nothing else. The
// signed form is a JWS (RFC 7515, compact, alg EdDSA) built by hand here,
// so any JOSE library verifies it and the engine needs no JWT package.

const (
	checkpointFormat = "carbonledger.checkpoint.v1"
	checkpointTyp    = "carbonledger-checkpoint+json"
	checkpointAlg    = "EdDSA"
	// checkpointInsertChunk bounds the rows of one insert of heads (the
	// first checkpoint records every chain).
	checkpointInsertChunk = 5000
)

// CheckpointStatement is what a checkpoint asserts, and its JSON encoding
// is the signed payload. Every field is a string or an integer and the
// fields are declared in the lexical order of their JSON names, so
// encoding/json writes the one canonical form (sorted keys, no
// whitespace; it is also the RFC 8785 form of these values).
type CheckpointStatement struct {
	ChainRoot         string `json:"chain_root"`          // hex SHA-256 over every chain head (as Verify's root)
	Chains            int64  `json:"chains"`              // hash chains with at least one posting
	Format            string `json:"format"`              // "carbonledger.checkpoint.v1"
	HeadsChanged      int64  `json:"heads_changed"`       // chain heads recorded with this checkpoint
	HeadsDigest       string `json:"heads_digest"`        // hex SHA-256 over those heads
	ID                string `json:"id"`                  // the checkpoint's id (UUIDv7)
	Number            int64  `json:"number"`              // 1, 2, 3, … with no gaps
	Postings          int64  `json:"postings"`            // postings in the journal
	Prev              string `json:"prev"`                // hex hash of checkpoint number-1 ("" for the first)
	TakenAt           string `json:"taken_at"`            // RFC 3339 UTC, microseconds
	TrailEvents       int64  `json:"trail_events"`        // trail events
	TrailHeadsChanged int64  `json:"trail_heads_changed"` // trail heads recorded with this checkpoint
	TrailHeadsDigest  string `json:"trail_heads_digest"`  // hex SHA-256 over those heads
	TrailRoot         string `json:"trail_root"`          // hex SHA-256 over every trail head
	TrailSubjects     int64  `json:"trail_subjects"`      // trail subjects with at least one event
	Transactions      int64  `json:"transactions"`        // transactions in the journal
}

// checkpointHeader is the JWS protected header, fields in lexical order.
type checkpointHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// Checkpoint is a stored checkpoint as it is published.
type Checkpoint struct {
	Number    int64               `json:"number"`
	ID        uuid.UUID           `json:"id"`
	TakenAt   time.Time           `json:"taken_at"`
	KID       string              `json:"kid"`
	Alg       string              `json:"alg"`
	Statement CheckpointStatement `json:"statement"`
	// SigningInput is the exact signed bytes: BASE64URL(header) "."
	// BASE64URL(statement JSON), as JWS defines them.
	SigningInput string `json:"signing_input"`
	Signature    string `json:"signature"` // base64url (no padding) Ed25519 signature of SigningInput
	JWS          string `json:"jws"`       // SigningInput "." Signature: the compact JWS
	Hash         string `json:"hash"`      // hex SHA-256 of SigningInput; the next checkpoint's prev
}

// headKey names one hash chain: an account and shard (chain), or a
// trail's use case and subject.
type headKey struct {
	chain bool
	a, b  string // use case and subject; a is the account of a chain
	shard int64
}

// headLine is a chain's head.
type headLine struct {
	headKey
	seq  int64
	hash []byte
}

// String is the head's line in a digest: "account|shard|seq|hexhash\n"
// for a chain (Verify's root line), "use_case|subject|seq|hexhash\n" for
// a trail.
func (h headLine) String() string {
	if h.chain {
		return fmt.Sprintf("%s|%d|%d|%x\n", h.a, h.shard, h.seq, h.hash)
	}
	return fmt.Sprintf("%s|%s|%d|%x\n", h.a, h.b, h.seq, h.hash)
}

func (k headKey) describe() string {
	if k.chain {
		return fmt.Sprintf("chain %s shard %d", k.a, k.shard)
	}
	return fmt.Sprintf("trail %s %s", k.a, k.b)
}

func (k headKey) row(seq int64) string {
	if k.chain {
		return fmt.Sprintf("%s#%d#%d", k.a, k.shard, seq)
	}
	return fmt.Sprintf("%s#%s#%d", k.a, k.b, seq)
}

// headsDigest is SHA-256 over the heads' lines in byte order of the
// account (or use case and subject), then shard number. Over every chain
// head it is Verify's root. Sorting here, not in SQL, keeps the digest
// independent of the database's collation, so a third party gets the
// same digest from the same heads.
func headsDigest(heads []headLine) []byte {
	sort.Slice(heads, func(i, j int) bool {
		x, y := heads[i], heads[j]
		if x.a != y.a {
			return x.a < y.a
		}
		if x.b != y.b {
			return x.b < y.b
		}
		return x.shard < y.shard
	})
	h := sha256.New()
	for _, l := range heads {
		_, _ = h.Write([]byte(l.String()))
	}
	return h.Sum(nil)
}

func checkpointTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// Checkpoint takes a checkpoint now and signs it with key under kid.
func (l *Ledger) Checkpoint(ctx context.Context, key ed25519.PrivateKey, kid string) (*Checkpoint, error) {
	return l.checkpoint(ctx, key, kid, 0)
}

// CheckpointIfDue takes a checkpoint unless the newest one is younger than
// minAge, and returns nil then. It is what the background job runs: every
// replica runs it, and the unique number lets only one of them win a turn.
func (l *Ledger) CheckpointIfDue(ctx context.Context, key ed25519.PrivateKey, kid string, minAge time.Duration) (*Checkpoint, error) {
	return l.checkpoint(ctx, key, kid, minAge)
}

func (l *Ledger) checkpoint(ctx context.Context, key ed25519.PrivateKey, kid string, minAge time.Duration) (*Checkpoint, error) {
	if len(key) != ed25519.PrivateKeySize || kid == "" {
		return nil, errors.New("ledger: checkpoint needs an Ed25519 private key and its kid")
	}
	var out *Checkpoint
	// Repeatable read: every count, head and root below is of one
	// snapshot, and the snapshot does not block writers (this transaction
	// writes only the checkpoint tables).
	err := l.inTx(ctx, pgx.RepeatableRead, func(tx pgx.Tx) error {
		out = nil
		var number int64
		var prevHash []byte
		var prevAt time.Time
		err := tx.QueryRow(ctx, `SELECT number, hash, taken_at FROM checkpoints ORDER BY number DESC LIMIT 1`).Scan(&number, &prevHash, &prevAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			number, prevHash = 0, []byte{}
		case err != nil:
			return err
		}
		now := l.now()
		if minAge > 0 && number > 0 && now.Sub(prevAt) < minAge {
			return nil
		}
		chains, changed, err := readHeads(ctx, tx, `
			SELECT h.account_id, h.shard, h.seq, h.head,
			       EXISTS (SELECT 1 FROM checkpoint_heads c WHERE c.account_id = h.account_id AND c.shard = h.shard AND c.seq = h.seq)
			FROM (SELECT id AS account_id, 0 AS shard, seq, head_hash AS head FROM accounts WHERE NOT sharded AND seq > 0
			      UNION ALL
			      SELECT account_id, shard, seq, head_hash FROM issuer_shards WHERE seq > 0) h`, true)
		if err != nil {
			return err
		}
		trails, trailChanged, err := readHeads(ctx, tx, `
			SELECT h.use_case, h.subject, h.seq, h.head,
			       EXISTS (SELECT 1 FROM checkpoint_trail_heads c WHERE c.use_case = h.use_case AND c.subject = h.subject AND c.seq = h.seq)
			FROM trail_heads h WHERE h.seq > 0`, false)
		if err != nil {
			return err
		}
		var txCount int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM transactions`).Scan(&txCount); err != nil {
			return err
		}
		id := NewID()
		st := CheckpointStatement{
			Format: checkpointFormat, ID: id.String(), Number: number + 1, Prev: hex.EncodeToString(prevHash), TakenAt: checkpointTime(now),
			Transactions: txCount, Postings: sumSeq(chains), Chains: int64(len(chains)),
			ChainRoot:    hex.EncodeToString(headsDigest(chains)),
			HeadsChanged: int64(len(changed)), HeadsDigest: hex.EncodeToString(headsDigest(changed)),
			TrailEvents: sumSeq(trails), TrailSubjects: int64(len(trails)),
			TrailRoot:         hex.EncodeToString(headsDigest(trails)),
			TrailHeadsChanged: int64(len(trailChanged)), TrailHeadsDigest: hex.EncodeToString(headsDigest(trailChanged)),
		}
		header, _ := json.Marshal(checkpointHeader{Alg: checkpointAlg, Kid: kid, Typ: checkpointTyp})
		body, _ := json.Marshal(st)
		input := signingInput(header, body)
		sig := ed25519.Sign(key, []byte(input))
		hash := sha256.Sum256([]byte(input))
		if _, err := tx.Exec(ctx, `
			INSERT INTO checkpoints (id, number, taken_at, kid, prev_hash, hash, header, body, signature)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, id, st.Number, now, kid, prevHash, hash[:], string(header), string(body), sig); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "checkpoints_number_unique" {
				return errRetry // another replica took this number: look again
			}
			return err
		}
		if err := insertHeads(ctx, tx, `
			INSERT INTO checkpoint_heads (checkpoint_id, account_id, shard, seq, hash)
			SELECT $1, a, s::BIGINT, q, h FROM unnest($2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BYTEA[]) AS u (a, s, q, h)`, id, changed); err != nil {
			return err
		}
		if err := insertHeads(ctx, tx, `
			INSERT INTO checkpoint_trail_heads (checkpoint_id, use_case, subject, seq, hash)
			SELECT $1, a, s, q, h FROM unnest($2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BYTEA[]) AS u (a, s, q, h)`, id, trailChanged); err != nil {
			return err
		}
		cp, err := checkpointOf(id, st.Number, now, kid, hash[:], string(header), string(body), sig)
		out = cp
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readHeads reads (a, b, seq, hash, recorded) rows: every head, and those
// not yet recorded at their current seq by an earlier checkpoint — the
// ones that changed since. (A head whose seq went down is tampering that
// VerifyCheckpoints reports against the checkpoint that recorded it.)
func readHeads(ctx context.Context, tx pgx.Tx, sql string, chain bool) (all, changed []headLine, err error) {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		h := headLine{headKey: headKey{chain: chain}}
		var recorded bool
		if chain {
			err = rows.Scan(&h.a, &h.shard, &h.seq, &h.hash, &recorded)
		} else {
			err = rows.Scan(&h.a, &h.b, &h.seq, &h.hash, &recorded)
		}
		if err != nil {
			return nil, nil, err
		}
		all = append(all, h)
		if !recorded {
			changed = append(changed, h)
		}
	}
	return all, changed, rows.Err()
}

func insertHeads(ctx context.Context, tx pgx.Tx, sql string, id uuid.UUID, heads []headLine) error {
	for start := 0; start < len(heads); start += checkpointInsertChunk {
		chunk := heads[start:min(start+checkpointInsertChunk, len(heads))]
		as, bs, seqs, hashes := make([]string, len(chunk)), make([]string, len(chunk)), make([]int64, len(chunk)), make([][]byte, len(chunk))
		for i, h := range chunk {
			as[i], bs[i], seqs[i], hashes[i] = h.a, h.b, h.seq, h.hash
			if h.chain {
				bs[i] = fmt.Sprint(h.shard) // cast back to BIGINT in the insert
			}
		}
		if _, err := tx.Exec(ctx, sql, id, as, bs, seqs, hashes); err != nil {
			return err
		}
	}
	return nil
}

func sumSeq(heads []headLine) int64 {
	var n int64
	for _, h := range heads {
		n += h.seq
	}
	return n
}

func signingInput(header, body []byte) string {
	return base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(body)
}

// checkpointOf rebuilds the published form from a stored row.
func checkpointOf(id uuid.UUID, number int64, at time.Time, kid string, hash []byte, header, body string, sig []byte) (*Checkpoint, error) {
	cp := &Checkpoint{Number: number, ID: id, TakenAt: at.UTC(), KID: kid, Alg: checkpointAlg, Hash: hex.EncodeToString(hash)}
	if err := json.Unmarshal([]byte(body), &cp.Statement); err != nil {
		return nil, fmt.Errorf("checkpoint %d: body: %w", number, err)
	}
	cp.SigningInput = signingInput([]byte(header), []byte(body))
	cp.Signature = base64.RawURLEncoding.EncodeToString(sig)
	cp.JWS = cp.SigningInput + "." + cp.Signature
	return cp, nil
}

const checkpointColumns = `id, number, taken_at, kid, hash, header, body, signature`

func scanCheckpoint(r pgx.CollectableRow) (Checkpoint, error) {
	var id uuid.UUID
	var number int64
	var at time.Time
	var kid, header, body string
	var hash, sig []byte
	if err := r.Scan(&id, &number, &at, &kid, &hash, &header, &body, &sig); err != nil {
		return Checkpoint{}, err
	}
	cp, err := checkpointOf(id, number, at, kid, hash, header, body, sig)
	if err != nil {
		return Checkpoint{}, err
	}
	return *cp, nil
}

// ListCheckpoints pages the checkpoints, newest first; the cursor is the
// number of the page's last item.
func (l *Ledger) ListCheckpoints(ctx context.Context, limit int, cursor string) (Page[Checkpoint], error) {
	limit = ClampLimit(limit)
	before := int64(1<<63 - 1)
	if cursor != "" {
		if err := DecodeCursor(cursor, &before); err != nil {
			return Page[Checkpoint]{}, err
		}
	}
	return ReadValue(ctx, l, func(r *Reader) (Page[Checkpoint], error) {
		rows, err := r.tx.Query(r.ctx, `SELECT `+checkpointColumns+` FROM checkpoints WHERE number < $1 ORDER BY number DESC LIMIT $2`, before, limit+1)
		if err != nil {
			return Page[Checkpoint]{}, err
		}
		list, err := pgx.CollectRows(rows, scanCheckpoint)
		if err != nil {
			return Page[Checkpoint]{}, err
		}
		return PageOf(list, limit, func(c Checkpoint) string { return EncodeCursor(c.Number) }), nil
	})
}

// LatestCheckpoint returns the newest checkpoint (not_found if none).
func (l *Ledger) LatestCheckpoint(ctx context.Context) (*Checkpoint, error) {
	p, err := l.ListCheckpoints(ctx, 1, "")
	if err != nil {
		return nil, err
	}
	if len(p.Items) == 0 {
		return nil, Errf(CodeNotFound, "no checkpoint has been taken yet")
	}
	return &p.Items[0], nil
}

// EachCheckpoint calls fn for every checkpoint, oldest first, on one read
// snapshot (for export).
func (l *Ledger) EachCheckpoint(ctx context.Context, fn func(Checkpoint) error) error {
	return l.Read(ctx, func(r *Reader) error {
		rows, err := r.tx.Query(r.ctx, `SELECT `+checkpointColumns+` FROM checkpoints ORDER BY number`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			cp, err := scanCheckpoint(rows)
			if err != nil {
				return err
			}
			if err := fn(cp); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// VerifyCheckpoint checks a published checkpoint's signature with the
// public key its kid names: what a third party does with the JWKS.
func VerifyCheckpoint(cp *Checkpoint, pub ed25519.PublicKey) error {
	sig, err := base64.RawURLEncoding.DecodeString(cp.Signature)
	if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, []byte(cp.SigningInput), sig) {
		return fmt.Errorf("checkpoint %d: the signature does not verify", cp.Number)
	}
	return nil
}

// VerifyCheckpoints checks every checkpoint (signature under keys, when
// keys is not nil; number and predecessor hash; canonical form) and that
// the journal still holds everything a checkpoint covered: every chain
// and trail head it recorded, with that hash, and at least its counts.
func (l *Ledger) VerifyCheckpoints(ctx context.Context, keys map[string]ed25519.PublicKey) (*VerifyReport, error) {
	start := time.Now()
	rep := &VerifyReport{Problems: []Problem{}, AssetTotals: map[Asset]string{}}
	if err := l.Read(ctx, func(r *Reader) error { return verifyCheckpoints(r.ctx, r.tx, keys, rep, VerifyChunkRowsDefault) }); err != nil {
		return nil, err
	}
	rep.OK = rep.ProblemsTotal == 0
	rep.Duration = time.Since(start).Round(time.Millisecond).String()
	return rep, nil
}

// verifyCheckpoints adds the checkpoint problems to rep. It counts the
// journal itself, on tx's snapshot: VerifyAll's counts come from Verify's
// earlier snapshot, and a checkpoint taken in between would count more.
func verifyCheckpoints(ctx context.Context, tx pgx.Tx, keys map[string]ed25519.PublicKey, rep *VerifyReport, chunkRows int) error {
	var nTx, nPostings, nTrail int64
	if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM postings), (SELECT count(*) FROM trail_events)`).Scan(&nTx, &nPostings, &nTrail); err != nil {
		return err
	}
	if rep.Notes == nil {
		rep.Notes = map[string]string{}
	}
	if keys == nil {
		rep.Notes["checkpoint_signatures"] = "not checked: no checkpoint keys configured (Options.CheckpointKeys)"
	}
	rows, err := tx.Query(ctx, `SELECT id, number, taken_at, kid, prev_hash, hash, header, body, signature FROM checkpoints ORDER BY number`)
	if err != nil {
		return err
	}
	type stored struct {
		id     uuid.UUID
		number int64
		st     CheckpointStatement
	}
	var list []stored
	var prev []byte
	var prevNumber int64
	for rows.Next() {
		var id uuid.UUID
		var number int64
		var at time.Time
		var kid, header, body string
		var prevHash, hash, sig []byte
		if err := rows.Scan(&id, &number, &at, &kid, &prevHash, &hash, &header, &body, &sig); err != nil {
			rows.Close()
			return err
		}
		bad := func(detail string, args ...any) {
			rep.add(Problem{Kind: "checkpoint", Table: "checkpoints", Row: id.String(),
				Detail: fmt.Sprintf("checkpoint %d: ", number) + fmt.Sprintf(detail, args...)})
		}
		if number != prevNumber+1 {
			bad("expected number %d: checkpoints before it were removed", prevNumber+1)
		}
		var st CheckpointStatement
		dec := json.NewDecoder(bytes.NewReader([]byte(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil {
			bad("the signed body is not a checkpoint statement: %v", err)
		} else if canon, _ := json.Marshal(st); string(canon) != body {
			bad("the signed body is not in canonical form: it was edited")
		}
		var hd checkpointHeader
		if err := json.Unmarshal([]byte(header), &hd); err != nil || hd.Alg != checkpointAlg || hd.Kid != kid {
			bad("the signed header does not name alg %s and kid %q", checkpointAlg, kid)
		}
		input := signingInput([]byte(header), []byte(body))
		if sum := sha256.Sum256([]byte(input)); !bytes.Equal(sum[:], hash) {
			bad("the stored hash does not match the signed bytes")
		}
		if st.Number != number || st.ID != id.String() || st.TakenAt != checkpointTime(at) || st.Format != checkpointFormat {
			bad("the row's number, id or time differ from what was signed")
		}
		if number == prevNumber+1 && (st.Prev != hex.EncodeToString(prev) || !bytes.Equal(prevHash, prev)) {
			bad("it does not name its predecessor's hash: the checkpoint chain was rewritten")
		}
		if keys != nil {
			if pub, ok := keys[kid]; !ok {
				bad("signed with key %q, which is not a trusted checkpoint key", kid)
			} else if !ed25519.Verify(pub, []byte(input), sig) {
				bad("the signature does not verify under key %q: the checkpoint was forged or altered", kid)
			}
		}
		prev, prevNumber = hash, number
		list = append(list, stored{id: id, number: number, st: st})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rep.Notes["checkpoints"] = fmt.Sprint(len(list))
	if len(list) == 0 {
		return nil
	}
	latest := list[len(list)-1]

	// Counts: the journal only grows, so it never holds fewer than the
	// newest checkpoint counted.
	for _, c := range []struct {
		table     string
		have, was int64
	}{{"transactions", nTx, latest.st.Transactions}, {"postings", nPostings, latest.st.Postings}, {"trail_events", nTrail, latest.st.TrailEvents}} {
		if c.have < c.was {
			rep.add(Problem{Kind: "checkpoint", Table: c.table, Row: latest.id.String(),
				Detail: fmt.Sprintf("checkpoint %d counted %d %s; the journal now has %d: rows it covered were deleted", latest.number, c.was, c.table, c.have)})
		}
	}

	type recorded struct {
		seq  int64
		hash []byte
	}
	// Every recorded head must still be in the journal with its hash; the
	// recorded heads of each checkpoint must match its signed digest; and
	// all recorded heads, newest per chain, must add up to the newest
	// checkpoint's root (only the newest: each root covers every chain, so
	// checking them all would cost chains × checkpoints).
	//
	// Each checkpoint's heads are read on their own, in chunks of chunkRows
	// (a keyset on checkpoint_heads' primary key), so no statement grows
	// with the number of checkpoints or of the heads they recorded.
	checkHeads := func(chain bool, headsTable, journalTable, sql string, digestOf, rootOf func(CheckpointStatement) (int64, string)) error {
		cumulative := map[headKey]recorded{}
		for _, c := range list {
			var heads []headLine
			afterA, afterB := "", any("")
			if chain {
				afterB = int64(-1)
			}
			for {
				rows, err := tx.Query(ctx, sql, c.id, afterA, afterB, chunkRows)
				if err != nil {
					return err
				}
				n := 0
				for rows.Next() {
					h := headLine{headKey: headKey{chain: chain}}
					var now []byte
					if chain {
						err = rows.Scan(&h.a, &h.shard, &h.seq, &h.hash, &now)
					} else {
						err = rows.Scan(&h.a, &h.b, &h.seq, &h.hash, &now)
					}
					if err != nil {
						rows.Close()
						return err
					}
					n++
					afterA, afterB = h.a, any(h.b)
					if chain {
						afterB = h.shard
					}
					heads = append(heads, h)
					p := Problem{Kind: "checkpoint", Table: journalTable, Row: h.row(h.seq), Seq: h.seq}
					if chain {
						p.Account, p.Shard = h.a, int(h.shard)
					}
					switch {
					case now == nil:
						p.Detail = fmt.Sprintf("checkpoint %d recorded %s at seq %d with head %x; the journal no longer has it: it was deleted or the chain was cut",
							c.number, h.describe(), h.seq, shortHash(h.hash))
						rep.add(p)
					case !bytes.Equal(now, h.hash):
						p.Detail = fmt.Sprintf("checkpoint %d recorded %s at seq %d with head %x; the journal has %x there: the chain was rewritten",
							c.number, h.describe(), h.seq, shortHash(h.hash), shortHash(now))
						rep.add(p)
					}
					if r, ok := cumulative[h.headKey]; !ok || h.seq >= r.seq {
						cumulative[h.headKey] = recorded{seq: h.seq, hash: h.hash}
					}
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
				if n < chunkRows {
					break
				}
			}
			n, d := digestOf(c.st)
			switch {
			case len(heads) == 0 && n > 0:
				rep.add(Problem{Kind: "checkpoint", Table: headsTable, Row: c.id.String(),
					Detail: fmt.Sprintf("checkpoint %d signed %d heads, but none are stored: they were deleted", c.number, n)})
			case len(heads) > 0:
				if got := hex.EncodeToString(headsDigest(heads)); n != int64(len(heads)) || got != d {
					rep.add(Problem{Kind: "checkpoint", Table: headsTable, Row: c.id.String(),
						Detail: fmt.Sprintf("checkpoint %d: its %d stored heads do not match the %d it signed: they were edited", c.number, len(heads), n)})
				}
			}
		}
		all := make([]headLine, 0, len(cumulative))
		for k, r := range cumulative {
			all = append(all, headLine{headKey: k, seq: r.seq, hash: r.hash})
		}
		n, root := rootOf(latest.st)
		if got := hex.EncodeToString(headsDigest(all)); n != int64(len(all)) || got != root {
			rep.add(Problem{Kind: "checkpoint", Table: headsTable, Row: latest.id.String(),
				Detail: fmt.Sprintf("checkpoint %d: the stored heads (%d) do not add up to its signed root over %d: heads were removed or edited", latest.number, len(all), n)})
		}
		return nil
	}
	if err := checkHeads(true, "checkpoint_heads", "postings", `
		SELECT c.account_id, c.shard, c.seq, c.hash, p.chain_hash
		FROM checkpoint_heads c
		LEFT JOIN postings p ON p.account_id = c.account_id AND p.shard = c.shard AND p.seq = c.seq
		WHERE c.checkpoint_id = $1 AND (c.account_id, c.shard) > ($2, $3::BIGINT)
		ORDER BY c.account_id, c.shard LIMIT $4`,
		func(s CheckpointStatement) (int64, string) { return s.HeadsChanged, s.HeadsDigest },
		func(s CheckpointStatement) (int64, string) { return s.Chains, s.ChainRoot }); err != nil {
		return err
	}
	return checkHeads(false, "checkpoint_trail_heads", "trail_events", `
		SELECT c.use_case, c.subject, c.seq, c.hash, e.hash
		FROM checkpoint_trail_heads c
		LEFT JOIN trail_events e ON e.use_case = c.use_case AND e.subject = c.subject AND e.seq = c.seq
		WHERE c.checkpoint_id = $1 AND (c.use_case, c.subject) > ($2, $3::TEXT)
		ORDER BY c.use_case, c.subject LIMIT $4`,
		func(s CheckpointStatement) (int64, string) { return s.TrailHeadsChanged, s.TrailHeadsDigest },
		func(s CheckpointStatement) (int64, string) { return s.TrailSubjects, s.TrailRoot })
}
