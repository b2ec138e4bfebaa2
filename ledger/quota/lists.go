package quota

import (
	"cmp"
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// The two-high lists (issue 9): corrections (the checker's inbox),
// allocations, stockpilings and reserve transfers of every index kind.
// Each is newest first, paged by id (UUIDv7), bounded by ledger.ClampLimit,
// and scoped as the single read of the same record: the scope is one more
// condition ANDed with the filters. A filter value that cannot match by
// its form is invalid_request at its parameter.

// CorrectionPending, as a list filter, is the checker's inbox: proposed
// corrections the caller did not propose, which it may therefore decide
// (maker-checker: the proposer may not).
const CorrectionPending = "pending"

// CorrectionFilterStatuses are the values of the corrections' status
// filter: a correction's status, or CorrectionPending.
var CorrectionFilterStatuses = append(CorrectionStatuses(), CorrectionPending)

// CorrectionFilter narrows GET /v1/quota/corrections.
type CorrectionFilter struct {
	Status     string // a correction status, or CorrectionPending
	SourceID   *uuid.UUID
	ProposedBy string // the proposer as recorded (role:sub)
	Limit      int
	Cursor     string
}

// ListCorrections pages corrections of index sources (province and
// auditors, as GetCorrection).
func ListCorrections(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, f CorrectionFilter) (ledger.Page[Correction], error) {
	if err := actor.Require(ledger.RoleProvince, ledger.RoleAuditor); err != nil {
		return ledger.Page[Correction]{}, err
	}
	if err := cmp.Or(ledger.FilterOneOf("status", f.Status, CorrectionFilterStatuses...), checkText(f.ProposedBy, "proposed_by", false, ReasonBytesMax)); err != nil {
		return ledger.Page[Correction]{}, err
	}
	status, notBy := f.Status, ""
	if status == CorrectionPending {
		status, notBy = CorrectionProposed, actor.ID()
	}
	return ledger.NewestFirst(ctx, l, f.Cursor, f.Limit, func(c Correction) uuid.UUID { return c.ID },
		func(r *ledger.Reader, after *uuid.UUID, n int) ([]Correction, error) {
			rows, err := r.Tx().Query(ctx, `
			SELECT `+correctionColumns+` FROM quota_corrections
			WHERE ($1 = '' OR status = $1) AND ($2::UUID IS NULL OR source_id = $2) AND ($3 = '' OR proposed_by = $3) AND ($4 = '' OR proposed_by <> $4)
			  AND ($5::UUID IS NULL OR id < $5)
			ORDER BY id DESC LIMIT $6`, status, f.SourceID, f.ProposedBy, notBy, after, n)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Correction, error) {
				c, err := scanCorrection(row)
				return c.Correction, err
			})
		})
}

// AllocationFilter narrows GET /v1/quota/allocations.
type AllocationFilter struct {
	IndexKind     string // "" = every kind
	Status        string
	Project       string
	Enterprise    string
	City          string // the application's city
	ApplicationID *uuid.UUID
	Limit         int
	Cursor        string
}

