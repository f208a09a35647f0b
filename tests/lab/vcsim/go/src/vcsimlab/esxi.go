// ESXi hosts' own HTTPS endpoints: the datastore /folder a client reaches
// straight on the host (vCenter out of the data path) with a generic service
// ticket that vCenter issued (SessionManager.AcquireGenericServiceTicket).
//
// vcsim 0.24.2 answers AcquireGenericServiceTicket with a random id and
// remembers nothing. The lab records each ticket with the URL and method it
// was acquired for and accepts it only for exactly that request, once (the
// vSphere API: "The ticket may be used only once and is valid only for the
// SessionManagerServiceRequestSpec with which it was acquired"), within its
// lifetime. Every host listens on its own port; the vCenter session cookie
// means nothing there. Counters under /_lab/counters tell a test which path
// served the bytes.
package main

import (
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	ticketCookie   = "vmware_cgi_ticket"
	esxDatacenter  = "ha-datacenter" // the only datacenter an ESXi host knows
	defaultTicketS = 600
)

type ticket struct {
	url     string // canonical form, see canonURL
	method  string // httpGet, httpHead, httpPut, ...
	expires time.Time
	used    bool
	reads   int64 // requests it admitted
}

// counters are plain named totals; tests diff them around an operation.
type counters struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *counters) add(name string, v int64) {
	c.mu.Lock()
	c.n[name] += v
	c.mu.Unlock()
}

func (c *counters) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cloneMap(c.n)
}

// cloneMap copies a map (maps.Clone is Go 1.21; Debian 12 has 1.19).
func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (c *counters) reset() {
	c.mu.Lock()
	c.n = map[string]int64{}
	c.mu.Unlock()
}

// canonURL is the form a ticket's URL and a request's URL are compared in:
// host (lower case, default port dropped), decoded path, sorted query.
func canonURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	host = strings.TrimSuffix(host, ":443")
	return host + u.Path + "?" + u.Query().Encode(), true
}

func requestURL(r *http.Request) string {
	return "https://" + r.Host + r.URL.RequestURI()
}

// recordTicket remembers a ticket vcsim handed out, with what it is for.
func (l *Lab) recordTicket(id string, spec types.BaseSessionManagerServiceRequestSpec) {
	t := &ticket{expires: time.Now().Add(time.Duration(l.ticketLifetime.Load()) * time.Second)}
	if h, ok := spec.(*types.SessionManagerHttpServiceRequestSpec); ok {
		t.method = h.Method
		if c, ok := canonURL(h.Url); ok {
			t.url = c
		}
	}
	l.mu.Lock()
	l.tickets[id] = t
	l.mu.Unlock()
	l.counters.add("tickets_issued", 1)
}

// useTicket checks the ticket against the request and, when single use is
// on, consumes it. It returns "" when the ticket admits the request, else
// the reason it does not.
func (l *Lab) useTicket(id string, r *http.Request) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.tickets[id]
	switch {
	case !ok:
		return "unknown"
	case !time.Now().Before(t.expires):
		return "expired"
	case t.used:
		return "used"
	}
	want := "http" + strings.ToUpper(r.Method[:1]) + strings.ToLower(r.Method[1:])
	if t.method != want && !(r.Method == http.MethodHead && t.method == "httpGet") {
		return "wrong_method"
	}
	if c, ok := canonURL(requestURL(r)); !ok || t.url == "" || c != t.url {
		return "wrong_url"
	}
	if l.ticketSingleUse.Load() {
		t.used = true
	}
	t.reads++
	if max := l.ticketMaxReads.Load(); max > 0 && t.reads >= max {
		t.expires = time.Now() // this request is served; the next one with this ticket is refused
	}
	return ""
}

func (l *Lab) expireTicket(id string) {
	l.mu.Lock()
	if t, ok := l.tickets[id]; ok {
		t.expires = time.Now()
	}
	l.mu.Unlock()
}

// expireTickets expires every ticket now (the /_lab knob a renewal test uses)
// and forgets those expired a while ago.
func (l *Lab) expireTickets() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	n := l.outstandingLocked(now)
	for id, t := range l.tickets {
		if now.Sub(t.expires) > time.Hour {
			delete(l.tickets, id)
			continue
		}
		t.expires = now
	}
	return n
}

func (l *Lab) outstandingTickets() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.outstandingLocked(time.Now())
}

// outstandingLocked counts the tickets still usable at now; l.mu is held.
func (l *Lab) outstandingLocked(now time.Time) int {
	n := 0
	for _, t := range l.tickets {
		if now.Before(t.expires) && !t.used {
			n++
		}
	}
	return n
}

