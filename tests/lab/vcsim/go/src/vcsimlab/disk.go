// Disk model of the lab vCenter: sparse flat files, a snapshot chain of
// delta levels and changed-block tracking at 64 KiB granularity.
//
// Stock vcsim creates empty disk files and never writes a delta on snapshot,
// so a migration engine tested against it could not tell a frozen base from a
// moving one. Here every disk is a chain of levels; level 0 is the base
// "-flat.vmdk" (a sparse file of the full capacity), each snapshot freezes the
// top level and starts a new delta level that receives the guest's writes.
package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// BlockSize is the CBT granularity real ESXi reports (64 KiB).
const BlockSize int64 = 64 * 1024

const chunkBlocks = 1024 // blocks per bitmap chunk (64 MiB of disk)

// blockSet is a sparse bitmap of 64 KiB block numbers: a multi-TiB disk with
// a few MiB written costs a few chunks, not a 4 MiB bitmap.
type blockSet map[int64]*[chunkBlocks / 64]uint64

func (s blockSet) add(b int64) {
	c := s[b/chunkBlocks]
	if c == nil {
		c = new([chunkBlocks / 64]uint64)
		s[b/chunkBlocks] = c
	}
	i := b % chunkBlocks
	c[i/64] |= 1 << uint(i%64)
}

func (s blockSet) has(b int64) bool {
	c := s[b/chunkBlocks]
	if c == nil {
		return false
	}
	i := b % chunkBlocks
	return c[i/64]&(1<<uint(i%64)) != 0
}

func (s blockSet) union(o blockSet) {
	for k, oc := range o {
		c := s[k]
		if c == nil {
			c = new([chunkBlocks / 64]uint64)
			s[k] = c
		}
		for i := range c {
			c[i] |= oc[i]
		}
	}
}

