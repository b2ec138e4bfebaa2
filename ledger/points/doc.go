// Package points implements personal carbon accounts (个人碳账户, measure 8,
// issue 3): operators report citizens' low-carbon behaviour, a versioned
// methodology turns each record into grams CO2e, the grams are recognised
// into the operator's pool and the same number of carbon points go to the
// citizen, who claims them, redeems them for rewards or donates them.
//
// Every movement goes through the core engine (ledger.Writer), so postings
// are locked, balance-checked, hash-chained and idempotent like any other:
//
//	credit    methodology:{m}:CO2E:issuance -> operator:{op}:CO2E:pool:{m}:{period}
//	          programme:CP:issuance         -> citizen:{id}:CP:pending      (same transaction,
//	                                           up to 61 citizens of one batch per transaction)
//	claim     citizen:{id}:CP:pending       -> citizen:{id}:CP:available
//	lapse     citizen:{id}:CP:pending       -> programme:CP:expired        (claim window passed)
//	expiry    citizen:{id}:CP:available     -> programme:CP:expired        (lot validity passed)
//	redeem    citizen:{id}:CP:available     -> programme:CP:redeemed
//	donate    citizen:{id}:CP:available     -> pool:{pool}:CP
//	clawback  citizen pending/available     -> programme:CP:reversed, operator pools -> programme:CO2E:reversed
//
// Points never move from one citizen to another: no function here builds
// such a posting, and CheckCitizenMove refuses one.
//
// # Methodologies
//
// A methodology version (points_methodologies) is configuration, never
// code: kind and unit, factor in g CO2e per unit, per-record and daily caps,
// claim window, point validity, valid_from/valid_to and its source
// document. Rows are never updated. The version used for a record is the
// one for the record's kind and unit with the latest valid_from not after
// the behaviour's time (and before its valid_to), so publishing a new
// version supersedes the old one from its valid_from without editing it.
// Every credit stores the version id on the behaviour row and in the ledger
// transaction's metadata. Programme-wide rules (the all-behaviour daily cap
// and the reporting window) are versioned the same way
// (points_programme_rules).
//
// # Rounding and caps
//
// grams = floor(quantity × factor): a fraction of a gram is never credited.
// Caps apply in this order, each on what the previous step left: the
// methodology's daily quantity cap (e.g. metro at most 5 rides a day; only
// the quantity still under the cap counts), the per-record gram cap, the
// methodology's daily gram cap (walking 296 g a day), then the programme's
// all-behaviour daily gram cap. Days are calendar days in China Standard
// Time (UTC+8) of the behaviour's time. A record left with 0 g by a cap is
// cap_reached: recorded with its reason, nothing credited. A record worth
// less than 1 g before any cap is rejected (below_one_gram).
//
// # Identity (one real-world event earns once)
//
// The behaviour key is SHA-256 over
//
//	"points.behaviour.v1" | citizen | kind | unit | occurred_at truncated to the minute (UTC) | quantity at 6 decimals
//
// with length-prefixed fields. Two operators reporting the same trip of the
// same citizen (same kind, same start minute, same quantity) produce the
// same key; it is unique in points_behaviours, so the second report is a
// duplicate whoever sends it. For a record without an interval (one
// instant) the key is the whole rule, as before intervals existed.
//
// A record may carry its interval (occurred_at to ended_at, or
// duration_seconds): tap-in to tap-out, unlock to lock. The programme
// rules in effect at occurred_at (points_programme_rules, versioned like
// every factor) name exclusivity groups of kinds (the travel modes: one
// body, one vehicle) and an overlap tolerance: a record whose interval
// overlaps a counted interval of the citizen by more than the tolerance,
// with both kinds in one group, is a duplicate of it, whatever its start
// minute, quantity or unit. The tolerance absorbs the operators' clock
// skew, so back-to-back trips (a transfer) both earn. The rules also name
// kinds whose reports are a day's total (steps from a phone): of the
// reports of a citizen's day for such a kind and unit, the largest counts
// once. A smaller or equal one is a duplicate of it; a larger one tops it
// up and is credited only floor(q × factor) − floor(largest × factor), so
// the day earns what its largest report alone is worth, never the sum.
//
// A duplicate is recorded (status duplicate, no key, 0 g, duplicate_of
// naming the counted row), so the batch result, the citizen's activity
// and verify can say which report was credited instead. A record id the
// operator used before is a duplicate too, not recorded again. Rejected
// records claim nothing, so a report rejected for one operator (not
// entrusted) does not block a valid report by another.
//
// # Concurrency
//
// Lock order, everywhere: points rows first (the citizen row, or the
// daily usage rows sorted by citizen and day; then a reward row), then the
// engine's accounts, which the engine locks in id order. No code path
// takes them in another order, so writers never deadlock on them.
//
// Ingestion locks the usage row (points_daily_usage) of every citizen-day
// in the batch (for an interval of a group, every day it touches: two, when
// it crosses midnight) before it reads what was already recorded; two
// batches for the same citizen-day therefore run one after the other, caps
// hold exactly, and the second sees the first's behaviour keys and
// intervals. Two intervals that are one event share some time, hence some
// day, hence a lock: the overlap check is exact under concurrency. It is
// one set-based query per batch (all its citizens at once, on a partial
// index of points_behaviours by citizen and start), queued with the locks
// in the same round trip. The unique index on the key is the second line
// of defence. A batch is one database
// transaction with a handful of set-based statements (unnest) and one
// engine call for all its credits, made last so that the operator pool's
// row, which every batch of the operator locks, is held only while the
// engine writes and the transaction commits.
//
// Credits are grouped: one ledger transaction per operator pool and up to
// 61 citizens (the engine's 64 postings less the two issuers and the
// pool), still linking the reductions and the points in one transaction.
// Each behaviour row names its transaction; the citizen's posting in it is
// the sum of the citizen's credited records in it. Grouping cuts a batch of
// 1,000 credits from 1,000 transactions and 4,000 postings to about 17
// transactions and 1,050 postings.
//
// Claims, redemptions, donations, expiry and clawbacks lock the citizen's
// row in points_citizens, then read and change the citizen's lots. The
// expiry job (ExpireDue) locks the citizens it works on with SKIP LOCKED
// and re-reads what is due after it holds the lock, so several replicas can
// run it at once: a citizen's lot or pending credit is expired once.
//
// # Lots
//
// A claim makes its points available as one lot per validity period; the
// lot's earn date is the earliest credit it contains and it expires
// validity_days after that. Redemption, donation and expiry consume lots
// oldest first (earned_at, then id), and every decrease is recorded in
// points_lot_moves with the ledger transaction. The sum of a citizen's
// lots' remaining points equals the balance of citizen:{id}:CP:available;
// Check asserts it.
//
// # Authorization
//
// The HTTP layer authenticates; this package authorizes by role again:
// operators report only for citizens who entrusted them and only kinds the
// province allowed them; a citizen acts on and reads only their own
// account; only the province publishes methodologies, programme rules,
// operators, donation pools and clawbacks; the province and merchants
// (enterprise role) publish rewards; the province and auditors read any
// citizen's account.
package points
