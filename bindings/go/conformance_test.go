// SPDX-License-Identifier: LGPL-2.1-or-later

package delegate

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"
)

// The conformance vectors shared with the C unit test (tests/unit/test-conformance.c).
type vectorError struct {
	Code         string  `json:"code"`
	Errno        *int    `json:"errno"`
	Rule         string  `json:"rule"`
	Message      string  `json:"message"`
	RetryAfterMS *uint64 `json:"retry_after_ms"`
}

type vectors struct {
	API   int `json:"api"`
	Hello []struct {
		Name   string  `json:"name"`
		Client string  `json:"client"`
		VM     *string `json:"vm"`
		Resume *resume `json:"resume"`
		Wire   string  `json:"wire"`
	} `json:"hello"`
	Welcome []struct {
		Name    string       `json:"name"`
		Wire    string       `json:"wire"`
		Session uint64       `json:"session"`
		Cgroup  string       `json:"cgroup"`
		Resumed bool         `json:"resumed"`
		Error   *vectorError `json:"error"`
	} `json:"welcome"`
	Requests []struct {
		Name string          `json:"name"`
		ID   uint64          `json:"id"`
		Op   string          `json:"op"`
		Args json.RawMessage `json:"args"`
		FDs  int             `json:"fds"`
		Wire string          `json:"wire"`
	} `json:"requests"`
	Replies []struct {
		Name   string          `json:"name"`
		Wire   string          `json:"wire"`
		ID     *uint64         `json:"id"`
		Op     string          `json:"op"`
		Result json.RawMessage `json:"result"`
		Error  *vectorError    `json:"error"`
	} `json:"replies"`
	RepliesInvalid []invalidReply `json:"replies_invalid"`
	ResultsInvalid []struct {
		Name   string          `json:"name"`
		Op     string          `json:"op"`
		Result json.RawMessage `json:"result"`
	} `json:"results_invalid"`
	BrokerRejects []struct {
		Name  string  `json:"name"`
		Wire  string  `json:"wire"`
		ID    *uint64 `json:"id"`
		Code  string  `json:"code"`
		Errno *int    `json:"errno"`
	} `json:"broker_rejects"`
}

// vectorsPath: $DELEGATE_VECTORS, else the file in the source tree.
func vectorsPath() string {
	if p := os.Getenv("DELEGATE_VECTORS"); p != "" {
		return p
	}
	return filepath.Join("..", "..", "tests", "conformance", "vectors.json")
}

func loadVectors(tb testing.TB) *vectors {
	data, err := os.ReadFile(vectorsPath())
	if err != nil {
		tb.Fatalf("conformance vectors: %v", err)
	}
	var v vectors
	if err := strictUnmarshal(data, &struct {
		Comment []string `json:"comment"`
		*vectors
	}{vectors: &v}); err != nil {
		tb.Fatalf("conformance vectors %s: %v", vectorsPath(), err)
	}
	if v.API != APIVersion {
		tb.Fatalf("vectors are for API %d, this package speaks %d", v.API, APIVersion)
	}
	return &v
}

type invalidReply struct {
	Name        string `json:"name"`
	Wire        string `json:"wire"`
	WireHex     string `json:"wire_hex"`
	Libdelegate string `json:"libdelegate"`
}

func (w *invalidReply) bytes(t testing.TB) []byte {
	if w.WireHex != "" {
		b, err := hex.DecodeString(w.WireHex)
		if err != nil {
			t.Fatalf("%s: wire_hex: %v", w.Name, err)
		}
		return b
	}
	return []byte(w.Wire)
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	var x, y interface{}
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// typedArgs decodes a vector's args into the typed argument struct of op
// (refusing unknown keys: the typed API must be able to say it).
func typedArgs(t *testing.T, op string, raw json.RawMessage) interface{} {
	var v interface{}
	switch op {
	case "ping", "state.get", "kvmi.detach":
		if raw != nil {
			t.Fatalf("%s takes no args", op)
		}
		return nil
	case "memlock.set":
		v = &MemlockArgs{}
	case "cgroup.move":
		v = &CgroupMoveArgs{}
	case "sched.set":
		v = &SchedArgs{}
	case "tap.create":
		v = &TapArgs{}
	case "tap.destroy":
		v = &tapDestroyArgs{}
	case "kvmi.attach":
		v = &KVMIAttachArgs{}
	case "kvmi.connect":
		v = &kvmiConnectArgs{}
	case "kvmi.set-page-access":
		v = &pageAccessArgs{}
	default:
		t.Fatalf("no typed args for %s", op)
	}
	if err := strictUnmarshal(raw, v); err != nil {
		t.Fatalf("%s args %s do not fit the typed API: %v", op, raw, err)
	}
	return v
}

func TestConformanceHello(t *testing.T) {
	for _, h := range loadVectors(t).Hello {
		vm := ""
		if h.VM != nil {
			vm = *h.VM
		}
		got, err := json.Marshal(hello{Type: "hello", API: APIVersion, Client: h.Client, VM: vm, Resume: h.Resume})
		if err != nil || string(got) != h.Wire {
			t.Errorf("%s: hello is %s, want %s (%v)", h.Name, got, h.Wire, err)
		}
	}
}

func TestConformanceRequests(t *testing.T) {
	for _, r := range loadVectors(t).Requests {
		got, err := encodeRequest(r.ID, r.Op, typedArgs(t, r.Op, r.Args))
		if err != nil {
			t.Errorf("%s: %v", r.Name, err)
			continue
		}
		if string(got) != r.Wire || !jsonEqual(t, got, []byte(r.Wire)) {
			t.Errorf("%s: request is %s, want %s", r.Name, got, r.Wire)
		}
	}
	if _, err := encodeRequest(MaxRequestID+1, "ping", nil); err == nil {
		t.Errorf("an id beyond 2^53-1 is encoded")
	}
}

func checkError(t *testing.T, name string, err error, want *vectorError) {
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s: want a *delegate.Error %s, got %v", name, want.Code, err)
		return
	}
	if e.Code != want.Code || e.Message != want.Message || e.Rule != want.Rule ||
		(want.Errno != nil && int(e.Errno) != *want.Errno) ||
		(want.RetryAfterMS != nil && e.RetryAfterMS != *want.RetryAfterMS) {
		t.Errorf("%s: got %+v, want %+v", name, e, want)
	}
}

