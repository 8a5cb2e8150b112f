package telemetry

import (
	"net/netip"
	"strings"
	"sync"
)

// maxPeerLen bounds what Peer returns: a DNS name is at most 253 bytes, so
// anything much longer is not a host:port (several hosts are allowed, as in
// PostgreSQL's multi-host URLs, within this bound).
const maxPeerLen = 512

// peerUnix is what Peer returns for Unix-domain socket addresses: their path
// is a path, and paths never become attributes.
const peerUnix = "unix"

// Peer normalises an address for use as the [AttrPeer] attribute: it returns
// host:port (or host alone when the input has no port), lower-cased, and
// nothing else. It understands
//
//   - host:port, [v6]:port, bare hosts and IP addresses (returned as they are:
//     the common case does not allocate);
//   - URLs and URL-like DSNs ("https://user:pass@Host:8443/p?q#f" →
//     "host:8443"; "postgres://u:p@h1:5432,h2:5433/db" → "h1:5432,h2:5433";
//     http, https, ws and wss without a port get their default port);
//   - gRPC targets ("dns:///svc:443", "dns://8.8.8.8/svc:443" → "svc:443";
//     "passthrough:///h:1", "ipv4:1.2.3.4:80"; "unix:…" → "unix");
//   - go-sql-driver/mysql DSNs ("user:pass@tcp(host:3306)/db" → "host:3306";
//     a unix(…) address gives "unix");
//   - libpq key=value DSNs ("host=h port=5432 password='…'" → "h:5432");
//   - "user:pass@host:port/…" without a scheme.
//
// Peer never returns userinfo (user names and passwords), paths, queries or
// fragments: the host is always taken from after the last '@' that precedes
// the query, and the result is checked against a strict host[:port] grammar;
// anything that fails the check gives "". The one ambiguity left is a URL or
// user:pass@host address whose password holds a raw '?' or '#' (RFC 3986
// requires them percent-encoded): that cannot be told apart from a query, so
// the text before it is checked as a host, and "u:12?x@h" gives "u:12".
// MySQL and key=value DSNs have no such ambiguity.
func Peer(addr string) string {
	s := strings.TrimSpace(addr)
	if validPeer(s) {
		return strings.ToLower(s) // returns s itself when it has no upper case
	}
	var host, scheme string
	switch {
	case isKeyValueDSN(s):
		host = keyValueHost(s)
	default:
		var ok bool
		if host, ok = mysqlHost(s); !ok {
			host, scheme = urlHost(s)
		}
	}
	if host == peerUnix {
		return peerUnix
	}
	if port := defaultPort(scheme); port != "" && host != "" && !hasPort(host) && !strings.Contains(host, ",") {
		host = joinHostPort(host, port)
	}
	if !validPeer(host) {
		return ""
	}
	return strings.ToLower(host)
}

// urlHost returns the host[:port] part of a URL, a gRPC target or a
// "user:pass@host:port/…" address, and the lower-cased scheme if any.
func urlHost(s string) (host, scheme string) {
	rest := s
	if i := strings.Index(s, "://"); i > 0 && isScheme(s[:i]) {
		scheme, rest = strings.ToLower(s[:i]), s[i+3:]
	} else if i := strings.IndexByte(s, ':'); i > 0 && isScheme(s[:i]) {
		// Opaque forms: "unix:/path", "unix:name", "ipv4:1.2.3.4:80",
		// "dns:host:443", "passthrough:host:80". "host:port" was handled by the
		// fast path, and "user:pass@…" is no known scheme.
		switch strings.ToLower(s[:i]) {
		case "unix", "unix-abstract":
			return peerUnix, ""
		case "ipv4", "ipv6", "dns", "passthrough":
			rest = s[i+1:]
		}
	}
	switch scheme {
	case "unix", "unix-abstract":
		return peerUnix, scheme
	}

	authEnd := indexAnyOr(rest, "/?#", len(rest))
	queryEnd := authEnd + indexAnyOr(rest[authEnd:], "?#", len(rest)-authEnd)
	// The userinfo ends at the last '@' before the query: in the authority as
	// RFC 3986 says, or further on when a raw '/' in a password cut the
	// authority short. An '@' in the query (e.g. "?email=a@b") is not userinfo.
	if at := strings.LastIndexByte(rest[:queryEnd], '@'); at >= 0 {
		after := rest[at+1:]
		host = after[:indexAnyOr(after, "/?#", len(after))]
	} else {
		host = rest[:authEnd]
	}
	if !validPeer(host) {
		// A raw '?' or '#' inside a password: the '@' that ends the userinfo
		// lies beyond the "query". Taking the text after the last '@' can only
		// give a wrong host, never the password that precedes it.
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			after := rest[at+1:]
			host = after[:indexAnyOr(after, "/?#", len(after))]
		}
	}
	switch scheme {
	case "dns", "passthrough", "xds", "google-c2p":
		// gRPC resolvers: the endpoint is the path ("dns://8.8.8.8/svc:443",
		// "dns:///svc:443"); the authority, if any, names the DNS server.
		if path := rest[authEnd:]; strings.HasPrefix(path, "/") {
			path = strings.TrimLeft(path, "/")
			host = path[:indexAnyOr(path, "/?#", len(path))]
		}
	}
	return host, scheme
}

