package faultlab_test

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// h2Frame is one raw HTTP/2 frame header and payload.
type h2Frame struct {
	typ     byte
	flags   byte
	stream  uint32
	payload []byte
}

const (
	h2FrameSettings = 0x4
	h2FrameGoAway   = 0x7
)

// dialH2C opens a prior-knowledge HTTP/2 connection with [startH2].
func dialH2C(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return startH2(t, c)
}

// startH2 speaks HTTP/2 on c by hand (preface and an empty SETTINGS frame)
// and returns c after the server's first frame, so the server side is known
// to run. c is closed in t.Cleanup.
func startH2(t *testing.T, c net.Conn) net.Conn {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	preface := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, h2FrameSettings, 0, 0, 0, 0, 0)
	if _, err := c.Write(preface); err != nil {
		t.Fatal(err)
	}
	f, err := readH2Frame(c, 2*time.Second)
	if err != nil || f.typ != h2FrameSettings {
		t.Fatalf("first frame from server: %+v, %v; want SETTINGS", f, err)
	}
	return c
}

// readH2Frame reads one frame within d.
func readH2Frame(c net.Conn, d time.Duration) (h2Frame, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return h2Frame{}, err
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	f := h2Frame{typ: hdr[3], flags: hdr[4], stream: binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff, payload: make([]byte, n)}
	_, err := io.ReadFull(c, f.payload)
	return f, err
}

// waitGoAway reads frames until a GOAWAY and returns its error code.
func waitGoAway(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	for range 100 {
		f, err := readH2Frame(c, 3*time.Second)
		if err != nil {
			t.Fatalf("connection ended without GOAWAY: %v", err)
		}
		if f.typ == h2FrameGoAway {
			if len(f.payload) < 8 {
				t.Fatalf("short GOAWAY payload %x", f.payload)
			}
			return binary.BigEndian.Uint32(f.payload[4:8])
		}
	}
	t.Fatal("no GOAWAY in 100 frames")
	return 0
}