func TestConformanceReplies(t *testing.T) {
	v := loadVectors(t)
	for _, r := range v.Replies {
		d, err := decodeReply([]byte(r.Wire))
		if err != nil {
			t.Errorf("%s: valid reply refused: %v", r.Name, err)
			continue
		}
		if (r.ID == nil) == d.hasID || (r.ID != nil && *r.ID != d.id) {
			t.Errorf("%s: id decoded as %v/%d", r.Name, d.hasID, d.id)
		}
		if r.Error != nil {
			checkError(t, r.Name, d.err, r.Error)
			continue
		}
		if d.err != nil || !jsonEqual(t, d.result, r.Result) {
			t.Errorf("%s: result %s, error %v", r.Name, d.result, d.err)
		}
	}
	for i := range v.RepliesInvalid {
		r := &v.RepliesInvalid[i]
		if d, err := decodeReply(r.bytes(t)); err == nil {
			t.Errorf("%s: invalid reply accepted: %+v", r.Name, d)
		}
	}
	for _, r := range v.ResultsInvalid {
		if err := decodeResult(r.Op, r.Result, resultFor(t, r.Op)); err == nil {
			t.Errorf("%s: invalid %s result accepted", r.Name, r.Op)
		}
	}
}

func resultFor(t testing.TB, op string) interface{} {
	switch op {
	case "ping":
		return &PingResult{}
	case "state.get":
		return &State{}
	case "memlock.set":
		return &MemlockResult{}
	case "cgroup.move":
		return &CgroupMoveResult{}
	case "sched.set":
		return &SchedResult{}
	case "tap.create":
		return &Tap{}
	case "tap.destroy":
		return &TapDestroyResult{}
	case "kvmi.attach":
		return &KVMIChannel{}
	case "kvmi.connect":
		return &KVMIConnection{}
	case "kvmi.set-page-access":
		return &PageAccessResult{}
	case "kvmi.detach":
		return &KVMIDetachResult{}
	}
	t.Fatalf("no result type for %s", op)
	return nil
}

// A scripted peer on a SEQPACKET socket: answers the hello with welcome,
// then each request with the next of replies, with nfds descriptors (of
// /dev/null) attached.  What it received is sent on got.
type peer struct {
	path string
	got  chan []byte
}

