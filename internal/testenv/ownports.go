package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ownTCPPorts returns the local ports of this process's TCP sockets (IPv4
// and IPv6): the inodes of the sockets in /proc/self/fd matched against
// /proc/self/net/tcp{,6}. A database server sees them as its clients' ports.
func ownTCPPorts() (map[int]bool, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, fmt.Errorf("herz/testenv: list own sockets (needs Linux /proc): %w", err)
	}
	inodes := make(map[string]bool, len(entries))
	for _, e := range entries {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	ports := make(map[int]bool)
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			if table == "/proc/self/net/tcp6" && os.IsNotExist(err) {
				continue // IPv6 disabled
			}
			return nil, fmt.Errorf("herz/testenv: list own sockets: %w", err)
		}
		for port := range socketPorts(data, inodes) {
			ports[port] = true
		}
	}
	return ports, nil
}

// socketPorts yields the local ports of the rows of a /proc/net/tcp table
// whose inode is in inodes. A row reads
// "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...",
// local_address being hex "ADDR:PORT".
func socketPorts(table []byte, inodes map[string]bool) map[int]bool {
	ports := make(map[int]bool)
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || !inodes[f[9]] {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if port, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
			ports[int(port)] = true
		}
	}
	return ports
}
