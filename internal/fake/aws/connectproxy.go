package aws

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// ConnectProxy is a tiny HTTPS proxy: it answers CONNECT for the host names
// it is given (port 443) by tunnelling to a local address, and refuses any
// other target. Pointed at by https_proxy, it lets a client that cannot be
// told where a name lives (enroot's curl) reach a production host name
// served on 127.0.0.1, with no /etc/hosts line and no port in the name.
type ConnectProxy struct {
	URL string // http://127.0.0.1:<port>, for https_proxy

	srv     *http.Server
	routes  map[string]string // "host:443" -> "127.0.0.1:port"
	mu      sync.Mutex
	tunnels int
}

// StartConnectProxy starts a proxy that tunnels host:443 to addr for each
// entry of routes; Close stops it.
func StartConnectProxy(routes map[string]string) (*ConnectProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &ConnectProxy{URL: "http://" + ln.Addr().String(), routes: map[string]string{}}
	for host, addr := range routes {
		p.routes[host+":443"] = addr
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Tunnels is how many CONNECTs the proxy has tunnelled.
func (p *ConnectProxy) Tunnels() int { p.mu.Lock(); defer p.mu.Unlock(); return p.tunnels }

// Close stops the listener; open tunnels end with their clients.
func (p *ConnectProxy) Close() { _ = p.srv.Close() }

func (p *ConnectProxy) serve(w http.ResponseWriter, r *http.Request) {
	addr, ok := p.routes[r.Host]
	if r.Method != http.MethodConnect || !ok {
		http.Error(w, fmt.Sprintf("this proxy only tunnels CONNECT to %v", p.names()), http.StatusForbidden)
		return
	}
	up, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	p.mu.Lock()
	p.tunnels++
	p.mu.Unlock()
	_, _ = down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	go func() { _, _ = io.Copy(up, buf); up.Close() }()
	_, _ = io.Copy(down, up)
	down.Close()
}

func (p *ConnectProxy) names() []string {
	var out []string
	for h := range p.routes {
		out = append(out, h)
	}
	return out
}