func newPeer(t *testing.T, welcome string, nfds int, replies ...[]byte) *peer {
	p := &peer{path: filepath.Join(t.TempDir(), "broker.sock"), got: make(chan []byte, 16)}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: p.path, Net: "unixpacket"})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, MaxMessage)
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		p.got <- append([]byte(nil), buf[:n]...)
		if _, err := c.Write([]byte(welcome)); err != nil {
			return
		}
		for _, r := range replies {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			p.got <- append([]byte(nil), buf[:n]...)
			var fds []int
			for i := 0; i < nfds; i++ {
				fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
				if err != nil {
					return
				}
				defer syscall.Close(fd)
				fds = append(fds, fd)
			}
			var oob []byte
			if nfds > 0 {
				oob = syscall.UnixRights(fds...)
			}
			c.WriteMsgUnix(r, oob, nil)
		}
		c.Read(buf) // until the client goes
	}()
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConformanceWelcome(t *testing.T) {
	for _, w := range loadVectors(t).Welcome {
		p := newPeer(t, w.Wire, 0)
		c, err := Dial(testCtx(t), Config{Socket: p.path, Client: "conformance", VM: "vm-7"})
		if w.Error != nil {
			checkError(t, w.Name, err, w.Error)
			if c != nil {
				c.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", w.Name, err)
			continue
		}
		got := c.Welcome()
		if got.Session != w.Session || got.Cgroup != w.Cgroup || got.Resumed != w.Resumed || got.ResumeToken != "" {
			t.Errorf("%s: welcome %+v", w.Name, got)
		}
		c.Close()
	}
}

// The replies through the whole client: Dial, a typed call, the answer.
func TestConformanceClient(t *testing.T) {
	v := loadVectors(t)
	welcome := v.Welcome[0].Wire
	for _, r := range v.Replies {
		op := r.Op
		if op == "" {
			op = "ping"
		}
		nfds := 0
		if op == "tap.create" {
			nfds = 1
		}
		p := newPeer(t, welcome, nfds, []byte(r.Wire))
		c, err := Dial(testCtx(t), Config{Socket: p.path})
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		var got interface{}
		switch op {
		case "ping":
			got, err = c.Ping(testCtx(t))
		case "memlock.set":
			got, err = c.MemlockSet(testCtx(t), MemlockArgs{Soft: 1})
		case "tap.create":
			var tap *Tap
			tap, err = c.TapCreate(testCtx(t), TapArgs{Name: "vnet%d"})
			if err == nil {
				if len(tap.Files) != 1 {
					t.Errorf("%s: %d files", r.Name, len(tap.Files))
				}
				closeFiles(tap.Files)
				tap.Files = nil
			}
			got = tap
		case "kvmi.connect":
			// any descriptor stands for QEMU's connection here: the peer only replies
			pr, pw, perr := os.Pipe()
			if perr != nil {
				t.Fatal(perr)
			}
			got, err = c.KVMIConnect(testCtx(t), pr)
			pr.Close()
			pw.Close()
		}
		if r.Error != nil {
			checkError(t, r.Name, err, r.Error)
		} else if err != nil {
			t.Errorf("%s: %v", r.Name, err)
		} else {
			b, _ := json.Marshal(got)
			if !jsonEqual(t, b, r.Result) {
				t.Errorf("%s: typed result %s, want %s", r.Name, b, r.Result)
			}
		}
		c.Close()
	}
	for i := range v.RepliesInvalid {
		r := &v.RepliesInvalid[i]
		p := newPeer(t, welcome, 0, r.bytes(t))
		c, err := Dial(testCtx(t), Config{Socket: p.path})
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		_, err = c.Ping(testCtx(t))
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeLocal || e.Errno != syscall.EBADMSG {
			t.Errorf("%s: want a local EBADMSG error, got %v", r.Name, err)
		}
		c.Close()
	}
}

// The hello the client sends, and the requests of the typed API, as they
// leave the socket.
func TestConformanceClientSends(t *testing.T) {
	v := loadVectors(t)
	h := v.Hello[0]
	p := newPeer(t, v.Welcome[0].Wire, 0, []byte(`{"id":1,"ok":true,"result":{"name":"vnet0","removed":true}}`))
	c, err := Dial(testCtx(t), Config{Socket: p.path, Client: h.Client, VM: *h.VM})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := <-p.got; !bytes.Equal(got, []byte(h.Wire)) {
		t.Errorf("hello %s, want %s", got, h.Wire)
	}
	if _, err := c.TapDestroy(testCtx(t), "vnet0"); err != nil {
		t.Fatal(err)
	}
	for _, r := range v.Requests {
		if r.Name == "tap.destroy" {
			if got := <-p.got; !bytes.Equal(got, []byte(r.Wire)) {
				t.Errorf("request %s, want %s", got, r.Wire)
			}
		}
	}
}

func TestAPIMismatchLocal(t *testing.T) {
	_, err := Dial(context.Background(), Config{API: 2, Socket: "/nonexistent"})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeAPIMismatch || e.Message != "caller speaks API 2, this package speaks API 1" {
		t.Errorf("API 2: %v", err)
	}
}

func TestPageAccessMemfd(t *testing.T) {
	f, err := NewPageAccessMemfd([]PageAccess{{GPA: 0x1000, Access: AccessR}, {GPA: 0x2000, Access: 7}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if fi.Size() != 32 {
		t.Errorf("size %d, want 32", fi.Size())
	}
	seals, _, e := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), 1034 /* F_GET_SEALS */, 0)
	if e != 0 || seals&(fSealShrink|fSealGrow|fSealWrite) != fSealShrink|fSealGrow|fSealWrite {
		t.Errorf("seals %#x (%v)", seals, e)
	}
	if _, err := f.WriteAt([]byte{1}, 0); err == nil {
		t.Errorf("a sealed memfd took a write")
	}
}
