// HTTP side of the lab: the datastore /folder endpoint as vCenter/hostd
// behave (authentication, locked files, 503 rate limiting) and the /_lab
// control API tests use to write guest data and inject faults.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// faults counts pending one-shot faults by kind.
type faults struct {
	mu     sync.Mutex
	counts map[string]int
}

var faultKinds = map[string]bool{
	"folder_503": true, "folder_500": true, "folder_ignore_range": true,
	"folder_bad_content_range": true, "sdk_503": true,
	"esxi_ticket_expired": true, "esxi_ticket_rejected": true,
}

func (f *faults) take(kind string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts[kind] > 0 {
		f.counts[kind]--
		return true
	}
	return false
}

func (f *faults) snapshot() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.counts {
		out[k] = v
	}
	return out
}

// ServeHTTP is the top-level handler in front of the simulator's mux.
func (l *Lab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/_lab/"):
		l.serveLab(w, r)
	case strings.HasPrefix(r.URL.Path, "/folder/"):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			l.counters.add("folder_"+r.Method, 1) // an upload or delete through the datastore browser
		}
		l.serveFolder(w, r)
	case strings.HasPrefix(r.URL.Path, "/sdk"):
		if l.faults.take("sdk_503") {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		l.serveSDK(w, r)
	default:
		// vAPI (/rest: tagging) and the rest: by method, so a test sees any request that is not a read.
		l.counters.add("http_"+r.Method, 1)
		l.stock.ServeHTTP(w, r)
	}
}

// ---- /folder ----

