package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
)

// Ports are chosen below the kernel's ephemeral range. A port the kernel hands out
// for 127.0.0.1:0 comes from that range, and so does the local port of every
// outgoing connection: while etcd and the API server start, their own client
// connections could take a port picked for KWOK before KWOK binds it (CI saw
// exactly that). Below the range only another listener can collide, and Start
// retries when one does.
const (
	lowestPort        = 20000
	defaultEphemeral  = 32768 // Linux's default lower bound
	portPickAttempts  = 200
	localPortRangeSys = "/proc/sys/net/ipv4/ip_local_port_range"
)

// freePorts picks one free loopback port per name, outside the ephemeral range.
// The probe listeners are closed before the components bind, so a collision with
// another process remains possible; Start detects it and tries again.
func freePorts(names ...string) (map[string]int, error) {
	high := ephemeralLow() - 1
	ports := make(map[string]int, len(names))
	taken := make(map[int]bool, len(names))
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for _, name := range names {
		l, err := listenBelow(high, taken)
		if err != nil {
			return nil, fmt.Errorf("finding a free port for %s: %w", name, err)
		}
		listeners = append(listeners, l)
		port := l.Addr().(*net.TCPAddr).Port
		ports[name], taken[port] = port, true
	}
	return ports, nil
}

// listenBelow binds a random free port in [lowestPort, high], or any port the
// kernel offers when that window is empty (an unusual ip_local_port_range).
func listenBelow(high int, taken map[int]bool) (net.Listener, error) {
	if high < lowestPort {
		return net.Listen("tcp", "127.0.0.1:0")
	}
	var last error
	for range portPickAttempts {
		port := lowestPort + rand.IntN(high-lowestPort+1)
		if taken[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			return l, nil
		}
		last = err
	}
	return nil, fmt.Errorf("no free port between %d and %d after %d tries: %w", lowestPort, high, portPickAttempts, last)
}

// ephemeralLow reads the lower bound of the kernel's ephemeral port range.
func ephemeralLow() int {
	b, err := os.ReadFile(localPortRangeSys)
	if err != nil {
		return defaultEphemeral
	}
	var low, high int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &low, &high); err != nil || low <= 0 {
		return defaultEphemeral
	}
	return low
}

// isPortConflict reports whether a failed start was another process holding a port.
func isPortConflict(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}

// FreePort is a free loopback port below the ephemeral range, for another
// local server (the controller's API in `lockstep dev` and in tests).
func FreePort() (int, error) {
	ports, err := freePorts("port")
	return ports["port"], err
}
