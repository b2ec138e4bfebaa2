package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Request shapes of the core routes.

type postingRequest struct {
	Account string `json:"account"`
	Amount  string `json:"amount"` // signed decimal string: "-30.50" debits, "30.50" credits
}

type transactionRequest struct {
	Kind           string            `json:"kind"`
	Postings       []postingRequest  `json:"postings"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	EffectiveAt    *time.Time        `json:"effective_at,omitempty"`
	Pending        bool              `json:"pending,omitempty"`
	TimeoutSeconds int64             `json:"timeout_seconds,omitempty"`
	Corrects       string            `json:"corrects,omitempty"` // id of the transaction this one corrects
}

type batchRequest struct {
	Atomic bool                 `json:"atomic"`
	Items  []transactionRequest `json:"items"`
}

type batchItemView struct {
	Index       int              `json:"index"`
	Status      string           `json:"status"` // posted, replayed, failed
	Transaction *transactionView `json:"transaction,omitempty"`
	Error       *Problem         `json:"error,omitempty"`
}

type batchView struct {
	Atomic bool            `json:"atomic"`
	Items  []batchItemView `json:"items"`
}

type reversalRequest struct {
	Metadata map[string]string `json:"metadata,omitempty"`
}

type openAccountRequest struct {
	ID       string            `json:"id"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

type accountStatusRequest struct {
	Status string `json:"status"` // active, frozen, closed
	Reason string `json:"reason"`
}

type healthView struct {
	Status string `json:"status"`
}

func (req transactionRequest) toInput(field string) (ledger.TxInput, error) {
	in := ledger.TxInput{Kind: req.Kind, Metadata: req.Metadata, Pending: req.Pending}
	if req.EffectiveAt != nil {
		in.EffectiveAt = *req.EffectiveAt
	}
	if req.TimeoutSeconds < 0 || req.TimeoutSeconds > int64(ledger.PendingTimeoutMax/time.Second) {
		return in, ledger.Errf(ledger.CodeInvalidRequest, "timeout_seconds must be 0 to %d", int64(ledger.PendingTimeoutMax/time.Second)).At(field + "timeout_seconds")
	}
	in.Timeout = time.Duration(req.TimeoutSeconds) * time.Second
	if req.Corrects != "" {
		id, err := uuid.Parse(req.Corrects)
		if err != nil {
			return in, ledger.Errf(ledger.CodeInvalidRequest, "corrects must be a transaction id").At(field + "corrects")
		}
		in.Corrects = &id
	}
	if len(req.Postings) > ledger.PostingsPerTransactionMax {
		return in, ledger.Errf(ledger.CodeInvalidRequest, "at most %d postings", ledger.PostingsPerTransactionMax).At(field + "postings")
	}
	for i, p := range req.Postings {
		f := field + "postings[" + strconv.Itoa(i) + "]"
		spec, err := ledger.ClassifyAccount(p.Account)
		if err != nil {
			return in, err.(*ledger.Error).At(f + ".account")
		}
		amt, err := ledger.ParseSignedAmount(spec.Asset, p.Amount)
		if err != nil {
			return in, err.(*ledger.Error).At(f + ".amount")
		}
		in.Postings = append(in.Postings, ledger.PostingInput{Account: p.Account, Amount: amt})
	}
	return in, nil
}

func (s *Server) coreRoutes() []route {
	province := []string{ledger.RoleProvince}
	oversight := []string{ledger.RoleProvince, ledger.RoleAuditor}
	return []route{
		{Method: "GET", Path: "/healthz", Summary: "liveness", Tag: "service", Public: true, Out: healthView{}, Handler: s.handleHealth},
		{Method: "GET", Path: "/readyz", Summary: "readiness (database reachable)", Tag: "service", Public: true, Out: healthView{}, Handler: s.handleReady},
		{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics", Tag: "service", Public: true, Produces: []string{"text/plain"}, Handler: s.handleMetrics},
		{Method: "GET", Path: "/openapi.json", Summary: "this API's OpenAPI 3 document", Tag: "service", Public: true, Handler: s.handleOpenAPI},
		{Method: "GET", Path: "/.well-known/jwks.json", Summary: "public keys of the tokens this service signs", Tag: "service", Public: true, Handler: s.handleJWKS},

		{Method: "POST", Path: "/v1/accounts", Summary: "open an account of the chart", Tag: "ledger", Roles: province, In: openAccountRequest{}, Out: accountView{}, Handler: s.handleOpenAccount},
		{Method: "GET", Path: "/v1/accounts/{id}", Summary: "read an account and its balances (as_of or as_of_seq for history)", Tag: "ledger",
			Query: []queryParam{
				paramDateTime("as_of", "the balances at this instant (RFC 3339); wins over as_of_seq"),
				paramInt("as_of_seq", "the balances after the account's posting with this sequence number"),
			}, Out: accountView{}, Handler: s.handleGetAccount},
		{Method: "GET", Path: "/v1/accounts/{id}/postings", Summary: "page an account's postings, newest first", Tag: "ledger", Paged: true, Out: pageView[accountPostingView]{}, Handler: s.handleListPostings},
		{Method: "POST", Path: "/v1/accounts/{id}/status", Summary: "freeze, unfreeze or close an account", Tag: "ledger", Roles: province, In: accountStatusRequest{}, Out: accountView{}, Handler: s.handleAccountStatus},
		{Method: "GET", Path: "/v1/transactions/{id}", Summary: "read a transaction", Tag: "ledger", Out: transactionView{}, Handler: s.handleGetTransaction},
		{Method: "POST", Path: "/v1/transactions", Summary: "post an administrative transaction", Tag: "ledger", Roles: province, In: transactionRequest{}, Out: transactionView{}, Handler: s.handlePostTransaction},
		{Method: "POST", Path: "/v1/transactions/batch", Summary: "post a batch of transactions, independent or atomic", Tag: "ledger", Roles: province, BodyMax: bodyBytesBatch, In: batchRequest{}, Out: batchView{}, Handler: s.handleBatch},
		{Method: "POST", Path: "/v1/transactions/{id}/reversal", Summary: "reverse a posted transaction once", Tag: "ledger", Roles: province, In: reversalRequest{}, BodyOptional: true, Out: transactionView{}, Handler: s.handleReversal},
		{Method: "POST", Path: "/v1/transactions/{id}/post", Summary: "post a pending transaction", Tag: "ledger", Roles: province, Out: transactionView{}, Handler: s.handleResolve(true)},
		{Method: "POST", Path: "/v1/transactions/{id}/void", Summary: "void a pending transaction", Tag: "ledger", Roles: province, Out: transactionView{}, Handler: s.handleResolve(false)},
		{Method: "GET", Path: "/v1/audit/verify", Summary: "recompute balances and hash chains: since the last clean run, or ?mode=full the whole journal", Tag: "audit", Roles: oversight, Heavy: true,
			Query: []queryParam{paramEnum("mode", "incremental (the default): what was written since the last clean verification; full: the whole journal, in chunks",
				string(ledger.VerifyIncremental), string(ledger.VerifyFull))},
			Out: ledger.VerifyReport{}, Handler: s.handleVerify},
	}
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request, _ ledger.Actor) error {
	return writeJSON(w, http.StatusOK, healthView{Status: "ok"})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.l.Pool().Ping(ctx); err != nil {
		return errorf(ledger.CodeUnavailable, "database unreachable")
	}
	return writeJSON(w, http.StatusOK, healthView{Status: "ready"})
}

func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request, _ ledger.Actor) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	return writeJSON(w, http.StatusOK, s.cfg.SigningKey.JWKS())
}

