// SPDX-License-Identifier: LGPL-2.1-or-later

package delegate

import (
	"encoding/binary"
	"os"
	"syscall"
	"unsafe"
)

const (
	mfdCloexec      = 0x1
	mfdAllowSealing = 0x2
	fAddSeals       = 1033
	fSealShrink     = 0x2
	fSealGrow       = 0x4
	fSealWrite      = 0x8
)

// hostOrder is the byte order of this machine: the memfd's entries are in
// host byte order.
var hostOrder binary.ByteOrder = func() binary.ByteOrder {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}()

// NewPageAccessMemfd writes entries into a new memfd as packed
// {u64 gpa; u8 access; u8 pad[7]} records and seals it against shrinking,
// growing and writing, as kvmi.set-page-access requires.  The file is
// close-on-exec; the caller closes it.
func NewPageAccessMemfd(entries []PageAccess) (*os.File, error) {
	if len(entries) == 0 {
		return nil, localError(syscall.EINVAL, "a page access memfd needs at least one entry")
	}
	name := []byte("delegate-page-access\x00")
	fd, _, e := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(&name[0])), mfdCloexec|mfdAllowSealing, 0)
	if e != 0 {
		return nil, localError(e, "memfd_create: %v", e)
	}
	f := os.NewFile(fd, "delegate-page-access")
	buf := make([]byte, 16*len(entries))
	for i, p := range entries {
		hostOrder.PutUint64(buf[16*i:], p.GPA)
		buf[16*i+8] = p.Access
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return nil, localError(syscall.EIO, "writing the memfd: %v", err)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, fAddSeals, fSealShrink|fSealGrow|fSealWrite); e != 0 {
		f.Close()
		return nil, localError(e, "sealing the memfd: %v", e)
	}
	return f, nil
}