const currentTimeReq = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><CurrentTime xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></CurrentTime></soapenv:Body></soapenv:Envelope>`

// sessionValid asks the simulator whether a session cookie is logged in.
func (l *Lab) sessionValid(key string) bool {
	req := httptest.NewRequest(http.MethodPost, "/sdk", strings.NewReader(currentTimeReq))
	req.AddCookie(&http.Cookie{Name: sessionName, Value: key})
	rec := httptest.NewRecorder()
	l.stock.ServeHTTP(rec, req)
	return rec.Code == http.StatusOK
}

// authorized: vCenter's /folder takes a SOAP session cookie, a generic
// service ticket cookie acquired for this very URL, or basic auth. Stock
// vcsim checks none of them. It returns how the request got in ("" = not).
func (l *Lab) authorized(r *http.Request) string {
	if c, err := r.Cookie(sessionName); err == nil && l.sessionValid(c.Value) {
		return "session"
	}
	if c, err := r.Cookie(ticketCookie); err == nil && l.useTicket(c.Value, r) == "" {
		return "ticket"
	}
	if u, p, ok := r.BasicAuth(); ok && u == l.user && p == l.pass {
		return "basic"
	}
	return ""
}

var contentRangeRe = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// shiftedRange writes a Content-Range that does not match the request, the
// kind of answer a client must treat as fatal rather than write at the
// wrong offset.
type shiftedRange struct{ http.ResponseWriter }

func (s shiftedRange) WriteHeader(code int) {
	if m := contentRangeRe.FindStringSubmatch(s.Header().Get("Content-Range")); code == http.StatusPartialContent && m != nil {
		a, _ := strconv.ParseInt(m[1], 10, 64)
		b, _ := strconv.ParseInt(m[2], 10, 64)
		s.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%s", a+BlockSize, b+BlockSize, m[3]))
	}
	s.ResponseWriter.WriteHeader(code)
}

func (l *Lab) defaultDatastore() string {
	for _, e := range simulator.Map.All("Datastore") {
		return e.(*simulator.Datastore).Name
	}
	return ""
}

// folderFaults answers the next pending 503/500 fault, if any.
func (l *Lab) folderFaults(w http.ResponseWriter) bool {
	if l.faults.take("folder_503") {
		// ESXi's answer when too many NFC/HTTP streams are open.
		w.Header().Set("Retry-After", "1")
		http.Error(w, "503 Service Unavailable", http.StatusServiceUnavailable)
		return true
	}
	if l.faults.take("folder_500") {
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return true
	}
	return false
}

// serveFolder is vCenter's /folder.
func (l *Lab) serveFolder(w http.ResponseWriter, r *http.Request) {
	if l.folderFaults(w) {
		return
	}
	how := "open"
	if l.folderAuth.Load() {
		how = l.authorized(r)
		if how == "" {
			l.counters.add("vcenter_rejected", 1)
			w.Header().Set("WWW-Authenticate", `Basic realm="VMware HTTP server"`)
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
	}
	l.counters.add("vcenter_"+how+"_reads", 1)
	cw := &countingWriter{ResponseWriter: w}
	l.serveDatastoreFile(cw, r)
	l.counters.add("vcenter_bytes", cw.n)
}

// serveDatastoreFile is what vCenter's and a host's /folder share once the
// request is authorized: locked files, range faults, throttling, the file.
func (l *Lab) serveDatastoreFile(w http.ResponseWriter, r *http.Request) {
	dsName := r.URL.Query().Get("dsName")
	if dsName == "" {
		dsName = l.defaultDatastore()
	}
	rel := strings.TrimPrefix(r.URL.Path, "/folder/")
	if d, top := l.dataFileOwner(dsName, rel); d != nil {
		vm := vmByRef(types.ManagedObjectReference{Type: "VirtualMachine", Value: d.VM})
		switch {
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			http.Error(w, "403 Forbidden: disk in use by a VM", http.StatusForbidden)
			return
		case top && vm != nil && vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn:
			// hostd cannot open a file the running VM holds locked.
			http.Error(w, "500 Internal Server Error: file is locked by a running VM", http.StatusInternalServerError)
			return
		}
	}
	if l.faults.take("folder_ignore_range") {
		r.Header.Del("Range")
	}
	if r.Header.Get("Range") != "" && l.faults.take("folder_bad_content_range") {
		w = shiftedRange{w}
	}
	if rate := l.folderRate.Load(); rate > 0 && r.Method == http.MethodGet {
		w = &throttled{ResponseWriter: w, rate: rate, start: time.Now()}
	}
	l.stock.ServeHTTP(w, r)
}

// throttled caps one response's throughput, like one NFC/HTTP stream from an
// ESXi host (~100-150 MB/s on real sites): parallel streams then really add up.
type throttled struct {
	http.ResponseWriter
	rate  int64 // bytes per second
	start time.Time
	sent  int64
}

func (t *throttled) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		n := len(p)
		if n > 256<<10 {
			n = 256 << 10
		}
		k, err := t.ResponseWriter.Write(p[:n])
		total += k
		t.sent += int64(k)
		if err != nil {
			return total, err
		}
		p = p[k:]
		due := time.Duration(float64(t.sent) / float64(t.rate) * float64(time.Second))
		if ahead := due - time.Since(t.start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	return total, nil
}

// ---- /_lab control API ----

func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (l *Lab) serveLab(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/_lab/")
	switch {
	case p == "ready":
		writeJSON(w, 200, map[string]bool{"ready": true})
	case p == "disks":
		var out []map[string]interface{}
		for _, d := range l.allDisks() {
			out = append(out, d.Info())
		}
		writeJSON(w, 200, out)
	case strings.HasPrefix(p, "disk/"):
		l.serveDisk(w, r, strings.Split(strings.TrimPrefix(p, "disk/"), "/"))
	case p == "config":
		l.serveConfig(w, r)
	case p == "faults":
		l.serveFaults(w, r)
	case p == "counters":
		if r.Method == http.MethodDelete {
			l.counters.reset()
		}
		writeJSON(w, 200, l.counters.snapshot())
	case p == "tickets":
		writeJSON(w, 200, map[string]interface{}{
			"outstanding": l.outstandingTickets(), "single_use": l.ticketSingleUse.Load(),
			"lifetime_s": l.ticketLifetime.Load(), "esxi_hosts": l.esxiHosts(),
		})
	case p == "tickets/expire" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		writeJSON(w, 200, map[string]int{"expired": l.expireTickets()})
	default:
		http.NotFound(w, r)
	}
}

func (l *Lab) serveConfig(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut || r.Method == http.MethodPost {
		var in struct {
			CBTWindow     *int64 `json:"cbt_window"`
			CBTMaxExtents *int64 `json:"cbt_max_extents"`
			FolderAuth    *bool  `json:"folder_auth"`
			FolderRate    *int64 `json:"folder_stream_bytes_per_s"`
			TicketLife    *int64 `json:"ticket_lifetime_s"`
			TicketOnce    *bool  `json:"esxi_ticket_single_use"`
			TicketReads   *int64 `json:"esxi_ticket_max_reads"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		if in.CBTWindow != nil {
			if *in.CBTWindow < BlockSize || *in.CBTWindow%BlockSize != 0 {
				writeJSON(w, 400, map[string]string{"error": "cbt_window must be a positive multiple of 65536"})
				return
			}
			l.window.Store(*in.CBTWindow)
		}
		if in.CBTMaxExtents != nil {
			l.maxExtents.Store(*in.CBTMaxExtents)
		}
		if in.FolderAuth != nil {
			l.folderAuth.Store(*in.FolderAuth)
		}
		if in.FolderRate != nil {
			l.folderRate.Store(*in.FolderRate)
		}
		if in.TicketLife != nil {
			if *in.TicketLife <= 0 {
				writeJSON(w, 400, map[string]string{"error": "ticket_lifetime_s must be positive"})
				return
			}
			l.ticketLifetime.Store(*in.TicketLife)
		}
		if in.TicketOnce != nil {
			l.ticketSingleUse.Store(*in.TicketOnce)
		}
		if in.TicketReads != nil {
			if *in.TicketReads < 0 {
				writeJSON(w, 400, map[string]string{"error": "esxi_ticket_max_reads must be 0 (no limit) or more"})
				return
			}
			l.ticketMaxReads.Store(*in.TicketReads)
		}
	}
	writeJSON(w, 200, map[string]interface{}{
		"cbt_window": l.window.Load(), "cbt_max_extents": l.maxExtents.Load(),
		"folder_auth": l.folderAuth.Load(), "block_size": BlockSize,
		"folder_stream_bytes_per_s": l.folderRate.Load(),
		"ticket_lifetime_s":         l.ticketLifetime.Load(), "esxi_ticket_single_use": l.ticketSingleUse.Load(),
		"esxi_ticket_max_reads": l.ticketMaxReads.Load(),
	})
}