// mysqlHost recognises a go-sql-driver/mysql DSN,
// [user[:password]@][net[(addr)]]/dbname[?params], with the parser's own
// rules (the last '/' ends the address, the last '@' before it ends the
// password, so a password may hold any byte) and returns its address.
func mysqlHost(s string) (string, bool) {
	slash := strings.LastIndexByte(s, '/')
	if slash < 1 || s[slash-1] != ')' {
		return "", false
	}
	head := s[:slash] // [user[:password]@]net(addr)
	at := strings.LastIndexByte(head, '@')
	netAddr := head[at+1:]
	open := strings.IndexByte(netAddr, '(')
	if open < 0 || !isMySQLNet(netAddr[:open]) {
		return "", false
	}
	network, addr := netAddr[:open], netAddr[open+1:len(netAddr)-1]
	switch {
	case strings.HasPrefix(network, "unix"):
		return peerUnix, true
	case !strings.HasPrefix(network, "tcp"):
		return addr, true // a RegisterDialContext network: its address as given
	case addr == "":
		return "127.0.0.1:3306", true // the driver's default
	case !hasPort(addr):
		return joinHostPort(addr, "3306"), true
	}
	return addr, true
}

// isMySQLNet reports whether s can be a go-sql-driver network name: "tcp",
// "tcp6", "unix" or a name registered with RegisterDialContext.
func isMySQLNet(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// isKeyValueDSN reports whether s starts like a libpq key=value connection
// string: an identifier, optional spaces, '='. A URL scheme, a host name or a
// user name before ':' never contains '='.
func isKeyValueDSN(s string) bool {
	i := 0
	for i < len(s) && (isAlnum(s[i]) || s[i] == '_') {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i < len(s) && s[i] == '='
}

// keyValueHost returns host:port from a libpq key=value connection string
// ("host=db port=5432 user=u password='p w'"); host falls back to hostaddr;
// several comma-separated hosts are paired with their ports. A host that is a
// directory (a Unix socket) gives "unix". Malformed input gives "".
func keyValueHost(s string) string {
	var host, hostaddr, port string
	for {
		for s != "" && isSpace(s[0]) {
			s = s[1:]
		}
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return ""
		}
		key := strings.TrimRightFunc(s[:eq], func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
		s = s[eq+1:]
		for s != "" && isSpace(s[0]) {
			s = s[1:]
		}
		var val string
		var ok bool
		if val, s, ok = keyValueValue(s); !ok {
			return ""
		}
		switch key {
		case "host":
			host = val
		case "hostaddr":
			hostaddr = val
		case "port":
			port = val
		}
	}
	if host == "" {
		host = hostaddr
	}
	if host == "" {
		return ""
	}
	if host[0] == '/' || host[0] == '@' {
		return peerUnix
	}
	if port == "" {
		return host
	}
	hosts, ports := strings.Split(host, ","), strings.Split(port, ",")
	if len(ports) != 1 && len(ports) != len(hosts) {
		return ""
	}
	var b strings.Builder
	for i, h := range hosts {
		if i > 0 {
			b.WriteByte(',')
		}
		p := ports[0]
		if len(ports) > 1 {
			p = ports[i]
		}
		b.WriteString(joinHostPort(h, p))
	}
	return b.String()
}

// keyValueValue reads one libpq value: 'single quoted' with \' and \\
// escapes, or bare up to the next space (with backslash escapes). It returns
// the raw text with its escapes left in (host and port never need any; one
// that has some then fails validation) and the rest of s.
func keyValueValue(s string) (val, rest string, ok bool) {
	if s != "" && s[0] == '\'' {
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '\'':
				return s[1:i], s[i+1:], true
			}
		}
		return "", "", false // unterminated quote
	}
	i := 0
	for i < len(s) && !isSpace(s[i]) {
		if s[i] == '\\' {
			i++
		}
		i++
	}
	i = min(i, len(s))
	return s[:i], s[i:], true
}

