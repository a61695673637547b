// SPDX-License-Identifier: LGPL-2.1-or-later

package delegate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// DefaultSocket is where the broker listens unless told otherwise.
const DefaultSocket = "/run/delegate/broker.sock"

// SocketEnv names the environment variable that overrides DefaultSocket.
const SocketEnv = "DELEGATE_SOCKET"

// Config says how to reach the broker and who is asking.
type Config struct {
	// Socket is the broker's socket path; "": $DELEGATE_SOCKET, else DefaultSocket.
	Socket string
	// API is the API version the caller was written for; 0 means APIVersion.
	// Another value is refused locally, naming both versions.
	API int
	// Client is the program's name in the hello; "": the executable's base name.
	Client string
	// VM is the name of the VM the client acts for; "": none.
	VM string
}

// Client is a connection to the broker: one session.  It is safe for
// concurrent use; requests from several goroutines are in flight at once
// and each gets its own reply (matched by id).
//
// When the connection breaks (the broker stopped or crashed), calls waiting
// for an answer fail with an *Error whose Lost is true, and the next call
// connects again, resuming the session with the welcome's resume token.  A
// lost request repeated with the same operation and arguments is sent under
// its first id, so a resumed broker answers it from its reply cache rather
// than doing it twice (as libdelegate(3) does).
type Client struct {
	cfg Config

	mu      sync.Mutex // everything below
	conn    *conn
	nextID  uint64
	welcome Welcome
	resume  *resume           // how to take the session back, from the last welcome
	lost    map[string]uint64 // request key -> id of requests whose answer was lost
	closed  bool
}

// conn is one connection and the goroutine that reads its replies.
type conn struct {
	uc  *net.UnixConn
	wmu sync.Mutex // one datagram written at a time

	mu      sync.Mutex
	pending map[uint64]*pendingCall
	seq     uint64
	dead    bool
	done    chan struct{}
}

type pendingCall struct {
	id  uint64
	op  string
	key string
	seq uint64
	ch  chan callResult
}

type callResult struct {
	result json.RawMessage
	files  []*os.File
	err    error
}

// Dial connects to the broker and says hello: the API version, the client
// name and the VM.  ctx bounds the connection and handshake.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.API == 0 {
		cfg.API = APIVersion
	}
	if cfg.API != APIVersion {
		return nil, &Error{Code: CodeAPIMismatch, Errno: syscall.EPROTO,
			Message: fmt.Sprintf("caller speaks API %d, this package speaks API %d", cfg.API, APIVersion)}
	}
	if cfg.Socket == "" {
		cfg.Socket = os.Getenv(SocketEnv)
	}
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket
	}
	if cfg.Client == "" {
		cfg.Client = filepath.Base(os.Args[0])
	}
	c := &Client{cfg: cfg, nextID: 1, lost: map[string]uint64{}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connectLocked(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Welcome returns the welcome of the current (or last) connection.
func (c *Client) Welcome() Welcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.welcome
	w.ResumeToken = "" // a secret: not handed around
	return w
}

// Close ends the connection, and with it the session: the broker undoes
// what the session created (TAP devices, cgroups).  Calls in flight fail.
func (c *Client) Close() error {
	c.mu.Lock()
	cn := c.conn
	c.conn = nil
	c.closed = true
	c.resume = nil
	c.mu.Unlock()
	if cn != nil {
		cn.shutdown(&Error{Code: CodeLocal, Errno: syscall.ECANCELED, Message: "the client was closed"}, nil)
	}
	return nil
}

// Reconnect drops the current connection, if any, and connects again,
// resuming the session when the broker still holds it: that is after the
// broker restarted.  A running broker ends a session when its connection
// closes, so reconnecting to it starts a new one.  Calls waiting on the
// old connection fail as Lost.
func (c *Client) Reconnect(ctx context.Context) error {
	c.mu.Lock()
	cn := c.conn
	c.conn = nil
	c.mu.Unlock()
	if cn != nil {
		cn.shutdown(nil, c.recordLost) // takes c.mu itself
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return localError(syscall.EBADF, "the client is closed")
	}
	if c.conn != nil { // another goroutine connected meanwhile
		return nil
	}
	return c.connectLocked(ctx)
}

// connectLocked connects, resuming when it can; c.mu held.
func (c *Client) connectLocked(ctx context.Context) error {
	if c.resume != nil {
		err := c.connectOnce(ctx, c.resume)
		var e *Error
		// the broker does not hold that session, or not for us: a new one
		if !errors.As(err, &e) || !e.Handshake || (e.Code != CodeNotFound && e.Code != CodeDenied) {
			return err
		}
		c.resume = nil
	}
	return c.connectOnce(ctx, nil)
}

// watchContext makes blocking socket calls return when ctx ends.
func watchContext(ctx context.Context, uc *net.UnixConn, write bool) (stop func()) {
	if d, ok := ctx.Deadline(); ok {
		if write {
			uc.SetWriteDeadline(d)
		} else {
			uc.SetDeadline(d)
		}
	}
	if ctx.Done() == nil {
		return func() {}
	}
	quit := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			if write {
				uc.SetWriteDeadline(time.Unix(1, 0))
			} else {
				uc.SetDeadline(time.Unix(1, 0))
			}
		case <-quit:
		}
	}()
	return func() { close(quit) }
}

