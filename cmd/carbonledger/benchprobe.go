package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// What explains a figure (issue 11): the WAL the database wrote per
// operation (pg_current_wal_lsn before and after), the CPU the API server,
// the database and the load tool itself used as a share of the machine,
// and the rate per window of the run, so that a rate that sinks as the
// journal grows is visible in one run.

// clockTicksPerSecond is USER_HZ, the unit of /proc/<pid>/stat's times:
// 100 on every Linux the kernel's ABI supports.
const clockTicksPerSecond = 100

// benchProbe samples the figures; each is optional (no DATABASE_URL, a
// database on another machine, CockroachDB: the figure is left out).
type benchProbe struct {
	pool      *pgxpool.Pool
	serverPID int // carbonledger serve, found by its command line or -server-pid
	pgPID     int // the postmaster, found from a backend's parent
	wal       bool
}

type benchSample struct {
	at                   time.Time
	ops                  int64
	wal                  uint64
	server, db, self     time.Duration
	hasServer, hasDB, ok bool
}

func newBenchProbe(ctx context.Context, databaseURL, addr string, serverPID int) *benchProbe {
	p := &benchProbe{serverPID: serverPID}
	if p.serverPID == 0 {
		p.serverPID = findListener(addr)
	}
	if p.serverPID == 0 {
		p.serverPID = findServerPID()
	}
	if databaseURL == "" {
		return p
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return p
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return p
	}
	p.pool = pool
	var lsn string
	p.wal = pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::TEXT`).Scan(&lsn) == nil
	var backend int
	if pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend) == nil {
		if st, err := readProcStat(backend); err == nil {
			p.pgPID = st.ppid
		}
	}
	return p
}

func (p *benchProbe) close() {
	if p.pool != nil {
		p.pool.Close()
	}
}

// describe says, once, what the probe can see.
func (p *benchProbe) describe() string {
	var parts []string
	if p.wal {
		parts = append(parts, "WAL from pg_current_wal_lsn()")
	}
	if p.serverPID != 0 {
		parts = append(parts, fmt.Sprintf("server CPU of pid %d", p.serverPID))
	}
	if p.pgPID != 0 {
		parts = append(parts, fmt.Sprintf("database CPU of postmaster %d and its children", p.pgPID))
	}
	parts = append(parts, "bench CPU (getrusage)")
	return strings.Join(parts, ", ")
}

func (p *benchProbe) sample(ctx context.Context, ops int64) benchSample {
	s := benchSample{at: time.Now(), ops: ops, ok: true}
	if p.wal {
		var lsn string
		if err := p.pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::TEXT`).Scan(&lsn); err == nil {
			s.wal, _ = parseLSN(lsn)
		}
	}
	if p.serverPID != 0 {
		if st, err := readProcStat(p.serverPID); err == nil {
			s.server, s.hasServer = st.cpu(false), true
		}
	}
	if p.pgPID != 0 {
		s.db, s.hasDB = treeCPU(p.pgPID)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s
}

// explain is the figures between two samples, as key=value pairs.
func (p *benchProbe) explain(a, b benchSample) string {
	wall := b.at.Sub(a.at).Seconds()
	ops := b.ops - a.ops
	var out []string
	if p.wal && b.wal >= a.wal && a.wal > 0 {
		out = append(out, fmt.Sprintf("wal_mb=%.1f", float64(b.wal-a.wal)/(1<<20)))
		if ops > 0 {
			out = append(out, fmt.Sprintf("wal_bytes_per_op=%.0f", float64(b.wal-a.wal)/float64(ops)))
		}
	}
	share := func(d time.Duration) string {
		return fmt.Sprintf("%.1f", 100*d.Seconds()/(wall*float64(runtime.NumCPU())))
	}
	if wall > 0 {
		if a.hasServer && b.hasServer {
			out = append(out, "server_cpu_pct="+share(b.server-a.server))
		}
		if a.hasDB && b.hasDB {
			out = append(out, "db_cpu_pct="+share(b.db-a.db))
		}
		out = append(out, "bench_cpu_pct="+share(b.self-a.self))
	}
	return strings.Join(out, " ")
}

// parseLSN reads PostgreSQL's "hi/lo" hexadecimal WAL position.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("lsn %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, err
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, err
	}
	return h<<32 | l, nil
}

type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime uint64
}

func (s procStat) cpu(withWaitedChildren bool) time.Duration {
	t := s.utime + s.stime
	if withWaitedChildren {
		t += s.cutime + s.cstime
	}
	return time.Duration(t) * time.Second / clockTicksPerSecond
}

// readProcStat reads /proc/<pid>/stat: fields after the command name
// (which may hold spaces and parentheses), numbered as in proc(5).
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

func parseProcStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("proc stat: no command")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("proc stat: %d fields", len(f))
	}
	num := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	return procStat{ppid: int(num(4)), utime: num(14), stime: num(15), cutime: num(16), cstime: num(17)}, nil
}

// treeCPU is the CPU of a process, of its children that exited (it waited
// for them) and of its living children: PostgreSQL's postmaster and its
// backends. A backend that exits between two samples moves from the
// living to the waited-for, so the difference of two samples is exact.
func treeCPU(root int) (time.Duration, bool) {
	st, err := readProcStat(root)
	if err != nil {
		return 0, false
	}
	total := st.cpu(true)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == root {
			continue
		}
		if c, err := readProcStat(pid); err == nil && c.ppid == root {
			total += c.cpu(false)
		}
	}
	return total, true
}

// findServerPID finds a local `carbonledger serve` (not this process).
func findServerPID() int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) >= 2 && strings.HasPrefix(filepath.Base(args[0]), "carbonledger") && args[1] == "serve" {
			return pid
		}
	}
	return 0
}

// findListener finds the local process listening on addr's TCP port: the
// socket's inode from /proc/net/tcp (and tcp6), then the process holding
// it among /proc/<pid>/fd. 0 when not found (not local, not permitted).
func findListener(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if ino, ok := listenInode(line, n); ok {
				inodes["socket:["+ino+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(d + "/fd")
		for _, fd := range fds {
			if link, err := os.Readlink(d + "/fd/" + fd.Name()); err == nil && inodes[link] {
				return pid
			}
		}
	}
	return 0
}

// listenInode reads one line of /proc/net/tcp: the socket's inode if it
// listens (state 0A) on port.
func listenInode(line string, port int) (string, bool) {
	f := strings.Fields(line)
	if len(f) < 10 || f[3] != "0A" {
		return "", false
	}
	_, hexPort, ok := strings.Cut(f[1], ":")
	if !ok {
		return "", false
	}
	p, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil || int(p) != port {
		return "", false
	}
	return f[9], true
}
