package registry

import (
	"cmp"
	"context"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// FreezeInput is the province's decision to freeze or unfreeze a holding.
type FreezeInput struct {
	Holder      string `json:"holder"`
	DecisionRef string `json:"decision_ref"`
	Reason      string `json:"reason"`
}

// Freeze (province) freezes a holding: no unit leaves or enters it, no
// offer from it can settle, until it is unfrozen.
func Freeze(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in FreezeInput) (Holder, bool, error) {
	return setHolderStatus(ctx, l, a, key, in, "frozen")
}

// Unfreeze (province) lifts a freeze.
func Unfreeze(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in FreezeInput) (Holder, bool, error) {
	return setHolderStatus(ctx, l, a, key, in, "active")
}

// setHolderStatus records the decision under the holder's lock (so no
// registry move is half-way through) and sets the engine status of the
// holding's unit account in the same database transaction. Only the unit
// holding: the organisation's money account serves other use cases (paid
// reallocation) and is not the registry's to freeze.
func setHolderStatus(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in FreezeInput, status string) (Holder, bool, error) {
	verb := "freeze"
	if status == "active" {
		verb = "unfreeze"
	}
	if err := cmp.Or(a.Require(ledger.RoleProvince), validHolderID(in.Holder, "holder"), validText(in.DecisionRef, "decision_ref", true, TextBytesMax),
		validText(in.Reason, "reason", true, TextBytesMax)); err != nil {
		return Holder{}, false, err
	}
	return run(ctx, l, a, key, "registry.holder."+verb, in, func(w *ledger.Writer) (Holder, error) {
		cur, err := lockHolders(w, in.Holder)
		if err != nil {
			return Holder{}, err
		}
		if cur[in.Holder] == status {
			return Holder{}, ledger.Errf(CodeHolderAlreadyInState, "holding %s is already %s", in.Holder, status)
		}
		if _, err := w.Tx().Exec(w.Ctx(), `UPDATE registry_holders SET status = $2, status_seq = status_seq + 1, updated_at = $3 WHERE id = $1`,
			in.Holder, status, w.Now()); err != nil {
			return Holder{}, err
		}
		if err := w.SetAccountStatus(a, ledger.HolderAccount(in.Holder), status, in.DecisionRef+": "+in.Reason); err != nil {
			return Holder{}, err
		}
		if err := event(w, a, "holder:"+in.Holder, "holder."+verb, map[string]string{"decision_ref": in.DecisionRef, "reason": in.Reason}); err != nil {
			return Holder{}, err
		}
		return loadHolder(w.Journal, in.Holder)
	})
}

// Seed data for development and demos.
const (
	SeedEnterprise1 = "E1"
	SeedEnterprise2 = "E2"
	SeedVerifier    = "verifier-sd1"
	SeedDepositCNY  = "100000.00"
)

// Seed registers holdings for enterprises E1 and E2, accredits verifier
// verifier-sd1 and deposits 100,000.00 CNY to E1. It runs once per
// database: a second call replays the stored result and changes nothing.
func Seed(ctx context.Context, l *ledger.Ledger) error {
	province := ledger.Actor{Sub: "seed", Role: ledger.RoleProvince}
	type seedInput struct{ Version int }
	_, _, err := run(ctx, l, province, "registry-seed-v1", "registry.seed", seedInput{1}, func(w *ledger.Writer) (time.Time, error) {
		now := w.Now()
		for _, h := range []string{SeedEnterprise1, SeedEnterprise2} {
			if err := ensureHolder(w, h, now); err != nil {
				return now, err
			}
		}
		if err := w.OpenAccounts("registry:SDCER:issuance", RetiredAccount, CancelledAccount, SurrenderedAccount, "external:CNY"); err != nil {
			return now, err
		}
		if _, err := w.Tx().Exec(w.Ctx(), `INSERT INTO registry_verifiers (org, name, created_by, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (org) DO NOTHING`,
			SeedVerifier, "Shandong verification body 1 (seed)", province.ID(), now); err != nil {
			return now, err
		}
		_, err := deposit(w, province, SeedEnterprise1, decimal.RequireFromString(SeedDepositCNY), "seed")
		return now, err
	})
	return err
}
