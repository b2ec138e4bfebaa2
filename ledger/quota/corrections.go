package quota

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Correction statuses.
const (
	CorrectionProposed = "proposed"
	CorrectionApplied  = "applied"
	CorrectionRejected = "rejected"
)

// HolderSource names a source's unstockpiled balance as a correction's holder.
const HolderSource = "source"

// Correction changes the recognised tonnes of a source after the fact
// (e.g. the evidence overstated the capacity cut). One province user
// proposes it, another decides it (maker-checker); the applied correction
// is a new engine transaction that references the source's recognition.
type Correction struct {
	ID         uuid.UUID  `json:"id"`
	SourceID   uuid.UUID  `json:"source_id"`
	Holder     string     `json:"holder"` // "source" or a reserve name
	Delta      string     `json:"delta"`  // signed tonnes; negative writes back to recognition
	Reason     string     `json:"reason"`
	Status     string     `json:"status"`
	ProposedBy string     `json:"proposed_by"`
	ProposedAt time.Time  `json:"proposed_at"`
	DecidedBy  string     `json:"decided_by,omitempty"`
	DecidedAt  *time.Time `json:"decided_at,omitempty"`
	TxID       *uuid.UUID `json:"transaction_id,omitempty"`
}

type correctionRow struct {
	Correction
	delta decimal.Decimal
}

const correctionColumns = `id, source_id, holder, delta, reason, status, proposed_by, proposed_at, decided_by, decided_at, tx_id`

func scanCorrection(r pgx.Row) (correctionRow, error) {
	var c correctionRow
	var decidedBy *string
	err := r.Scan(&c.ID, &c.SourceID, &c.Holder, &c.delta, &c.Reason, &c.Status, &c.ProposedBy, &c.ProposedAt, &decidedBy, &c.DecidedAt, &c.TxID)
	if err != nil {
		return c, err
	}
	c.Delta = tonnesText(c.delta)
	c.ProposedAt = c.ProposedAt.UTC()
	if decidedBy != nil {
		c.DecidedBy = *decidedBy
	}
	if c.DecidedAt != nil {
		t := c.DecidedAt.UTC()
		c.DecidedAt = &t
	}
	return c, nil
}

