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
