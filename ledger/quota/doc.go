// Package quota implements the two-high carbon emission index workflow of
// Shandong's measures 9 and 11 (issue 5): cities propose index sources
// freed by closures and capacity cuts, the province recognises and
// stockpiles them into provincial and city reserves, and reallocates them
// to two-high construction projects that lack replacement indices.
//
// Every tonne moves through the core engine (ledger.Writer), so postings
// are locked, balance-checked, hash-chained and idempotent like any other:
//
//	recognition   province:CEI:recognition   -> enterprise:{id}:CEI:source
//	stockpiling   enterprise:{id}:CEI:source -> province:CEI:reserve + city:{code}:CEI:reserve
//	allocation    named reserves             -> project:{id}:CEI:allocated   (+ org:{id}:CNY -> province:CNY:revenue when paid)
//	consumption   project:{id}:CEI:allocated -> province:CEI:consumed
//	recovery      project:{id}:CEI:allocated -> the reserves it came from
//	transfer      reserve                    -> reserve
//	correction    recognition <-> enterprise source or reserve (maker-checker)
//
// # Configuration
//
// The split rule, sector coefficients, escalation threshold and price are
// rows of quota_config with valid_from, valid_to and a source document;
// the version in force at the ledger clock is used, and every decision
// stores the id of the version it used. Seed writes illustrative defaults
// (DOMAIN.md marks them [ill]) that the province replaces with
// PublishConfig when official values exist.
//
// # Lineage
//
// A reserve holds tranches: lots of one source's tonnes, numbered per
// reserve in commit order (the reserve's row in quota_reserves is locked
// by every operation that changes its tranches, and hands out the
// numbers). Anything that takes tonnes out of a reserve takes them from its
// open tranches oldest first (FIFO) and records the pieces; anything that
// puts tonnes into a reserve creates a new tranche at the tail naming the
// source and the parent tranche. So every allocation's draws name the
// tranches and sources they came from, through any number of transfers
// and recoveries, and the sum of a reserve's open tranches equals its
// account balance (UseCase's balance check asserts it).
//
// # Rounding
//
// Tonnes are whole. A stockpiling's province share is
// floor(tonnes × percent / 100) and the city reserve takes the rest; a
// project's required tonnes are ceil(emissions × coefficient), so a
// project never covers less than the rule asks. Money is price × whole
// tonnes, exact to the fen.
//
// # Shandong cities
//
// Shandong's prefecture-level cities and their administrative-division
// codes (GB/T 2260, first four digits): 3701 Jinan, 3702 Qingdao, 3703 Zibo,
// 3704 Zaozhuang, 3705 Dongying, 3706 Yantai, 3707 Weifang, 3708 Jining,
// 3709 Tai'an, 3710 Weihai, 3711 Rizhao, 3713 Linyi, 3714 Dezhou,
// 3715 Liaocheng, 3716 Binzhou, 3717 Heze. 3712 (Laiwu) is unused since
// Laiwu was merged into Jinan in 2019. Any other code is outside Shandong.
//
// # Authorization
//
// The HTTP layer authenticates; this package authorizes by role again:
// cities propose sources and review applications of their own city only,
// enterprises apply for their own organisation and see only their own
// applications and sources, the province decides, and auditors read.
package quota
