// The lab's deterministic inventory: one datacenter, one cluster of hosts, a
// datastore backed by a directory, three networks and the VMs the migration
// tests need (tiers, dependencies, an RDM, an independent disk, a VM that
// already has a snapshot), built through the vSphere API itself.
package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"path/filepath"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	GiB = int64(1) << 30
	MiB = int64(1) << 20
	TiB = int64(1) << 40
)

type diskSpec struct {
	Capacity int64
	Mode     string // persistent, independent_persistent
	RDM      bool
	Seed     []Extent // guest data written at startup
}

type nicSpec struct {
	Network, MAC, IP string
}

type vmSpec struct {
	Name, GuestID, Firmware, Tier, DependsOn string
	CPUs                                     int32
	MemoryMB                                 int64
	Disks                                    []diskSpec
	NICs                                     []nicSpec
	PowerOn, CBT                             bool
	Snapshot                                 string // pre-existing snapshot name
	Datastore                                string // default datastore1
	SharedBus                                bool   // SCSI bus sharing + multi-writer disks
}

func seed(offsets ...int64) []Extent {
	var out []Extent
	for _, o := range offsets {
		out = append(out, Extent{Start: o, Length: MiB})
	}
	return out
}

// labVMs is the VM set; extra adds low-priority batch VMs for scale tests.
func labVMs(extra int) []vmSpec {
	vms := []vmSpec{
		{Name: "db01", GuestID: "rhel8_64Guest", Firmware: "efi", Tier: "tier1", CPUs: 4, MemoryMB: 16384,
			Disks: []diskSpec{
				{Capacity: 2 * TiB, Seed: seed(0, 1*GiB, 512*GiB, 1*TiB+64*1024, 2*TiB-MiB)},
				{Capacity: 20 * GiB, Seed: seed(0, 10*GiB)},
			},
			NICs:    []nicSpec{{"prod-db", "00:50:56:8a:10:01", "10.110.0.11"}},
			PowerOn: true, CBT: true},
		{Name: "app01", GuestID: "ubuntu64Guest", Firmware: "efi", Tier: "tier1", DependsOn: "db01", CPUs: 2, MemoryMB: 8192,
			Disks:   []diskSpec{{Capacity: 40 * GiB, Seed: seed(0, 20*GiB)}},
			NICs:    []nicSpec{{"prod-app", "00:50:56:8a:12:01", "10.120.0.21"}},
			PowerOn: true, CBT: true},
		{Name: "web01", GuestID: "debian11_64Guest", Firmware: "bios", Tier: "tier2", DependsOn: "app01", CPUs: 2, MemoryMB: 4096,
			Disks: []diskSpec{{Capacity: 16 * GiB, Seed: seed(0, 8*GiB)}},
			NICs: []nicSpec{{"VM Network", "00:50:56:8a:00:31", "192.168.100.31"},
				{"prod-app", "00:50:56:8a:12:31", "10.120.0.31"}},
			PowerOn: true},
		{Name: "legacy-rdm", GuestID: "windows9Server64Guest", Firmware: "bios", Tier: "tier2", CPUs: 2, MemoryMB: 8192,
			Disks:   []diskSpec{{Capacity: 40 * GiB, Seed: seed(0)}, {Capacity: 100 * GiB, RDM: true}},
			NICs:    []nicSpec{{"VM Network", "00:50:56:8a:00:41", "192.168.100.41"}},
			PowerOn: true},
		{Name: "snapped01", GuestID: "centos7_64Guest", Firmware: "bios", Tier: "tier2", CPUs: 1, MemoryMB: 2048,
			Disks:   []diskSpec{{Capacity: 8 * GiB, Seed: seed(0, 4*GiB)}},
			NICs:    []nicSpec{{"VM Network", "00:50:56:8a:00:51", "192.168.100.51"}},
			PowerOn: true, CBT: true, Snapshot: "before-patch"},
		{Name: "indep01", GuestID: "sles15_64Guest", Firmware: "efi", Tier: "tier3", CPUs: 1, MemoryMB: 2048,
			Disks: []diskSpec{{Capacity: 10 * GiB, Seed: seed(0)},
				{Capacity: 10 * GiB, Mode: "independent_persistent", Seed: seed(0)}},
			NICs:    []nicSpec{{"VM Network", "00:50:56:8a:00:61", "192.168.100.61"}},
			PowerOn: true},
	}
	vms = append(vms,
		// A two-node guest cluster's shared disk: preflight must refuse it.
		vmSpec{Name: "shared01", GuestID: "windows2019srv_64Guest", Firmware: "efi", Tier: "tier2", CPUs: 2, MemoryMB: 8192,
			Disks:   []diskSpec{{Capacity: 40 * GiB, Seed: seed(0)}, {Capacity: 10 * GiB, Seed: seed(0)}},
			NICs:    []nicSpec{{"VM Network", "00:50:56:8a:00:71", "192.168.100.71"}},
			PowerOn: true, SharedBus: true},
		// Thin disk on NFS: "*" answers fully allocated, as ESXi does there.
		vmSpec{Name: "nfs01", GuestID: "debian11_64Guest", Firmware: "bios", Tier: "tier3", CPUs: 1, MemoryMB: 1024,
			Disks:   []diskSpec{{Capacity: 2 * GiB, Seed: seed(0)}},
			NICs:    []nicSpec{{"VM Network", "00:50:56:8a:00:81", "192.168.100.81"}},
			PowerOn: true, CBT: true, Datastore: "nfs-ds01"},
		// A guest the KVM conversion does not support.
		vmSpec{Name: "sol01", GuestID: "solaris11_64Guest", Firmware: "bios", Tier: "tier3", CPUs: 1, MemoryMB: 2048,
			Disks:   []diskSpec{{Capacity: 16 * GiB, Seed: seed(0)}},
			NICs:    []nicSpec{{"VM Network", "00:50:56:8a:00:91", "192.168.100.91"}},
			PowerOn: false},
	)
	for i := 1; i <= 3+extra; i++ {
		seeded := seed(0, 2*GiB)
		if i > 3 {
			// Scale-test VMs carry a boot block only, so 500 of them stay cheap.
			seeded = []Extent{{Start: 0, Length: BlockSize}}
		}
		vms = append(vms, vmSpec{
			Name: fmt.Sprintf("batch%02d", i), GuestID: "debian10_64Guest", Firmware: "bios", Tier: "tier3",
			CPUs: 1, MemoryMB: 1024,
			Disks:   []diskSpec{{Capacity: 4 * GiB, Seed: seeded}},
			NICs:    []nicSpec{{"VM Network", fmt.Sprintf("00:50:56:8a:%02x:%02x", 0x70+i/256, i%256), fmt.Sprintf("192.168.101.%d", i%250+1)}},
			PowerOn: i%2 == 1,
		})
	}
	return vms
}