// sorted returns the block numbers in [from, to) in ascending order.
func (s blockSet) sorted(from, to int64) []int64 {
	keys := make([]int64, 0, len(s))
	for k := range s {
		if (k+1)*chunkBlocks > from && k*chunkBlocks < to {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	var out []int64
	for _, k := range keys {
		c := s[k]
		for w, word := range c {
			if word == 0 {
				continue
			}
			for bit := 0; bit < 64; bit++ {
				if word&(1<<uint(bit)) != 0 {
					b := k*chunkBlocks + int64(w*64+bit)
					if b >= from && b < to {
						out = append(out, b)
					}
				}
			}
		}
	}
	return out
}

func (s blockSet) count() int64 {
	var n int64
	for _, c := range s {
		for _, w := range c {
			for ; w != 0; w &= w - 1 {
				n++
			}
		}
	}
	return n
}

// Level is one file of a disk chain: the base flat file or a delta.
type Level struct {
	Descriptor string // datastore-relative path of the .vmdk descriptor
	Data       string // datastore-relative path of the data file
	file       *os.File
	blocks     blockSet // blocks this level holds (written while it was the top)
}

// Extent is a byte range of a disk.
type Extent struct {
	Start  int64 `json:"start"`
	Length int64 `json:"length"`
}

// Disk is one virtual disk of a VM.
type Disk struct {
	mu       sync.Mutex
	VM       string // VM managed object id
	VMName   string
	Key      int32
	Capacity int64
	dsDir    string // datastore root directory
	dsName   string
	nfs      bool // on NFS, ESXi cannot tell allocated areas: "*" is everything
	levels   []*Level
	deltaSeq int          // counter for delta file names (never reused)
	window   atomic.Int64 // per-disk QueryChangedDiskAreas window (0 = lab default)
	// per-disk extents per answer (0 = lab default)
	maxExtents atomic.Int64

	// changed-block tracking
	cbtOn   bool
	ctkUUID string
	seq     int                // current change epoch
	epochs  map[int]blockSet   // blocks written per epoch
	snaps   map[string]*snapAt // snapshot moref -> what it froze
}

// snapAt records what a snapshot froze for this disk.
type snapAt struct {
	frozen  *Level
	created *Level // delta level started by this snapshot
	ctkUUID string
	seq     int // changeId sequence of the snapshot (0 = no CBT)
	order   int
}

func (d *Disk) abs(rel string) string { return filepath.Join(d.dsDir, rel) }

func (d *Disk) top() *Level { return d.levels[len(d.levels)-1] }

// newBase creates (or resizes) the base flat file as a sparse file of the
// disk's capacity plus a descriptor, the layout of a thin VMFS disk.
func (d *Disk) newBase(descriptor string) error {
	data := strings.TrimSuffix(descriptor, ".vmdk") + "-flat.vmdk"
	f, err := os.OpenFile(d.abs(data), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(d.Capacity); err != nil {
		f.Close()
		return err
	}
	lv := &Level{Descriptor: descriptor, Data: data, file: f, blocks: blockSet{}}
	// A file that already holds data (a clone's copy, a disk uploaded
	// through /folder before the VM used it) keeps it: its allocated
	// extents become the level's blocks.
	if err := markAllocated(f, d.Capacity, lv.blocks); err != nil {
		f.Close()
		return err
	}
	d.levels = []*Level{lv}
	return d.writeDescriptor(lv, nil)
}

// markAllocated adds the 64 KiB blocks holding data in f (SEEK_DATA/SEEK_HOLE).
func markAllocated(f *os.File, size int64, blocks blockSet) error {
	fd := int(f.Fd())
	for pos := int64(0); pos < size; {
		start, err := syscall.Seek(fd, pos, seekData)
		if err != nil {
			return nil // ENXIO: no data after pos
		}
		end, err := syscall.Seek(fd, start, seekHole)
		if err != nil {
			return err
		}
		for b := start / BlockSize; b*BlockSize < end; b++ {
			blocks.add(b)
		}
		pos = end
	}
	return nil
}

const (
	seekData = 3 // SEEK_DATA (Linux)
	seekHole = 4 // SEEK_HOLE
)

func (d *Disk) writeDescriptor(lv, parent *Level) error {
	sectors := d.Capacity / 512
	var b strings.Builder
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=fffffffe\n")
	if parent == nil {
		fmt.Fprintf(&b, "parentCID=ffffffff\ncreateType=\"vmfs\"\n\n# Extent description\nRW %d VMFS \"%s\"\n", sectors, filepath.Base(lv.Data))
	} else {
		fmt.Fprintf(&b, "parentCID=fffffffe\nparentFileNameHint=\"%s\"\ncreateType=\"vmfsSparse\"\n\n# Extent description\nRW %d VMFSSPARSE \"%s\"\n",
			filepath.Base(parent.Descriptor), sectors, filepath.Base(lv.Data))
	}
	fmt.Fprintf(&b, "\n# The Disk Data Base\n#DDB\nddb.adapterType = \"lsilogic\"\nddb.virtualHWVersion = \"13\"\n")
	if d.cbtOn {
		fmt.Fprintf(&b, "changeTrackPath=\"%s\"\n", filepath.Base(strings.TrimSuffix(lv.Descriptor, ".vmdk")+"-ctk.vmdk"))
	}
	return os.WriteFile(d.abs(lv.Descriptor), []byte(b.String()), 0o600)
}

// readView reads the guest view of the first n levels (frozen snapshot view
// when n < len(levels)) at off into p.
func (d *Disk) readView(p []byte, off int64, n int) error {
	for len(p) > 0 {
		b := off / BlockSize
		inBlock := BlockSize - off%BlockSize
		if inBlock > int64(len(p)) {
			inBlock = int64(len(p))
		}
		chunk := p[:inBlock]
		src := -1
		for i := n - 1; i >= 0; i-- {
			if d.levels[i].blocks.has(b) {
				src = i
				break
			}
		}
		if src < 0 {
			for i := range chunk {
				chunk[i] = 0
			}
		} else if _, err := d.levels[src].file.ReadAt(chunk, off); err != nil && err != io.EOF {
			return err
		}
		p = p[inBlock:]
		off += inBlock
	}
	return nil
}

// Read returns the current guest view (base + deltas).
func (d *Disk) Read(p []byte, off int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < 0 || off+int64(len(p)) > d.Capacity {
		return fmt.Errorf("read beyond capacity %d", d.Capacity)
	}
	return d.readView(p, off, len(d.levels))
}

// Write is a guest write: it lands in the top level (copy-on-write of whole
// 64 KiB blocks under a snapshot, as a delta disk grain would) and marks the
// blocks in the current CBT epoch.
func (d *Disk) Write(p []byte, off int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < 0 || off+int64(len(p)) > d.Capacity {
		return fmt.Errorf("write beyond capacity %d", d.Capacity)
	}
	top := d.top()
	first, last := off/BlockSize, (off+int64(len(p))-1)/BlockSize
	if len(d.levels) > 1 {
		buf := make([]byte, BlockSize)
		for b := first; b <= last; b++ {
			if top.blocks.has(b) {
				continue
			}
			whole := b*BlockSize >= off && (b+1)*BlockSize <= off+int64(len(p))
			if whole {
				continue
			}
			if err := d.readView(buf, b*BlockSize, len(d.levels)-1); err != nil {
				return err
			}
			if _, err := top.file.WriteAt(buf, b*BlockSize); err != nil {
				return err
			}
		}
	}
	if _, err := top.file.WriteAt(p, off); err != nil {
		return err
	}
	for b := first; b <= last; b++ {
		top.blocks.add(b)
		if d.cbtOn {
			e := d.epochs[d.seq]
			if e == nil {
				e = blockSet{}
				d.epochs[d.seq] = e
			}
			e.add(b)
		}
	}
	return nil
}

func newUUIDBytes() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[0] = 0x52 // real ESXi ctk ids start with 52
	parts := make([]string, 16)
	for i, x := range u {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, " ")
}

// SetCBT turns tracking on or off. Turning it on starts a new ctk identity,
// so changeIds from an earlier tracking period are refused, as on ESXi.
func (d *Disk) SetCBT(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on == d.cbtOn {
		return
	}
	d.cbtOn = on
	d.resetCBTLocked()
}

func (d *Disk) resetCBTLocked() {
	d.ctkUUID = newUUIDBytes()
	d.seq = 0
	d.epochs = map[int]blockSet{}
}

// InvalidateCBT models what Storage vMotion, disk growth or a restore do:
// the tracking identity changes and every earlier changeId becomes invalid.
func (d *Disk) InvalidateCBT() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resetCBTLocked()
}

func (d *Disk) changeIDLocked(seq int) string {
	return fmt.Sprintf("%s/%d", d.ctkUUID, seq)
}

// CurrentChangeID is the changeId the running VM reports ("" before the first snapshot).
func (d *Disk) CurrentChangeID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.cbtOn || d.seq == 0 {
		return ""
	}
	return d.changeIDLocked(d.seq)
}

