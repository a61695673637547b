// SPDX-License-Identifier: LGPL-2.1-or-later

package delegate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// Limit is a resource limit in bytes; Unlimited is no limit.  It travels as
// a JSON integer, or the string "unlimited".
type Limit uint64

// Unlimited is RLIM_INFINITY.
const Unlimited = Limit(^uint64(0))

func (l Limit) MarshalJSON() ([]byte, error) {
	if l == Unlimited {
		return []byte(`"unlimited"`), nil
	}
	return []byte(strconv.FormatUint(uint64(l), 10)), nil
}

func (l *Limit) UnmarshalJSON(b []byte) error {
	if string(b) == `"unlimited"` {
		*l = Unlimited
		return nil
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("a limit is a non-negative integer or \"unlimited\", not %.40s", string(b))
	}
	*l = Limit(v)
	return nil
}

func (l Limit) String() string {
	if l == Unlimited {
		return "unlimited"
	}
	return strconv.FormatUint(uint64(l), 10)
}

// decodeResult decodes a result object strictly: unknown keys and wrong
// types are errors (the broker speaks the same API version).
func decodeResult(op string, raw json.RawMessage, v interface{}) error {
	if err := strictUnmarshal(raw, v); err != nil {
		return localError(syscall.EBADMSG, "malformed %s result: %v", op, err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, op string, args interface{}, send *os.File, ret interface{}) ([]*os.File, error) {
	raw, files, err := c.call(ctx, op, args, send)
	if err != nil {
		return nil, err
	}
	if err := decodeResult(op, raw, ret); err != nil {
		closeFiles(files)
		return nil, err
	}
	return files, nil
}

// doPlain calls an operation whose reply carries no descriptors and
// decodes its result into a T.
func doPlain[T any](ctx context.Context, c *Client, op string, args interface{}, send *os.File) (*T, error) {
	var r T
	files, err := c.do(ctx, op, args, send, &r)
	if err != nil {
		return nil, err
	}
	if len(files) > 0 {
		closeFiles(files)
		return nil, localError(syscall.EBADMSG, "the %s reply carried %d unexpected descriptors", op, len(files))
	}
	return &r, nil
}

// PingResult is the result of ping.
type PingResult struct {
	Pong             bool   `json:"pong"`
	API              int    `json:"api"`
	Broker           string `json:"broker"`
	Session          uint64 `json:"session"`
	PolicyGeneration uint64 `json:"policy_generation"`
}

// Ping checks that the broker answers.
func (c *Client) Ping(ctx context.Context) (*PingResult, error) {
	return doPlain[PingResult](ctx, c, "ping", nil, nil)
}

// State is the result of state.get: what the broker knows and did for
// this session.
type State struct {
	Session uint64 `json:"session"`
	Client  string `json:"client"`
	VM      string `json:"vm"`
	Peer    struct {
		PID    int    `json:"pid"`
		UID    uint32 `json:"uid"`
		GID    uint32 `json:"gid"`
		Cgroup string `json:"cgroup"`
	} `json:"peer"`
	PolicyGeneration uint64 `json:"policy_generation"`
	Requests         struct {
		Allowed uint64 `json:"allowed"`
		Denied  uint64 `json:"denied"`
		Quiet   uint64 `json:"quiet"` // ping and state.get answered before this one
	} `json:"requests"`
	Memlock []struct {
		PID  int   `json:"pid"`
		Soft Limit `json:"soft"`
		Hard Limit `json:"hard"`
	} `json:"memlock"`
	CgroupsCreated []string `json:"cgroups_created"`
	ThreadsMoved   uint64   `json:"threads_moved"`
	SchedChanges   uint64   `json:"sched_changes"`
	Tap            []struct {
		Name    string `json:"name"`
		Ifindex int    `json:"ifindex"`
		Persist bool   `json:"persist"`
		Adopted bool   `json:"adopted"`
		Queues  int    `json:"queues"` // TAP devices: the queues made so far; 0 for a bridge
	} `json:"tap"`
	KVMI    KVMIState    `json:"kvmi"`
	Unotify UnotifyState `json:"unotify"`
}

// UnotifyState is the seccomp listener delegate-run(1) handed over
// (unotify.attach), in State.
type UnotifyState struct {
	Attached   bool   `json:"attached"`
	Notified   uint64 `json:"notified"`    // syscalls the listener reported
	Continued  uint64 `json:"continued"`   // of those, left to the kernel
	InProgress uint64 `json:"in_progress"` // being served now
}

// KVMIState is the session's KVMI channel in State.
type KVMIState struct {
	Channel          string       `json:"channel"` // detached, waiting, hello, setup, ready or closed
	Keyed            bool         `json:"keyed,omitempty"`
	Connections      uint64       `json:"connections,omitempty"` // QEMU's connections handed over so far
	Unhooks          uint64       `json:"unhooks,omitempty"`     // UNHOOK events (pause, shutdown, ...)
	ClosedBecause    string       `json:"closed_because,omitempty"`
	Version          uint64       `json:"version,omitempty"`
	MaxMsgSize       uint64       `json:"max_msg_size,omitempty"`
	VCPUs            uint64       `json:"vcpus,omitempty"`
	MaxGPA           uint64       `json:"max_gpa,omitempty"`
	UnhookEnabled    bool         `json:"unhook_enabled,omitempty"`
	LastReapply      *KVMIReapply `json:"last_reapply,omitempty"`
	MessagesSent     uint64       `json:"messages_sent,omitempty"`
	EntriesSent      uint64       `json:"entries_sent,omitempty"`
	CommandsInFlight uint64       `json:"commands_in_flight,omitempty"`
	BatchesPending   uint64       `json:"batches_pending,omitempty"`
	Shadow           struct {
		Pages    uint64            `json:"pages"`
		ByAccess map[string]uint64 `json:"by_access"`
	} `json:"shadow"`
}

// State asks state.get.
func (c *Client) State(ctx context.Context) (*State, error) {
	return doPlain[State](ctx, c, "state.get", nil, nil)
}

// MemlockArgs are the arguments of memlock.set.
type MemlockArgs struct {
	PID  int    `json:"pid"`            // 0: the caller
	Soft Limit  `json:"soft"`           // the new soft limit
	Hard *Limit `json:"hard,omitempty"` // nil: the hard limit stays
}

// MemlockResult is the result of memlock.set: limits read back from the kernel.
type MemlockResult struct {
	PID  int   `json:"pid"`
	Soft Limit `json:"soft"`
	Hard Limit `json:"hard"`
	Old  struct {
		Soft Limit `json:"soft"`
		Hard Limit `json:"hard"`
	} `json:"old"`
}

// MemlockSet sets RLIMIT_MEMLOCK of the caller or of a descendant.
func (c *Client) MemlockSet(ctx context.Context, a MemlockArgs) (*MemlockResult, error) {
	return doPlain[MemlockResult](ctx, c, "memlock.set", a, nil)
}

// CgroupMoveArgs are the arguments of cgroup.move: exactly one of TIDs and PID.
type CgroupMoveArgs struct {
	TIDs   []int  `json:"tids,omitempty"`
	PID    *int   `json:"pid,omitempty"`
	Target string `json:"target"`
	Create bool   `json:"create,omitempty"`
	CPUs   string `json:"cpus,omitempty"`
}

// CgroupMoved is one thread (or process) of a cgroup.move result.
type CgroupMoved struct {
	TID    int    `json:"tid,omitempty"`
	PID    int    `json:"pid,omitempty"`
	Moved  bool   `json:"moved"`
	Cgroup string `json:"cgroup,omitempty"` // where the kernel says it is now
	Errno  int    `json:"errno,omitempty"`
	Error  string `json:"error,omitempty"`
}

// CgroupMoveResult is the result of cgroup.move.
type CgroupMoveResult struct {
	Target    string        `json:"target"`
	Cgroup    string        `json:"cgroup"`
	Type      string        `json:"type"` // threaded or domain
	Created   bool          `json:"created"`
	Moved     int           `json:"moved"`
	Failed    int           `json:"failed"`
	Threads   []CgroupMoved `json:"threads,omitempty"`
	Processes []CgroupMoved `json:"processes,omitempty"`
}

// CgroupMove moves threads or a process into a cgroup below the caller's.
func (c *Client) CgroupMove(ctx context.Context, a CgroupMoveArgs) (*CgroupMoveResult, error) {
	return doPlain[CgroupMoveResult](ctx, c, "cgroup.move", a, nil)
}

// SchedArgs are the arguments of sched.set.
type SchedArgs struct {
	TID      int    `json:"tid"`                // 0: the caller's main thread
	Policy   string `json:"policy"`             // other, batch, idle, fifo or rr
	Priority int    `json:"priority,omitempty"` // 1-99 for fifo and rr
	Nice     int    `json:"nice,omitempty"`     // other and batch
	CPUs     string `json:"cpus,omitempty"`     // affinity, e.g. "0-1"
}

// SchedResult is the result of sched.set, read back from the kernel.
type SchedResult struct {
	TID         int    `json:"tid"`
	Policy      string `json:"policy"`
	Priority    int    `json:"priority"`
	Nice        int    `json:"nice"`
	ResetOnFork bool   `json:"reset_on_fork"`
	CPUs        string `json:"cpus"`
	Was         struct {
		Policy   string `json:"policy"`
		Priority int    `json:"priority"`
		Nice     int    `json:"nice"`
	} `json:"was"`
}

// SchedSet sets the scheduling policy of a thread of the caller or a descendant.
func (c *Client) SchedSet(ctx context.Context, a SchedArgs) (*SchedResult, error) {
	return doPlain[SchedResult](ctx, c, "sched.set", a, nil)
}

// TapArgs are the arguments of tap.create.
type TapArgs struct {
	Name    string `json:"name"`             // exact name or a template with one %d
	Queues  int    `json:"queues,omitempty"` // 1-16, default 1
	VnetHdr bool   `json:"vnet_hdr,omitempty"`
	MTU     int    `json:"mtu,omitempty"`
	MAC     string `json:"mac,omitempty"`
	Bridge  string `json:"bridge,omitempty"`
	Persist bool   `json:"persist,omitempty"`
	// Vhost also asks for one /dev/vhost-net descriptor per queue (at most
	// 8 queues then); the rule must allow it, and a node without
	// /dev/vhost-net answers "unsupported".
	Vhost bool `json:"vhost,omitempty"`
}

// Tap is the result of tap.create with its queue descriptors.
type Tap struct {
	Name    string  `json:"name"`
	Ifindex int     `json:"ifindex"`
	Queues  int     `json:"queues"`
	VnetHdr bool    `json:"vnet_hdr"`
	Persist bool    `json:"persist"`
	MTU     int     `json:"mtu"`
	MAC     string  `json:"mac"`
	Bridge  *string `json:"bridge"` // nil: no master
	Adopted bool    `json:"adopted"`
	Vhost   bool    `json:"vhost"`
	// Files are the queues' descriptors, in queue order, close-on-exec.
	// The caller owns them.
	Files []*os.File `json:"-"`
	// VhostFiles are the /dev/vhost-net descriptors (with Vhost), one per
	// queue, for QEMU's vhostfds=.  The caller owns them.
	VhostFiles []*os.File `json:"-"`
}

// TapCreate creates a TAP device in the caller's network namespace and
// returns one descriptor per queue.
func (c *Client) TapCreate(ctx context.Context, a TapArgs) (*Tap, error) {
	var r Tap
	files, err := c.do(ctx, "tap.create", a, nil, &r)
	if err != nil {
		return nil, err
	}
	want := r.Queues
	if r.Vhost {
		want *= 2 // the queues, then as many vhost-net descriptors
	}
	if len(files) != want {
		closeFiles(files)
		return nil, localError(syscall.EBADMSG, "tap.create answered %d queues (vhost %v) with %d descriptors",
			r.Queues, r.Vhost, len(files))
	}
	r.Files = files[:r.Queues]
	if r.Vhost {
		r.VhostFiles = files[r.Queues:]
	}
	return &r, nil
}

// TapDestroyResult is the result of tap.destroy.
type TapDestroyResult struct {
	Name    string `json:"name"`
	Removed bool   `json:"removed"` // false: it was already gone
}

// TapDestroy removes a TAP device this session created or adopted.
func (c *Client) TapDestroy(ctx context.Context, name string) (*TapDestroyResult, error) {
	return doPlain[TapDestroyResult](ctx, c, "tap.destroy", tapDestroyArgs{name}, nil)
}

type tapDestroyArgs struct {
	Name string `json:"name"`
}

// KVMIAttachArgs are the arguments of kvmi.attach.
type KVMIAttachArgs struct {
	Keyed *bool `json:"keyed,omitempty"` // nil: true
	// Secret is the secret an earlier attach returned, used again: QEMU
	// reads its secret once, so a client whose broker restarted attaches
	// with the one QEMU holds.
	Secret string `json:"secret,omitempty"`
}

// KVMIChannel is the result of kvmi.attach.  The channel has no socket
// yet: QEMU connects to a socket the client listens on, and each
// connection is handed over with KVMIConnect.
type KVMIChannel struct {
	VM          string `json:"vm"`
	Keyed       bool   `json:"keyed"`
	Secret      string `json:"secret,omitempty"` // give it to QEMU: -object secret
	ShadowPages uint64 `json:"shadow_pages"`
	TimeoutMS   uint64 `json:"timeout_ms"`
}

// KVMIAttach opens the session's KVMI channel.
func (c *Client) KVMIAttach(ctx context.Context, a KVMIAttachArgs) (*KVMIChannel, error) {
	return doPlain[KVMIChannel](ctx, c, "kvmi.attach", a, nil)
}

// KVMIReapply says what re-programming the shadow on a connection did.
type KVMIReapply struct {
	Pages     uint64 `json:"pages"`
	Applied   uint64 `json:"applied"`
	Refused   uint64 `json:"refused"`    // the kernel refused them: they left the shadow
	BeyondRAM uint64 `json:"beyond_ram"` // at or beyond max_gpa: not sent, left the shadow
}

// KVMIConnection is the result of kvmi.connect.
type KVMIConnection struct {
	Connection   uint64      `json:"connection"`
	VM           string      `json:"vm"`
	Keyed        bool        `json:"keyed"`
	Version      uint64      `json:"version"`
	MaxMsgSize   uint64      `json:"max_msg_size"`
	VCPUs        uint64      `json:"vcpus"`
	MaxGPA       uint64      `json:"max_gpa"`
	Unhook       bool        `json:"unhook"` // the UNHOOK event is enabled
	EpermRetries uint64      `json:"eperm_retries"`
	Reapplied    KVMIReapply `json:"reapplied"`
	ShadowPages  uint64      `json:"shadow_pages"`
}

type kvmiConnectArgs struct {
	Socket int `json:"socket"`
}

// KVMIConnect hands one connection QEMU made to the client's socket over
// to the broker, which answers QEMU's hello, enables UNHOOK and programs
// the shadow again; it returns when the connection is ready.  conn stays
// the caller's (close it afterwards).
func (c *Client) KVMIConnect(ctx context.Context, conn *os.File) (*KVMIConnection, error) {
	return doPlain[KVMIConnection](ctx, c, "kvmi.connect", kvmiConnectArgs{0}, conn)
}

// Access bits of a guest page (KVMI): R=1, W=2, X=4.
const (
	AccessR = 1
	AccessW = 2
	AccessX = 4
)

// PageAccess is one entry of kvmi.set-page-access.
type PageAccess struct {
	GPA    uint64 // a guest-physical address; its page is meant
	Access uint8  // AccessR|AccessW|AccessX; 7 lifts every restriction
}

func (p PageAccess) MarshalJSON() ([]byte, error) {
	return []byte("[" + strconv.FormatUint(p.GPA, 10) + "," + strconv.Itoa(int(p.Access)) + "]"), nil
}

func (p *PageAccess) UnmarshalJSON(b []byte) error {
	var pair [2]uint64
	if err := strictUnmarshal(b, &pair); err != nil || pair[1] > 7 {
		return fmt.Errorf("a page access entry is [gpa, access 0-7]")
	}
	*p = PageAccess{GPA: pair[0], Access: uint8(pair[1])}
	return nil
}

// PageAccessResult is the result of kvmi.set-page-access.
type PageAccessResult struct {
	Entries     uint64  `json:"entries"`
	Messages    uint64  `json:"messages"`
	Applied     uint64  `json:"applied"`
	ShadowPages uint64  `json:"shadow_pages"`
	Seconds     float64 `json:"seconds"`
}

type pageAccessArgs struct {
	Entries []PageAccess `json:"entries,omitempty"`
	Memfd   *int         `json:"memfd,omitempty"`
}

// KVMISetPageAccess programs guest page access with the entries inline in
// the request (about 2500 at most: one datagram).
func (c *Client) KVMISetPageAccess(ctx context.Context, entries []PageAccess) (*PageAccessResult, error) {
	return doPlain[PageAccessResult](ctx, c, "kvmi.set-page-access", pageAccessArgs{Entries: entries}, nil)
}

// KVMISetPageAccessMemfd programs guest page access with the entries in a
// sealed memfd sent with the request (see NewPageAccessMemfd): for large
// batches.  The caller keeps ownership of f.
func (c *Client) KVMISetPageAccessMemfd(ctx context.Context, f *os.File) (*PageAccessResult, error) {
	zero := 0
	return doPlain[PageAccessResult](ctx, c, "kvmi.set-page-access", pageAccessArgs{Memfd: &zero}, f)
}

// KVMIDetachResult is the result of kvmi.detach.
type KVMIDetachResult struct {
	Detached       bool   `json:"detached"`
	ForgottenPages uint64 `json:"forgotten_pages"`
}

// KVMIDetach closes the session's KVMI channel and drops its shadow.
func (c *Client) KVMIDetach(ctx context.Context) (*KVMIDetachResult, error) {
	return doPlain[KVMIDetachResult](ctx, c, "kvmi.detach", nil, nil)
}
