package ledger

import "encoding/json"

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func jsonUnmarshal(s string, out any) error { return json.Unmarshal([]byte(s), out) }