func ctxError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (c *Client) connectOnce(ctx context.Context, res *resume) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", c.cfg.Socket)
	if err != nil {
		return ctxError(ctx, &Error{Code: CodeLocal, Errno: errnoOf(err),
			Message: fmt.Sprintf("cannot connect to the broker at '%s': %v", c.cfg.Socket, err)})
	}
	uc := nc.(*net.UnixConn)
	stop := watchContext(ctx, uc, false)
	w, err := c.handshake(uc, res)
	stop()
	if err != nil {
		uc.Close()
		return ctxError(ctx, err)
	}
	uc.SetDeadline(time.Time{})
	if w.API != c.cfg.API {
		uc.Close()
		return &Error{Code: CodeAPIMismatch, Errno: syscall.EPROTO,
			Message: fmt.Sprintf("client speaks API %d, broker speaks API %d", c.cfg.API, w.API)}
	}
	if !w.Resumed {
		// a new session: nothing of the old one can be retried
		c.lost = map[string]uint64{}
	}
	c.resume = nil
	if w.ResumeToken != "" {
		c.resume = &resume{Session: w.Session, Token: w.ResumeToken}
	}
	c.welcome = *w
	cn := &conn{uc: uc, pending: map[uint64]*pendingCall{}, done: make(chan struct{})}
	c.conn = cn
	go cn.readLoop(c.recordLost)
	return nil
}

func (c *Client) handshake(uc *net.UnixConn, res *resume) (*Welcome, error) {
	h, err := json.Marshal(hello{Type: "hello", API: c.cfg.API, Client: c.cfg.Client, VM: c.cfg.VM, Resume: res})
	if err != nil {
		return nil, localError(syscall.EINVAL, "cannot build the hello: %v", err)
	}
	_, werr := uc.Write(h)
	wipe(h)
	// refused on connect (too many clients): the broker said why, then closed
	refused := werr != nil && (errors.Is(werr, syscall.EPIPE) || errors.Is(werr, syscall.ECONNRESET))
	if werr != nil && !refused {
		return nil, &Error{Code: CodeLocal, Errno: errnoOf(werr), Message: fmt.Sprintf("sending the hello: %v", werr)}
	}
	buf := make([]byte, MaxMessage+1)
	defer wipe(buf)
	for attempt := 0; ; attempt++ {
		n, oobFiles, rerr := readDatagram(uc, buf)
		closeFiles(oobFiles)
		if rerr != nil {
			// closed with our hello unread: the reset comes before the refusal queued for us
			if attempt == 0 && errors.Is(rerr, syscall.ECONNRESET) {
				continue
			}
			if refused {
				return nil, &Error{Code: CodeLocal, Errno: errnoOf(werr), Message: fmt.Sprintf("sending the hello: %v", werr)}
			}
			return nil, rerr
		}
		w, err := decodeWelcome(buf[:n])
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return nil, e
			}
			return nil, localError(syscall.EBADMSG, "malformed answer to hello: %v", err)
		}
		return w, nil
	}
}