func (l *Lab) esxiHosts() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return cloneMap(l.esxi)
}

// countingWriter counts the body bytes of a response.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.ResponseWriter.Write(p)
	c.n += int64(k)
	return k, err
}

// esxiHost is one host's endpoint.
type esxiHost struct {
	name string
	ref  types.ManagedObjectReference
	addr string
}

// mounts reports whether the host has the datastore mounted.
func (h *esxiHost) mounts(dsName string) bool {
	hs, ok := simulator.Map.Get(h.ref).(*simulator.HostSystem)
	if !ok {
		return false
	}
	for _, ref := range hs.Datastore {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok && ds.Name == dsName {
			return true
		}
	}
	return false
}

// serveHosts opens one TLS listener per ESXi host: listen is "ip:0" (each
// host on a port of its own the kernel picks) or "ip:P" (host i on P+i).
func (l *Lab) serveHosts(listen string, cfg *tls.Config) (map[string]string, error) {
	ip, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, err
	}
	base, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, err
	}
	var hosts []*esxiHost
	for _, e := range simulator.Map.All("HostSystem") {
		h := e.(*simulator.HostSystem)
		hosts = append(hosts, &esxiHost{name: h.Name, ref: h.Self})
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].name < hosts[j].name })
	out := map[string]string{}
	for i, h := range hosts {
		port := 0
		if base > 0 {
			port = base + i
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("ESXi endpoint of %s: %w", h.name, err)
		}
		h.addr = ln.Addr().String()
		out[h.name] = h.addr
		srv := &http.Server{Handler: l.esxiHandler(h), ReadHeaderTimeout: 30 * time.Second}
		go func(h *esxiHost, ln net.Listener) {
			if err := srv.Serve(tls.NewListener(ln, cfg)); err != nil && err != http.ErrServerClosed {
				log.Printf("lab: ESXi endpoint %s: %v", h.name, err)
			}
		}(h, ln)
	}
	l.mu.Lock()
	l.esxi = out
	l.mu.Unlock()
	return out, nil
}

// esxiHandler serves what the tests need of hostd: /folder with a ticket.
func (l *Lab) esxiHandler(h *esxiHost) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/folder/") {
			http.NotFound(w, r)
			return
		}
		reject := func(reason string, code int) {
			l.counters.add("esxi_rejected_"+reason, 1)
			l.counters.add("esxi_rejected", 1)
			w.Header().Set("WWW-Authenticate", `Basic realm="VMware HTTP server"`)
			http.Error(w, fmt.Sprintf("%d %s: %s", code, http.StatusText(code), reason), code)
		}
		c, err := r.Cookie(ticketCookie)
		if err != nil || c.Value == "" {
			// A vCenter session means nothing to a host.
			if _, err := r.Cookie(sessionName); err == nil {
				reject("session_cookie", http.StatusUnauthorized)
			} else {
				reject("no_ticket", http.StatusUnauthorized)
			}
			return
		}
		if l.faults.take("esxi_ticket_expired") {
			l.expireTicket(c.Value)
			reject("expired", http.StatusUnauthorized)
			return
		}
		if l.faults.take("esxi_ticket_rejected") {
			reject("wrong_url", http.StatusForbidden)
			return
		}
		if reason := l.useTicket(c.Value, r); reason != "" {
			code := http.StatusUnauthorized
			if reason == "wrong_url" || reason == "wrong_method" {
				code = http.StatusForbidden
			}
			reject(reason, code)
			return
		}
		q := r.URL.Query()
		if dc := q.Get("dcPath"); dc != "" && dc != esxDatacenter {
			http.Error(w, "404 Not Found: datacenter "+dc, http.StatusNotFound)
			return
		}
		ds := q.Get("dsName")
		if ds == "" || !h.mounts(ds) {
			http.Error(w, "404 Not Found: datastore "+ds+" not mounted on "+h.name, http.StatusNotFound)
			return
		}
		// The simulator's file server looks the datastore up in vCenter's datacenter.
		q.Set("dcPath", l.dcName)
		r.URL.RawQuery = q.Encode()
		if l.folderFaults(w) {
			return
		}
		l.counters.add("esxi_ticket_reads", 1)
		l.counters.add("esxi_reads_"+h.name, 1)
		cw := &countingWriter{ResponseWriter: w}
		l.serveDatastoreFile(cw, r)
		l.counters.add("esxi_bytes", cw.n)
		l.counters.add("esxi_bytes_"+h.name, cw.n)
	})
}
