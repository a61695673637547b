// SPDX-License-Identifier: LGPL-2.1-or-later

package delegate

// Tests against a real delegate-broker.  tests/functional/test-go.c runs
// the compiled test binary (go test -c) in the project's harness: as an
// unprivileged uid in a pod cgroup and the pod's network namespace, with
// DELEGATE_GO_HARNESS=1, DELEGATE_SOCKET, and a control pipe to the
// harness (DELEGATE_GO_CTL_FD / DELEGATE_GO_ACK_FD) to stop and restart the
// broker.  Assertions read the kernel: /proc/PID/limits, /proc/TID/sched,
// /proc/TID/cgroup and cgroup.threads, rtnetlink and TUNGETIFF.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func needHarness(t *testing.T) {
	if os.Getenv("DELEGATE_GO_HARNESS") != "1" {
		t.Skip("needs a real broker: run by tests/functional/test-go (meson test go-broker-ops)")
	}
}

// The control pipe to the harness, opened once: an *os.File closes its
// descriptor when it is garbage-collected.
var (
	ctlOnce  sync.Once
	ctl, ack *os.File
)

// harnessCtl asks the harness to act on the broker: stop, cont, kill, start, term.
func harnessCtl(t *testing.T, cmd string) {
	t.Helper()
	ctlOnce.Do(func() {
		ctlFD, err1 := strconv.Atoi(os.Getenv("DELEGATE_GO_CTL_FD"))
		ackFD, err2 := strconv.Atoi(os.Getenv("DELEGATE_GO_ACK_FD"))
		if err1 == nil && err2 == nil {
			ctl, ack = os.NewFile(uintptr(ctlFD), "ctl"), os.NewFile(uintptr(ackFD), "ack")
		}
	})
	if ctl == nil {
		t.Fatalf("no control pipe to the harness")
	}
	if _, err := ctl.Write([]byte(cmd + "\n")); err != nil {
		t.Fatalf("harness %s: %v", cmd, err)
	}
	var b [64]byte
	n, err := ack.Read(b[:])
	if err != nil || strings.TrimSpace(string(b[:n])) != "ok" {
		t.Fatalf("harness %s: %q %v", cmd, b[:n], err)
	}
}

// brokerSession connects to the harness's broker for VM vm-go; the
// session ends with the test.
func brokerSession(t *testing.T) (context.Context, *Client, Welcome) {
	t.Helper()
	needHarness(t)
	ctx := testCtx(t)
	c, err := Dial(ctx, Config{Client: "go-test", VM: "vm-go"})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return ctx, c, c.Welcome()
}

// memlockOf reads RLIMIT_MEMLOCK of pid from /proc/PID/limits.
func memlockOf(t *testing.T, pid int) (soft, hard Limit) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "Max locked memory") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, "Max locked memory"))
		parse := func(s string) Limit {
			if s == "unlimited" {
				return Unlimited
			}
			v, _ := strconv.ParseUint(s, 10, 64)
			return Limit(v)
		}
		return parse(f[0]), parse(f[1])
	}
	t.Fatalf("no memlock line in /proc/%d/limits", pid)
	return 0, 0
}

// lockedThread runs a goroutine on its own OS thread until stop is closed;
// returns its tid.
func lockedThread(t *testing.T) (tid int, stop func()) {
	ch := make(chan int)
	quit := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		ch <- syscall.Gettid()
		<-quit
	}()
	return <-ch, func() { close(quit) }
}

// procField reads "name : value" from /proc/self/task/TID/sched.
func schedField(t *testing.T, tid int, name string) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/sched", os.Getpid(), tid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 2)
		if len(f) == 2 && strings.TrimSpace(f[0]) == name {
			return strings.TrimSpace(f[1])
		}
	}
	t.Fatalf("no %s in /proc/%d/sched", name, tid)
	return ""
}

// cgroup2Mount finds the cgroup v2 mount point in /proc/self/mountinfo.
func cgroup2Mount(t *testing.T) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, " - ", 2)
		if len(parts) == 2 && strings.HasPrefix(parts[1], "cgroup2 ") {
			return strings.Fields(parts[0])[4]
		}
	}
	t.Fatal("no cgroup2 mount")
	return ""
}

