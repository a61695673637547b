// SPDX-License-Identifier: LGPL-2.1-or-later

package delegate

import (
	"testing"
)

// FuzzDecodeReply: whatever the broker side sends, the decoders answer
// with a value or an error, never a panic.  The seeds are every wire of
// the conformance vectors; `go test` replays them, `go test -fuzz
// FuzzDecodeReply` explores from them.
func FuzzDecodeReply(f *testing.F) {
	v := loadVectors(f)
	for _, r := range v.Replies {
		f.Add([]byte(r.Wire))
	}
	for i := range v.RepliesInvalid {
		f.Add(v.RepliesInvalid[i].bytes(f))
	}
	for _, w := range v.Welcome {
		f.Add([]byte(w.Wire))
	}
	f.Add([]byte{})
	f.Add([]byte("{"))
	ops := []string{"ping", "state.get", "memlock.set", "cgroup.move", "sched.set", "tap.create", "tap.destroy",
		"kvmi.attach", "kvmi.connect", "kvmi.set-page-access", "kvmi.detach"}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeReply(data)
		if err == nil {
			if r.err == nil && r.result == nil {
				t.Fatalf("a reply decoded to neither result nor error: %q", data)
			}
			if r.err == nil {
				for _, op := range ops {
					decodeResult(op, r.result, resultFor(t, op))
				}
			}
		}
		decodeWelcome(data)
	})
}
