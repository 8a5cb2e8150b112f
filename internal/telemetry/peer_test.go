package telemetry_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/herz-go/herz/internal/telemetry"
)

var peerCases = []struct {
	name, in, want string
}{
	// Already host:port: returned as is.
	{"host:port", "db.internal:5432", "db.internal:5432"},
	{"ipv4:port", "10.0.0.1:80", "10.0.0.1:80"},
	{"ipv6:port", "[::1]:8080", "[::1]:8080"},
	{"ipv6 with zone", "[fe80::1%eth0]:80", "[fe80::1%eth0]:80"},
	{"bare host", "localhost", "localhost"},
	{"bare ipv6", "::1", "::1"},
	{"upper case", "DB.Internal:5432", "db.internal:5432"},
	{"surrounding space", "  db:1 \n", "db:1"},
	// URLs.
	{"url with credentials, path, query, fragment", "https://user:secret@Api.Example.com:8443/v1/x?token=secret#frag", "api.example.com:8443"},
	{"https default port", "https://api.example.com/v1", "api.example.com:443"},
	{"http default port", "http://user@example.com", "example.com:80"},
	{"wss default port", "wss://[2001:db8::1]/socket", "[2001:db8::1]:443"},
	{"postgres url", "postgres://admin:pa55@db:5432/orders?sslmode=disable", "db:5432"},
	{"postgres url without port", "postgresql://admin:pa55@db/orders", "db"},
	{"postgres multi-host", "postgres://u:p@h1:5432,h2:5433/db", "h1:5432,h2:5433"},
	{"jdbc url", "jdbc:postgresql://db:5432/orders?user=u&password=p", "db:5432"},
	{"percent-encoded password", "postgres://u:p%40ss%2Fw@db:5432/x", "db:5432"},
	{"raw @ in password", "postgres://u:p@ss@db:5432/x", "db:5432"},
	{"raw / in password", "postgres://u:12/34@db:5432/x", "db:5432"},
	{"raw ? in password with letters", "postgres://u:ab?cd@db:5432/x", "db:5432"},
	{"@ in query is not userinfo", "https://api.example.com/x?email=a@b.c", "api.example.com:443"},
	{"secret with @ in query", "postgres://db:5432/x?password=se@cret", "db:5432"},
	{"empty host", "https:///path", ""},
	{"file url", "file:///etc/passwd", ""},
	// gRPC targets.
	{"grpc dns target", "dns:///svc.ns:443", "svc.ns:443"},
	{"grpc dns with authority", "dns://8.8.8.8/svc.ns:443", "svc.ns:443"},
	{"grpc dns opaque", "dns:svc.ns:443", "svc.ns:443"},
	{"grpc passthrough", "passthrough:///10.0.0.1:50051", "10.0.0.1:50051"},
	{"grpc ipv4 list", "ipv4:10.0.0.1:80,10.0.0.2:80", "10.0.0.1:80,10.0.0.2:80"},
	{"grpc unix", "unix:///var/run/app.sock", "unix"},
	{"grpc unix relative", "unix:app.sock", "unix"},
	{"grpc unix-abstract", "unix-abstract:name", "unix"},
	// go-sql-driver/mysql DSNs.
	{"mysql dsn", "root:secret@tcp(db.internal:3306)/test?parseTime=true", "db.internal:3306"},
	{"mysql dsn password with @ / ( )", "root:s@c/r(e)t@tcp(db:3306)/test", "db:3306"},
	{"mysql dsn without port", "root:pw@tcp(db)/test", "db:3306"},
	{"mysql dsn ipv6", "root:pw@tcp([::1]:3306)/test", "[::1]:3306"},
	{"mysql dsn default address", "root:pw@tcp()/test", "127.0.0.1:3306"},
	{"mysql dsn unix socket", "root:pw@unix(/var/run/mysqld/mysqld.sock)/test", "unix"},
	{"mysql dsn custom network", "root:pw@cloudsql(proj:region:inst)/test", ""},
	{"mysql dsn custom network host:port", "root:pw@mynet(db:3306)/test", "db:3306"},
	{"mysql dsn without credentials", "tcp(db:3306)/test", "db:3306"},
	{"mysql dsn without address", "root:pw@/test", ""},
	// libpq key=value DSNs.
	{"key value", "host=db port=5432 user=u password=secret dbname=x", "db:5432"},
	{"key value quoted password with spaces", "host=db port=5432 password='se cret host=evil' dbname=x", "db:5432"},
	{"key value escaped quote", `password='it\'s' host=db`, "db"},
	{"key value spaces around =", "host = db  port = 6432", "db:6432"},
	{"key value hostaddr", "hostaddr=10.0.0.1 port=5432 password=x", "10.0.0.1:5432"},
	{"key value multi-host", "host=h1,h2 port=5432,5433", "h1:5432,h2:5433"},
	{"key value multi-host one port", "host=h1,h2 port=5432", "h1:5432,h2:5432"},
	{"key value ipv6 host", "host=::1 port=5432", "[::1]:5432"},
	{"key value unix socket", "host=/var/run/postgresql port=5432 password=x", "unix"},
	{"key value no host", "user=u password=secret", ""},
	{"key value unterminated quote", "host=db password='secret", ""},
	// Scheme-less userinfo.
	{"userinfo host:port", "user:secret@db:6379", "db:6379"},
	{"userinfo host:port/path", "user:secret@db:6379/0", "db:6379"},
	{"userinfo with raw / and ?", "user:se/c?ret@db:6379", "db:6379"},
	{"host:port/path", "db:6379/0", "db:6379"},
	// Garbage.
	{"empty", "", ""},
	{"spaces", "   ", ""},
	{"only userinfo", "user:secret@", ""},
	{"bad port", "db:http", ""},
	{"port too long", "db:123456", ""},
	{"control char", "db\x00:1", ""},
	{"space inside", "db 1:2", ""},
	{"unbalanced bracket", "[::1:80", ""},
	{"bracketed ipv4", "[10.0.0.1]:80", ""},
	{"too long", strings.Repeat("a", 600), ""},
}