// ListAllocations pages allocations with their reserves and lineage: the
// province and auditors see all, a city those of its city's
// applications, an enterprise its own (as GetApplication).
func ListAllocations(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, f AllocationFilter) (ledger.Page[Allocation], error) {
	if err := actor.Require(readerRoles...); err != nil {
		return ledger.Page[Allocation]{}, err
	}
	if err := cmp.Or(ledger.FilterOneOf("status", f.Status, AllocationStatuses()...), ledger.FilterIdent("project", f.Project),
		ledger.FilterIdent("enterprise", f.Enterprise), cityFilter(f.City), kindFilter(l, f.IndexKind)); err != nil {
		return ledger.Page[Allocation]{}, err
	}
	if !scopeTo(actor, &f.City, &f.Enterprise) {
		return ledger.Page[Allocation]{Items: []Allocation{}}, nil
	}
	return ledger.NewestFirst(ctx, l, f.Cursor, f.Limit, func(a Allocation) uuid.UUID { return a.ID },
		func(r *ledger.Reader, after *uuid.UUID, n int) ([]Allocation, error) {
			rows, err := r.Tx().Query(ctx, `
			SELECT al.id, al.application_id, al.project, al.tonnes, al.paid, al.price, al.price_version, al.amount_cny, al.refunded_cny, al.status,
			       al.tx_id, al.closed_tx, al.created_at, al.closed_at, al.index_kind
			FROM quota_allocations al JOIN quota_applications a ON a.id = al.application_id
			WHERE ($1 = '' OR al.index_kind = $1) AND ($2 = '' OR al.status = $2) AND ($3 = '' OR al.project = $3)
			  AND ($4 = '' OR a.enterprise = $4) AND ($5 = '' OR a.city = $5) AND ($6::UUID IS NULL OR al.application_id = $6)
			  AND ($7::UUID IS NULL OR al.id < $7)
			ORDER BY al.id DESC LIMIT $8`, f.IndexKind, f.Status, f.Project, f.Enterprise, f.City, f.ApplicationID, after, n)
			if err != nil {
				return nil, err
			}
			out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Allocation, error) {
				a, err := scanAllocation(row)
				return a.Allocation, err
			})
			if err != nil || len(out) == 0 {
				return out, err
			}
			ids := make([]uuid.UUID, len(out))
			for i, a := range out {
				ids[i] = a.ID
			}
			lineage, reserves, err := drawsByAllocation(r.Ctx(), r.Tx(), ids)
			for i := range out {
				out[i].Lineage, out[i].Reserves = ledger.NonNil(lineage[out[i].ID]), ledger.NonNil(reserves[out[i].ID])
			}
			return out, err
		})
}

// drawsByAllocation is loadDraws for a page of allocations, in one query.
func drawsByAllocation(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID][]DrawPiece, map[uuid.UUID][]ReserveDraw, error) {
	rows, err := tx.Query(ctx, `
		SELECT d.allocation_id, d.reserve, d.tranche_id, d.source_id, s.enterprise, s.city, s.route, s.formed_on, s.evidence_ref, d.tonnes
		FROM quota_draws d JOIN quota_sources s ON s.id = d.source_id
		WHERE d.allocation_id = ANY($1::UUID[]) ORDER BY d.allocation_id, d.idx`, ids)
	if err != nil {
		return nil, nil, err
	}
	pieces := map[uuid.UUID][]DrawPiece{}
	sums := map[uuid.UUID]map[string]decimal.Decimal{}
	order := map[uuid.UUID][]string{}
	var id uuid.UUID
	var p DrawPiece
	var formed time.Time
	var t decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&id, &p.Reserve, &p.TrancheID, &p.SourceID, &p.SourceEnterprise, &p.SourceCity, &p.Route, &formed, &p.EvidenceRef, &t}, func() error {
		piece := p
		piece.FormedOn, piece.Tonnes, piece.Reserve = formed.Format(dateLayout), tonnesText(t), keyName(p.Reserve)
		pieces[id] = append(pieces[id], piece)
		if sums[id] == nil {
			sums[id] = map[string]decimal.Decimal{}
		}
		if _, ok := sums[id][piece.Reserve]; !ok {
			order[id] = append(order[id], piece.Reserve)
		}
		sums[id][piece.Reserve] = sums[id][piece.Reserve].Add(t)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	reserves := map[uuid.UUID][]ReserveDraw{}
	for id, names := range order {
		for _, n := range names {
			reserves[id] = append(reserves[id], ReserveDraw{Reserve: n, Tonnes: tonnesText(sums[id][n])})
		}
	}
	return pieces, reserves, nil
}

// StockpilingFilter narrows GET /v1/quota/stockpilings.
type StockpilingFilter struct {
	IndexKind    string
	SourceID     *uuid.UUID
	City         string
	Enterprise   string // the source's enterprise
	Since, Until *time.Time
	Limit        int
	Cursor       string
}

