// Package simrack runs a simulated rack of BMCs for tests and demos: N
// OpenIPMI ipmi_sim processes on free 127.0.0.1 UDP ports, each speaking
// IPMI 2.0/RMCP+ with its own admin user and password and a chassis control
// script that keeps power and boot device in files, plus a UDP delay proxy
// to make a BMC slow. Clients must use cipher suite 3 (ipmitool -C 3).
//
// Start takes a context and a directory, so it serves `make demo` as well
// as tests; tests call Close in t.Cleanup (see StartT).
package simrack