// Freeze is called when a snapshot is taken: the top level becomes read-only
// and a new delta level receives writes; the CBT epoch advances and the
// snapshot's changeId is returned ("" when CBT is off).
func (d *Disk) Freeze(snap string, order int) (frozen, created *Level, changeID string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	frozen = d.top()
	d.deltaSeq++
	stem := strings.TrimSuffix(d.levels[0].Descriptor, ".vmdk")
	desc := fmt.Sprintf("%s-%06d.vmdk", stem, d.deltaSeq)
	data := fmt.Sprintf("%s-%06d-delta.vmdk", stem, d.deltaSeq)
	f, err := os.OpenFile(d.abs(data), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, "", err
	}
	if err := f.Truncate(d.Capacity); err != nil {
		f.Close()
		return nil, nil, "", err
	}
	created = &Level{Descriptor: desc, Data: data, file: f, blocks: blockSet{}}
	d.levels = append(d.levels, created)
	if err := d.writeDescriptor(created, frozen); err != nil {
		return nil, nil, "", err
	}
	at := &snapAt{frozen: frozen, created: created, order: order}
	if d.cbtOn {
		d.seq++
		at.ctkUUID, at.seq = d.ctkUUID, d.seq
		changeID = d.changeIDLocked(d.seq)
	}
	d.snaps[snap] = at
	return frozen, created, changeID, nil
}

// Consolidate merges the delta started by a removed snapshot into its parent
// level, as ESXi does on RemoveSnapshot. Snapshots taken later that had
// frozen that delta now see the merged parent.
func (d *Disk) Consolidate(snap string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	at := d.snaps[snap]
	if at == nil {
		return nil
	}
	delete(d.snaps, snap)
	idx := -1
	for i, lv := range d.levels {
		if lv == at.created {
			idx = i
		}
	}
	if idx <= 0 {
		return fmt.Errorf("snapshot %s: delta level not in chain", snap)
	}
	parent, child := d.levels[idx-1], d.levels[idx]
	buf := make([]byte, BlockSize)
	for _, b := range child.blocks.sorted(0, d.Capacity/BlockSize+1) {
		if _, err := child.file.ReadAt(buf, b*BlockSize); err != nil && err != io.EOF {
			return err
		}
		if _, err := parent.file.WriteAt(buf, b*BlockSize); err != nil {
			return err
		}
	}
	parent.blocks.union(child.blocks)
	child.file.Close()
	_ = os.Remove(d.abs(child.Data))
	_ = os.Remove(d.abs(child.Descriptor))
	d.levels = append(d.levels[:idx], d.levels[idx+1:]...)
	for _, other := range d.snaps {
		if other.frozen == child {
			other.frozen = parent
		}
	}
	return nil
}

func (d *Disk) snapOrder(ref string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if at := d.snaps[ref]; at != nil {
		return at.order
	}
	return 0
}