// readDatagram reads one message and the descriptors that came with it.
func readDatagram(uc *net.UnixConn, buf []byte) (int, []*os.File, error) {
	oob := make([]byte, syscall.CmsgSpace(MaxFDs*4))
	n, oobn, flags, _, err := uc.ReadMsgUnix(buf, oob)
	files := filesFromOOB(oob[:oobn])
	if err != nil {
		closeFiles(files)
		return 0, nil, &Error{Code: CodeLocal, Errno: errnoOf(err), Message: fmt.Sprintf("receiving from the broker: %v", err)}
	}
	if n == 0 {
		closeFiles(files)
		return 0, nil, &Error{Code: CodeLocal, Errno: syscall.ECONNRESET, Message: "the broker closed the connection"}
	}
	if flags&syscall.MSG_CTRUNC != 0 {
		closeFiles(files)
		return n, nil, &Error{Code: CodeLocal, Errno: syscall.ETOOMANYREFS,
			Message: fmt.Sprintf("the broker sent more than %d descriptors", MaxFDs)}
	}
	if flags&syscall.MSG_TRUNC != 0 || n > MaxMessage {
		closeFiles(files)
		return n, nil, &Error{Code: CodeLocal, Errno: syscall.EMSGSIZE,
			Message: fmt.Sprintf("the broker sent a message over %d bytes", MaxMessage)}
	}
	return n, files, nil
}

func filesFromOOB(oob []byte) []*os.File {
	if len(oob) == 0 {
		return nil
	}
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "delegate-fd-"+strconv.Itoa(fd)))
		}
	}
	return files
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

func errnoOf(err error) syscall.Errno {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return syscall.ETIMEDOUT
	}
	return syscall.EIO
}

// readLoop delivers replies to their calls until the connection ends.
func (cn *conn) readLoop(onLost func([]*pendingCall)) {
	buf := make([]byte, MaxMessage+1)
	defer wipe(buf)
	for {
		n, files, err := readDatagram(cn.uc, buf)
		var e *Error
		if err != nil && errors.As(err, &e) && (e.Errno == syscall.ETOOMANYREFS || e.Errno == syscall.EMSGSIZE) {
			cn.deliverUnattributed(e)
			continue
		}
		if err != nil {
			cn.shutdown(nil, onLost)
			return
		}
		r, derr := decodeReply(buf[:n])
		wipe(buf[:n])
		if derr != nil {
			closeFiles(files)
			cn.deliverUnattributed(localError(syscall.EBADMSG, "malformed reply from the broker: %v", derr))
			continue
		}
		if !r.hasID {
			closeFiles(files)
			cn.deliverUnattributed(r.err)
			continue
		}
		cn.mu.Lock()
		pc := cn.pending[r.id]
		delete(cn.pending, r.id)
		cn.mu.Unlock()
		if pc == nil {
			closeFiles(files) // a late answer to an abandoned request
			continue
		}
		if r.err != nil {
			closeFiles(files)
			pc.ch <- callResult{err: r.err}
		} else {
			pc.ch <- callResult{result: r.result, files: files}
		}
	}
}

// deliverUnattributed gives an error without a usable id (a null id, or a
// datagram that could not be decoded) to the oldest call waiting.
func (cn *conn) deliverUnattributed(e *Error) {
	cn.mu.Lock()
	var oldest *pendingCall
	for _, pc := range cn.pending {
		if oldest == nil || pc.seq < oldest.seq {
			oldest = pc
		}
	}
	if oldest != nil {
		delete(cn.pending, oldest.id)
	}
	cn.mu.Unlock()
	if oldest != nil {
		oldest.ch <- callResult{err: e}
	}
}

// shutdown closes the connection; waiting calls get err, or (err nil) a
// Lost error, and are handed to onLost for a same-id retry.
func (cn *conn) shutdown(err *Error, onLost func([]*pendingCall)) {
	cn.mu.Lock()
	if cn.dead {
		cn.mu.Unlock()
		return
	}
	cn.dead = true
	calls := make([]*pendingCall, 0, len(cn.pending))
	for _, pc := range cn.pending {
		calls = append(calls, pc)
	}
	cn.pending = map[uint64]*pendingCall{}
	cn.mu.Unlock()
	cn.uc.Close()
	close(cn.done)
	if err == nil && onLost != nil {
		onLost(calls)
	}
	for _, pc := range calls {
		e := err
		if e == nil {
			e = lostError(pc)
		}
		pc.ch <- callResult{err: e}
	}
}

func lostError(pc *pendingCall) *Error {
	return &Error{Code: CodeLocal, Errno: syscall.ECONNRESET, Lost: true,
		Message: fmt.Sprintf("the connection to the broker broke before the answer to %s (request %d) came; "+
			"it may have been carried out: call it again to get its answer", pc.op, pc.id)}
}

// recordLost remembers requests whose answer was lost, for a same-id retry.
func (c *Client) recordLost(calls []*pendingCall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pc := range calls {
		c.lost[pc.key] = pc.id
	}
}