func loadCorrection(ctx context.Context, tx pgx.Tx, id uuid.UUID, lock bool) (correctionRow, error) {
	q := `SELECT ` + correctionColumns + ` FROM quota_corrections WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	c, err := scanCorrection(tx.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ledger.Errf(ledger.CodeNotFound, "correction %s not found", id)
	}
	return c, err
}

// ProposeCorrectionInput proposes a correction of a recognised source.
type ProposeCorrectionInput struct {
	SourceID uuid.UUID `json:"source_id"`
	Holder   string    `json:"holder"`
	Delta    string    `json:"delta"`
	Reason   string    `json:"reason"`
}

// ProposeCorrection records a province user's proposal (the maker).
func ProposeCorrection(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in ProposeCorrectionInput) (Correction, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return Correction{}, false, err
	}
	if in.Holder != HolderSource && !ValidReserve(in.Holder) {
		return Correction{}, false, ledger.Errf(ledger.CodeInvalidRequest, "holder must be %q, %q or a Shandong city code", HolderSource, ReserveProvince).At("holder")
	}
	delta, err := parseSignedTonnes(in.Delta, "delta")
	if err != nil {
		return Correction{}, false, err
	}
	if err := checkText(in.Reason, "reason", true, ReasonBytesMax); err != nil {
		return Correction{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.correction.propose", in, func(w *ledger.Writer) (Correction, error) {
		ctx, tx := w.Ctx(), w.Tx()
		s, err := loadSource(ctx, tx, in.SourceID, false)
		if err != nil {
			return Correction{}, withField(err, "source_id")
		}
		if s.Status != SourceRecognised {
			return Correction{}, ledger.Errf(CodeInvalidState, "source %s is %s; only a recognised source is corrected", s.ID, s.Status).At("source_id")
		}
		id := ledger.NewID()
		if _, err := tx.Exec(ctx, `
			INSERT INTO quota_corrections (id, source_id, holder, delta, reason, status, proposed_by, proposed_at)
			VALUES ($1, $2, $3, $4, $5, 'proposed', $6, $7)`, id, s.ID, in.Holder, delta, in.Reason, actor.ID(), w.Now()); err != nil {
			return Correction{}, err
		}
		if err := record(w, actor, subjectCorrection, id, "correction.proposed", in.Reason,
			map[string]string{"source_id": s.ID.String(), "holder": in.Holder, "delta": tonnesText(delta)}, nil); err != nil {
			return Correction{}, err
		}
		c, err := loadCorrection(ctx, tx, id, false)
		return c.Correction, err
	})
}

// DecideCorrection is the checker's decision: a province user other than
// the proposer approves (the correction is applied) or rejects it. The
// proposer deciding their own correction is refused (maker_checker).
func DecideCorrection(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, id uuid.UUID, in DecisionInput) (Correction, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return Correction{}, false, err
	}
	if err := in.validate(); err != nil {
		return Correction{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.correction.decide", idInput[DecisionInput]{id, in}, func(w *ledger.Writer) (Correction, error) {
		ctx, tx := w.Ctx(), w.Tx()
		c, err := loadCorrection(ctx, tx, id, true)
		if err != nil {
			return Correction{}, err
		}
		if actor.Recorded(c.ProposedBy) {
			return Correction{}, ledger.Errf(CodeMakerChecker, "a correction needs two different province users: %s proposed it and may not decide it", c.ProposedBy)
		}
		if c.Status != CorrectionProposed {
			return Correction{}, ledger.Errf(CodeInvalidState, "correction %s is already %s", id, c.Status)
		}
		if !in.Approve {
			if _, err := tx.Exec(ctx, `UPDATE quota_corrections SET status = 'rejected', decided_by = $2, decided_at = $3 WHERE id = $1`, id, actor.ID(), w.Now()); err != nil {
				return Correction{}, err
			}
			if err := record(w, actor, subjectCorrection, id, "correction.rejected", in.Reason, nil, nil); err != nil {
				return Correction{}, err
			}
			c, err := loadCorrection(ctx, tx, id, false)
			return c.Correction, err
		}
		txID, err := applyCorrection(w, actor, &c, in.Reason)
		if err != nil {
			return Correction{}, err
		}
		if _, err := tx.Exec(ctx, `UPDATE quota_corrections SET status = 'applied', decided_by = $2, decided_at = $3, tx_id = $4 WHERE id = $1`,
			id, actor.ID(), w.Now(), txID); err != nil {
			return Correction{}, err
		}
		if err := record(w, actor, subjectCorrection, id, "correction.applied", in.Reason, map[string]string{"proposed_by": c.ProposedBy}, &txID); err != nil {
			return Correction{}, err
		}
		c, err = loadCorrection(ctx, tx, id, false)
		return c.Correction, err
	})
}

// applyCorrection moves |delta| between recognition and the holder. A
// write-down from a reserve takes only the source's own tranches there
// (oldest first); a write-up creates a new tranche of the source.
func applyCorrection(w *ledger.Writer, actor ledger.Actor, c *correctionRow, reason string) (uuid.UUID, error) {
	ctx, tx := w.Ctx(), w.Tx()
	s, err := loadSource(ctx, tx, c.SourceID, true)
	if err != nil {
		return uuid.Nil, err
	}
	abs := c.delta.Abs()
	down := c.delta.IsNegative()
	var holderAcct string
	var rl *reserveLocks
	var moves []movement
	flow := flowCorrectedUp
	if down {
		flow = flowCorrectedDown
	}
	holder := reserveKey(s.IndexKind, c.Holder) // the correction's reserve, of the source's kind
	if c.Holder == HolderSource {
		holderAcct = KindSourceAccount(s.IndexKind, s.Enterprise)
		if down && abs.GreaterThan(s.unstockpiled) {
			return uuid.Nil, &ledger.Error{Code: ledger.CodeInsufficientBalance, Msg: "source " + s.ID.String() + " has " + s.Unstockpiled + " t unstockpiled; write the rest down from the reserves",
				Detail: map[string]string{"available": s.Unstockpiled}}
		}
		moves = append(moves, movement{Flow: flow, Tonnes: abs, Source: s.ID, OpID: c.ID})
	} else {
		holderAcct = keyAccount(holder)
		if rl, err = lockReserves(w, holder); err != nil {
			return uuid.Nil, err
		}
		if down {
			if _, err := rl.take(w, holder, abs, &s.ID); err != nil {
				return uuid.Nil, err
			}
		}
		moves = append(moves, movement{Flow: flow, Tonnes: abs, Reserve: holder, Source: s.ID, OpID: c.ID})
	}
	var lg legs
	lg.add(KindRecognitionAccount(s.IndexKind), c.delta.Neg())
	lg.add(holderAcct, c.delta)
	t, err := w.Build(actor, ledger.TxInput{Kind: "quota.correction", Postings: lg.inputs(), Corrects: s.RecognitionTx,
		Metadata: map[string]string{"correction_id": c.ID.String(), "source_id": s.ID.String(), "holder": c.Holder, "proposed_by": c.ProposedBy}})
	if err != nil {
		return uuid.Nil, err
	}
	if rl != nil && !down {
		if err := rl.put(w, t.ID, []newTranche{{Reserve: holder, Source: s.ID, Origin: "correction", OriginID: c.ID, Tonnes: abs}}); err != nil {
			return uuid.Nil, err
		}
	}
	if err := w.Apply(t); err != nil {
		return uuid.Nil, err
	}
	unstockpiled := decimal.Zero
	if c.Holder == HolderSource {
		unstockpiled = c.delta
	}
	if _, err := tx.Exec(ctx, `UPDATE quota_sources SET corrected = corrected + $2, unstockpiled = unstockpiled + $3 WHERE id = $1`, s.ID, c.delta, unstockpiled); err != nil {
		return uuid.Nil, err
	}
	if err := writeMovements(w, t.ID, moves); err != nil {
		return uuid.Nil, err
	}
	return t.ID, record(w, actor, subjectSource, s.ID, "source.corrected", reason,
		map[string]string{"correction_id": c.ID.String(), "holder": c.Holder, "delta": c.Delta, "proposed_by": c.ProposedBy}, &t.ID)
}

// GetCorrection reads a correction with its trail (province and auditors).
func GetCorrection(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, id uuid.UUID) (CorrectionDetail, error) {
	if err := actor.Require(ledger.RoleProvince, ledger.RoleAuditor); err != nil {
		return CorrectionDetail{}, err
	}
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (CorrectionDetail, error) {
		c, err := loadCorrection(r.Ctx(), r.Tx(), id, false)
		if err != nil {
			return CorrectionDetail{}, err
		}
		events, err := trail(r.Journal, subjectCorrection, id)
		return CorrectionDetail{Correction: c.Correction, Trail: events}, err
	})
}

// CorrectionDetail is a correction with its trail.
type CorrectionDetail struct {
	Correction
	Trail []Event `json:"trail"`
}
