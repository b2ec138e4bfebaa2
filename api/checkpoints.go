package api

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Signed checkpoints (docs/checkpoints.md): public, so anyone holding the
// JWKS can check that the journal they are shown is the one the service
// signed. Like the other public reads (certificates, registry stats) they
// take no token; each is an indexed read of at most one page.

// CheckpointIntervalDefault is how often the checkpoint job takes one.
const CheckpointIntervalDefault = 10 * time.Minute

func (s *Server) checkpointRoutes() []route {
	return []route{
		{Method: "GET", Path: "/v1/public/checkpoints", Summary: "page the signed checkpoints of the journal, newest first (public)", Tag: "audit",
			Public: true, Paged: true, Out: pageView[ledger.Checkpoint]{}, Handler: s.handleListCheckpoints},
		{Method: "GET", Path: "/v1/public/checkpoints/latest", Summary: "the newest signed checkpoint of the journal (public)", Tag: "audit",
			Public: true, Out: ledger.Checkpoint{}, Handler: s.handleLatestCheckpoint},
	}
}

func (s *Server) handleListCheckpoints(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	page, err := s.l.ListCheckpoints(r.Context(), limit, cursor)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	return writeJSON(w, http.StatusOK, pageView[ledger.Checkpoint]{Items: page.Items, NextCursor: page.NextCursor})
}

func (s *Server) handleLatestCheckpoint(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	cp, err := s.l.LatestCheckpoint(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	return writeJSON(w, http.StatusOK, cp)
}

// CheckpointJob takes a signed checkpoint with the service key every
// interval. Every replica runs it; CheckpointIfDue skips a turn another
// replica already took (the unique checkpoint number decides a tie), so
// the journal gets about one checkpoint per interval, not one per replica.
// It is a ledger.Job so that whichever runner starts jobs can start it.
func CheckpointJob(key *SigningKey, every time.Duration) ledger.Job {
	if every <= 0 {
		every = CheckpointIntervalDefault
	}
	return ledger.Job{Name: "checkpoint", Every: every, Run: func(ctx context.Context, l *ledger.Ledger) (int, error) {
		// A little under the period, so a tick that lands just early does
		// not skip a whole interval.
		cp, err := l.CheckpointIfDue(ctx, key.Private, key.KID, every*9/10)
		if cp == nil || err != nil {
			return 0, err
		}
		return 1, nil
	}}
}

// CheckpointKeys are the public keys checkpoints are verified with: the
// service key's and its previous keys' (Options.CheckpointKeys), so
// checkpoints signed before a rotation still verify.
func (k *SigningKey) CheckpointKeys() map[string]ed25519.PublicKey {
	out := map[string]ed25519.PublicKey{}
	for _, x := range k.all() {
		out[x.KID] = x.Private.Public().(ed25519.PublicKey)
	}
	return out
}