// pattern fills p with deterministic bytes for (vm, key, offset), so the
// seed data is the same on every start.
func pattern(p []byte, vm string, key int32, off int64) {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d/%d", vm, key, off)
	x := h.Sum64() | 1
	for i := 0; i+8 <= len(p); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for j := 0; j < 8; j++ {
			p[i+j] = byte(x >> (8 * j))
		}
	}
}

type inventory struct {
	DC, Cluster, Datastore string
	Tiers                  map[types.ManagedObjectReference]string
}

func buildInventory(ctx context.Context, c *vim25.Client, l *Lab, dsDir, nfsDir string, extra int) (*inventory, error) {
	inv := &inventory{DC: "lab-dc", Cluster: "lab-cluster", Datastore: "datastore1",
		Tiers: map[types.ManagedObjectReference]string{}}
	finder := find.NewFinder(c, false)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		return nil, err
	}
	if err := waitTask(dc.Rename(ctx, inv.DC)); err != nil {
		return nil, err
	}
	finder.SetDatacenter(dc)
	cluster, err := finder.DefaultClusterComputeResource(ctx)
	if err != nil {
		return nil, err
	}
	if err := waitTask(cluster.Rename(ctx, inv.Cluster)); err != nil {
		return nil, err
	}
	hosts, err := cluster.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	datastores := map[string]types.ManagedObjectReference{}
	for _, h := range hosts {
		dss, err := h.ConfigManager().DatastoreSystem(ctx)
		if err != nil {
			return nil, err
		}
		d, err := dss.CreateLocalDatastore(ctx, inv.Datastore, dsDir)
		if err != nil {
			return nil, err
		}
		datastores[inv.Datastore] = d.Reference()
		// vcsim names a NAS datastore after its local directory.
		n, err := dss.CreateNasDatastore(ctx, types.HostNasVolumeSpec{
			RemoteHost: "nas01.lab.example", RemotePath: "/export/vmware", LocalPath: nfsDir,
			AccessMode: string(types.HostMountModeReadWrite), Type: string(types.HostFileSystemVolumeFileSystemTypeNFS),
		})
		if err != nil {
			return nil, err
		}
		datastores[filepath.Base(nfsDir)] = n.Reference()
	}

	folders, err := dc.Folders(ctx)
	if err != nil {
		return nil, err
	}
	networks, err := buildNetworks(ctx, c, finder, folders, hosts)
	if err != nil {
		return nil, err
	}

	cfm, err := object.GetCustomFieldsManager(c)
	if err != nil {
		return nil, err
	}
	fields := map[string]int32{}
	for _, name := range []string{"reforge.tier", "reforge.depends_on"} {
		def, err := cfm.Add(ctx, name, "VirtualMachine", nil, nil)
		if err != nil {
			return nil, err
		}
		fields[name] = def.Key
	}

	pool, err := cluster.ResourcePool(ctx)
	if err != nil {
		return nil, err
	}
	for i, spec := range labVMs(extra) {
		host := hosts[i%len(hosts)]
		dsName := spec.Datastore
		if dsName == "" {
			dsName = inv.Datastore
		}
		ref, err := createVM(ctx, c, l, folders.VmFolder, pool, host, datastores[dsName], dsName, networks, cfm, fields, spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec.Name, err)
		}
		inv.Tiers[ref] = spec.Tier
	}
	l.fixDatastores()
	return inv, nil
}

