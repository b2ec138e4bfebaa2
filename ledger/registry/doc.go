// Package registry is the certified carbon-inclusion reductions registry
// (DOMAIN.md §5 steps 6–8, issue 4): certification of operator pools,
// serial-numbered issuance of SDCER units, holdings by serial block,
// transfers, delivery-versus-payment sales, retirement with a public
// certificate, capped ETS offsets, freezes and administrative cancellation.
//
// # Balances and blocks
//
// Every unit count lives in the engine's journal: holder:{id}:SDCER,
// registry:SDCER:issuance (issuer), registry:SDCER:retired / :cancelled /
// :surrendered. The registry's own tables say which serial numbers those
// balances are made of. Every write moves the engine balance and the
// blocks in the same database transaction, so for every holder the units
// of its held blocks equal its engine balance, the units of its reserved
// blocks equal its engine pending amount, and the units of all blocks of a
// terminal status equal the balance of the matching sink. Verify checks all
// of this after the fact.
//
// # Serial numbers
//
// A serial block is written
//
//	CN37-SDCER-07-0001-1-6203-2025
//	region-programme-sector-project-first-last-vintage
//
// region "CN37" is Shandong (administrative code 37); programme "SDCER";
// sector two digits and project four digits, as declared with the
// certification request; first and last are the inclusive unit numbers;
// vintage the year the reductions were made (the first four characters of
// the pool period). Unit numbers are unique per programme and vintage
// across all projects: they come from one counter row per (programme,
// vintage) locked FOR UPDATE by the issuance that advances it (no
// sequences, so the same SQL runs on CockroachDB).
//
// # Which units move
//
// Moves select units first-in-first-out: the holder's free blocks in
// ascending (vintage, first unit) order, whole blocks first; the last block
// touched is split and the receiver takes its tail (the highest serials),
// the holder keeps the head. A request may instead name an explicit range
// (vintage, first_unit and the number of units): every unit of it must be
// held, free and the caller's, or nothing moves. A vintage filter restricts
// FIFO to one vintage; retirement requires one (one retirement, one
// vintage). Reserved blocks (in an open sale) and terminal blocks
// (retired, cancelled, surrendered) are never selected.
//
// # Certification
//
// draft → notice → submitted → verified → issued, or rejected (the verifier
// approved nothing) or withdrawn (by the operator before issuance). The
// request captures the pool's available grams with an engine pending hold
// (no timeout) so they cannot be spent or captured twice; the verification
// voids it, posts the rejected grams to the operator's rejected sink and
// holds the approved grams again; the issuance voids that hold and, in one
// journal transaction, moves whole tonnes of grams to the certified sink
// and issues the same number of units to the operator's holding. The
// remainder (under one tonne) is released and stays in the pool.
//
// # Sales
//
// An offer is an engine pending transaction seller → buyer with a timeout;
// its blocks are marked with the pending transaction's id, and the serial
// ranges it reserved are stored with the trade (registry_trade_ranges), so
// a trade lists what it offered whatever became of it. Acceptance by the
// buyer posts the pending transaction and moves the money
// org:{buyer}:CNY → org:{seller}:CNY in the same database transaction, or
// nothing happens. The buyer's money is not reserved at offer time: only
// the buyer may commit it, so until acceptance it stays untouched, and a
// cancelled or timed-out offer releases the units (the only leg that was
// held). A trade's status is derived from the journal alone: not resolved
// (offered: its units are reserved, also past its timeout until the
// engine's sweep voids the hold, though it can no longer be accepted),
// posted (settled), voided by the timeout sweeper (expired) or voided on
// request (cancelled). Status and reservation are one fact, so they never
// disagree. The engine's VoidExpired job is enough: a block reserved by a
// voided transaction is free by definition.
//
// # Offsets and freezes
//
// An offset is capped by the obligation the province recorded for the
// enterprise and compliance year (obligations.go), never by a figure the
// enterprise states. A frozen holding moves nothing, except the
// province's administrative cancellation, which takes units out of it
// without lifting the freeze.
//
// # Locks
//
// Every write takes its locks in one order: the batch row, then the
// registry_holders rows of every holder involved (sorted by id), then the
// serial counter or obligation row, then the engine's account locks
// (inside w.Apply, themselves sorted). A holder's blocks change only under
// its holder row lock, so reads of them inside a write are stable.
package registry
