package bmc

import (
	"os"
	"syscall"
	"unsafe"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, ok := termios(f)
	return ok
}

func termios(f *os.File) (syscall.Termios, bool) {
	var t syscall.Termios
	ok := ioctl(f, syscall.TCGETS, unsafe.Pointer(&t))
	return t, ok
}

// saveTerminal returns a function that puts f's settings back as they are
// now (ipmitool killed in raw mode would leave the terminal raw).
func saveTerminal(f *os.File) func() {
	t, ok := termios(f)
	if !ok {
		return func() {}
	}
	return func() { ioctl(f, syscall.TCSETS, unsafe.Pointer(&t)) }
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return false
	}
	return errno == 0
}