// linkMaster asks rtnetlink for the master ifindex of the link named name.
func linkMaster(t *testing.T, name string) (found bool, master int) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		if msgs[i].Header.Type != syscall.RTM_NEWLINK {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&msgs[i])
		if err != nil {
			continue
		}
		var n string
		m := 0
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFLA_IFNAME:
				n = strings.TrimRight(string(a.Value), "\x00")
			case syscall.IFLA_MASTER:
				m = int(*(*uint32)(unsafe.Pointer(&a.Value[0])))
			}
		}
		if n == name {
			return true, m
		}
	}
	return false, 0
}

// tunIfname asks the kernel which device a TAP queue fd is attached to (TUNGETIFF).
func tunIfname(t *testing.T, f *os.File) (string, uint16) {
	var ifr [40]byte
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), 0x800454d2 /* TUNGETIFF */, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		t.Fatalf("TUNGETIFF: %v", e)
	}
	name := strings.TrimRight(string(ifr[:16]), "\x00")
	return name, *(*uint16)(unsafe.Pointer(&ifr[16]))
}

func wantCode(t *testing.T, what string, err error, code string, errno syscall.Errno) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code || (errno != 0 && e.Errno != errno) {
		t.Fatalf("%s: want %s (errno %d), got %v", what, code, int(errno), err)
	}
	return e
}

