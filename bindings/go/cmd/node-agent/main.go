// SPDX-License-Identifier: LGPL-2.1-or-later

// Command node-agent shows what a node agent does with package delegate:
// it asks the broker for a TAP device with several queues in the pod's
// network namespace and for a higher RLIMIT_MEMLOCK for a child process,
// then makes that child exec QEMU with the queue descriptors.
//
//	node-agent [-vm NAME] [-memlock BYTES] [-queues N] [-tap TEMPLATE]
//	           [-bridge BR] [-mtu N] -- qemu-system-x86_64 ... \
//	           -netdev tap,id=n0,fds=@TAPFDS@,vhost=off ...
//
// In QEMU's arguments @TAPFDS@ stands for the queue descriptors, 3 and up
// ("3:4" for two queues).  The agent stays QEMU's parent; on SIGTERM or
// SIGINT it stops QEMU and closes its session, and the broker removes the
// TAP device.
//
// The child is this program itself, started again in a waiting mode: it
// exists (so the broker can raise its limit) before it becomes QEMU, and
// it execs QEMU only once the limit is set.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	delegate "delegate/bindings/go"
)

const stubEnv = "DELEGATE_NODE_AGENT_STUB"

func main() {
	if n := os.Getenv(stubEnv); n != "" {
		stub(n)
	}
	vm := flag.String("vm", "", "the VM's name, for the broker's policy")
	memlock := flag.String("memlock", "", "RLIMIT_MEMLOCK soft limit for QEMU, in bytes or \"unlimited\"")
	queues := flag.Int("queues", 2, "TAP queues (1-16)")
	tapName := flag.String("tap", "vnet%d", "TAP name or template")
	bridge := flag.String("bridge", "", "bridge to enslave the TAP device to")
	mtu := flag.Int("mtu", 0, "MTU of the TAP device (0: the kernel's)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "node-agent: no QEMU command after the options")
		os.Exit(2)
	}
	if err := run(*vm, *memlock, *queues, *tapName, *bridge, *mtu, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "node-agent: %v\n", err)
		os.Exit(1)
	}
}

// stub waits for the go-ahead on the descriptor after the queues, then
// becomes QEMU.
func stub(queues string) {
	q, err := strconv.Atoi(queues)
	if err != nil {
		os.Exit(126)
	}
	gate := os.NewFile(uintptr(3+q), "gate")
	var b [1]byte
	if n, _ := gate.Read(b[:]); n != 1 {
		os.Exit(125) // the agent went away
	}
	gate.Close()
	path, err := exec.LookPath(os.Args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "node-agent: %v\n", err)
		os.Exit(127)
	}
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, stubEnv+"=") {
			env = append(env, e)
		}
	}
	err = syscall.Exec(path, os.Args, env)
	fmt.Fprintf(os.Stderr, "node-agent: exec %s: %v\n", path, err)
	os.Exit(127)
}

func run(vm, memlock string, queues int, tapName, bridge string, mtu int, qemu []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := delegate.Dial(ctx, delegate.Config{Client: "node-agent", VM: vm})
	if err != nil {
		return err
	}
	defer c.Close()

	tap, err := c.TapCreate(ctx, delegate.TapArgs{Name: tapName, Queues: queues, Bridge: bridge, MTU: mtu, VnetHdr: true})
	if err != nil {
		return err
	}
	fds := make([]string, len(tap.Files))
	for i := range tap.Files {
		fds[i] = strconv.Itoa(3 + i)
	}
	args := make([]string, len(qemu))
	for i, a := range qemu {
		args[i] = strings.ReplaceAll(a, "@TAPFDS@", strings.Join(fds, ":"))
	}

	gateR, gateW, err := os.Pipe()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(self)
	child.Args = args // argv[0] is QEMU's: the stub execs it
	child.Env = append(os.Environ(), fmt.Sprintf("%s=%d", stubEnv, len(tap.Files)))
	child.ExtraFiles = append(append([]*os.File{}, tap.Files...), gateR)
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = child.Start()
	gateR.Close()
	for _, f := range tap.Files {
		f.Close() // QEMU-to-be holds them now
	}
	if err != nil {
		return err
	}
	fmt.Printf("node-agent: %s with %d queues (ifindex %d), child %d\n", tap.Name, tap.Queues, tap.Ifindex, child.Process.Pid)

	if memlock != "" {
		l, err := parseLimit(memlock)
		if err == nil {
			var r *delegate.MemlockResult
			r, err = c.MemlockSet(ctx, delegate.MemlockArgs{PID: child.Process.Pid, Soft: l})
			if err == nil {
				fmt.Printf("node-agent: RLIMIT_MEMLOCK of %d: soft %v hard %v (was %v)\n", child.Process.Pid, r.Soft, r.Hard, r.Old.Soft)
			}
		}
		if err != nil {
			child.Process.Kill()
			child.Wait()
			return err
		}
	}
	if _, err := gateW.Write([]byte{1}); err != nil {
		child.Process.Kill()
		child.Wait()
		return err
	}
	gateW.Close()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	select {
	case s := <-sig:
		fmt.Printf("node-agent: %v: stopping QEMU\n", s)
		child.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			child.Process.Kill()
			<-exited
		}
		return nil
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("QEMU exited: %v", ee)
		}
		return err
	}
}

func parseLimit(s string) (delegate.Limit, error) {
	if s == "unlimited" {
		return delegate.Unlimited, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("-memlock: '%s' is not a number of bytes or \"unlimited\"", s)
	}
	return delegate.Limit(v), nil
}