func waitTask(t *object.Task, err error) error {
	if err != nil {
		return err
	}
	return t.Wait(context.Background())
}

// buildNetworks: "VM Network" (standard port group every host has) and two
// distributed port groups on VLANs, the shape the migration maps to bridges.
func buildNetworks(ctx context.Context, c *vim25.Client, finder *find.Finder, folders *object.DatacenterFolders, hosts []*object.HostSystem) (map[string]object.NetworkReference, error) {
	out := map[string]object.NetworkReference{}
	vmnet, err := finder.Network(ctx, "VM Network")
	if err != nil {
		return nil, err
	}
	out["VM Network"] = vmnet

	spec := types.DVSCreateSpec{ConfigSpec: &types.VMwareDVSConfigSpec{}}
	cs := spec.ConfigSpec.GetDVSConfigSpec()
	cs.Name = "lab-dvs"
	task, err := folders.NetworkFolder.CreateDVS(ctx, spec)
	if err != nil {
		return nil, err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return nil, err
	}
	dvs := object.NewDistributedVirtualSwitch(c, info.Result.(types.ManagedObjectReference))
	for _, h := range hosts {
		// Members are added by reconfiguration, as vcsim's own model does.
		if err := waitTask(dvs.Reconfigure(ctx, &types.DVSConfigSpec{
			Host: []types.DistributedVirtualSwitchHostMemberConfigSpec{{
				Operation: string(types.ConfigSpecOperationAdd), Host: h.Reference(),
			}},
		})); err != nil {
			return nil, err
		}
	}
	var pgs []types.DVPortgroupConfigSpec
	for _, pg := range []struct {
		name string
		vlan int32
	}{{"prod-db", 110}, {"prod-app", 120}} {
		pgs = append(pgs, types.DVPortgroupConfigSpec{
			Name: pg.name, Type: string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding), NumPorts: 64,
			DefaultPortConfig: &types.VMwareDVSPortSetting{
				Vlan: &types.VmwareDistributedVirtualSwitchVlanIdSpec{VlanId: pg.vlan},
			},
		})
	}
	if err := waitTask(dvs.AddPortgroup(ctx, pgs)); err != nil {
		return nil, err
	}
	for _, name := range []string{"prod-db", "prod-app"} {
		n, err := finder.Network(ctx, name)
		if err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, nil
}

