// Lab state kept beside the simulator's own registry: the disks of every VM
// and the hooks that keep them in step with snapshots and reconfiguration.
package main

import (
	"fmt"
	"log"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Lab is the extension's state.
type Lab struct {
	model *simulator.Model
	stock http.Handler // the simulator's own mux

	user, pass string

	mu         sync.Mutex
	disks      map[string]*Disk // "<vm moid>/<device key>"
	snapDisks  map[string][]*Disk
	snapOrder  int
	sessions   map[string]bool    // session keys seen, for the drop-sessions fault
	tickets    map[string]*ticket // generic service tickets handed out, by id
	esxi       map[string]string  // ESXi host name -> address of its own endpoint
	dcName     string             // vCenter's datacenter (hosts call theirs ha-datacenter)
	folderAuth atomic.Bool
	folderRate atomic.Int64 // bytes/s per /folder response, 0 = unlimited

	window     atomic.Int64
	maxExtents atomic.Int64

	ticketLifetime  atomic.Int64 // seconds
	ticketSingleUse atomic.Bool
	// A ticket's life in requests (0 = only its time limits it): its Nth request is
	// served and the next one is refused as expired - a lifetime running out in the
	// middle of a copy, at a point the test chooses, not at a moment it must hit.
	ticketMaxReads atomic.Int64

	faults   faults
	counters counters
}

func newLab(m *simulator.Model, user, pass string, window int64, maxExtents int) *Lab {
	l := &Lab{
		model: m, user: user, pass: pass,
		disks: map[string]*Disk{}, snapDisks: map[string][]*Disk{},
		sessions: map[string]bool{}, tickets: map[string]*ticket{},
	}
	l.ticketLifetime.Store(defaultTicketS)
	l.ticketSingleUse.Store(true)
	l.counters.n = map[string]int64{}
	l.window.Store(window)
	l.maxExtents.Store(int64(maxExtents))
	l.folderAuth.Store(true)
	l.faults.counts = map[string]int{}
	return l
}

// ---- registry hook: sees every object the simulator creates or removes ----

// Reference makes Lab a simulator.RegisterObject.
func (l *Lab) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "ReforgeLabHook", Value: "reforge-lab-hook"}
}

// PutObject runs synchronously inside Map.Put, within the goroutine that
// already holds the VM's lock when a snapshot is created; it must not take
// simulator locks itself.
func (l *Lab) PutObject(obj mo.Reference) {
	switch o := obj.(type) {
	case *simulator.Task:
		l.fixTaskEntity(o)
	case *simulator.VirtualMachineSnapshot:
		if err := l.snapshotTaken(o); err != nil {
			log.Printf("lab: snapshot %s: %v", o.Self.Value, err)
		}
	}
}

// UpdateObject is part of simulator.RegisterObject; nothing to do.
func (l *Lab) UpdateObject(mo.Reference, []types.PropertyChange) {}

// RemoveObject consolidates deltas when snapshots go away.
func (l *Lab) RemoveObject(ref types.ManagedObjectReference) {
	if ref.Type != "VirtualMachineSnapshot" {
		return
	}
	snap, ok := simulator.Map.Get(ref).(*simulator.VirtualMachineSnapshot)
	if !ok {
		return
	}
	vm, ok := simulator.Map.Get(snap.Vm).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	l.consolidateRemoved(vm, ref.Value)
}

// fixTaskEntity: vcsim 0.24 sets TaskInfo.entity to the object the method was
// called on, e.g. a VirtualMachineSnapshot or the VirtualDiskManager. Neither
// is a ManagedEntity, so pyvmomi's WaitForTask dies with a TypeError while
// decoding TaskInfo. vCenter reports the VM for snapshot tasks and no entity
// for manager tasks.
func (l *Lab) fixTaskEntity(t *simulator.Task) {
	e := t.Info.Entity
	if e == nil {
		return
	}
	obj := simulator.Map.Get(*e)
	if _, ok := obj.(mo.Entity); ok {
		return
	}
	if snap, ok := obj.(*simulator.VirtualMachineSnapshot); ok {
		vm := snap.Vm
		t.Info.Entity = &vm
		if v, ok := simulator.Map.Get(vm).(*simulator.VirtualMachine); ok {
			t.Info.EntityName = v.Name
		}
		return
	}
	t.Info.Entity = nil
	t.Info.EntityName = ""
}

// ---- disks ----

func diskBacking(d *types.VirtualDisk) *types.VirtualDiskFlatVer2BackingInfo {
	b, _ := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	return b
}

func datastoreIsNFS(name string) bool {
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		if ds.Name == name {
			return ds.Summary.Type == string(types.HostFileSystemVolumeFileSystemTypeNFS) ||
				ds.Summary.Type == string(types.HostFileSystemVolumeFileSystemTypeNFS41)
		}
	}
	return false
}

