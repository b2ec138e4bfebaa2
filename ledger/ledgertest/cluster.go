package ledgertest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Cluster is a PostgreSQL cluster of one test's own, on a loopback port
// and a data directory of its own, so the test may stop and restart it
// (an outage) without touching the database other tests share. It is
// started from the system's initdb and pg_ctl, as scripts/localpg.sh does,
// dropping to the postgres user when the test runs as root (PostgreSQL
// refuses to run as root).
type Cluster struct {
	Port int
	t    testing.TB
	bin  string // directory of initdb and pg_ctl
	dir  string // holds data/, sock/ and log
	cred *syscall.Credential
}

// clusterStartTimeout bounds pg_ctl's wait for the server to accept
// connections (and to stop).
const clusterStartTimeout = 60 * time.Second

// StartCluster initialises and starts a cluster, stopped and removed at
// cleanup. Without the PostgreSQL server programs the test fails (it
// skips only under -short, like every test that needs a database).
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	skipShort(t)
	bin, err := pgBin()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "cltest-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bin, dir: dir}
	t.Cleanup(func() {
		_ = c.pgctl("stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	if err := os.Mkdir(c.path("sock"), 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root and there is no postgres user to run a private cluster as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, p := range []string{dir, c.path("sock")} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	if out, err := c.run(filepath.Join(bin, "initdb"), "-D", c.path("data"), "-A", "trust", "-U", "postgres",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if c.Port, err = freePort(); err != nil {
		t.Fatal(err)
	}
	c.Start()
	return c
}

// URL is the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=3", c.Port)
}

// Start starts the (stopped) cluster on its port and waits until it
// accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k '%s' -c fsync=off -c max_connections=40 -c shared_buffers=32MB", c.Port, c.path("sock"))
	if err := c.pgctl("start", "-l", c.path("log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(c.path("log"))
		c.t.Fatalf("pg_ctl start: %v\n%s", err, log)
	}
}

// Stop shuts the cluster down (fast: open sessions are terminated, as in
// an outage) and waits until it is down.
func (c *Cluster) Stop() {
	c.t.Helper()
	if err := c.pgctl("stop", "-m", "fast"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v", err)
	}
}

func (c *Cluster) path(name string) string { return filepath.Join(c.dir, name) }

func (c *Cluster) pgctl(action string, args ...string) error {
	all := append([]string{action, "-D", c.path("data"), "-w", "-t", strconv.Itoa(int(clusterStartTimeout / time.Second))}, args...)
	out, err := c.run(filepath.Join(c.bin, "pg_ctl"), all...)
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

func (c *Cluster) run(prog string, args ...string) ([]byte, error) {
	cmd := exec.Command(prog, args...)
	cmd.Dir = "/" // the server warns about a cwd it cannot read
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// pgBin finds the directory holding initdb and pg_ctl: PATH first, else
// the newest /usr/lib/postgresql/*/bin (Debian keeps them off PATH).
func pgBin() (string, error) {
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(real), "pg_ctl")); err == nil {
				return filepath.Dir(real), nil
			}
		}
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(initdb), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) < versionOf(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server programs (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before the cluster binds it; the start then fails loudly.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