// ListStockpilings pages stockpilings: the province and auditors see all,
// a city those of its city's sources, an enterprise those of its own
// sources (as GetSource).
func ListStockpilings(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, f StockpilingFilter) (ledger.Page[Stockpiling], error) {
	if err := actor.Require(readerRoles...); err != nil {
		return ledger.Page[Stockpiling]{}, err
	}
	if err := cmp.Or(cityFilter(f.City), ledger.FilterIdent("enterprise", f.Enterprise), kindFilter(l, f.IndexKind), ledger.FilterRange(f.Since, f.Until)); err != nil {
		return ledger.Page[Stockpiling]{}, err
	}
	if !scopeTo(actor, &f.City, &f.Enterprise) {
		return ledger.Page[Stockpiling]{Items: []Stockpiling{}}, nil
	}
	return ledger.NewestFirst(ctx, l, f.Cursor, f.Limit, func(p Stockpiling) uuid.UUID { return p.ID },
		func(r *ledger.Reader, after *uuid.UUID, n int) ([]Stockpiling, error) {
			rows, err := r.Tx().Query(ctx, `
			SELECT p.id, s.index_kind, p.source_id, p.tonnes, p.province_tonnes, p.city_tonnes, p.city, p.split_version, p.split_percent, p.tx_id,
			       p.created_by, p.created_at
			FROM quota_stockpilings p JOIN quota_sources s ON s.id = p.source_id
			WHERE ($1 = '' OR s.index_kind = $1) AND ($2::UUID IS NULL OR p.source_id = $2) AND ($3 = '' OR p.city = $3) AND ($4 = '' OR s.enterprise = $4)
			  AND ($5::TIMESTAMPTZ IS NULL OR p.created_at >= $5) AND ($6::TIMESTAMPTZ IS NULL OR p.created_at < $6) AND ($7::UUID IS NULL OR p.id < $7)
			ORDER BY p.id DESC LIMIT $8`, f.IndexKind, f.SourceID, f.City, f.Enterprise, f.Since, f.Until, after, n)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Stockpiling, error) {
				var p Stockpiling
				var tonnes, prov, city, percent decimal.Decimal
				err := row.Scan(&p.ID, &p.IndexKind, &p.SourceID, &tonnes, &prov, &city, &p.City, &p.SplitVersion, &percent, &p.TxID, &p.CreatedBy, &p.CreatedAt)
				p.Tonnes, p.ProvinceTonnes, p.CityTonnes, p.SplitPercent = tonnesText(tonnes), tonnesText(prov), tonnesText(city), percent.String()
				p.CreatedAt = p.CreatedAt.UTC()
				return p, err
			})
		})
}

// TransferFilter narrows GET /v1/quota/transfers.
type TransferFilter struct {
	IndexKind    string
	From, To     string // reserve names: "province" or a city code
	Since, Until *time.Time
	Limit        int
	Cursor       string
}

