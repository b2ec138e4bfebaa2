package quota

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Source statuses.
const (
	SourceProposed   = "proposed"
	SourceRecognised = "recognised"
	SourceRejected   = "rejected"
)

// Source is an index source: reductions freed by a closure or capacity cut.
type Source struct {
	ID              uuid.UUID  `json:"id"`
	IndexKind       string     `json:"index_kind"`
	City            string     `json:"city"`
	Enterprise      string     `json:"enterprise"`
	Route           string     `json:"route"`
	Tonnes          string     `json:"tonnes"`
	FormedOn        string     `json:"formed_on"`
	EvidenceRef     string     `json:"evidence_ref"`
	Status          string     `json:"status"`
	Unstockpiled    string     `json:"unstockpiled"`
	Corrected       string     `json:"corrected"`
	ProposedBy      string     `json:"proposed_by"`
	ProposedAt      time.Time  `json:"proposed_at"`
	DecidedBy       string     `json:"decided_by,omitempty"`
	DecidedAt       *time.Time `json:"decided_at,omitempty"`
	RecognitionTx   *uuid.UUID `json:"recognition_transaction_id,omitempty"`
	Work            string     `json:"work,omitempty"`
	VerificationRef string     `json:"verification_ref,omitempty"`
}

type sourceRow struct {
	Source
	tonnes, unstockpiled, corrected decimal.Decimal
}

const sourceColumns = `id, city, enterprise, route, tonnes, formed_on, evidence_ref, status, unstockpiled, corrected, proposed_by, proposed_at, decided_by, decided_at, recognition_tx,
	index_kind, work, verification_ref`

func scanSource(r pgx.Row) (sourceRow, error) {
	var s sourceRow
	var formed time.Time
	var decidedBy *string
	err := r.Scan(&s.ID, &s.City, &s.Enterprise, &s.Route, &s.tonnes, &formed, &s.EvidenceRef, &s.Status, &s.unstockpiled, &s.corrected,
		&s.ProposedBy, &s.ProposedAt, &decidedBy, &s.DecidedAt, &s.RecognitionTx,
		&s.IndexKind, &s.Work, &s.VerificationRef)
	if err != nil {
		return s, err
	}
	s.Tonnes, s.Unstockpiled, s.Corrected = tonnesText(s.tonnes), tonnesText(s.unstockpiled), tonnesText(s.corrected)
	s.FormedOn = formed.Format(dateLayout)
	s.ProposedAt = s.ProposedAt.UTC()
	if decidedBy != nil {
		s.DecidedBy = *decidedBy
	}
	if s.DecidedAt != nil {
		t := s.DecidedAt.UTC()
		s.DecidedAt = &t
	}
	return s, nil
}