func TestBrokerOps(t *testing.T) {
	ctx, c, w := brokerSession(t)
	if w.API != 1 || w.PID != os.Getpid() || w.UID != uint32(os.Getuid()) || w.Session == 0 {
		t.Fatalf("welcome %+v (pid %d uid %d)", w, os.Getpid(), os.Getuid())
	}

	t.Run("api-mismatch", func(t *testing.T) {
		// Dial refuses API 2 itself; this hello says 2 to the real broker
		other := &Client{cfg: Config{Socket: c.cfg.Socket, API: 2, Client: "go-test"}, lost: map[string]uint64{}}
		e := wantCode(t, "a hello with API 2", other.connectOnce(ctx, nil), CodeAPIMismatch, 0)
		if !e.Handshake || e.Message != "client speaks API 2, broker speaks API 1" {
			t.Fatalf("refusal %+v", e)
		}
	})

	t.Run("ping", func(t *testing.T) {
		p, err := c.Ping(ctx)
		if err != nil || !p.Pong || p.API != 1 || p.Session != w.Session {
			t.Fatalf("ping: %+v %v", p, err)
		}
	})

	t.Run("memlock", func(t *testing.T) {
		child := exec.Command("/bin/sleep", "300")
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { child.Process.Kill(); child.Wait() }()
		_, hard := memlockOf(t, child.Process.Pid)
		want := hard / 2
		r, err := c.MemlockSet(ctx, MemlockArgs{PID: child.Process.Pid, Soft: want})
		if err != nil {
			t.Fatal(err)
		}
		soft, h := memlockOf(t, child.Process.Pid)
		if r.Soft != want || soft != want || h != hard || r.Hard != hard {
			t.Fatalf("result %+v; kernel soft %v hard %v, want soft %v", r, soft, h, want)
		}
		if own, _ := memlockOf(t, os.Getpid()); own == want {
			t.Fatalf("the caller's own limit changed too")
		}
		e := wantCode(t, "over the rule's max", func() error {
			_, err := c.MemlockSet(ctx, MemlockArgs{PID: child.Process.Pid, Soft: 128 << 30, Hard: ptrLimit(128 << 30)})
			return err
		}(), CodeDenied, syscall.EPERM)
		if e.Rule != "go-pods" || !strings.Contains(e.Message, "max") {
			t.Fatalf("denial %+v", e)
		}
		if soft, _ := memlockOf(t, child.Process.Pid); soft != want {
			t.Fatalf("kernel: a denied request changed the limit to %v", soft)
		}
		_, err = c.MemlockSet(ctx, MemlockArgs{PID: 999999, Soft: 1})
		wantCode(t, "pid 999999", err, CodeNotFound, syscall.ESRCH)
	})

	t.Run("cgroup.move", func(t *testing.T) {
		tid, stop := lockedThread(t)
		defer stop()
		r, err := c.CgroupMove(ctx, CgroupMoveArgs{TIDs: []int{tid}, Target: "go-housekeeping", Create: true})
		if err != nil {
			t.Fatal(err)
		}
		want := w.Cgroup + "/go-housekeeping"
		if r.Moved != 1 || r.Failed != 0 || r.Type != "threaded" || !r.Created || len(r.Threads) != 1 ||
			r.Threads[0].TID != tid || r.Cgroup != want {
			t.Fatalf("result %+v", r)
		}
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/cgroup", os.Getpid(), tid))
		if !strings.Contains("\n"+string(data), "\n0::"+want+"\n") { // the v2 line (hybrid nodes list v1 too)
			t.Fatalf("kernel: thread %d is in %q, want %s", tid, data, want)
		}
		threads, err := os.ReadFile(filepath.Join(cgroup2Mount(t), want, "cgroup.threads"))
		if err != nil || !strings.Contains("\n"+string(threads), "\n"+strconv.Itoa(tid)+"\n") {
			t.Fatalf("kernel: cgroup.threads of %s is %q (%v)", want, threads, err)
		}
		_, err = c.CgroupMove(ctx, CgroupMoveArgs{TIDs: []int{tid}, Target: "../escape"})
		wantCode(t, "../escape", err, CodeBadRequest, 0)
	})

	t.Run("sched.set", func(t *testing.T) {
		// rtkit's rule: a finite hard RLIMIT_RTTIME first
		if err := syscall.Setrlimit(15 /* RLIMIT_RTTIME */, &syscall.Rlimit{Cur: 100000, Max: 100000}); err != nil {
			t.Fatal(err)
		}
		tid, stop := lockedThread(t)
		defer stop()
		r, err := c.SchedSet(ctx, SchedArgs{TID: tid, Policy: "fifo", Priority: 5})
		if err != nil {
			t.Fatal(err)
		}
		if r.Policy != "fifo" || r.Priority != 5 || !r.ResetOnFork || r.Was.Policy != "other" {
			t.Fatalf("result %+v", r)
		}
		if p := schedField(t, tid, "policy"); p != "1" {
			t.Fatalf("kernel: policy %s, want 1 (SCHED_FIFO)", p)
		}
		if p := schedField(t, tid, "prio"); p != "94" {
			t.Fatalf("kernel: prio %s, want 94 (99 - 5)", p)
		}
		_, err = c.SchedSet(ctx, SchedArgs{TID: tid, Policy: "fifo", Priority: 50})
		wantCode(t, "priority 50", err, CodeDenied, syscall.EPERM)
		if p := schedField(t, tid, "policy"); p != "1" {
			t.Fatalf("kernel: a denied request changed the policy to %s", p)
		}
		// back to SCHED_OTHER: a realtime thread left in the Go runtime's
		// pool would count against RLIMIT_RTTIME
		r, err = c.SchedSet(ctx, SchedArgs{TID: tid, Policy: "other"})
		if err != nil || r.Policy != "other" || r.Was.Policy != "fifo" {
			t.Fatalf("back to other: %+v %v", r, err)
		}
		if p := schedField(t, tid, "policy"); p != "0" {
			t.Fatalf("kernel: policy %s, want 0 (SCHED_OTHER)", p)
		}
	})

	t.Run("tap", func(t *testing.T) {
		tap, err := c.TapCreate(ctx, TapArgs{Name: "vnet%d", Queues: 2, MTU: 1400, MAC: "52:54:00:12:34:56", Bridge: "br0"})
		if err != nil {
			t.Fatal(err)
		}
		defer closeFiles(tap.Files)
		if tap.Name != "vnet0" || tap.Queues != 2 || len(tap.Files) != 2 || tap.MTU != 1400 || tap.Bridge == nil || *tap.Bridge != "br0" {
			t.Fatalf("result %+v", tap)
		}
		for i, f := range tap.Files {
			name, flags := tunIfname(t, f)
			if name != "vnet0" || flags&0x0002 == 0 /* IFF_TAP */ || flags&0x0100 == 0 /* IFF_MULTI_QUEUE */ {
				t.Fatalf("kernel: queue %d is attached to %q flags %#x", i, name, flags)
			}
			fl, _, _ := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFD, 0)
			if fl&syscall.FD_CLOEXEC == 0 {
				t.Fatalf("queue %d is not close-on-exec", i)
			}
		}
		ifc, err := net.InterfaceByName("vnet0")
		if err != nil || ifc.MTU != 1400 || ifc.HardwareAddr.String() != "52:54:00:12:34:56" || ifc.Flags&net.FlagUp == 0 {
			t.Fatalf("kernel: vnet0 %+v %v", ifc, err)
		}
		br, err := net.InterfaceByName("br0")
		if err != nil {
			t.Fatal(err)
		}
		if found, master := linkMaster(t, "vnet0"); !found || master != br.Index {
			t.Fatalf("kernel: vnet0 master %d, want br0 (%d)", master, br.Index)
		}
		st, err := c.State(ctx)
		if err != nil || len(st.Tap) != 1 || st.Tap[0].Name != "vnet0" || st.Tap[0].Ifindex != ifc.Index {
			t.Fatalf("state.get: %+v %v", st, err)
		}
		_, err = c.TapCreate(ctx, TapArgs{Name: "eth9"})
		wantCode(t, "name outside the templates", err, CodeDenied, syscall.EPERM)
		_, err = c.TapDestroy(ctx, "vnet7")
		wantCode(t, "a device the session does not hold", err, CodeNotFound, syscall.ENODEV)
		d, err := c.TapDestroy(ctx, "vnet0")
		if err != nil || !d.Removed {
			t.Fatalf("tap.destroy: %+v %v", d, err)
		}
		if _, err := net.InterfaceByName("vnet0"); err == nil {
			t.Fatalf("kernel: vnet0 still exists")
		}
	})

	t.Run("kvmi", func(t *testing.T) { testKVMI(t, ctx, c) })

	t.Run("state.get", func(t *testing.T) {
		st, err := c.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Session != w.Session || st.Client != "go-test" || st.VM != "vm-go" || st.Peer.PID != os.Getpid() ||
			st.Requests.Allowed == 0 || st.Requests.Denied < 3 || st.Requests.Quiet == 0 || st.ThreadsMoved != 1 || st.SchedChanges != 2 ||
			len(st.CgroupsCreated) != 1 || len(st.Memlock) != 1 || st.Unotify.Attached || st.Unotify.Notified != 0 {
			b, _ := json.Marshal(st)
			t.Fatalf("state %s", b)
		}
	})

	t.Run("broker-rejects", func(t *testing.T) {
		for _, v := range loadVectors(t).BrokerRejects {
			err := rawCall(t, c, []byte(v.Wire), v.ID)
			e := wantCode(t, v.Name, err, v.Code, 0)
			if v.Errno != nil && int(e.Errno) != *v.Errno {
				t.Errorf("%s: errno %d, want %d", v.Name, e.Errno, *v.Errno)
			}
		}
		if _, err := c.Ping(ctx); err != nil {
			t.Fatalf("the session goes on after bad requests: %v", err)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if i%2 == 0 {
					p, err := c.Ping(ctx)
					if err == nil && p.Session != w.Session {
						err = fmt.Errorf("ping answered for session %d", p.Session)
					}
					errs <- err
				} else {
					st, err := c.State(ctx)
					if err == nil && st.Session != w.Session {
						err = fmt.Errorf("state for session %d", st.Session)
					}
					errs <- err
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := c.Ping(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled: %v", err)
		}
		harnessCtl(t, "stop") // the broker is frozen: nothing answers
		harnessCtl(t, "stop") // asked again: acked at once, still frozen
		dctx, dcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := c.Ping(dctx)
		dcancel()
		harnessCtl(t, "cont")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("deadline: %v", err)
		}
		// the late answer is dropped; the next call gets its own
		p, err := c.Ping(ctx)
		if err != nil || !p.Pong {
			t.Fatalf("after a timeout: %+v %v", p, err)
		}
	})

	// last: it spends the session's tokens
	t.Run("rate-limited", func(t *testing.T) {
		var limited *Error
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 400; i++ {
					_, err := c.Ping(ctx)
					var e *Error
					if errors.As(err, &e) && e.Code == CodeRateLimited {
						mu.Lock()
						limited = e
						mu.Unlock()
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if limited == nil || limited.Errno != syscall.EAGAIN || limited.RetryAfterMS == 0 ||
			!errors.Is(limited, syscall.EAGAIN) || !errors.Is(limited, &Error{Code: CodeRateLimited}) {
			t.Fatalf("3200 pings at once: %+v", limited)
		}
		time.Sleep(time.Duration(limited.RetryAfterMS+5) * time.Millisecond)
		if _, err := c.Ping(ctx); err != nil {
			t.Fatalf("after retry_after_ms: %v", err)
		}
	})
}

func ptrLimit(l Limit) *Limit { return &l }

// rawCall sends a datagram as is over c's connection and waits for the
// answer with id (nil: an answer without id).
func rawCall(t *testing.T, c *Client, wire []byte, id *uint64) error {
	c.mu.Lock()
	cn := c.conn
	c.mu.Unlock()
	key := uint64(1<<53 + 1) // a slot no real request uses, for null-id answers
	if id != nil {
		key = *id
	}
	pc := &pendingCall{id: key, op: "raw", ch: make(chan callResult, 1)}
	cn.mu.Lock()
	cn.seq++
	pc.seq = cn.seq
	cn.pending[key] = pc
	cn.mu.Unlock()
	if err := cn.send(testCtx(t), wire, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-pc.ch:
		closeFiles(r.files)
		if r.err == nil {
			return fmt.Errorf("%s answered %s", wire, r.result)
		}
		return r.err
	case <-time.After(5 * time.Second):
		t.Fatalf("no answer to %s", wire)
	}
	return nil
}

func testKVMI(t *testing.T, ctx context.Context, c *Client) {
	peer := os.Getenv("DELEGATE_KVMI_PEER")
	if peer == "" {
		t.Fatal("DELEGATE_KVMI_PEER is not set (meson sets it)")
	}
	ch, err := c.KVMIAttach(ctx, KVMIAttachArgs{})
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Keyed || len(ch.Secret) != 64 || ch.VM != "vm-go" {
		t.Fatalf("attach %+v", ch)
	}
	// QEMU is the client of a socket the tool side listens on: the peer
	// connects as KVM-VMI's QEMU does, and the connection goes to the broker
	dir := t.TempDir()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "kvmi.sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mapPrefix := filepath.Join(dir, "map")
	cmd := exec.Command(peer, "--connect", filepath.Join(dir, "kvmi.sock"), "--name", "vm-go", "--pages", "64",
		"--map", mapPrefix, "--secret", ch.Secret, "--connections", "1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	l.SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := l.AcceptUnix()
	if err != nil {
		t.Fatalf("the peer did not connect: %v", err)
	}
	f, err := conn.File()
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	cr, err := c.KVMIConnect(ctx, f)
	f.Close()
	if err != nil || cr.Connection != 1 || cr.VM != "vm-go" || !cr.Keyed || cr.Version != 1 || !cr.Unhook ||
		cr.MaxGPA != 64*4096 {
		t.Fatalf("connect: %+v %v", cr, err)
	}
	r, err := c.KVMISetPageAccess(ctx, []PageAccess{{0x1000, AccessR}, {0x2000, AccessR | AccessW}})
	if err != nil || r.Entries != 2 || r.Applied != 2 {
		t.Fatalf("inline: %+v %v", r, err)
	}
	mf, err := NewPageAccessMemfd([]PageAccess{{0x3000, 0}, {0x4000, AccessX}})
	if err != nil {
		t.Fatal(err)
	}
	r, err = c.KVMISetPageAccessMemfd(ctx, mf)
	mf.Close()
	if err != nil || r.Entries != 2 || r.Applied != 2 || r.ShadowPages != 4 {
		t.Fatalf("memfd: %+v %v", r, err)
	}
	_, err = c.KVMISetPageAccess(ctx, []PageAccess{{0x400000000, AccessR}})
	wantCode(t, "a gpa outside the rule", err, CodeDenied, 0)
	st, err := c.State(ctx)
	if err != nil || st.KVMI.Shadow.Pages != 4 || st.KVMI.Shadow.ByAccess["r--"] != 1 || st.KVMI.Shadow.ByAccess["---"] != 1 {
		t.Fatalf("state: %+v %v", st.KVMI, err)
	}
	d, err := c.KVMIDetach(ctx)
	if err != nil || !d.Detached || d.ForgottenPages != 4 {
		t.Fatalf("detach: %+v %v", d, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("kvmi-peer: %v", err)
	}
	m, err := os.ReadFile(mapPrefix + ".1")
	if err != nil || len(m) != 64 {
		t.Fatalf("the peer's access map: %d bytes, %v", len(m), err)
	}
	// what the simulated kernel holds: page 1 r, 2 rw, 3 none, 4 x, others unrestricted
	want := map[int]byte{1: 1, 2: 3, 3: 0, 4: 4}
	for p := 0; p < 64; p++ {
		w, ok := want[p]
		if !ok {
			w = 7
		}
		if m[p] != w {
			t.Fatalf("page %d has access %d, want %d", p, m[p], w)
		}
	}
}

// The broker restarts under a live client: the session is resumed with
// the welcome's token, and a request whose answer was lost is sent again
// under its first id.
func TestBrokerRestart(t *testing.T) {
	ctx, c, w := brokerSession(t)
	_, hard := memlockOf(t, os.Getpid())
	// something granted, so that the broker keeps the session over a restart
	if _, err := c.MemlockSet(ctx, MemlockArgs{Soft: hard / 8}); err != nil {
		t.Fatal(err)
	}

	harnessCtl(t, "stop")
	c.mu.Lock()
	lostID := c.nextID
	c.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := c.MemlockSet(ctx, MemlockArgs{Soft: hard / 4})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the request is in the frozen broker's queue
	harnessCtl(t, "kill")
	e := wantCode(t, "the request in flight", <-done, CodeLocal, syscall.ECONNRESET)
	if !e.Lost {
		t.Fatalf("not marked lost: %+v", e)
	}
	if soft, _ := memlockOf(t, os.Getpid()); soft != hard/8 {
		t.Fatalf("kernel: %v; the killed broker did not carry it out", soft)
	}
	if _, err := c.Ping(ctx); err == nil {
		t.Fatalf("a ping reached a broker that is not running")
	}

	harnessCtl(t, "start")
	r, err := c.MemlockSet(ctx, MemlockArgs{Soft: hard / 4})
	if err != nil {
		t.Fatalf("retry after the restart: %v", err)
	}
	nw := c.Welcome()
	if !nw.Resumed || nw.Session != w.Session {
		t.Fatalf("not resumed: %+v (was session %d)", nw, w.Session)
	}
	c.mu.Lock()
	next := c.nextID
	c.mu.Unlock()
	if next != lostID+1 {
		t.Fatalf("the retry took a new id (next id %d, lost %d)", next, lostID)
	}
	if soft, _ := memlockOf(t, os.Getpid()); r.Soft != hard/4 || soft != hard/4 {
		t.Fatalf("kernel: %v, result %+v", soft, r)
	}

	// a clean stop and start: resumed again, the same session
	harnessCtl(t, "term")
	harnessCtl(t, "start")
	p, err := c.Ping(ctx)
	if err != nil || p.Session != w.Session || !c.Welcome().Resumed {
		t.Fatalf("after SIGTERM and a new broker: %+v %v", p, err)
	}
	st, err := c.State(ctx)
	if err != nil || len(st.Memlock) != 1 || st.Memlock[0].Soft != hard/4 {
		t.Fatalf("the resumed session's state: %+v %v", st, err)
	}

	// An answer lost after the broker carried the request out: the retry
	// gets the first answer from the resumed session's reply cache and the
	// broker does not do it again.  The loss is staged (the answer came,
	// and is then forgotten); what the broker does is not.
	first, err := c.MemlockSet(ctx, MemlockArgs{Soft: hard / 2})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := requestKey("memlock.set", MemlockArgs{Soft: hard / 2}, 0)
	c.mu.Lock()
	c.lost[key] = c.nextID - 1
	c.mu.Unlock()
	harnessCtl(t, "kill")
	// meanwhile the limit moves: a request done again would move it back
	if err := syscall.Setrlimit(8 /* RLIMIT_MEMLOCK */, &syscall.Rlimit{Cur: uint64(hard / 8), Max: uint64(hard)}); err != nil {
		t.Fatal(err)
	}
	harnessCtl(t, "start")
	again, err := c.MemlockSet(ctx, MemlockArgs{Soft: hard / 2})
	if err != nil || !c.Welcome().Resumed || *again != *first {
		t.Fatalf("the retry: %+v (first %+v), %v", again, first, err)
	}
	if soft, _ := memlockOf(t, os.Getpid()); soft != hard/8 {
		t.Fatalf("kernel: %v; the retried request was carried out again", soft)
	}

	// closing the connection to a running broker ends the session: an
	// explicit reconnect is a new session, whose token is not the old one's
	if err := c.Reconnect(ctx); err != nil || c.Welcome().Resumed || c.Welcome().Session == w.Session {
		t.Fatalf("Reconnect: %v, welcome %+v", err, c.Welcome())
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