func (cn *conn) isDead() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.dead
}

// call sends one request (with at most one descriptor) and waits for its reply.
// requestKey is what identifies a request for a same-id retry: its
// operation, its arguments and how many descriptors go with it.
func requestKey(op string, args interface{}, nfds int) (string, error) {
	var argsJSON []byte
	if args != nil {
		var err error
		if argsJSON, err = marshalArgs(args); err != nil {
			return "", localError(syscall.EINVAL, "%s: cannot encode the arguments: %v", op, err)
		}
	}
	key := op + "\n" + string(argsJSON) + "\n" + strconv.Itoa(nfds)
	wipe(argsJSON)
	return key, nil
}

func (c *Client) call(ctx context.Context, op string, args interface{}, send *os.File) (json.RawMessage, []*os.File, error) {
	nfds := 0
	if send != nil {
		nfds = 1
	}
	key, err := requestKey(op, args, nfds)
	if err != nil {
		return nil, nil, err
	}

	if err := ctx.Err(); err != nil {
		return nil, nil, err // nothing is sent for a context already done
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, nil, localError(syscall.EBADF, "the client is closed")
	}
	if c.conn == nil || c.conn.isDead() {
		c.conn = nil
		if err := c.connectLocked(ctx); err != nil {
			c.mu.Unlock()
			return nil, nil, err
		}
	}
	id, retry := c.lost[key]
	if retry {
		delete(c.lost, key) // the retry of a request whose answer was lost
	} else {
		id = c.nextID
		c.nextID++
	}
	cn := c.conn
	c.mu.Unlock()

	req, err := encodeRequest(id, op, args)
	if err != nil {
		return nil, nil, err
	}
	defer wipe(req)
	pc := &pendingCall{id: id, op: op, key: key, ch: make(chan callResult, 1)}
	cn.mu.Lock()
	if cn.dead {
		cn.mu.Unlock()
		c.recordLost([]*pendingCall{pc})
		return nil, nil, lostError(pc)
	}
	cn.seq++
	pc.seq = cn.seq
	cn.pending[id] = pc
	cn.mu.Unlock()

	if err := cn.send(ctx, req, send); err != nil {
		cn.mu.Lock()
		_, mine := cn.pending[id]
		delete(cn.pending, id)
		cn.mu.Unlock()
		if !mine { // the connection ended meanwhile: its Lost error is ours
			r := <-pc.ch
			return nil, nil, r.err
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		var e *Error
		if errors.As(err, &e) && (e.Errno == syscall.EPIPE || e.Errno == syscall.ECONNRESET || e.Errno == syscall.ENOTCONN) {
			c.recordLost([]*pendingCall{pc})
			cn.shutdown(nil, c.recordLost)
			return nil, nil, lostError(pc)
		}
		return nil, nil, err
	}

	select {
	case r := <-pc.ch:
		return r.result, r.files, r.err
	case <-ctx.Done():
		cn.mu.Lock()
		_, mine := cn.pending[id]
		delete(cn.pending, id)
		cn.mu.Unlock()
		if !mine { // answered meanwhile: do not leak its descriptors
			r := <-pc.ch
			closeFiles(r.files)
		}
		return nil, nil, ctx.Err()
	}
}

func (cn *conn) send(ctx context.Context, req []byte, f *os.File) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	stop := watchContext(ctx, cn.uc, true)
	defer func() {
		stop()
		cn.uc.SetWriteDeadline(time.Time{})
	}()
	var oob []byte
	if f != nil {
		sc, err := f.SyscallConn()
		if err != nil {
			return localError(syscall.EBADF, "the descriptor to send: %v", err)
		}
		var werr error
		if cerr := sc.Control(func(fd uintptr) {
			oob = syscall.UnixRights(int(fd))
			_, _, werr = cn.uc.WriteMsgUnix(req, oob, nil)
		}); cerr != nil {
			return localError(syscall.EBADF, "the descriptor to send: %v", cerr)
		}
		if werr != nil {
			return &Error{Code: CodeLocal, Errno: errnoOf(werr), Message: fmt.Sprintf("sending to the broker: %v", werr)}
		}
		return nil
	}
	if _, _, err := cn.uc.WriteMsgUnix(req, nil, nil); err != nil {
		return &Error{Code: CodeLocal, Errno: errnoOf(err), Message: fmt.Sprintf("sending to the broker: %v", err)}
	}
	return nil
}
