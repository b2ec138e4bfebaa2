package main

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

func TestParseLSN(t *testing.T) {
	for in, want := range map[string]uint64{"0/0": 0, "0/16B3748": 0x16B3748, "1/0": 1 << 32, "A/FF": 10<<32 | 0xFF} {
		if got, err := parseLSN(in); err != nil || got != want {
			t.Fatalf("%s: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "16B3748", "x/1", "1/y"} {
		if _, err := parseLSN(bad); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}

// /proc/<pid>/stat's command name may hold spaces and parentheses; the
// fields are counted after the last ')'.
func TestParseProcStat(t *testing.T) {
	line := "4242 (post gres: (x) idle) S 17 4242 4242 0 -1 4194560 1000 0 0 0 250 75 12 3 20 0 1 0 100 1000 10 18446744073709551615"
	st, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != 17 || st.utime != 250 || st.stime != 75 || st.cutime != 12 || st.cstime != 3 {
		t.Fatalf("%+v", st)
	}
	if st.cpu(false) != 3250*time.Millisecond || st.cpu(true) != 3400*time.Millisecond {
		t.Fatalf("cpu %s %s", st.cpu(false), st.cpu(true))
	}
	if _, err := parseProcStat("4242 (short) S 1 2"); err == nil {
		t.Fatal("a short line parsed")
	}
	// This process's own line reads.
	if _, err := readProcStat(os.Getpid()); err != nil && !strings.Contains(err.Error(), "no such file") {
		t.Fatal(err)
	}
}

// The explanation between two samples: WAL per operation and CPU shares.
func TestBenchProbeExplains(t *testing.T) {
	p := &benchProbe{wal: true}
	t0 := time.Now()
	a := benchSample{at: t0, ops: 0, wal: 1 << 20, self: 0, ok: true}
	b := benchSample{at: t0.Add(10 * time.Second), ops: 1000, wal: 1<<20 + 3_000_000, self: time.Second, ok: true}
	got := p.explain(a, b)
	for _, want := range []string{"wal_mb=2.9", "wal_bytes_per_op=3000", "bench_cpu_pct="} {
		if !strings.Contains(got, want) {
			t.Fatalf("explain %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "server_cpu_pct") || strings.Contains(got, "db_cpu_pct") {
		t.Fatalf("explain %q reports processes it could not see", got)
	}
}

func TestListenInode(t *testing.T) {
	listen := "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0"
	if ino, ok := listenInode(listen, 8080); !ok || ino != "123456" {
		t.Fatalf("listening on 8080: %q %v", ino, ok)
	}
	if _, ok := listenInode(listen, 8081); ok {
		t.Fatal("another port matched")
	}
	established := strings.Replace(listen, " 0A ", " 01 ", 1)
	if _, ok := listenInode(established, 8080); ok {
		t.Fatal("an established connection matched")
	}
}

// On this machine's database the probe sees the WAL move with a write,
// the postmaster's CPU, and a listener's process.
func TestBenchProbeSamplesTheDatabase(t *testing.T) {
	url := ledgertest.FreshURL(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := newBenchProbe(context.Background(), url, ln.Addr().String(), 0)
	defer p.close()
	if !p.wal || p.pgPID == 0 || p.serverPID != os.Getpid() {
		t.Fatalf("probe sees wal %v, postmaster %d, listener %d (want %d)", p.wal, p.pgPID, p.serverPID, os.Getpid())
	}
	a := p.sample(context.Background(), 0)
	if _, err := p.pool.Exec(context.Background(), `CREATE TABLE probe_t AS SELECT g, repeat('x', 100) AS s FROM generate_series(1, 10000) g`); err != nil {
		t.Fatal(err)
	}
	b := p.sample(context.Background(), 100)
	if !a.hasDB || !b.hasServer || b.wal <= a.wal {
		t.Fatalf("samples %+v then %+v", a, b)
	}
	if got := p.explain(a, b); !strings.Contains(got, "wal_bytes_per_op=") || !strings.Contains(got, "db_cpu_pct=") || !strings.Contains(got, "server_cpu_pct=") {
		t.Fatalf("explain: %s", got)
	}
}