// loadSource reads a source, locking its row when lock is set.
func loadSource(ctx context.Context, tx pgx.Tx, id uuid.UUID, lock bool) (sourceRow, error) {
	q := `SELECT ` + sourceColumns + ` FROM quota_sources WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	s, err := scanSource(tx.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ledger.Errf(ledger.CodeNotFound, "source %s not found", id)
	}
	return s, err
}

// ProposeSourceInput is a city's proposal of an index source.
type ProposeSourceInput struct {
	City        string `json:"city"`
	Enterprise  string `json:"enterprise"`
	Route       string `json:"route"`
	Tonnes      string `json:"tonnes"`    // whole tonnes per year
	FormedOn    string `json:"formed_on"` // YYYY-MM-DD, not before 2021-01-01
	EvidenceRef string `json:"evidence_ref"`
	Reason      string `json:"reason,omitempty"`
	// Measure 9: the kind ("" is CEI) and, for route key_reduction_work,
	// the work of the list of key emission-reduction works and its
	// verification (formed_on is its completion date).
	IndexKind       string `json:"index_kind,omitempty"`
	Work            string `json:"work,omitempty"`
	VerificationRef string `json:"verification_ref,omitempty"`
}

// ProposeSource records a city's proposal. A city proposes only for its
// own city; reductions formed before 2021-01-01 or outside Shandong are
// refused.
func ProposeSource(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in ProposeSourceInput) (Source, bool, error) {
	if err := actor.Require(ledger.RoleCity); err != nil {
		return Source{}, false, err
	}
	if in.City != actor.City {
		return Source{}, false, ledger.Errf(ledger.CodeForbidden, "a city proposes sources of its own city only (%s)", actor.City).At("city")
	}
	if !ShandongCity(in.City) {
		return Source{}, false, ledger.Errf(CodeOutsideShandong, "city %q is not a Shandong prefecture-level city: only reductions formed inside Shandong count", in.City).At("city")
	}
	if err := checkIdent(in.Enterprise, "enterprise"); err != nil {
		return Source{}, false, err
	}
	if !ValidRoute(in.Route) {
		return Source{}, false, ledger.Errf(ledger.CodeInvalidRequest, "route must be one of %v", routes).At("route")
	}
	tonnes, err := parseTonnes(in.Tonnes, "tonnes")
	if err != nil {
		return Source{}, false, err
	}
	formed, err := parseDate(in.FormedOn, "formed_on")
	if err != nil {
		return Source{}, false, err
	}
	if err := checkText(in.EvidenceRef, "evidence_ref", true, RefBytesMax); err != nil {
		return Source{}, false, err
	}
	if err := checkText(in.Reason, "reason", false, ReasonBytesMax); err != nil {
		return Source{}, false, err
	}
	kind, err := checkSourceKind(l, &in)
	if err != nil {
		return Source{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.source.propose", in, func(w *ledger.Writer) (Source, error) {
		if err := checkFormed(formed, w.Now()); err != nil {
			return Source{}, err
		}
		ctx, tx := w.Ctx(), w.Tx()
		var dup uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id FROM quota_sources WHERE enterprise = $1 AND evidence_ref = $2 AND status <> 'rejected' AND index_kind = $3`, in.Enterprise, in.EvidenceRef, kind).Scan(&dup)
		if err == nil {
			return Source{}, ledger.Errf(CodeDuplicateSource, "evidence %q already backs source %s of %s", in.EvidenceRef, dup, in.Enterprise).At("evidence_ref")
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Source{}, err
		}
		id := ledger.NewID()
		_, err = tx.Exec(ctx, `
			INSERT INTO quota_sources (id, city, enterprise, route, tonnes, formed_on, evidence_ref, status, proposed_by, proposed_at, index_kind, work, verification_ref)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'proposed', $8, $9, $10, $11, $12)`,
			id, in.City, in.Enterprise, in.Route, tonnes, formed, in.EvidenceRef, actor.ID(), w.Now(), kind, in.Work, in.VerificationRef)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.ConstraintName == "quota_sources_evidence_once_per_kind" || pgErr.ConstraintName == "quota_sources_evidence_once") {
			return Source{}, ledger.Errf(CodeDuplicateSource, "evidence %q already backs a source of %s", in.EvidenceRef, in.Enterprise).At("evidence_ref")
		}
		if err != nil {
			return Source{}, err
		}
		detail := map[string]string{
			"city": in.City, "enterprise": in.Enterprise, "route": in.Route, "tonnes": tonnesText(tonnes),
			"formed_on": in.FormedOn, "evidence_ref": in.EvidenceRef,
		}
		if kind != KindCEI || in.Work != "" {
			detail["index_kind"], detail["work"], detail["verification_ref"] = kind, in.Work, in.VerificationRef
		}
		if err := record(w, actor, subjectSource, id, "source.proposed", in.Reason, detail, nil); err != nil {
			return Source{}, err
		}
		s, err := loadSource(ctx, tx, id, false)
		return s.Source, err
	})
}

// DecisionInput approves or rejects, with the reason for the trail.
type DecisionInput struct {
	Approve bool   `json:"approve"`
	Reason  string `json:"reason"`
}

func (in DecisionInput) validate() error { return checkText(in.Reason, "reason", true, ReasonBytesMax) }

type idInput[T any] struct {
	ID uuid.UUID `json:"id"`
	In T         `json:"in"`
}

