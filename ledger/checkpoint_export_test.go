package ledger

// Exposed to the checkpoint tests, which rewrite a chain consistently in
// SQL — what an attacker with database access but no signing key can do —
// and so need the engine's own hash functions.

// ChainHash is chainHash.
func ChainHash(prev, txHash []byte, idx int, p *Posting) []byte {
	return chainHash(prev, txHash, idx, p)
}

// ComputeHash is the transaction's content hash.
func (t *Transaction) ComputeHash() []byte { return t.computeHash() }
