// SOAP interception: the few vSphere methods the extension adds or completes.
//
// Managed objects cannot grow methods without replacing them in the
// simulator's registry, and the simulator type-asserts its own VM and
// snapshot types in many places, so wrapping them would break it. Instead
// requests are decoded here; methods the simulator lacks are answered here
// after the simulator itself has checked the session and the object (its
// answer is then MethodNotFound), and methods it has are run by it first and
// completed here (changeTrackingEnabled, disk growth).
package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var (
	typeFunc    = types.TypeFunc()
	taskRefRe   = regexp.MustCompile(`<returnval type="Task">([^<]+)</returnval>`)
	ticketIDRe  = regexp.MustCompile(`<id>([^<]+)</id>`)
	sessionName = "vmware_soap_session"
)

// forward runs the request through the stock simulator into a recorder. A
// panic in the simulator (0.24 has a few, e.g. Fetch of an unset property)
// becomes a SOAP fault instead of a dropped connection.
func (l *Lab) forward(r *http.Request, body []byte) (rec *httptest.ResponseRecorder) {
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	rec = httptest.NewRecorder()
	defer func() {
		if p := recover(); p != nil {
			log.Printf("lab: simulator panic: %v", p)
			rec = httptest.NewRecorder()
			writeFault(rec, &types.SystemError{Reason: fmt.Sprint(p)}, fmt.Sprintf("simulator error: %v", p))
		}
	}()
	l.stock.ServeHTTP(rec, req)
	return rec
}

// fetch answers the property accessor pyvmomi uses for `vm.snapshot` and
// the like. vcsim 0.24 panics when the property is unset; vCenter answers
// with no value, which pyvmomi turns into None.
func (l *Lab) fetch(w http.ResponseWriter, r *http.Request, body []byte) {
	rec := l.forward(r, body)
	if rec.Code == http.StatusInternalServerError && strings.Contains(rec.Body.String(), "index out of range") {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		fmt.Fprintf(w, `%s<FetchResponse xmlns="urn:vim25"></FetchResponse>%s`, envelopeHead, envelopeTail)
		return
	}
	l.copyOut(w, rec)
}