// DecideSource is the province's approval (recognition: recognition →
// enterprise source) or rejection of a proposed source.
func DecideSource(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, id uuid.UUID, in DecisionInput) (Source, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return Source{}, false, err
	}
	if err := in.validate(); err != nil {
		return Source{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.source.decide", idInput[DecisionInput]{id, in}, func(w *ledger.Writer) (Source, error) {
		ctx, tx := w.Ctx(), w.Tx()
		s, err := loadSource(ctx, tx, id, true)
		if err != nil {
			return Source{}, err
		}
		if s.Status != SourceProposed {
			return Source{}, ledger.Errf(CodeInvalidState, "source %s is %s; only a proposed source is decided", id, s.Status)
		}
		if !in.Approve {
			if _, err := tx.Exec(ctx, `UPDATE quota_sources SET status = 'rejected', decided_by = $2, decided_at = $3 WHERE id = $1`, id, actor.ID(), w.Now()); err != nil {
				return Source{}, err
			}
			if err := record(w, actor, subjectSource, id, "source.rejected", in.Reason, nil, nil); err != nil {
				return Source{}, err
			}
			s, err := loadSource(ctx, tx, id, false)
			return s.Source, err
		}
		acct, recog := KindSourceAccount(s.IndexKind, s.Enterprise), KindRecognitionAccount(s.IndexKind)
		if err := w.OpenAccounts(recog, acct); err != nil {
			return Source{}, err
		}
		t, err := w.Build(actor, ledger.TxInput{Kind: "quota.recognition",
			Postings: []ledger.PostingInput{{Account: recog, Amount: s.tonnes.Neg()}, {Account: acct, Amount: s.tonnes}},
			Metadata: map[string]string{"source_id": id.String(), "route": s.Route, "city": s.City, "evidence_ref": s.EvidenceRef}})
		if err != nil {
			return Source{}, err
		}
		if err := w.Apply(t); err != nil {
			return Source{}, err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE quota_sources SET status = 'recognised', unstockpiled = tonnes, decided_by = $2, decided_at = $3, recognition_tx = $4
			WHERE id = $1`, id, actor.ID(), w.Now(), t.ID); err != nil {
			return Source{}, err
		}
		if err := writeMovements(w, t.ID, []movement{{Flow: flowRecognised, Tonnes: s.tonnes, Source: id, OpID: id}}); err != nil {
			return Source{}, err
		}
		if err := record(w, actor, subjectSource, id, "source.recognised", in.Reason, map[string]string{"tonnes": s.Tonnes, "account": acct}, &t.ID); err != nil {
			return Source{}, err
		}
		s, err = loadSource(ctx, tx, id, false)
		return s.Source, err
	})
}

// StockpileInput moves a recognised source into the reserves.
type StockpileInput struct {
	SourceID uuid.UUID `json:"source_id"`
	Tonnes   string    `json:"tonnes,omitempty"` // default: all that is not stockpiled yet
	Reason   string    `json:"reason"`
	// IndexKind, when set (the routes of one kind set it), must be the
	// source's kind, so a NOX stockpiling cannot move CEI by a wrong id.
	IndexKind string `json:"index_kind,omitempty"`
}

// Stockpiling is one move of a source into the province and city reserves.
type Stockpiling struct {
	ID             uuid.UUID `json:"id"`
	IndexKind      string    `json:"index_kind"`
	SourceID       uuid.UUID `json:"source_id"`
	Tonnes         string    `json:"tonnes"`
	ProvinceTonnes string    `json:"province_tonnes"`
	CityTonnes     string    `json:"city_tonnes"`
	City           string    `json:"city"`
	SplitVersion   uuid.UUID `json:"split_version"`
	SplitPercent   string    `json:"split_province_percent"`
	TxID           uuid.UUID `json:"transaction_id"`
	CreatedBy      string    `json:"created_by"`
	CreatedAt      time.Time `json:"created_at"`
}

// Stockpile splits (part of) a recognised source between the provincial
// reserve and the reserve of the source's city by the split rule in force
// (province floor(tonnes × percent / 100), the city the rest). Province only.
func Stockpile(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in StockpileInput) (Stockpiling, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return Stockpiling{}, false, err
	}
	var tonnes decimal.Decimal
	if in.Tonnes != "" {
		var err error
		if tonnes, err = parseTonnes(in.Tonnes, "tonnes"); err != nil {
			return Stockpiling{}, false, err
		}
	}
	if err := checkText(in.Reason, "reason", true, ReasonBytesMax); err != nil {
		return Stockpiling{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.stockpile", in, func(w *ledger.Writer) (Stockpiling, error) {
		ctx, tx := w.Ctx(), w.Tx()
		s, err := loadSource(ctx, tx, in.SourceID, true)
		if err != nil {
			return Stockpiling{}, withField(err, "source_id")
		}
		if in.IndexKind != "" && in.IndexKind != s.IndexKind {
			return Stockpiling{}, ledger.Errf(ledger.CodeInvalidRequest, "source %s is of index kind %s, not %s", s.ID, s.IndexKind, in.IndexKind).At("source_id")
		}
		if s.Status != SourceRecognised {
			return Stockpiling{}, ledger.Errf(CodeInvalidState, "source %s is %s; only a recognised source is stockpiled", s.ID, s.Status)
		}
		amount := tonnes
		if in.Tonnes == "" {
			amount = s.unstockpiled
		}
		if !amount.IsPositive() || amount.GreaterThan(s.unstockpiled) {
			return Stockpiling{}, &ledger.Error{Code: ledger.CodeInsufficientBalance, Field: "tonnes",
				Msg:    "source " + s.ID.String() + " has " + s.Unstockpiled + " t left to stockpile",
				Detail: map[string]string{"available": s.Unstockpiled}}
		}
		return stockpile(w, actor, &s, amount, in.Reason)
	})
}

// stockpile moves amount of a locked, recognised source into the
// province's and its city's reserves by the split in force.
func stockpile(w *ledger.Writer, actor ledger.Actor, s *sourceRow, amount decimal.Decimal, reason string) (Stockpiling, error) {
	ctx, tx := w.Ctx(), w.Tx()
	split, err := configOf(w, s.IndexKind, ConfigSplit, "")
	if err != nil {
		return Stockpiling{}, err
	}
	prov, city := SplitStockpile(amount, split.value)
	provKey, cityKey := reserveKey(s.IndexKind, ReserveProvince), reserveKey(s.IndexKind, s.City)
	rl, err := lockReserves(w, provKey, cityKey)
	if err != nil {
		return Stockpiling{}, err
	}
	var lg legs
	lg.add(KindSourceAccount(s.IndexKind, s.Enterprise), amount.Neg())
	lg.add(keyAccount(provKey), prov)
	lg.add(keyAccount(cityKey), city)
	id := ledger.NewID()
	t, err := w.Build(actor, ledger.TxInput{Kind: "quota.stockpiling", Postings: lg.inputs(),
		Metadata: map[string]string{"stockpiling_id": id.String(), "source_id": s.ID.String(), "split_version": split.ID.String()}})
	if err != nil {
		return Stockpiling{}, err
	}
	var tranches []newTranche
	var moves []movement
	for _, part := range []struct {
		reserve string
		tonnes  decimal.Decimal
	}{{provKey, prov}, {cityKey, city}} {
		if part.tonnes.IsPositive() {
			tranches = append(tranches, newTranche{Reserve: part.reserve, Source: s.ID, Origin: "stockpiling", OriginID: id, Tonnes: part.tonnes})
			moves = append(moves, movement{Flow: flowStockpiled, Tonnes: part.tonnes, Reserve: part.reserve, Source: s.ID, OpID: id})
		}
	}
	if err := rl.put(w, t.ID, tranches); err != nil {
		return Stockpiling{}, err
	}
	if err := w.Apply(t); err != nil {
		return Stockpiling{}, err
	}
	sp := Stockpiling{ID: id, IndexKind: s.IndexKind, SourceID: s.ID, Tonnes: tonnesText(amount), ProvinceTonnes: tonnesText(prov), CityTonnes: tonnesText(city),
		City: s.City, SplitVersion: split.ID, SplitPercent: split.Value, TxID: t.ID, CreatedBy: actor.ID(), CreatedAt: w.Now()}
	if _, err := tx.Exec(ctx, `
			INSERT INTO quota_stockpilings (id, source_id, tonnes, province_tonnes, city_tonnes, city, split_version, split_percent, tx_id, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		id, s.ID, amount, prov, city, s.City, split.ID, split.value, t.ID, actor.ID(), w.Now()); err != nil {
		return Stockpiling{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE quota_sources SET unstockpiled = unstockpiled - $2 WHERE id = $1`, s.ID, amount); err != nil {
		return Stockpiling{}, err
	}
	if err := writeMovements(w, t.ID, moves); err != nil {
		return Stockpiling{}, err
	}
	detail := map[string]string{"source_id": s.ID.String(), "tonnes": sp.Tonnes, "province_tonnes": sp.ProvinceTonnes,
		"city": s.City, "city_tonnes": sp.CityTonnes, "split_version": split.ID.String(), "split_province_percent": split.Value}
	if err := record(w, actor, subjectStockpiling, id, "stockpiling.created", reason, detail, &t.ID); err != nil {
		return Stockpiling{}, err
	}
	detail["stockpiling_id"] = id.String()
	return sp, record(w, actor, subjectSource, s.ID, "source.stockpiled", reason, detail, &t.ID)
}

// SourceDetail is a source with its trail.
type SourceDetail struct {
	Source
	Trail []Event `json:"trail"`
}

// canSeeSource: the province and auditors see all sources, a city those of
// its city, an enterprise its own.
func canSeeSource(a ledger.Actor, s *Source) bool {
	switch {
	case a.SeesAll():
		return true
	case a.Is(ledger.RoleCity):
		return a.City != "" && a.City == s.City
	case a.Is(ledger.RoleEnterprise):
		return a.Org != "" && a.Org == s.Enterprise
	}
	return false
}

// GetSource reads a source with its trail. A source the actor may not see
// is reported as not found, so its existence does not leak.
func GetSource(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, id uuid.UUID) (SourceDetail, error) {
	if err := actor.Require(readerRoles...); err != nil {
		return SourceDetail{}, err
	}
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (SourceDetail, error) {
		s, err := loadSource(r.Ctx(), r.Tx(), id, false)
		if err != nil {
			return SourceDetail{}, err
		}
		if !canSeeSource(actor, &s.Source) {
			return SourceDetail{}, ledger.Errf(ledger.CodeNotFound, "source %s not found", id)
		}
		events, err := trail(r.Journal, subjectSource, id)
		return SourceDetail{Source: s.Source, Trail: events}, err
	})
}

// checkSourceKind validates a proposal's kind and its key-work fields.
func checkSourceKind(l *ledger.Ledger, in *ProposeSourceInput) (string, error) {
	kind, err := checkKind(l, in.IndexKind, "index_kind")
	if err != nil {
		return kind, err
	}
	work := in.Route == "key_reduction_work"
	if err := checkText(in.Work, "work", work, RefBytesMax); err != nil {
		return kind, err
	}
	return kind, checkText(in.VerificationRef, "verification_ref", work, RefBytesMax)
}

// SourceFilter narrows a list of sources.
type SourceFilter struct {
	IndexKind  string // "" = every kind
	City       string
	Enterprise string
	Status     string
	Limit      int
	Cursor     string
}

// ListSources pages the sources the actor may see, newest first.
func ListSources(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, f SourceFilter) (ledger.Page[Source], error) {
	if err := actor.Require(readerRoles...); err != nil {
		return ledger.Page[Source]{}, err
	}
	switch actor.Role {
	case ledger.RoleCity:
		if f.City != "" && f.City != actor.City {
			return ledger.Page[Source]{Items: []Source{}}, nil
		}
		f.City = actor.City
	case ledger.RoleEnterprise:
		if f.Enterprise != "" && f.Enterprise != actor.Org {
			return ledger.Page[Source]{Items: []Source{}}, nil
		}
		f.Enterprise = actor.Org
	}
	limit := ledger.ClampLimit(f.Limit)
	after, err := idCursor(f.Cursor)
	if err != nil {
		return ledger.Page[Source]{}, err
	}
	items, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) ([]Source, error) {
		rows, err := r.Tx().Query(ctx, `
			SELECT `+sourceColumns+` FROM quota_sources
			WHERE ($1 = '' OR city = $1) AND ($2 = '' OR enterprise = $2) AND ($3 = '' OR status = $3) AND ($4::UUID IS NULL OR id < $4)
			  AND ($6 = '' OR index_kind = $6)
			ORDER BY id DESC LIMIT $5`, f.City, f.Enterprise, f.Status, after, limit+1, f.IndexKind)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Source, error) {
			s, err := scanSource(r)
			return s.Source, err
		})
	})
	if err != nil {
		return ledger.Page[Source]{}, err
	}
	return ledger.PageOf(items, limit, func(s Source) string { return ledger.EncodeCursor(s.ID) }), nil
}

// idCursor reads the cursor of the lists that page by id (UUIDv7, so
// newest first is id order); "" is the first page.
func idCursor(c string) (*uuid.UUID, error) {
	if c == "" {
		return nil, nil
	}
	var id uuid.UUID
	return &id, ledger.DecodeCursor(c, &id)
}