// ListTransfers pages moves between reserves: the province and auditors
// see all, a city those from or to its own reserve.
func ListTransfers(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, f TransferFilter) (ledger.Page[Transfer], error) {
	if err := actor.Require(ledger.RoleProvince, ledger.RoleAuditor, ledger.RoleCity); err != nil {
		return ledger.Page[Transfer]{}, err
	}
	if err := cmp.Or(reserveFilter("from", f.From), reserveFilter("to", f.To), kindFilter(l, f.IndexKind), ledger.FilterRange(f.Since, f.Until)); err != nil {
		return ledger.Page[Transfer]{}, err
	}
	party := ""
	if actor.Is(ledger.RoleCity) {
		party = actor.City
	}
	return ledger.NewestFirst(ctx, l, f.Cursor, f.Limit, func(t Transfer) uuid.UUID { return t.ID },
		func(r *ledger.Reader, after *uuid.UUID, n int) ([]Transfer, error) {
			// A reserve key is the name for CEI and KIND:name otherwise
			// (reserveKey); the filters name reserves as the API does.
			rows, err := r.Tx().Query(ctx, `
			SELECT id, index_kind, from_reserve, to_reserve, tonnes, reason, tx_id, created_by, created_at FROM quota_transfers
			WHERE ($1 = '' OR index_kind = $1)
			  AND ($2 = '' OR from_reserve = $2 OR from_reserve = index_kind || ':' || $2)
			  AND ($3 = '' OR to_reserve = $3 OR to_reserve = index_kind || ':' || $3)
			  AND ($4 = '' OR from_reserve = $4 OR from_reserve = index_kind || ':' || $4 OR to_reserve = $4 OR to_reserve = index_kind || ':' || $4)
			  AND ($5::TIMESTAMPTZ IS NULL OR created_at >= $5) AND ($6::TIMESTAMPTZ IS NULL OR created_at < $6) AND ($7::UUID IS NULL OR id < $7)
			ORDER BY id DESC LIMIT $8`, f.IndexKind, f.From, f.To, party, f.Since, f.Until, after, n)
			if err != nil {
				return nil, err
			}
			out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Transfer, error) {
				var t Transfer
				var tonnes decimal.Decimal
				err := row.Scan(&t.ID, &t.IndexKind, &t.From, &t.To, &tonnes, &t.Reason, &t.TxID, &t.CreatedBy, &t.CreatedAt)
				t.From, t.To, t.Tonnes, t.CreatedAt = keyName(t.From), keyName(t.To), tonnesText(tonnes), t.CreatedAt.UTC()
				return t, err
			})
			if err != nil || len(out) == 0 {
				return out, err
			}
			ids := make([]uuid.UUID, len(out))
			for i, t := range out {
				ids[i] = t.ID
			}
			// The sources a transfer moved: its tranches' (origin transfer).
			rows, err = r.Tx().Query(ctx, `
			SELECT origin_id, source_id FROM quota_tranches WHERE origin = 'transfer' AND origin_id = ANY($1::UUID[]) ORDER BY origin_id, seq`, ids)
			if err != nil {
				return nil, err
			}
			sources := map[uuid.UUID][]uuid.UUID{}
			var id, src uuid.UUID
			if _, err := pgx.ForEachRow(rows, []any{&id, &src}, func() error {
				for _, s := range sources[id] {
					if s == src {
						return nil
					}
				}
				sources[id] = append(sources[id], src)
				return nil
			}); err != nil {
				return nil, err
			}
			for i := range out {
				out[i].Sources = ledger.NonNil(sources[out[i].ID])
			}
			return out, nil
		})
}

// scopeTo narrows a city's or an enterprise's list to its own city or
// organisation; false when the caller's filter names another (nothing to
// list).
func scopeTo(actor ledger.Actor, city, enterprise *string) bool {
	switch actor.Role {
	case ledger.RoleCity:
		if *city != "" && *city != actor.City {
			return false
		}
		*city = actor.City
	case ledger.RoleEnterprise:
		if *enterprise != "" && *enterprise != actor.Org {
			return false
		}
		*enterprise = actor.Org
	}
	return true
}

func cityFilter(city string) error {
	if city == "" || ShandongCity(city) {
		return nil
	}
	return ledger.Errf(ledger.CodeInvalidRequest, "city must be a Shandong city code, e.g. 3701").At("city")
}

func reserveFilter(param, name string) error {
	if name == "" || ValidReserve(name) {
		return nil
	}
	return ledger.Errf(ledger.CodeInvalidRequest, "%s must be %q or a Shandong city code", param, ReserveProvince).At(param)
}

func kindFilter(l *ledger.Ledger, kind string) error {
	if kind == "" {
		return nil
	}
	_, err := checkKind(l, kind, "index_kind")
	return err
}