func TestPeer(t *testing.T) {
	for _, tt := range peerCases {
		t.Run(tt.name, func(t *testing.T) {
			if got := telemetry.Peer(tt.in); got != tt.want {
				t.Fatalf("Peer(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPeerDoesNotAllocateForHostPort(t *testing.T) {
	if a := testing.AllocsPerRun(100, func() { _ = telemetry.Peer("db.internal:5432") }); a != 0 {
		t.Fatalf("Peer(host:port) allocates %v times, want 0", a)
	}
}

// peerForms builds the address forms herz is handed, each carrying user and
// pass as that form writes them.
func peerForms(user, pass, hostport string) map[string]string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, pass), Host: hostport, Path: "/db", RawQuery: "sslmode=disable"}
	pq := func(s string) string { // libpq quoting
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
	}
	host, port, _ := strings.Cut(hostport, ":")
	return map[string]string{
		"url":       u.String(),
		"raw url":   "https://" + user + ":" + pass + "@" + hostport + "/path",
		"netloc":    user + ":" + pass + "@" + hostport,
		"mysql":     user + ":" + pass + "@tcp(" + hostport + ")/db?parseTime=true",
		"key value": "user=" + pq(user) + " password=" + pq(pass) + " host=" + host + " port=" + port + " dbname=x",
	}
}

func FuzzPeer(f *testing.F) {
	for _, tt := range peerCases {
		f.Add(tt.in, "admin", "s3cret", "db.internal", uint16(5432))
	}
	f.Add("", "a@b", "p@ss/w?rd#x", "h", uint16(1))
	f.Add("", "u", "12/ab", "db", uint16(80))
	f.Add("", "u:v", "x)y(tcp(", "db", uint16(3306))
	f.Add("", `u'\`, `'\ host=evil`, "db", uint16(5432))
	f.Fuzz(func(t *testing.T, raw, user, pass, host string, port uint16) {
		// Any input: the result is "" or a clean host[:port] list, stable
		// under Peer.
		check := func(in string) string {
			out := telemetry.Peer(in)
			if strings.ContainsAny(out, "@/?#= \t\r\n'\"\\()") {
				t.Fatalf("Peer(%q) = %q: not a bare host:port", in, out)
			}
			if again := telemetry.Peer(out); again != out {
				t.Fatalf("Peer(Peer(%q)) = %q, want %q", in, again, out)
			}
			return out
		}
		check(raw)

		// A well-formed address form never yields its password.
		if !validHost(host) {
			host = "db.internal"
		}
		hostport := host + ":" + strconv.Itoa(int(port))
		if len(pass) < 3 || strings.Contains(hostport+":443", pass) {
			return // too short to tell a leak from a coincidence
		}
		// A raw URL or netloc cannot hold '?' or '#' in its userinfo (RFC 3986
		// wants them percent-encoded; Peer documents the ambiguity): the
		// percent-encoded URL form covers those passwords.
		rawOK := !strings.ContainsAny(pass+user, "?#")
		for form, in := range peerForms(user, pass, hostport) {
			if (form == "raw url" || form == "netloc") && !rawOK {
				continue
			}
			if form == "key value" && (strings.ContainsAny(host, ":,") || host == "") {
				continue
			}
			if out := check(in); strings.Contains(out, pass) {
				t.Fatalf("%s form %q: Peer = %q contains the password %q", form, in, out, pass)
			}
		}
	})
}

func validHost(h string) bool {
	if h == "" || len(h) > 63 {
		return false
	}
	for _, c := range []byte(h) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func BenchmarkPeer(b *testing.B) {
	for _, tt := range []struct{ name, in string }{
		{"hostport", "db.internal:5432"},
		{"url", "postgres://admin:pa55@db.internal:5432/orders?sslmode=disable"},
		{"mysql", "root:secret@tcp(db.internal:3306)/test?parseTime=true"},
		{"keyvalue", "host=db.internal port=5432 user=u password=secret dbname=x"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = telemetry.Peer(tt.in)
			}
		})
	}
}
