// SPDX-License-Identifier: LGPL-2.1-or-later

// Package delegate is a client of delegate-broker, the privilege-delegation
// broker for unprivileged container VMs, written against the wire protocol
// of delegate-protocol(7), API version 1.  It uses the standard library
// only (no cgo): it does not link libdelegate, whose soname is unstable by
// design; the protocol carries its own version check instead.
//
// # Connecting
//
// Dial says hello with the API version, the client's name and the VM:
//
//	c, err := delegate.Dial(ctx, delegate.Config{Client: "node-agent", VM: "vm-web1"})
//	if err != nil {
//		return err // an *Error: api-mismatch names both versions
//	}
//	defer c.Close() // ends the session: the broker undoes what it created
//
// The socket is Config.Socket, else $DELEGATE_SOCKET, else
// /run/delegate/broker.sock.  The broker identifies the caller by the
// socket's peer credentials: run the client inside the pod.
//
// # Operations
//
// Every operation of API 1 is a method with typed arguments and result:
// Ping, State (state.get), MemlockSet, CgroupMove, SchedSet, TapCreate
// (the queue descriptors arrive by SCM_RIGHTS as Tap.Files, close-on-exec,
// and with Vhost the /dev/vhost-net ones as Tap.VhostFiles), TapDestroy,
// KVMIAttach (opens the channel and gives the secret for QEMU), KVMIConnect
// (hands over each connection KVM-VMI's QEMU makes to a socket the caller
// listens on; the broker answers its hello and programs the shadow again),
// KVMISetPageAccess (entries inline), KVMISetPageAccessMemfd (a sealed memfd
// made by NewPageAccessMemfd) and KVMIDetach:
//
//	tap, err := c.TapCreate(ctx, delegate.TapArgs{Name: "vnet%d", Queues: 2, Bridge: "br0"})
//	r, err := c.MemlockSet(ctx, delegate.MemlockArgs{PID: qemuPid, Soft: 8 << 30})
//
// Every method takes a context.Context: its deadline bounds the wait, and
// cancelling it returns ctx.Err() at once (a late answer is dropped).  A
// Client is safe for concurrent use; requests of several goroutines are in
// flight together and matched to their replies by id.
//
// # Errors
//
// A refusal is an *Error with the broker's Code ("denied", "not-found",
// ...), Errno, the deciding policy Rule, Message and, for "rate-limited",
// RetryAfterMS.  Failures on the client's side have Code "local".
// errors.Is works with syscall errnos and with &Error{Code: ...}.  Replies
// that break the protocol (malformed JSON, wrong types, unknown keys) are
// errors, never a panic.
//
// # Broker restarts
//
// Sessions survive a broker restart.  When the connection breaks, waiting
// calls fail with an *Error whose Lost is true; the next call connects
// again and resumes the session with the resume token of the last welcome
// (Welcome().Resumed tells).  A lost request called again with the same
// operation and arguments is sent under its first id, so the broker answers
// it from its reply cache instead of doing it twice — as libdelegate(3)
// does.  Retrying is the caller's decision: the package never resends on
// its own.
//
// cmd/node-agent is a complete example: a TAP with two queues and a raised
// RLIMIT_MEMLOCK for a child process that then becomes QEMU.
package delegate
