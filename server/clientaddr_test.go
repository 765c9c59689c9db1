package server

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, forwarded, want string
	}{
		{"direct", "192.0.2.7:5000", "", "192.0.2.7"},
		{"untrusted peer's header is ignored", "192.0.2.7:5000", "198.51.100.1", "192.0.2.7"},
		{"trusted proxy", "10.1.2.3:5000", "198.51.100.1", "198.51.100.1"},
		{"a client's own forgery is left of the proxy's entry", "10.1.2.3:5000", "203.0.113.9, 198.51.100.1", "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3:5000", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"what a trusted proxy wrote that is no address", "10.1.2.3:5000", "unknown", "unknown"},
		{"an address with a port", "10.1.2.3:5000", "198.51.100.1:4711", "198.51.100.1"},
		{"an IPv6 address with a port", "10.1.2.3:5000", "[2001:db8::1]:4711", "2001:db8::"},
		{"IPv6 is cut to its /64", "[2001:db8:1:2:3:4:5:6]:5000", "", "2001:db8:1:2::"},
		{"IPv4 in IPv6", "[::ffff:192.0.2.7]:5000", "", "192.0.2.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			if tt.forwarded != "" {
				r.Header.Set("X-Forwarded-For", tt.forwarded)
			}
			if got := clientAddr(r, trusted); got != tt.want {
				t.Errorf("clientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}