func (s *Server) handleOpenAccount(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req openAccountRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	acct, created, replayed, err := s.l.OpenAccount(r.Context(), a, key, req.ID, req.Metadata)
	if err != nil {
		return err
	}
	if !created && !replayed {
		// A new key for an account that exists as asked: 200, no replay.
		return writeJSON(w, http.StatusOK, viewAccount(acct))
	}
	return writeResult(w, replayed, viewAccount(acct))
}

// readableAccount returns the account when the actor may see it, and
// not_found otherwise, so that existence does not leak.
func (s *Server) readableAccount(r *http.Request, a ledger.Actor) (string, error) {
	id := r.PathValue("id")
	if !ledger.CanRead(a, id) {
		return "", errorf(ledger.CodeNotFound, "account %s not found", id)
	}
	return id, nil
}

func (s *Server) handleGetAccount(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	id, err := s.readableAccount(r, a)
	if err != nil {
		return err
	}
	var acct ledger.AccountView
	if v := queryGet(r, "as_of"); v != "" {
		at, perr := time.Parse(time.RFC3339Nano, v)
		if perr != nil {
			return ledger.Errf(ledger.CodeInvalidRequest, "as_of must be an RFC 3339 time").At("as_of")
		}
		acct, err = s.l.BalanceAsOf(r.Context(), id, at)
	} else if v := queryGet(r, "as_of_seq"); v != "" {
		seq, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil {
			return ledger.Errf(ledger.CodeInvalidRequest, "as_of_seq must be an integer").At("as_of_seq")
		}
		acct, err = s.l.BalanceAt(r.Context(), id, seq)
	} else {
		acct, err = s.l.GetAccount(r.Context(), id)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewAccount(acct))
}

