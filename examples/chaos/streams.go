package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/transport"
)

// A stream sends streamEvents messages streamEvery apart, with one silent
// pause of streamPause in the middle: longer than the idle limit and the
// lifetime herz is given below, so a herz that cut connections it lent out
// (or gave away) would show here.
const (
	streamEvents = 24
	streamEvery  = 20 * time.Millisecond
	streamPause  = 300 * time.Millisecond
)

// strictHerz is a herz Transport with limits far below the stream's length:
// lifetime 150ms, idle limit 100ms, the evictor probing every 20ms. A stream
// or an upgraded connection must still never be cut.
var strictHerz = transport.Config{
	MaxLifetime: 150 * time.Millisecond,
	Dialer:      dialer.Config{IdleTimeout: 100 * time.Millisecond, ProbeInterval: 20 * time.Millisecond},
}

// streamRows runs the SSE and the 101-upgrade rows.
func streamRows(w io.Writer, o options) ([]row, error) {
	perWorker := 2
	if o.short {
		perWorker = 1
	}
	var rows []row
	for _, s := range []struct {
		name string
		h    http.Handler
		run  func(ctx context.Context, c *http.Client, url string) error
	}{
		{"SSE streams (herz lifetime 150ms)", http.HandlerFunc(sseHandler), readSSE},
		{"101 upgrade, echo (herz idle 100ms)", &upgradeHandler{}, echoUpgrade},
	} {
		srv := httptest.NewServer(s.h)
		starting(w, s.name)
		std, hz, finish, conns, err := clients(strictHerz)
		if err != nil {
			srv.Close()
			return nil, err
		}
		// The context bounds each stream: http.Client.Timeout would also
		// make a 101's body read-only.
		std.Timeout, hz.Timeout = 0, 0
		r := row{name: s.name, std: &tally{dups: -1, conns: conns[0]}, hz: &tally{dups: -1, conns: conns[1]}}
		for _, side := range []struct {
			c *http.Client
			t *tally
		}{{std, r.std}, {hz, r.hz}} {
			side.t.load(4, perWorker, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return s.run(ctx, side.c, srv.URL)
			})
		}
		finish(r.std, r.hz)
		srv.Close()
		if u, ok := s.h.(*upgradeHandler); ok {
			u.wg.Wait()
		}
		done(w, r, "cut")
		rows = append(rows, r)
	}
	return rows, nil
}

// sseHandler streams server-sent events.
func sseHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for i := range streamEvents {
		if i == streamEvents/2 {
			time.Sleep(streamPause)
		}
		if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(streamEvery):
		}
	}
}

// readSSE reads one stream and fails unless every event arrived.
func readSSE(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			got++
		}
	}
	if got != streamEvents {
		return fmt.Errorf("stream cut after %d of %d events: %v", got, streamEvents, sc.Err())
	}
	return nil
}

// upgradeHandler answers "Upgrade: herz-echo" with 101 and then echoes
// lines on the hijacked connection, like a WebSocket server would frames.
type upgradeHandler struct{ wg sync.WaitGroup }

func (u *upgradeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "herz-echo" {
		http.Error(w, "upgrade required", http.StatusUpgradeRequired)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: herz-echo\r\nConnection: Upgrade\r\n\r\n")
		if brw.Flush() != nil {
			return
		}
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString(line)
			if brw.Flush() != nil {
				return
			}
		}
	}()
}

// echoUpgrade upgrades, sends streamEvents lines (with the pause) and fails
// unless every echo came back.
func echoUpgrade(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "herz-echo")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("status %d, want 101", resp.StatusCode)
	}
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return errors.New("101 response body is not writable")
	}
	stop := context.AfterFunc(ctx, func() { rw.Close() }) // the deadline bounds the session
	defer stop()
	br := bufio.NewReader(rw)
	for i := range streamEvents {
		if i == streamEvents/2 {
			time.Sleep(streamPause)
		}
		msg := fmt.Sprintf("message %d\n", i)
		if _, err := io.WriteString(rw, msg); err != nil {
			return fmt.Errorf("upgraded connection cut after %d of %d echoes: %w", i, streamEvents, err)
		}
		echo, err := br.ReadString('\n')
		if err != nil || echo != msg {
			return fmt.Errorf("upgraded connection cut after %d of %d echoes: %v", i, streamEvents, err)
		}
		time.Sleep(streamEvery)
	}
	return nil
}
