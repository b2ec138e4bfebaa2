package api

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/shandong-carbon/carbonledger/api/apitest"
)

// The contract of the whole HTTP suite: every request a test sends
// through the harness and every response it gets are validated against
// /openapi.json (apitest); TestMain prints the counts.

var (
	contractOnce sync.Once
	contract     *apitest.Contract
	contractErr  error
)

// sharedContract loads the document of s once per test binary: the
// document depends on the route list only, the same for every server.
func sharedContract(s *Server) (*apitest.Contract, error) {
	contractOnce.Do(func() {
		raw, err := json.Marshal(s.openAPI())
		if err != nil {
			contractErr = err
			return
		}
		contract, contractErr = apitest.Load(raw)
	})
	return contract, contractErr
}

func TestMain(m *testing.M) {
	code := m.Run()
	if contract != nil {
		st := contract.Stats()
		fmt.Printf("contract: %d requests routed to operations (%d of them rejected by the document and by the server), %d responses validated against /openapi.json, %d requests to no operation\n",
			st.Requests.Load(), st.RequestsRejected.Load(), st.Responses.Load(), st.Unrouted.Load())
	}
	os.Exit(code)
}