func createVM(ctx context.Context, c *vim25.Client, l *Lab, folder *object.Folder, pool *object.ResourcePool,
	host *object.HostSystem, ds types.ManagedObjectReference, dsName string,
	networks map[string]object.NetworkReference, cfm *object.CustomFieldsManager, fields map[string]int32, spec vmSpec) (types.ManagedObjectReference, error) {
	var none types.ManagedObjectReference

	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return none, err
	}
	devices = append(devices, scsi)
	ctrl := scsi.(types.BaseVirtualController)
	// Keys as ESXi numbers them (controller 1000, disks 2000+, NICs 4000+);
	// left to vcsim they would be random.
	scsi.GetVirtualDevice().Key = 1000
	if spec.SharedBus {
		scsi.(types.BaseVirtualSCSIController).GetVirtualSCSIController().SharedBus = types.VirtualSCSISharingPhysicalSharing
	}
	for i, d := range spec.Disks {
		name := fmt.Sprintf("[%s] %s/%s.vmdk", dsName, spec.Name, spec.Name)
		if i > 0 {
			name = fmt.Sprintf("[%s] %s/%s_%d.vmdk", dsName, spec.Name, spec.Name, i)
		}
		disk := devices.CreateDisk(ctrl, ds, name)
		disk.Key = int32(2000 + i)
		disk.CapacityInKB = d.Capacity / 1024
		disk.CapacityInBytes = d.Capacity
		if d.RDM {
			// Created flat, switched to an RDM backing below: vcsim 0.24
			// panics laying out RDM disks (updateDiskLayouts asserts flat).
			diskBacking(disk).FileName = fmt.Sprintf("[%s] %s/%s_%d-rdmp.vmdk", dsName, spec.Name, spec.Name, i)
		} else if d.Mode != "" {
			diskBacking(disk).DiskMode = d.Mode
		}
		if spec.SharedBus {
			diskBacking(disk).Sharing = string(types.VirtualDiskSharingSharingMultiWriter)
			diskBacking(disk).EagerlyScrub = types.NewBool(true) // multi-writer needs eager-zeroed thick
			diskBacking(disk).ThinProvisioned = types.NewBool(false)
		}
		devices = append(devices, disk)
	}
	for j, n := range spec.NICs {
		net, ok := networks[n.Network]
		if !ok {
			return none, fmt.Errorf("no network %s", n.Network)
		}
		backing, err := net.EthernetCardBackingInfo(ctx)
		if err != nil {
			return none, err
		}
		nic, err := devices.CreateEthernetCard("vmxnet3", backing)
		if err != nil {
			return none, err
		}
		card := nic.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		card.Key = int32(4000 + j)
		card.MacAddress = n.MAC
		card.AddressType = string(types.VirtualEthernetCardMacTypeManual)
		devices = append(devices, nic)
	}
	change, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return none, err
	}
	cfg := types.VirtualMachineConfigSpec{
		Name: spec.Name, GuestId: spec.GuestID, Firmware: spec.Firmware,
		NumCPUs: spec.CPUs, MemoryMB: spec.MemoryMB,
		Annotation:   fmt.Sprintf("reforge lab VM (%s)", spec.Tier),
		Files:        &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s]", dsName)},
		DeviceChange: change,
	}
	if len(spec.NICs) > 0 {
		cfg.ExtraConfig = []types.BaseOptionValue{
			&types.OptionValue{Key: "SET.guest.ipAddress", Value: spec.NICs[0].IP},
			&types.OptionValue{Key: "SET.guest.hostName", Value: spec.Name + ".lab.example"},
		}
	}
	task, err := folder.CreateVM(ctx, cfg, pool, host)
	if err != nil {
		return none, err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return none, err
	}
	ref := info.Result.(types.ManagedObjectReference)
	vm := object.NewVirtualMachine(c, ref)
	simVM := vmByRef(ref)

	// Guest data, then CBT, then the power state and snapshots, in the
	// order a real VM's history would have produced them.
	simulator.Map.WithLock(simVM, func() {
		simVM.Capability.ChangeTrackingSupported = types.NewBool(true)
		for i, dev := range object.VirtualDeviceList(simVM.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
			if i < len(spec.Disks) && spec.Disks[i].RDM {
				vd := dev.(*types.VirtualDisk)
				vd.Backing = rdmBacking(diskBacking(vd), i)
			}
		}
		for i, vd := range l.vmDisks(simVM) {
			for _, e := range spec.Disks[i].Seed {
				buf := make([]byte, e.Length)
				pattern(buf, spec.Name, vd.dev.Key, e.Start)
				if err = vd.disk.Write(buf, e.Start); err != nil {
					return
				}
			}
		}
		// Extra guest IPs: stock vcsim fills only the first NIC.
		for i := range simVM.Guest.Net {
			if i < len(spec.NICs) {
				simVM.Guest.Net[i].IpAddress = []string{spec.NICs[i].IP}
			}
		}
		simVM.Guest.GuestId = spec.GuestID
		simVM.Guest.GuestFullName = spec.GuestID
		if spec.CBT {
			l.setCBT(simVM, true)
		}
		l.fixStorage(simVM)
	})
	if err != nil {
		return none, err
	}
	if spec.PowerOn {
		if err := waitTask(vm.PowerOn(ctx)); err != nil {
			return none, err
		}
	}
	if spec.Snapshot != "" {
		if err := waitTask(vm.CreateSnapshot(ctx, spec.Snapshot, "taken before the migration was planned", false, false)); err != nil {
			return none, err
		}
	}
	for name, val := range map[string]string{"reforge.tier": spec.Tier, "reforge.depends_on": spec.DependsOn} {
		if val == "" {
			continue
		}
		if err := cfm.Set(ctx, ref, fields[name], val); err != nil {
			return none, err
		}
	}
	return ref, nil
}

// rdmBacking is a physical-mode raw device mapping like a SAN LUN passed to
// a legacy cluster VM; migration preflight must refuse it.
func rdmBacking(flat *types.VirtualDiskFlatVer2BackingInfo, i int) *types.VirtualDiskRawDiskMappingVer1BackingInfo {
	return &types.VirtualDiskRawDiskMappingVer1BackingInfo{
		VirtualDeviceFileBackingInfo: flat.VirtualDeviceFileBackingInfo,
		LunUuid:                      fmt.Sprintf("02000%d0000600508b1001c3a4e5f6a7b8c9d0e1f2a3b4c4c4f474943", i),
		DeviceName:                   "vml.0200000000600508b1001c3a4e5f6a7b8c9d0e1f2a3b4c4c4f474943",
		CompatibilityMode:            string(types.VirtualDiskCompatibilityModePhysicalMode),
		DiskMode:                     string(types.VirtualDiskModeIndependent_persistent),
		Uuid:                         "6000C29a-1b2c-3d4e-5f60-718293a4b5c6",
	}
}
