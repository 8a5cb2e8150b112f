package testenv_test

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/herz-go/herz/internal/testenv"
)

var redisReplies = []struct {
	in   string
	want any
	err  bool
}{
	{"+PONG\r\n", "PONG", false},
	{"-ERR unknown command\r\n", nil, true},
	{":42\r\n", int64(42), false},
	{"$5\r\nhello\r\n", "hello", false},
	{"$-1\r\n", nil, false},
	{"*2\r\n$1\r\na\r\n:1\r\n", []any{"a", int64(1)}, false},
	{"*-1\r\n", nil, false},
	{"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", []any{"subscribe", "ch", int64(1)}, false},
	{"$99999999999\r\n", nil, true},
	{"*99999999999\r\n", nil, true},
	{"?x\r\n", nil, true},
	{"+no crlf\n", nil, true},
}

func TestRedisReadParsesRESP2(t *testing.T) {
	for _, tc := range redisReplies {
		t.Run(strings.TrimSpace(tc.in), func(t *testing.T) {
			got, err := testenv.RedisRead(bufio.NewReader(strings.NewReader(tc.in)))
			if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RedisRead(%q) = %#v, %v; want %#v, error %v", tc.in, got, err, tc.want, tc.err)
			}
			var re testenv.RedisError
			if tc.in[0] == '-' && !errors.As(err, &re) {
				t.Errorf("error reply gave %T, want RedisError", err)
			}
		})
	}
}

func TestRedisSendWritesRESPArray(t *testing.T) {
	var b bytes.Buffer
	if err := testenv.RedisSend(&b, "SET", "k", ""); err != nil {
		t.Fatal(err)
	}
	if want := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"; b.String() != want {
		t.Errorf("RedisSend wrote %q, want %q", b.String(), want)
	}
}

func FuzzRedisRead(f *testing.F) {
	for _, tc := range redisReplies {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		_, _ = testenv.RedisRead(bufio.NewReader(strings.NewReader(in)))
	})
}
