package ledger

// CanRead reports whether an actor may see an account (DOMAIN.md §2): the
// province and auditors see everything; everyone else sees only accounts
// their own identity owns. A citizen never sees another citizen's account.
func CanRead(a Actor, accountID string) bool {
	switch a.Role {
	case "province", "auditor":
		return true
	}
	spec, err := ClassifyAccount(accountID)
	if err != nil {
		return false
	}
	switch a.Role {
	case "citizen":
		return spec.Owner == "citizen:"+a.Sub
	case "operator":
		return a.Org != "" && (spec.Owner == "operator:"+a.Org || spec.Owner == "org:"+a.Org)
	case "enterprise":
		return a.Org != "" && (spec.Owner == "holder:"+a.Org || spec.Owner == "org:"+a.Org || spec.Owner == "enterprise:"+a.Org)
	case "verifier":
		return a.Org != "" && spec.Owner == "org:"+a.Org
	case "city":
		return a.City != "" && spec.Owner == "city:"+a.City
	}
	return false
}

// OwnersOf is the account owners whose accounts an actor other than the
// province and auditors reads: CanRead's rule as a set, for the lists of
// accounts and transactions. Nil for the province, auditors and an actor
// without the identity its role acts under.
func OwnersOf(a Actor) []string {
	switch a.Role {
	case "citizen":
		if a.Sub != "" {
			return []string{"citizen:" + a.Sub}
		}
	case "operator":
		if a.Org != "" {
			return []string{"operator:" + a.Org, "org:" + a.Org}
		}
	case "enterprise":
		if a.Org != "" {
			return []string{"holder:" + a.Org, "org:" + a.Org, "enterprise:" + a.Org}
		}
	case "verifier":
		if a.Org != "" {
			return []string{"org:" + a.Org}
		}
	case "city":
		if a.City != "" {
			return []string{"city:" + a.City}
		}
	}
	return nil
}
