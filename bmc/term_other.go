//go:build !linux

package bmc

import "os"

func isTerminal(*os.File) bool { return false }

func saveTerminal(*os.File) func() { return func() {} }