// chainFor returns the levels of the view a snapshot froze (nil = current).
func (d *Disk) chainFor(snap string) ([]*Level, *snapAt, bool) {
	if snap == "" {
		return d.levels, nil, true
	}
	at := d.snaps[snap]
	if at == nil {
		return nil, nil, false
	}
	for i, lv := range d.levels {
		if lv == at.frozen {
			return d.levels[:i+1], at, true
		}
	}
	return nil, nil, false
}

// Chain returns descriptor names of a view from top to base, for backings.
func (d *Disk) Chain(snap string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	levels, _, ok := d.chainFor(snap)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(levels))
	for i := len(levels) - 1; i >= 0; i-- {
		out = append(out, levels[i].Descriptor)
	}
	return out
}

// Allocated returns the blocks allocated in a view ("*" semantics).
func (d *Disk) allocatedLocked(levels []*Level) blockSet {
	all := blockSet{}
	for _, lv := range levels {
		all.union(lv.blocks)
	}
	return all
}

// hasData tells whether rel is one of the disk's data files and whether it
// is the top one, which the running VM holds open (locked on ESXi).
func (d *Disk) hasData(rel string) (found, top bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, lv := range d.levels {
		if lv.Data == rel {
			return true, i == len(d.levels)-1
		}
	}
	return false, false
}

// Info describes the disk for the lab API.
func (d *Disk) Info() map[string]interface{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	var levels []map[string]interface{}
	for _, lv := range d.levels {
		levels = append(levels, map[string]interface{}{
			"descriptor": lv.Descriptor, "data": lv.Data,
			"blocks": lv.blocks.count(),
		})
	}
	snaps := map[string]interface{}{}
	for ref, at := range d.snaps {
		id := ""
		if at.seq > 0 {
			id = fmt.Sprintf("%s/%d", at.ctkUUID, at.seq)
		}
		snaps[ref] = map[string]interface{}{"frozen": at.frozen.Descriptor, "changeId": id}
	}
	return map[string]interface{}{
		"vm": d.VMName, "vm_moid": d.VM, "key": d.Key, "capacity": d.Capacity,
		"levels": levels, "cbt": d.cbtOn, "seq": d.seq, "snapshots": snaps,
		"allocated_blocks": d.allocatedLocked(d.levels).count(),
		"cbt_window":       d.window.Load(), "cbt_max_extents": d.maxExtents.Load(), "ctk_uuid": d.ctkUUID,
	}
}

// Close releases the disk's files (VM destroyed).
func (d *Disk) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, lv := range d.levels {
		lv.file.Close()
	}
}

// Grow extends the disk (ReconfigVM with a larger capacity). ESXi resets
// change tracking when a disk grows, so earlier changeIds become invalid.
func (d *Disk) Grow(capacity int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, lv := range d.levels {
		if err := lv.file.Truncate(capacity); err != nil {
			return err
		}
	}
	d.Capacity = capacity
	if d.cbtOn {
		d.resetCBTLocked()
	}
	for i, lv := range d.levels {
		var parent *Level
		if i > 0 {
			parent = d.levels[i-1]
		}
		if err := d.writeDescriptor(lv, parent); err != nil {
			return err
		}
	}
	return nil
}

// Revert discards what the guest wrote since snap, which must be the latest
// snapshot (the only revert this model follows; older ones would branch the
// chain). Change tracking restarts, so a sync after a revert is a full one.
func (d *Disk) Revert(snap string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	at := d.snaps[snap]
	if at == nil {
		return nil
	}
	top := d.top()
	if at.created != top {
		return fmt.Errorf("revert to %s: only the latest snapshot can be reverted to in the lab", snap)
	}
	if err := top.file.Truncate(0); err != nil {
		return err
	}
	if err := top.file.Truncate(d.Capacity); err != nil {
		return err
	}
	top.blocks = blockSet{}
	if d.cbtOn {
		d.resetCBTLocked()
	}
	return nil
}

// allocatedBytes is what the data file really occupies (thin/sparse).
func allocatedBytes(path string) (int64, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, false
	}
	return st.Blocks * 512, true
}

// CopyTo writes the current guest view's allocated blocks into dst.
func (d *Disk) CopyTo(dst *Disk) error {
	d.mu.Lock()
	blocks := d.allocatedLocked(d.levels).sorted(0, d.Capacity/BlockSize+1)
	d.mu.Unlock()
	buf := make([]byte, BlockSize)
	for _, b := range blocks {
		if (b+1)*BlockSize > dst.Capacity {
			break
		}
		if err := d.Read(buf, b*BlockSize); err != nil {
			return err
		}
		if err := dst.Write(buf, b*BlockSize); err != nil {
			return err
		}
	}
	return nil
}