func (l *Lab) serveFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		l.faults.mu.Lock()
		l.faults.counts = map[string]int{}
		l.faults.mu.Unlock()
	case http.MethodPost, http.MethodPut:
		var in map[string]interface{}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		dropped := 0
		for k, v := range in {
			if k == "drop_sessions" {
				if b, _ := v.(bool); b {
					dropped = l.dropSessions()
				}
				continue
			}
			n, ok := v.(float64)
			if !faultKinds[k] || !ok {
				writeJSON(w, 400, map[string]string{"error": "unknown fault " + k})
				return
			}
			l.faults.mu.Lock()
			l.faults.counts[k] = int(n)
			l.faults.mu.Unlock()
		}
		if dropped > 0 {
			w.Header().Set("X-Sessions-Dropped", strconv.Itoa(dropped))
		}
	}
	writeJSON(w, 200, l.faults.snapshot())
}

// dropSessions logs every client session out, as a vCenter restart or
// session expiry does; clients get NotAuthenticated and must log in again.
func (l *Lab) dropSessions() int {
	ctx := context.Background()
	c, err := vim25.NewClient(ctx, l.model.Service)
	if err != nil {
		return 0
	}
	l.mu.Lock()
	keys := make([]string, 0, len(l.sessions))
	for k := range l.sessions {
		keys = append(keys, k)
	}
	l.sessions = map[string]bool{}
	l.mu.Unlock()
	n := 0
	for _, k := range keys {
		_, err := methods.TerminateSession(ctx, c, &types.TerminateSession{
			This: *c.ServiceContent.SessionManager, SessionId: []string{k},
		})
		if err == nil {
			n++
		}
	}
	return n
}

const maxLabRead = 256 << 20

func (l *Lab) serveDisk(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) < 2 {
		http.NotFound(w, r)
		return
	}
	key, err := strconv.Atoi(parts[1])
	if err != nil {
		writeJSON(w, 400, map[string]string{"error": "device key must be a number"})
		return
	}
	d := l.findDisk(parts[0], int32(key))
	if d == nil {
		writeJSON(w, 404, map[string]string{"error": fmt.Sprintf("no disk %s/%d", parts[0], key)})
		return
	}
	action := ""
	if len(parts) > 2 {
		action = parts[2]
	}
	q := r.URL.Query()
	offset, _ := strconv.ParseInt(q.Get("offset"), 10, 64)
	switch {
	case action == "info":
		writeJSON(w, 200, d.Info())
	case action == "config" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		var in struct {
			CBTWindow     *int64 `json:"cbt_window"`
			CBTMaxExtents *int64 `json:"cbt_max_extents"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		if in.CBTWindow != nil {
			if *in.CBTWindow < 0 || *in.CBTWindow%BlockSize != 0 {
				writeJSON(w, 400, map[string]string{"error": "cbt_window must be 0 (lab default) or a multiple of 65536"})
				return
			}
			d.window.Store(*in.CBTWindow)
		}
		if in.CBTMaxExtents != nil {
			d.maxExtents.Store(*in.CBTMaxExtents)
		}
		writeJSON(w, 200, map[string]int64{"cbt_window": d.window.Load(), "cbt_max_extents": d.maxExtents.Load()})
	case action == "invalidate-cbt" && r.Method == http.MethodPost:
		d.InvalidateCBT()
		if vm := vmByRef(types.ManagedObjectReference{Type: "VirtualMachine", Value: d.VM}); vm != nil {
			simulator.Map.WithLock(vm, func() { l.applyBackings(vm) })
		}
		writeJSON(w, 200, d.Info())
	case action == "" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		// Guest writes, streamed in 4 MiB pieces.
		buf := make([]byte, 4<<20)
		var total int64
		for {
			n, rerr := io.ReadFull(r.Body, buf)
			if n > 0 {
				if err := d.Write(buf[:n], offset+total); err != nil {
					writeJSON(w, 400, map[string]string{"error": err.Error()})
					return
				}
				total += int64(n)
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if rerr != nil {
				writeJSON(w, 400, map[string]string{"error": rerr.Error()})
				return
			}
		}
		if vm := vmByRef(types.ManagedObjectReference{Type: "VirtualMachine", Value: d.VM}); vm != nil {
			simulator.Map.WithLock(vm, func() { l.fixStorage(vm) })
		}
		writeJSON(w, 200, map[string]int64{"offset": offset, "written": total})
	case action == "" && r.Method == http.MethodGet:
		length, _ := strconv.ParseInt(q.Get("length"), 10, 64)
		if length <= 0 || length > maxLabRead {
			writeJSON(w, 400, map[string]string{"error": "length must be 1..268435456"})
			return
		}
		buf := make([]byte, length)
		if err := d.Read(buf, offset); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(buf)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}