func datastoreDir(name string) (string, bool) {
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		if ds.Name == name {
			return ds.Info.GetDatastoreInfo().Url, true
		}
	}
	return "", false
}

// diskFor returns the lab disk behind a VM's virtual disk, registering it on
// first use (so VMs created later through the API get sparse disks too).
func (l *Lab) diskFor(vm *simulator.VirtualMachine, dev *types.VirtualDisk) (*Disk, error) {
	key := fmt.Sprintf("%s/%d", vm.Self.Value, dev.Key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.disks[key]; d != nil {
		return d, nil
	}
	b := diskBacking(dev)
	if b == nil {
		return nil, fmt.Errorf("disk %d of %s has no flat backing", dev.Key, vm.Name)
	}
	var p object.DatastorePath
	if !p.FromString(b.FileName) {
		return nil, fmt.Errorf("bad backing file %q", b.FileName)
	}
	dir, ok := datastoreDir(p.Datastore)
	if !ok {
		return nil, fmt.Errorf("no datastore %q", p.Datastore)
	}
	d := &Disk{
		VM: vm.Self.Value, VMName: vm.Name, Key: dev.Key,
		Capacity: dev.CapacityInKB * 1024, dsDir: dir,
		epochs: map[int]blockSet{}, snaps: map[string]*snapAt{},
	}
	if dev.CapacityInBytes > 0 {
		d.Capacity = dev.CapacityInBytes
	}
	d.Capacity -= d.Capacity % BlockSize
	if err := d.newBase(p.Path); err != nil {
		return nil, err
	}
	if vm.Config.ChangeTrackingEnabled != nil && *vm.Config.ChangeTrackingEnabled {
		d.cbtOn = true
		d.resetCBTLocked()
	}
	d.dsName = p.Datastore
	d.nfs = datastoreIsNFS(p.Datastore)
	l.disks[key] = d
	return d, nil
}

// vmDisks returns the VM's flat-backed disks with their lab state.
func (l *Lab) vmDisks(vm *simulator.VirtualMachine) []*vmDisk {
	var out []*vmDisk
	for _, dev := range vm.Config.Hardware.Device {
		vd, ok := dev.(*types.VirtualDisk)
		if !ok || diskBacking(vd) == nil {
			continue
		}
		d, err := l.diskFor(vm, vd)
		if err != nil {
			log.Printf("lab: %v", err)
			continue
		}
		out = append(out, &vmDisk{dev: vd, disk: d})
	}
	return out
}

type vmDisk struct {
	dev  *types.VirtualDisk
	disk *Disk
}

func independent(vd *types.VirtualDisk) bool {
	return strings.HasPrefix(diskBacking(vd).DiskMode, "independent")
}

// findDisk looks a disk up by VM name (or moid) and device key.
func (l *Lab) findDisk(vmName string, key int32) *Disk {
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		if vm.Name != vmName && vm.Self.Value != vmName {
			continue
		}
		for _, vd := range l.vmDisks(vm) {
			if vd.dev.Key == key {
				return vd.disk
			}
		}
	}
	return nil
}

