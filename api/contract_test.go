package api

import (
	"encoding/json"
	"flag"
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

// contractResponsesMin is the floor of validated responses in a whole run
// of the package (about 680 today): fewer means the harness stopped
// validating, which must fail rather than pass quietly.
const contractResponsesMin = 500

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	var responses int64
	if contract != nil {
		st := contract.Stats()
		responses = st.Responses.Load()
		fmt.Printf("contract: %d requests routed to operations (%d of them rejected by the document and by the server), %d responses validated against /openapi.json, %d requests to no operation\n",
			st.Requests.Load(), st.RequestsRejected.Load(), responses, st.Unrouted.Load())
	}
	wholeRun := flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == ""
	if code == 0 && wholeRun && !testing.Short() && responses < contractResponsesMin {
		fmt.Printf("contract: only %d responses validated in a whole run (want at least %d): the harness no longer validates\n", responses, contractResponsesMin)
		code = 1
	}
	os.Exit(code)
}