func (l *Lab) copyOut(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionName {
			l.mu.Lock()
			l.sessions[c.Value] = true
			l.mu.Unlock()
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// serveSDK is the /sdk entry point.
func (l *Lab) serveSDK(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		l.stock.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if c, err := r.Cookie(sessionName); err == nil {
		l.mu.Lock()
		l.sessions[c.Value] = true
		l.mu.Unlock()
	}
	method, err := simulator.UnmarshalBody(typeFunc, body)
	if err != nil {
		l.counters.add("soap_undecoded", 1)
		l.copyOut(w, l.forward(r, body))
		return
	}
	// Every SOAP method by name, whatever its answer: a test diffs these counters to
	// prove a run called no state-changing method (the check-mode proof).
	l.counters.add("soap_"+method.Name, 1)
	switch method.Name {
	case "Fetch":
		l.fetch(w, r, body)
	case "QueryChangedDiskAreas":
		rec := l.forward(r, body)
		if !strings.Contains(rec.Body.String(), "MethodNotFound") {
			l.copyOut(w, rec) // not authenticated, or no such VM
			return
		}
		l.queryChangedDiskAreas(w, method.Body.(*types.QueryChangedDiskAreas))
	case "ReconfigVM_Task":
		req := method.Body.(*types.ReconfigVM_Task)
		rec := l.forward(r, body)
		if l.taskSucceeded(rec) {
			l.afterReconfig(req)
		}
		l.copyOut(w, rec)
	case "RevertToSnapshot_Task", "RevertToCurrentSnapshot_Task":
		var vm *simulator.VirtualMachine
		snap := ""
		if req, ok := method.Body.(*types.RevertToSnapshot_Task); ok {
			if s, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachineSnapshot); ok {
				vm, snap = vmByRef(s.Vm), s.Self.Value
			}
		} else if req, ok := method.Body.(*types.RevertToCurrentSnapshot_Task); ok {
			if vm = vmByRef(req.This); vm != nil && vm.Snapshot != nil && vm.Snapshot.CurrentSnapshot != nil {
				snap = vm.Snapshot.CurrentSnapshot.Value
			}
		}
		rec := l.forward(r, body)
		if vm != nil && snap != "" && l.taskSucceeded(rec) {
			simulator.Map.WithLock(vm, func() { l.revert(vm, snap) })
		}
		l.copyOut(w, rec)
	case "RefreshStorageInfo":
		rec := l.forward(r, body)
		if vm := vmByRef(method.This); vm != nil {
			simulator.Map.WithLock(vm, func() { l.fixStorage(vm) })
		}
		l.copyOut(w, rec)
	case "CreateVM_Task":
		// Give the new VM's disks their sparse capacity right away, as a
		// thin disk on VMFS has its full size from the start.
		rec := l.forward(r, body)
		if t := l.succeededTask(rec); t != nil {
			if ref, ok := t.Info.Result.(types.ManagedObjectReference); ok {
				if vm := vmByRef(ref); vm != nil {
					simulator.Map.WithLock(vm, func() { l.vmDisks(vm) })
				}
			}
		}
		l.copyOut(w, rec)
	case "CloneVM_Task":
		// vcsim gives a clone empty disks; a clone has the source's data.
		req := method.Body.(*types.CloneVM_Task)
		rec := l.forward(r, body)
		if t := l.succeededTask(rec); t != nil {
			ref, _ := t.Info.Result.(types.ManagedObjectReference)
			if src, dst := vmByRef(req.This), vmByRef(ref); src != nil && dst != nil {
				l.copyDisks(src, dst)
			}
		}
		l.copyOut(w, rec)
	case "Destroy_Task":
		req := method.Body.(*types.Destroy_Task)
		rec := l.forward(r, body)
		if req.This.Type == "VirtualMachine" && l.taskSucceeded(rec) {
			l.forgetVM(req.This.Value)
		}
		l.copyOut(w, rec)
	case "AcquireGenericServiceTicket":
		// vcsim hands out an id and remembers nothing; the lab binds it to
		// the spec's URL and method (see esxi.go).
		req := method.Body.(*types.AcquireGenericServiceTicket)
		rec := l.forward(r, body)
		if m := ticketIDRe.FindStringSubmatch(rec.Body.String()); rec.Code == http.StatusOK && m != nil {
			l.recordTicket(m[1], req.Spec)
		}
		l.copyOut(w, rec)
	default:
		l.copyOut(w, l.forward(r, body))
	}
}

func (l *Lab) succeededTask(rec *httptest.ResponseRecorder) *simulator.Task {
	m := taskRefRe.FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusOK || m == nil {
		return nil
	}
	t, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "Task", Value: m[1]}).(*simulator.Task)
	if !ok || t.Info.State != types.TaskInfoStateSuccess {
		return nil
	}
	return t
}

func (l *Lab) taskSucceeded(rec *httptest.ResponseRecorder) bool { return l.succeededTask(rec) != nil }

// afterReconfig applies what stock vcsim ignores: changeTrackingEnabled, and
// disk growth (which, as on ESXi, resets change tracking).
func (l *Lab) afterReconfig(req *types.ReconfigVM_Task) {
	vm := vmByRef(req.This)
	if vm == nil {
		return
	}
	simulator.Map.WithLock(vm, func() {
		for _, vd := range l.vmDisks(vm) {
			newCap := vd.dev.CapacityInKB * 1024
			if vd.dev.CapacityInBytes > 0 {
				newCap = vd.dev.CapacityInBytes
			}
			newCap -= newCap % BlockSize
			if newCap > vd.disk.Capacity {
				if err := vd.disk.Grow(newCap); err != nil {
					fmt.Printf("lab: grow %s/%d: %v\n", vm.Name, vd.dev.Key, err)
				}
			}
		}
		if req.Spec.ChangeTrackingEnabled != nil {
			l.setCBT(vm, *req.Spec.ChangeTrackingEnabled)
		}
	})
}

