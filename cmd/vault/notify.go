package main

import (
	"net"
	"os"
)

// sdNotify tells the service manager about the daemon's state (READY=1,
// STOPPING=1, STATUS=...) over the datagram socket systemd names in
// $NOTIFY_SOCKET for a Type=notify unit; without it, it does nothing.
// It is written out rather than taken from coreos/go-systemd: the protocol
// is one datagram, and the module would be this package's only use of it.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	// Go maps a leading '@' to Linux's abstract namespace, as systemd means it.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}
