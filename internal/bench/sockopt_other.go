//go:build !linux

package bench

import "syscall"

func reusePort(_, _ string, _ syscall.RawConn) error { return nil }

const haveReusePort = false

func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