// joinHostPort is net.JoinHostPort for a host that may already be bracketed.
func joinHostPort(host, port string) string {
	if strings.IndexByte(host, ':') >= 0 && !strings.HasPrefix(host, "[") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// defaultPort is the port implied by a URL scheme, for the schemes whose
// default is not configurable on the client.
func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// hasPort reports whether a single validated-looking host carries a port.
func hasPort(h string) bool {
	if strings.HasPrefix(h, "[") {
		return strings.Contains(h, "]:")
	}
	return strings.Count(h, ":") == 1
}

// validPeer reports whether s is a non-empty, comma-separated list of
// host[:port] with nothing else: DNS-ish names, IPv4, bracketed IPv6 (with an
// optional zone) or a bare IPv6 address, and decimal ports of 1–5 digits.
func validPeer(s string) bool {
	if s == "" || len(s) > maxPeerLen {
		return false
	}
	for {
		one, rest, more := strings.Cut(s, ",")
		if !validHostPort(one) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

func validHostPort(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		if !ipv6Chars(s[1:end]) || !strings.Contains(s[1:end], ":") {
			return false
		}
		if _, err := netip.ParseAddr(s[1:end]); err != nil {
			return false
		}
		tail := s[end+1:]
		return tail == "" || tail[0] == ':' && validPort(tail[1:])
	}
	if strings.Count(s, ":") > 1 { // a bare IPv6 address, no port
		if !ipv6Chars(s) {
			return false // and no error allocated by ParseAddr for a URL
		}
		a, err := netip.ParseAddr(s)
		return err == nil && a.Is6()
	}
	host, port, hasPort := strings.Cut(s, ":")
	if hasPort && !validPort(port) {
		return false
	}
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// ipv6Chars reports whether s holds only what an IPv6 address with an
// optional zone can: hex digits, ':', '.', '%' and zone-name characters.
func ipv6Chars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != ':' && c != '.' && c != '%' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// isScheme reports whether s is a URI scheme (RFC 3986 §3.1), also allowing
// ':' inside so "jdbc:postgresql://…" is understood.
func isScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '+' && c != '-' && c != '.' && c != ':' {
			return false
		}
	}
	return true
}

func indexAnyOr(s, chars string, def int) int {
	if i := strings.IndexAny(s, chars); i >= 0 {
		return i
	}
	return def
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool { return isAlpha(c) || '0' <= c && c <= '9' }
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// MaxPeerSeries bounds the distinct herz.peer (and server.address/port)
// values one recorder reports, so that a client calling many hosts cannot
// create metric series without limit: the first MaxPeerSeries peers keep
// their name, later ones are reported as [OtherPeer].
const MaxPeerSeries = 1024

// OtherPeer is the peer attribute value of the peers beyond MaxPeerSeries.
const OtherPeer = "_other"

// peerBound remembers the peers a recorder reports under their own name.
// It is consulted only when an attribute set is built (a cache miss), not
// on every record. The zero value is ready; safe for concurrent use.
type peerBound struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

// name returns p if it is (or can become) one of the reported peers, and
// OtherPeer otherwise.
func (b *peerBound) name(p string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[p]; ok {
		return p
	}
	if len(b.seen) >= MaxPeerSeries {
		return OtherPeer
	}
	if b.seen == nil {
		b.seen = make(map[string]struct{})
	}
	b.seen[p] = struct{}{}
	return p
}