// allDisks returns registered disks sorted by VM name and key.
func (l *Lab) allDisks() []*Disk {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Disk, 0, len(l.disks))
	for _, d := range l.disks {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].VMName != out[j].VMName {
			return out[i].VMName < out[j].VMName
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// ---- snapshots ----

func cloneDisk(vd *types.VirtualDisk) *types.VirtualDisk {
	c := *vd
	b := *diskBacking(vd)
	c.Backing = &b
	return &c
}

// snapshotTaken freezes every non-independent disk of the VM, gives the
// snapshot its own copy of the disk devices (stock vcsim shares them with
// the VM) and records the changeIds.
func (l *Lab) snapshotTaken(snap *simulator.VirtualMachineSnapshot) error {
	vm, ok := simulator.Map.Get(snap.Vm).(*simulator.VirtualMachine)
	if !ok {
		return fmt.Errorf("vm %s not found", snap.Vm.Value)
	}
	l.mu.Lock()
	l.snapOrder++
	order := l.snapOrder
	l.mu.Unlock()

	devices := make([]types.BaseVirtualDevice, len(snap.Config.Hardware.Device))
	copy(devices, snap.Config.Hardware.Device)
	for i, dev := range devices {
		if vd, ok := dev.(*types.VirtualDisk); ok && diskBacking(vd) != nil {
			devices[i] = cloneDisk(vd)
		}
	}
	snap.Config.Hardware.Device = devices

	var frozenDisks []*Disk
	for _, vd := range l.vmDisks(vm) {
		if independent(vd.dev) {
			continue // independent disks are not part of snapshots
		}
		if _, _, _, err := vd.disk.Freeze(snap.Self.Value, order); err != nil {
			return err
		}
		frozenDisks = append(frozenDisks, vd.disk)
	}
	l.mu.Lock()
	l.snapDisks[snap.Self.Value] = frozenDisks
	l.mu.Unlock()
	l.applyBackings(vm)
	return nil
}

// snapshotsInTree lists snapshot morefs still in the VM's snapshot tree.
func snapshotsInTree(vm *simulator.VirtualMachine) map[string]bool {
	out := map[string]bool{}
	if vm.Snapshot == nil {
		return out
	}
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(t []types.VirtualMachineSnapshotTree) {
		for _, n := range t {
			out[n.Snapshot.Value] = true
			walk(n.ChildSnapshotList)
		}
	}
	walk(vm.Snapshot.RootSnapshotList)
	return out
}

// consolidateRemoved merges the deltas of every snapshot of the VM that is no
// longer in its tree, newest first, so the current state is what remains.
func (l *Lab) consolidateRemoved(vm *simulator.VirtualMachine, _ string) {
	live := snapshotsInTree(vm)
	type gone struct {
		ref   string
		order int
		disks []*Disk
	}
	var removed []gone
	l.mu.Lock()
	for ref, disks := range l.snapDisks {
		if live[ref] || len(disks) == 0 || disks[0].VM != vm.Self.Value {
			continue
		}
		removed = append(removed, gone{ref, disks[0].snapOrder(ref), disks})
		delete(l.snapDisks, ref)
	}
	l.mu.Unlock()
	sort.Slice(removed, func(i, j int) bool { return removed[i].order > removed[j].order })
	for _, g := range removed {
		for _, d := range g.disks {
			if err := d.Consolidate(g.ref); err != nil {
				log.Printf("lab: consolidate %s: %v", g.ref, err)
			}
		}
	}
	l.applyBackings(vm)
}

// backingChain builds a flat backing for a chain of descriptors (top first).
func backingChain(tmpl *types.VirtualDiskFlatVer2BackingInfo, ds string, chain []string) *types.VirtualDiskFlatVer2BackingInfo {
	if len(chain) == 0 {
		return nil
	}
	b := *tmpl
	b.FileName = fmt.Sprintf("[%s] %s", ds, chain[0])
	b.Parent = backingChain(tmpl, ds, chain[1:])
	if b.Parent != nil {
		b.Parent.ChangeId = ""
	}
	return &b
}

// applyBackings points the VM's disks at the top of their chains and each
// snapshot's disks at the level it froze, with their changeIds, as ESXi
// reports them (vm: "x-000001.vmdk" with parent "x.vmdk").
func (l *Lab) applyBackings(vm *simulator.VirtualMachine) {
	for _, vd := range l.vmDisks(vm) {
		d := vd.disk
		tmpl := *diskBacking(vd.dev)
		tmpl.Parent = nil
		b := backingChain(&tmpl, d.dsName, d.Chain(""))
		b.ChangeId = d.CurrentChangeID()
		vd.dev.Backing = b
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for ref, disks := range l.snapDisks {
		snap, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: ref}).(*simulator.VirtualMachineSnapshot)
		if !ok || snap.Vm.Value != vm.Self.Value {
			continue
		}
		for _, d := range disks {
			for _, dev := range snap.Config.Hardware.Device {
				vd, ok := dev.(*types.VirtualDisk)
				if !ok || vd.Key != d.Key || diskBacking(vd) == nil {
					continue
				}
				tmpl := *diskBacking(vd)
				tmpl.Parent = nil
				b := backingChain(&tmpl, d.dsName, d.Chain(ref))
				if b == nil {
					continue
				}
				d.mu.Lock()
				if at := d.snaps[ref]; at != nil && at.seq > 0 {
					b.ChangeId = fmt.Sprintf("%s/%d", at.ctkUUID, at.seq)
				}
				d.mu.Unlock()
				vd.Backing = b
			}
		}
	}
	l.fixStorageLocked(vm)
}

// fixStorage makes the VM's file layout and storage summary report what thin
// disks really occupy. vcsim uses the apparent file size, which for a sparse
// 2 TiB flat file would claim 2 TiB committed.
func (l *Lab) fixStorage(vm *simulator.VirtualMachine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fixStorageLocked(vm)
}

