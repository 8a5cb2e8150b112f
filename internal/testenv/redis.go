package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisAddr is the machine's Redis (no auth), started by .ci/run when down.
const RedisAddr = "127.0.0.1:6379"

// RequireRedis returns [RedisAddr] when a Redis answers PING there, and
// otherwise skips the test saying why ([SkipOrFail]: under CI it fails).
func RequireRedis(t testing.TB) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", RedisAddr, 2*time.Second)
	if err != nil {
		SkipOrFail(t, "herz/testenv: no Redis on %s: %v", RedisAddr, err)
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if r, err := RedisDo(c, "PING"); err != nil || r != "PONG" {
		SkipOrFail(t, "herz/testenv: Redis on %s does not answer PING: %v %v", RedisAddr, r, err)
	}
	return RedisAddr
}

// RedisError is an error reply (-ERR ...) from Redis.
type RedisError string

// Error implements error.
func (e RedisError) Error() string { return "redis: " + string(e) }

// RedisDo sends one command in RESP and reads its reply with [RedisRead]. It
// reads through a fresh buffer, so it is for request/response exchanges
// only (not for a connection that receives pushes).
func RedisDo(c net.Conn, args ...string) (any, error) {
	if err := RedisSend(c, args...); err != nil {
		return nil, err
	}
	return RedisRead(bufio.NewReaderSize(c, 256))
}

// RedisSend writes one command in RESP (an array of bulk strings).
func RedisSend(w io.Writer, args ...string) error {
	b := make([]byte, 0, 64)
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	_, err := w.Write(b)
	return err
}

// Bounds of what RedisRead accepts (Redis' own proto-max-bulk-len is 512MB;
// tests never need that much).
const (
	redisMaxBulk  = 64 << 20
	redisMaxArray = 1 << 20
)

// RedisRead reads one RESP2 reply: a simple string or bulk string (string),
// an integer (int64), a nil bulk or array (nil), an array ([]any) or an
// error reply (returned as a [RedisError] error).
func RedisRead(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("herz/testenv: bad RESP line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return nil, RedisError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		if n > redisMaxBulk {
			return nil, fmt.Errorf("herz/testenv: RESP bulk string of %d bytes, over %d", n, redisMaxBulk)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		if n > redisMaxArray {
			return nil, fmt.Errorf("herz/testenv: RESP array of %d items, over %d", n, redisMaxArray)
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = RedisRead(r); err != nil {
				var re RedisError
				if !errors.As(err, &re) {
					return nil, err
				}
				out[i] = re
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("herz/testenv: bad RESP type %q", kind)
}

// redisAdmin runs one command on a short-lived admin connection.
func redisAdmin(t testing.TB, args ...string) any {
	t.Helper()
	c, err := net.DialTimeout("tcp", RedisAddr, 2*time.Second)
	if err != nil {
		t.Fatalf("herz/testenv: Redis admin connection: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r, err := RedisDo(c, args...)
	if err != nil {
		t.Fatalf("herz/testenv: Redis %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// RedisSetConfig sets a Redis server parameter (CONFIG SET key value) for
// the rest of the test and restores the old value in t.Cleanup.
func RedisSetConfig(t testing.TB, key, value string) {
	t.Helper()
	old, ok := redisAdmin(t, "CONFIG", "GET", key).([]any)
	if !ok || len(old) != 2 {
		t.Fatalf("herz/testenv: Redis CONFIG GET %s: unexpected reply %v", key, old)
	}
	prev, _ := old[1].(string)
	redisAdmin(t, "CONFIG", "SET", key, value)
	t.Cleanup(func() { redisAdmin(t, "CONFIG", "SET", key, prev) })
}

// RedisClients returns the ids of the Redis clients named name (CLIENT
// SETNAME), from CLIENT LIST.
func RedisClients(t testing.TB, name string) []string {
	t.Helper()
	list, _ := redisAdmin(t, "CLIENT", "LIST").(string)
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		var id string
		named := false
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if f == "name="+name {
				named = true
			}
		}
		if named && id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// RedisKillClients kills the Redis clients named name (CLIENT KILL ID) and
// returns how many it killed; clients of other names are never touched.
func RedisKillClients(t testing.TB, name string) int {
	t.Helper()
	n := 0
	for _, id := range RedisClients(t, name) {
		if k, _ := redisAdmin(t, "CLIENT", "KILL", "ID", id).(int64); k > 0 {
			n++
		}
	}
	return n
}