// ---- answering methods the simulator lacks ----

const envelopeHead = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`
const envelopeTail = `</soapenv:Body></soapenv:Envelope>`

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeFault answers a vSphere fault the way vcsim and vCenter encode it:
// <detail><XFault xsi:type="X">fields</XFault></detail>.
func writeFault(w http.ResponseWriter, f types.BaseMethodFault, msg string) {
	kind := reflect.TypeOf(f).Elem().Name()
	var fields string
	switch x := f.(type) {
	case *types.FileFault:
		fields = "<file>" + esc(x.File) + "</file>"
	case *types.InvalidArgument:
		if x.InvalidProperty != "" {
			fields = "<invalidProperty>" + esc(x.InvalidProperty) + "</invalidProperty>"
		}
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `%s<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail><%sFault xmlns="urn:vim25" xsi:type="%s"><faultMessage><key>reforge.lab</key><message>%s</message></faultMessage>%s</%sFault></detail></soapenv:Fault>%s`,
		envelopeHead, esc(msg), kind, kind, esc(msg), fields, kind, envelopeTail)
}

func (l *Lab) queryChangedDiskAreas(w http.ResponseWriter, req *types.QueryChangedDiskAreas) {
	vm := vmByRef(req.This)
	if vm == nil {
		writeFault(w, &types.ManagedObjectNotFound{Obj: req.This}, "no such VM")
		return
	}
	var disk *Disk
	snap := ""
	var devices []types.BaseVirtualDevice
	if req.Snapshot != nil {
		s, ok := simulator.Map.Get(*req.Snapshot).(*simulator.VirtualMachineSnapshot)
		if !ok || s.Vm.Value != vm.Self.Value {
			writeFault(w, &types.InvalidArgument{InvalidProperty: "snapshot"}, "snapshot not found for this VM")
			return
		}
		snap = s.Self.Value
		devices = s.Config.Hardware.Device
	} else {
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			writeFault(w, &types.InvalidArgument{InvalidProperty: "snapshot"}, "a running VM can only be queried against a snapshot")
			return
		}
		devices = vm.Config.Hardware.Device
	}
	for _, dev := range devices {
		if vd, ok := dev.(*types.VirtualDisk); ok && vd.Key == req.DeviceKey && diskBacking(vd) != nil {
			disk = l.findDisk(vm.Self.Value, vd.Key)
		}
	}
	if disk == nil {
		writeFault(w, &types.InvalidArgument{InvalidProperty: "deviceKey"}, fmt.Sprintf("no virtual disk with key %d", req.DeviceKey))
		return
	}
	window := l.window.Load()
	if w := disk.window.Load(); w > 0 {
		window = w
	}
	maxExtents := l.maxExtents.Load()
	if n := disk.maxExtents.Load(); n > 0 {
		maxExtents = n
	}
	info, qf := disk.QueryChanged(snap, req.StartOffset, req.ChangeId, window, int(maxExtents))
	if qf != nil {
		writeFault(w, qf.fault, qf.msg)
		return
	}
	var areas strings.Builder
	for _, a := range info.ChangedArea {
		fmt.Fprintf(&areas, "<changedArea><start>%d</start><length>%d</length></changedArea>", a.Start, a.Length)
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, `%s<QueryChangedDiskAreasResponse xmlns="urn:vim25"><returnval><startOffset>%d</startOffset><length>%d</length>%s</returnval></QueryChangedDiskAreasResponse>%s`,
		envelopeHead, info.StartOffset, info.Length, areas.String(), envelopeTail)
}