func (l *Lab) fixStorageLocked(vm *simulator.VirtualMachine) {
	if vm.LayoutEx == nil || vm.Summary.Storage == nil {
		return
	}
	var committed, capacity, allocated int64
	for i := range vm.LayoutEx.File {
		f := &vm.LayoutEx.File[i]
		var p object.DatastorePath
		if strings.HasSuffix(f.Name, "-flat.vmdk") || strings.HasSuffix(f.Name, "-delta.vmdk") {
			if p.FromString(f.Name) {
				if dir, ok := datastoreDir(p.Datastore); ok {
					if n, ok := allocatedBytes(path.Join(dir, p.Path)); ok {
						f.Size, f.UniqueSize = n, n
						allocated += n
					}
				}
			}
		}
		committed += f.Size
	}
	for _, d := range l.disks {
		if d.VM == vm.Self.Value {
			capacity += d.Capacity
		}
	}
	uncommitted := capacity - allocated
	if uncommitted < 0 {
		uncommitted = 0
	}
	vm.Summary.Storage.Committed = committed
	vm.Summary.Storage.Unshared = committed
	vm.Summary.Storage.Uncommitted = uncommitted
	if vm.Storage != nil && len(vm.Storage.PerDatastoreUsage) == 1 {
		u := &vm.Storage.PerDatastoreUsage[0]
		u.Committed, u.Unshared, u.Uncommitted = committed, committed, uncommitted
	}
}

// revert follows RevertToSnapshot for the latest snapshot.
func (l *Lab) revert(vm *simulator.VirtualMachine, snap string) {
	l.mu.Lock()
	disks := l.snapDisks[snap]
	l.mu.Unlock()
	for _, d := range disks {
		if err := d.Revert(snap); err != nil {
			log.Printf("lab: %v", err)
		}
	}
	l.applyBackings(vm)
}

// setCBT applies changeTrackingEnabled to the VM and its disks.
func (l *Lab) setCBT(vm *simulator.VirtualMachine, on bool) {
	vm.Config.ChangeTrackingEnabled = types.NewBool(on)
	for _, vd := range l.vmDisks(vm) {
		if !independent(vd.dev) {
			vd.disk.SetCBT(on)
		}
	}
	l.applyBackings(vm)
}

// vmByRef returns the VM behind a moref, or nil.
func vmByRef(ref types.ManagedObjectReference) *simulator.VirtualMachine {
	vm, _ := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	return vm
}

// dataFileOwner finds the disk one of whose levels is the datastore file
// rel, and whether it is the level the VM currently writes to.
func (l *Lab) dataFileOwner(dsName, rel string) (*Disk, bool) {
	rel = path.Clean(strings.TrimPrefix(rel, "/"))
	for _, d := range l.allDisks() {
		if d.dsName != dsName {
			continue
		}
		if found, top := d.hasData(rel); found {
			return d, top
		}
	}
	return nil, false
}

// forgetVM drops the disks of a destroyed VM (the simulator removed its files).
func (l *Lab) forgetVM(moid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, d := range l.disks {
		if d.VM == moid {
			d.Close()
			delete(l.disks, k)
		}
	}
	for ref, disks := range l.snapDisks {
		if len(disks) > 0 && disks[0].VM == moid {
			delete(l.snapDisks, ref)
		}
	}
}

// copyDisks copies each disk's current guest view (allocated blocks only)
// from src to the disk with the same key in dst.
func (l *Lab) copyDisks(src, dst *simulator.VirtualMachine) {
	to := map[int32]*Disk{}
	simulator.Map.WithLock(dst, func() {
		for _, vd := range l.vmDisks(dst) {
			to[vd.dev.Key] = vd.disk
		}
	})
	for _, vd := range l.vmDisks(src) {
		d := to[vd.dev.Key]
		if d == nil {
			continue
		}
		if err := vd.disk.CopyTo(d); err != nil {
			log.Printf("lab: clone %s -> %s: %v", src.Name, dst.Name, err)
		}
	}
	simulator.Map.WithLock(dst, func() { l.fixStorage(dst) })
}

// labDatastoreCapacity is what the lab datastores claim, whatever the host's
// file system has: thin disks overcommit it, as on a real site.
const labDatastoreCapacity = 16 * TiB

// fixDatastores reports thin-provisioning numbers: vcsim subtracts every
// disk's full capacity from freeSpace (negative with a 2 TiB thin disk) and
// calls a local datastore "OTHER".
func (l *Lab) fixDatastores() {
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		var used, provisioned int64
		for _, d := range l.allDisks() {
			if d.dsName != ds.Name {
				continue
			}
			provisioned += d.Capacity
			d.mu.Lock()
			for _, lv := range d.levels {
				if n, ok := allocatedBytes(d.abs(lv.Data)); ok {
					used += n
				}
			}
			d.mu.Unlock()
		}
		simulator.Map.WithLock(ds, func() {
			if ds.Summary.Type == "OTHER" {
				ds.Summary.Type = "VMFS"
			}
			ds.Summary.Capacity = labDatastoreCapacity
			ds.Summary.FreeSpace = labDatastoreCapacity - used
			ds.Summary.Uncommitted = provisioned - used
			info := ds.Info.GetDatastoreInfo()
			info.FreeSpace = ds.Summary.FreeSpace
			info.MaxVirtualDiskCapacity = 62 * TiB
		})
	}
}
