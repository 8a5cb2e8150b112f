package grpcconn_test

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"

	"github.com/herz-go/herz/grpcconn"
)

func parser(t testing.TB) balancer.ConfigParser {
	p, ok := balancer.Get(grpcconn.BalancerName).(balancer.ConfigParser)
	if !ok {
		t.Fatalf("%s is not registered with a config parser", grpcconn.BalancerName)
	}
	return p
}

func TestBalancerParseConfig(t *testing.T) {
	p := parser(t)
	for _, tc := range []struct {
		js    string
		valid bool
	}{
		{`{}`, true},
		{``, true},
		{`{"BaseEjection":1000000000,"MaxEjection":2000000000}`, true},
		{`{"FailureRatio":2}`, false},
		{`{"MaxEjection":1,"BaseEjection":2}`, false},
		{`{"Interval":"1s"}`, false},
		{`[`, false},
	} {
		_, err := p.ParseConfig(json.RawMessage(tc.js))
		if (err == nil) != tc.valid {
			t.Errorf("ParseConfig(%s): %v, want valid=%v", tc.js, err, tc.valid)
		}
	}
	js, err := json.Marshal(grpcconn.OutlierConfig{BaseEjection: time.Second, MaxEjection: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ParseConfig(js); err != nil {
		t.Errorf("a marshalled OutlierConfig does not parse: %v", err)
	}
}

func FuzzBalancerParseConfig(f *testing.F) {
	for _, s := range []string{`{}`, ``, `{"FailureRatio":2}`, `{"Interval":-5}`, `{"MaxEjectedShare":1e308}`, `[`} {
		f.Add([]byte(s))
	}
	p := parser(f)
	f.Fuzz(func(t *testing.T, js []byte) {
		_, _ = p.ParseConfig(json.RawMessage(js)) // must not panic
	})
}