func (s *Server) handleListPostings(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	id, err := s.readableAccount(r, a)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	page, err := s.l.ListPostings(r.Context(), id, limit, cursor)
	if err != nil {
		return err
	}
	spec, _ := ledger.ClassifyAccount(id)
	out := pageView[accountPostingView]{Items: []accountPostingView{}, NextCursor: page.NextCursor}
	for _, p := range page.Items {
		out.Items = append(out.Items, accountPostingView{TransactionID: p.TxID.String(), Kind: p.Kind, Shard: p.Shard, Seq: p.Seq, Phase: string(p.Phase),
			Amount: ledger.FormatAmount(spec.Asset, p.Amount), BalanceAfter: ledger.FormatAmount(spec.Asset, p.BalanceAfter),
			PendingAfter: ledger.FormatAmount(spec.Asset, p.PendingAfter), CreatedAt: p.CreatedAt})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAccountStatus(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req accountStatusRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	if req.Reason == "" || len(req.Reason) > 512 {
		return ledger.Errf(ledger.CodeInvalidRequest, "a reason (decision reference) of at most 512 characters is required").At("reason")
	}
	if !ledger.CleanText(req.Reason) {
		return ledger.Errf(ledger.CodeInvalidRequest, "reason must be text without control characters").At("reason")
	}
	acct, replayed, err := s.l.SetAccountStatus(r.Context(), a, key, r.PathValue("id"), req.Status, req.Reason)
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "account status", "account", acct.ID, "status", acct.Status, "reason", req.Reason, "actor", a.ID())
	return writeResult(w, replayed, viewAccount(acct))
}

func pathID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return id, errorf(ledger.CodeNotFound, "no such id %q", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) handleGetTransaction(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	t, err := s.l.GetTransaction(r.Context(), id)
	if err != nil {
		return err
	}
	// Outside oversight, only the postings of the caller's own accounts are
	// shown: one transaction may credit many citizens at once.
	v := viewTransaction(t)
	if a.Role != ledger.RoleProvince && a.Role != ledger.RoleAuditor {
		mine := v.Postings[:0]
		for _, p := range v.Postings {
			if ledger.CanRead(a, p.Account) {
				mine = append(mine, p)
			}
		}
		if len(mine) == 0 {
			return errorf(ledger.CodeNotFound, "transaction %s not found", id)
		}
		v.Postings, v.Actor = mine, ""
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) handlePostTransaction(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req transactionRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	in, err := req.toInput("")
	if err != nil {
		return err
	}
	t, replayed, err := s.l.Post(r.Context(), a, key, in)
	if err != nil {
		return err
	}
	return writeResult(w, replayed, viewTransaction(t))
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req batchRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	if len(req.Items) == 0 || len(req.Items) > ledger.TransactionsPerBatchMax {
		return ledger.Errf(ledger.CodeLimitExceeded, "a batch has 1 to %d items", ledger.TransactionsPerBatchMax).At("items")
	}
	out := batchView{Atomic: req.Atomic, Items: make([]batchItemView, len(req.Items))}
	inputs := make([]ledger.TxInput, len(req.Items))
	for i, it := range req.Items {
		in, err := it.toInput("items[" + strconv.Itoa(i) + "].")
		if err != nil && req.Atomic {
			return err
		}
		if err != nil {
			p := problemFor(err)
			out.Items[i] = batchItemView{Index: i, Status: "failed", Error: &p}
			in = ledger.TxInput{} // fails validation again in the ledger, with the same code
		}
		inputs[i] = in
	}
	if req.Atomic {
		txs, replayed, err := s.l.PostBatchAtomic(r.Context(), a, key, inputs)
		if err != nil {
			return err
		}
		for i, t := range txs {
			v := viewTransaction(t)
			status := "posted"
			if replayed {
				status = "replayed"
			}
			out.Items[i] = batchItemView{Index: i, Status: status, Transaction: &v}
		}
		return writeResult(w, replayed, out)
	}
	results, err := s.l.PostBatch(r.Context(), a, key, inputs)
	if err != nil {
		return err
	}
	allReplayed := true
	for i, res := range results {
		if out.Items[i].Error != nil {
			allReplayed = false
			continue
		}
		item := batchItemView{Index: i}
		switch {
		case res.Err != nil:
			p := problemFor(res.Err)
			item.Status, item.Error = "failed", &p
			allReplayed = false
		default:
			v := viewTransaction(res.Transaction)
			item.Status, item.Transaction = "posted", &v
			if res.Replayed {
				item.Status = "replayed"
			} else {
				allReplayed = false
			}
		}
		out.Items[i] = item
	}
	return writeResult(w, allReplayed, out)
}

func (s *Server) handleReversal(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	key, err := idemKey(r)
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req reversalRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
	}
	t, replayed, err := s.l.Reverse(r.Context(), a, key, id, req.Metadata)
	if err != nil {
		return err
	}
	return writeResult(w, replayed, viewTransaction(t))
}

func (s *Server) handleResolve(post bool) func(http.ResponseWriter, *http.Request, ledger.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		key, err := idemKey(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		var t *ledger.Transaction
		var replayed bool
		if post {
			t, replayed, err = s.l.PostPending(r.Context(), a, key, id)
		} else {
			t, replayed, err = s.l.VoidPending(r.Context(), a, key, id)
		}
		if err != nil {
			return err
		}
		return writeResult(w, replayed, viewTransaction(t))
	}
}

func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	// One full scan at a time per server: each holds a connection for as
	// long as it runs.
	select {
	case s.verifying <- struct{}{}:
		defer func() { <-s.verifying }()
	default:
		return errorf(codeRateLimited, "a verification is already running; retry when it has finished")
	}
	// A full scan may outlive the default request timeout on a big ledger.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Minute)
	defer cancel()
	// Routine verification reads what was written since the last clean
	// one; ?mode=full reads the whole journal (in chunks, never one
	// statement near the timeout).
	mode := ledger.VerifyMode(queryGet(r, "mode"))
	if mode == "" {
		mode = ledger.VerifyIncremental
	}
	rep, err := s.l.VerifyAllWith(ctx, s.cfg.UseCases, ledger.VerifyOptions{Mode: mode})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}
