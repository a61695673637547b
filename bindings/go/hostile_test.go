// SPDX-License-Identifier: LGPL-2.1-or-later

package delegate

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"
)

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// What a broker (or whatever answers on its socket) may send that breaks
// the protocol: errors, no descriptor left open, never a panic.
func TestHostileReplies(t *testing.T) {
	welcome := loadVectors(t).Welcome[0].Wire
	tapReply := []byte(`{"id":1,"ok":true,"result":{"name":"vnet0","ifindex":7,"queues":2,"vnet_hdr":false,` +
		`"persist":false,"mtu":1500,"mac":"52:54:00:12:34:56","bridge":null,"adopted":false}}`)
	cases := []struct {
		name  string
		data  []byte
		nfds  int
		errno syscall.Errno
	}{
		{"more than 16 descriptors", []byte(`{"id":1,"ok":true,"result":{}}`), 20, syscall.ETOOMANYREFS},
		{"a datagram over 64 KiB", append(append([]byte(`{"id":1,"ok":true,"result":{"x":"`), bytes.Repeat([]byte("a"), MaxMessage)...), `"}}`...), 0, syscall.EMSGSIZE},
		{"two queues, one descriptor", tapReply, 1, syscall.EBADMSG},
		{"two queues, three descriptors", tapReply, 3, syscall.EBADMSG},
		{"descriptors with an error", []byte(`{"id":1,"ok":false,"error":{"code":"denied","errno":1,"message":"no"}}`), 2, 0},
		{"a short datagram", []byte(`{`), 1, syscall.EBADMSG},
		{"a result of the wrong shape", []byte(`{"id":1,"ok":true,"result":{"name":7}}`), 2, syscall.EBADMSG},
	}
	for _, tc := range cases {
		path := newPeer(t, welcome, tc.nfds, tc.data).path
		before := countFDs(t) // with the peer's listening socket
		c, err := Dial(testCtx(t), Config{Socket: path})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		tap, err := c.TapCreate(testCtx(t), TapArgs{Name: "vnet%d", Queues: 2})
		var e *Error
		if tap != nil || !errors.As(err, &e) || (tc.errno != 0 && (e.Code != CodeLocal || e.Errno != tc.errno)) {
			t.Errorf("%s: got %+v, %v", tc.name, tap, err)
		}
		c.Close()
		// the peer's goroutine may still hold its copies: wait for it to leave
		for i := 0; i < 100 && countFDs(t) > before; i++ {
			syscall.Nanosleep(&syscall.Timespec{Nsec: 10e6}, nil)
		}
		if n := countFDs(t); n > before {
			t.Errorf("%s: %d descriptors more than before", tc.name, n-before)
		}
	}
}
