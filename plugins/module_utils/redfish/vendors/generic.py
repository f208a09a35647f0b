# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DMTF-standard behaviour every vendor adapter starts from.

Vendor adapters subclass :class:`GenericAdapter` and override only what their
service does differently (OEM properties, storage mode switches, job queues,
BIOS attribute names). Everything here uses standard Redfish resources only.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

from ansible_collections.reforge.hci.plugins.module_utils.redfish.bios_registry import load_bios_registry
from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import (
    RedfishDataLossRefused, RedfishError, RedfishInvalidValue, RedfishNotFound, RedfishUnsupported,
)
from ansible_collections.reforge.hci.plugins.module_utils.redfish.client import Response
from ansible_collections.reforge.hci.plugins.module_utils.redfish.tasks import Poller, wait_task
from ansible_collections.reforge.hci.plugins.module_utils.redfish.writes import (
    ABSENT, LANDED, UNKNOWN, Step, settle_write,
)

CONTROLLER_MODES = ("raid", "hba", "jbod", "nonraid")
# Modes in which every drive reaches the OS as it is (what Ceph wants).
PASSTHROUGH_MODES = ("hba", "jbod", "nonraid")
# Modes that mean the same to the OS (every drive presented raw).
SAME_MODE = {"jbod": "nonraid"}

# Virtualization-host BIOS profile: feature -> candidate (attribute, desired value) pairs.
# The first attribute present on the BMC wins; vendor adapters put their own names first.
VIRTUALIZATION_PROFILE = {
    "cpu_virtualization": (("ProcVirtualization", "Enabled"), ("IntelVirtualizationTechnology", "Enabled"),
                           ("VTSupport", "Enabled"), ("SvmMode", "Enabled")),
    "iommu": (("IntelProcVtd", "Enabled"), ("ProcAmdIoVt", "Enabled"), ("VTdSupport", "Enabled"), ("Iommu", "Enabled")),
    "sriov": (("Sriov", "Enabled"), ("SriovGlobalEnable", "Enabled"), ("SRIOVEnable", "Enabled")),
    "boot_mode_uefi": (("BootMode", "Uefi"), ("BootType", "UEFIBoot")),
    "performance_profile": (("WorkloadProfile", "Virtualization-MaxPerformance"), ("SysProfile", "PerfOptimized"),
                            ("PowerPolicy", "Performance")),
}

RESET_TYPES = {
    "on": ("On",),
    "off": ("ForceOff",),
    "graceful_off": ("GracefulShutdown",),
    "restart": ("ForceRestart", "PowerCycle"),
    "graceful_restart": ("GracefulRestart", "ForceRestart"),
}


def already_passthrough(mode, current, pending, supported):
    """A pass-through mode is asked for, the controller already passes drives through (now or at the
    next reset) and the exact mode asked for is not offered: that counts as done."""
    return mode in PASSTHROUGH_MODES and mode not in supported and \
        bool(set((current, pending)) & set(PASSTHROUGH_MODES))


def odata_id(obj):
    return (obj or {}).get("@odata.id")


def link(resource, *path):
    """Follow nested keys to an @odata.id, or None."""
    node = resource
    for key in path:
        node = (node or {}).get(key)
    return odata_id(node)


VENDOR_NAMES = {"dell": "Dell", "hpe": "HPE", "xfusion": "xFusion", "lenovo": "Lenovo", "supermicro": "Supermicro"}


def controller_label(vendor, model):
    """'HPE MR408i-o', never 'HPE HPE MR408i-o': the vendor once, only when the model lacks it."""
    name = VENDOR_NAMES.get(vendor, "")
    model = model or "the storage controller"
    return model if not name or model.lower().startswith(name.lower()) else "%s %s" % (name, model)


def port_protocol(port):
    """'FC', 'InfiniBand' or 'Ethernet' (None: the port does not say) from a Port or NetworkPort."""
    value = port.get("PortProtocol") or port.get("ActiveLinkTechnology") or ""
    if value in ("FC", "FibreChannel"):
        return "FC"
    if value in ("InfiniBand", "IB"):
        return "InfiniBand"
    return "Ethernet" if value else None


def function_protocol(functions):
    """The protocol a network adapter's device functions agree on (NetDevFuncType), or None."""
    kinds = set(f.get("NetDevFuncType") for f in functions if f.get("NetDevFuncType"))
    if kinds == {"FibreChannel"}:
        return "FC"
    if kinds == {"InfiniBand"}:
        return "InfiniBand"
    return "Ethernet" if kinds else None


class GenericAdapter(object):
    """A Redfish service that follows the DMTF standard."""

    vendor = "generic"
    profile = VIRTUALIZATION_PROFILE

    def __init__(self, client, poller=None):
        self.client = client
        self.poller = poller or Poller()
        self._bios_registry = None      # (BiosRegistry or None, why there is none), read once

    @classmethod
    def matches(cls, root, manager):
        return True

    # -- shortcuts -----------------------------------------------------------------------
    @property
    def system(self):
        return self.client.get(self.client.system_uri, cached=True)

    def refresh_system(self):
        return self.client.get(self.client.system_uri)

    @property
    def manager(self):
        return self.client.get(self.client.manager_uri, cached=True)

    def _collection(self, resource, key):
        uri = link(resource, key)
        return self.client.members(uri, optional=True) if uri else []

    # -- facts ---------------------------------------------------------------------------
    def facts(self):
        """Everything the reuse report and the prepare role need, as plain data."""
        bios = self.bios_state()
        facts = dict(
            vendor=self.vendor,
            endpoint=self.client.endpoint,
            system=self.system_facts(),
            manager=self.manager_facts(),
            cpus=self.cpu_facts(bios["current"]),
            memory=self.memory_facts(),
            storage=self.storage_facts(),
            firmware=self.firmware_inventory(),
            bios=bios,
        )
        facts.update(self.port_facts())
        return facts

    def system_facts(self):
        s = self.refresh_system()
        boot = s.get("Boot", {})
        return dict(
            id=s.get("Id"), uri=odata_id(s), manufacturer=s.get("Manufacturer"), model=s.get("Model"),
            serial=s.get("SerialNumber"), sku=s.get("SKU"), power_state=s.get("PowerState"),
            bios_version=s.get("BiosVersion"), health=(s.get("Status") or {}).get("HealthRollup")
            or (s.get("Status") or {}).get("Health"),
            memory_gib=(s.get("MemorySummary") or {}).get("TotalSystemMemoryGiB"),
            boot=dict(source=boot.get("BootSourceOverrideTarget"), enabled=boot.get("BootSourceOverrideEnabled"),
                      mode=boot.get("BootSourceOverrideMode")),
        )

    def manager_facts(self):
        m = self.manager
        return dict(model=m.get("Model"), firmware_version=m.get("FirmwareVersion"), uri=odata_id(m))

    def cpu_facts(self, bios_attributes):
        cpus = []
        for p in self._collection(self.system, "Processors"):
            if p.get("ProcessorType", "CPU") != "CPU" or (p.get("Status") or {}).get("State") == "Absent":
                continue
            cpus.append(dict(
                socket=p.get("Socket") or p.get("Id"), manufacturer=p.get("Manufacturer"), model=p.get("Model"),
                cores=p.get("TotalCores"), threads=p.get("TotalThreads"), max_speed_mhz=p.get("MaxSpeedMHz"),
                instruction_set=p.get("InstructionSet"),
                virtualization=self.virtualization_features(bios_attributes),
            ))
        return cpus

    def virtualization_features(self, bios_attributes):
        """Which virtualization features the BIOS has on (None: attribute not exposed)."""
        features = {}
        for feature in ("cpu_virtualization", "iommu", "sriov"):
            pair = self.profile_pair(feature, bios_attributes)
            features[feature] = None if pair is None else bios_attributes[pair[0]] == pair[1]
        return features

    def memory_facts(self):
        dimms = [m for m in self._collection(self.system, "Memory")
                 if (m.get("Status") or {}).get("State", "Enabled") != "Absent" and m.get("CapacityMiB")]
        total = (self.system.get("MemorySummary") or {}).get("TotalSystemMemoryGiB")
        if total is None and dimms:
            total = sum(m["CapacityMiB"] for m in dimms) / 1024.0
        return dict(total_gib=total, dimm_count=len(dimms))

    # storage -----------------------------------------------------------------------------
    def storage_resources(self):
        return self._collection(self.system, "Storage")

    def controllers_of(self, storage):
        inline = storage.get("StorageControllers") or []
        if inline:
            return inline
        uri = link(storage, "Controllers")
        return self.client.members(uri) if uri else []

    def direct_attached(self, storage, controllers):
        """True for drives that reach the OS without a RAID controller: a Storage resource with no
        controller, or whose only controllers are the NVMe drives' own (as iLO 6/7 publish CPU-attached
        NVMe: one Storage per drive) or NVMe-only ones with no RAID level (iDRAC's CPU.N storage)."""
        if "AutoVolumeCreate" in storage or not storage.get("Drives"):
            return False
        return all(not c.get("SupportedRAIDTypes") and (
            c.get("NVMeControllerProperties") or (c.get("SupportedDeviceProtocols") or [None]) == ["NVMe"])
            for c in controllers)

    def storage_facts(self):
        result = []
        for storage in self.storage_resources():
            controllers = self.controllers_of(storage)
            drives = [self.drive_facts(self.client.get(odata_id(d))) for d in storage.get("Drives", [])]
            if self.direct_attached(storage, controllers):
                result.append(dict(
                    id=storage.get("Id"), uri=odata_id(storage), controller_id=None, attachment="direct",
                    model=", ".join(sorted(set(d.get("model") or "?" for d in drives))) or storage.get("Name"),
                    firmware_version=None, mode="direct", pending_mode=None, supported_modes=[], hba_capable=False,
                    passthrough=True, drives=drives, volumes=[]))
                continue
            if not controllers:
                continue  # a storage resource with neither a controller nor drives
            ctrl = controllers[0]
            volumes = self.volumes_of(storage)
            mode = self.controller_mode(storage, ctrl, volumes)
            supported = self.supported_modes(storage, ctrl)
            result.append(dict(
                id=storage.get("Id"), uri=odata_id(storage), controller_id=ctrl.get("Id") or ctrl.get("MemberId"),
                attachment="controller", model=ctrl.get("Model") or storage.get("Name"),
                firmware_version=ctrl.get("FirmwareVersion"),
                mode=mode, pending_mode=self.pending_controller_mode(storage, ctrl),
                supported_modes=supported, hba_capable=bool(set(supported) & set(PASSTHROUGH_MODES)),
                passthrough=mode in PASSTHROUGH_MODES,
                drives=drives, volumes=[dict(id=v.get("Id"), uri=odata_id(v), raid_type=v.get("RAIDType"),
                                             capacity_bytes=v.get("CapacityBytes")) for v in volumes],
            ))
        return result

    def volumes_of(self, storage):
        uri = link(storage, "Volumes")
        if not uri:
            return []
        return self.client.members(uri)

    def drive_facts(self, d):
        life = d.get("PredictedMediaLifeLeftPercent")
        return dict(
            id=d.get("Id"), uri=odata_id(d), model=d.get("Model"), media_type=d.get("MediaType"),
            protocol=d.get("Protocol"), capacity_bytes=d.get("CapacityBytes"), predicted_life_left_percent=life,
            failure_predicted=d.get("FailurePredicted"), health=(d.get("Status") or {}).get("Health"),
            raid_status=self.drive_raid_status(d),
        )

    def drive_raid_status(self, drive):
        """Standard Redfish has no per-drive RAID state; a drive in a volume is a member."""
        return "member" if (drive.get("Links") or {}).get("Volumes") else "unconfigured"

    def controller_mode(self, storage, ctrl, volumes):
        auto = storage.get("AutoVolumeCreate")
        if auto == "NonRAID":
            return "nonraid"
        if auto is not None:
            return "raid"
        return None

    def pending_controller_mode(self, storage, ctrl):
        return None

    def supported_modes(self, storage, ctrl):
        allowed = storage.get("AutoVolumeCreate@Redfish.AllowableValues")
        if allowed is None:
            return ["raid"] if "AutoVolumeCreate" in storage else []
        modes = ["raid"] if any(a != "NonRAID" for a in allowed) else []
        return modes + (["nonraid", "jbod"] if "NonRAID" in allowed else [])

    def find_storage(self, controller):
        """(storage, controller) whose storage Id, controller Id or model matches; None names the first
        storage with a RAID controller. Direct-attached drives come back as (storage, None)."""
        direct = []
        for storage in self.storage_resources():
            ctrls = self.controllers_of(storage)
            if self.direct_attached(storage, ctrls):
                direct.append(storage)
                continue
            if not ctrls:
                continue
            names = {storage.get("Id"), ctrls[0].get("Id"), ctrls[0].get("MemberId"), ctrls[0].get("Model")}
            if controller is None or controller in names:
                return storage, ctrls[0]
        for storage in direct:
            if controller is None or controller == storage.get("Id"):
                return storage, None
        raise RedfishNotFound("%s: no storage controller %s" % (self.client.endpoint, controller or ""))

    def destructive_volumes(self, volumes):
        """Volumes that a mode switch would destroy (pass-through 'volumes' are not data at risk)."""
        return [v for v in volumes if v.get("RAIDType") not in (None, "None")]

    def plan_controller_mode(self, storage, ctrl, mode, allow_data_loss):
        """Return (before, after, steps) where steps are callables that make the change."""
        if ctrl is None:
            return "direct", None, []   # drives attached to the CPU: raw to the OS already
        volumes = self.volumes_of(storage)
        current = self.controller_mode(storage, ctrl, volumes)
        pending = self.pending_controller_mode(storage, ctrl)
        if mode in (current, pending) or (mode == "jbod" and "nonraid" in (current, pending)) \
                or (mode == "nonraid" and "jbod" in (current, pending)):
            return current, pending, []
        supported = self.supported_modes(storage, ctrl)
        if already_passthrough(mode, current, pending, supported):
            return current, pending, []
        if mode not in supported:
            raise self.unsupported_mode(ctrl, mode, supported)
        steps = []
        doomed = self.destructive_volumes(volumes) if mode != "raid" else []
        if doomed:
            if not allow_data_loss:
                raise RedfishDataLossRefused(
                    "switching %s to %s would destroy %d volume(s) (%s); set allow_data_loss: true to proceed"
                    % (ctrl.get("Model"), mode, len(doomed), ", ".join(v.get("Id") for v in doomed)))
            steps.extend(self.delete_volume_steps(doomed))
        steps.extend(self.settled_mode_steps(storage, ctrl, mode, self.mode_steps(storage, ctrl, mode)))
        return current, pending, steps

    def settled_mode_steps(self, storage, ctrl, mode, steps):
        """Mode-switch steps that, after a lost answer, read the controller's current and pending mode back."""
        def reached():
            for facts in self.storage_facts():
                if facts["uri"] == odata_id(storage):
                    have = set(SAME_MODE.get(m, m) for m in (facts["mode"], facts["pending_mode"]) if m)
                    return (LANDED, {}) if SAME_MODE.get(mode, mode) in have else (ABSENT, None)
            return UNKNOWN, "the controller is no longer listed"
        what = "switching %s to %s" % (ctrl.get("Model") or ctrl.get("Id") or "the controller", mode)
        return [Step(lambda s=s: self.settled(s, reached, what, tasks=True), what) for s in steps]

    def unsupported_mode(self, ctrl, mode, supported):
        return RedfishUnsupported(
            "%s cannot be switched to %s over Redfish (modes it offers: %s)."
            % (controller_label(self.vendor, ctrl.get("Model")), mode, ", ".join(supported) or "no mode switch"),
            vendor=self.vendor, operation="storage_controller",
            advice="Switch it with the vendor's offline tool if it has a pass-through mode, or fit an HBA for Ceph; "
                   "hardware_prepare_controller_unsupported=warn prepares the rest of the server meanwhile.")

    def delete_volume_steps(self, volumes):
        return [Step(lambda v=v: self.delete_volume(v), "volume %s" % v.get("Id"), destroys=True) for v in volumes]

    def delete_volume(self, volume):
        # Wait for each deletion: a mode switch queued behind a running delete would find the volume still there.
        uri, name = odata_id(volume), "volume %s" % volume.get("Id")

        def gone():
            return (LANDED, {}) if self.client.try_get(uri) is None else (ABSENT, None)
        return self.settled(lambda: self._wait(self.client.delete(uri), name), gone, "DELETE of " + name, tasks=True)

    def mode_steps(self, storage, ctrl, mode):
        value = "NonRAID" if mode in ("nonraid", "jbod") else "Disabled"
        return [lambda: self._wait(self.client.patch(odata_id(storage), {"AutoVolumeCreate": value}),
                                   ctrl.get("Model"))]

    def _wait(self, resp, component):
        """Follow a 202 task monitor if the service answered with one."""
        if resp.status == 202 and resp.location:
            return wait_task(self.client, resp.location, component, self.poller)
        return resp.body

    # writes whose answer may be lost -------------------------------------------------------
    def task_uris(self):
        """The tasks the service lists now (compared before and after a write whose answer was lost)."""
        service = link(self.client.root, "Tasks")   # the root's "Tasks" links the TaskService
        uri = link(self.client.try_get(service) if service else None, "Tasks")
        collection = self.client.try_get(uri) if uri else None
        return [odata_id(m) for m in (collection or {}).get("Members", [])]

    def settled(self, send, check, what, component=None, tasks=False):
        """``send()`` through ``writes.settle_write``. With ``tasks``, the task list is read before sending,
        and after a lost answer a task the write created is followed instead of sending it again."""
        before = None
        if tasks:
            try:
                before = set(self.task_uris())
            except RedfishError:
                pass    # no list to compare with later: a lost answer is then decided by check() alone

        def decide():
            verdict, value = check() if check else (UNKNOWN, "no task appeared for it")
            if verdict != LANDED and before is not None:
                new = [u for u in self.task_uris() if u not in before]
                if new:
                    return LANDED, self._wait(Response(202, {}, {"Location": new[-1]}, new[-1], "GET"),
                                              component or what)
            return verdict, value
        return settle_write(send, decide, what)

    # network -----------------------------------------------------------------------------
    def nic_facts(self):
        return self.port_facts()["nics"]

    def port_facts(self):
        """Ethernet ports (``nics``: the uplinks, bond candidates) and, apart, the ports that are not
        Ethernet: Fibre Channel HBAs (``fc_ports``) and InfiniBand (``ib_ports``)."""
        ports = []
        for iface in self._collection(self.system, "EthernetInterfaces"):
            ports.append(dict(
                id=iface.get("Id"), mac=iface.get("MACAddress") or iface.get("PermanentMACAddress"),
                speed_mbps=iface.get("SpeedMbps"), link=iface.get("LinkStatus"),
                lldp=None, protocol="Ethernet", source="EthernetInterfaces"))
        by_mac = dict((p["mac"].lower(), p) for p in ports if p.get("mac"))
        fabric = dict(FC=[], InfiniBand=[])
        for adapter, port, functions in self.network_ports():
            mac = (port.get("AssociatedNetworkAddresses") or [None])[0] or \
                ((port.get("Ethernet") or {}).get("AssociatedMACAddresses") or [None])[0]
            protocol = port_protocol(port) or function_protocol(functions())
            speed = port.get("CurrentSpeedGbps")
            speed_mbps = int(speed * 1000) if speed is not None else port.get("CurrentLinkSpeedMbps")
            if protocol in fabric:
                fc = port.get("FibreChannel") or {}
                wwpns = fc.get("AssociatedWorldWideNames") or [
                    (f.get("FibreChannel") or {}).get("WWPN") for f in functions()
                    if odata_id((f.get("Links") or {}).get("PhysicalNetworkPortAssignment")) == odata_id(port)]
                fabric[protocol].append(dict(
                    id=port.get("Id"), adapter=adapter.get("Model") or adapter.get("Name"), protocol=protocol,
                    speed_mbps=speed_mbps, link=port.get("LinkStatus"), wwpn=(wwpns or [None])[0]))
                continue
            entry = by_mac.get((mac or "").lower())
            lldp = (port.get("Ethernet") or {}).get("LLDPReceive")
            if entry is None:
                entry = dict(id=port.get("Id"), mac=mac, speed_mbps=None, link=port.get("LinkStatus"), lldp=None,
                             protocol=protocol, source="NetworkAdapters")
                ports.append(entry)
            if speed_mbps is not None:
                entry["speed_mbps"] = speed_mbps
            if lldp:
                entry["lldp"] = dict(chassis_id=lldp.get("ChassisId"), port_id=lldp.get("PortId"),
                                     system_name=lldp.get("SystemName"))
        return dict(nics=ports, fc_ports=fabric["FC"], ib_ports=fabric["InfiniBand"])

    def network_ports(self):
        """(adapter, port, functions) per adapter port; functions() reads the adapter's network device
        functions once, only when a port does not say its protocol itself."""
        ports = []
        for chassis in self._collection(self.client.root, "Chassis"):
            for adapter in self._collection(chassis, "NetworkAdapters"):
                functions = self._lazy_collection(adapter, "NetworkDeviceFunctions")
                for port in self._collection(adapter, "Ports") or self._collection(adapter, "NetworkPorts"):
                    ports.append((adapter, port, functions))
        return ports

    def _lazy_collection(self, resource, key):
        """A callable that reads ``resource``'s ``key`` collection on first use, then returns it again."""
        cache = []

        def read():
            if not cache:
                cache.append(self._collection(resource, key))
            return cache[0]
        return read

    # firmware ------------------------------------------------------------------------------
    @property
    def update_service(self):
        uri = link(self.client.root, "UpdateService")
        return self.client.get(uri, cached=True) if uri else {}

    def firmware_inventory(self):
        uri = link(self.update_service, "FirmwareInventory")
        if not uri:
            return []
        return [dict(id=f.get("Id"), name=f.get("Name"), version=f.get("Version"), updateable=f.get("Updateable"),
                     uri=odata_id(f)) for f in self.client.members(uri, optional=True)]

    def update_firmware(self, component, image_uri, apply_time, targets=None):
        """Start an update; return the final task body (or {} when staged)."""
        svc = self.update_service
        action = (svc.get("Actions") or {}).get("#UpdateService.SimpleUpdate")
        # A bare local path is pushed from here; any URI (http, https, nfs, file...) is for the BMC to fetch.
        if image_uri.startswith("/"):
            if not svc.get("MultipartHttpPushUri"):
                raise RedfishUnsupported("%s has no MultipartHttpPushUri to push %s to" % (self.client.endpoint, image_uri),
                                         vendor=self.vendor, operation="firmware",
                                         advice="Serve the image over HTTP(S) and give its URL instead.")
            return self._multipart_push(svc["MultipartHttpPushUri"], component, image_uri, apply_time, targets)
        if not action:
            raise RedfishUnsupported("%s offers no SimpleUpdate" % self.client.endpoint, vendor=self.vendor,
                                     operation="firmware", advice="Push the image with the vendor's tool.")
        body = {"ImageURI": image_uri}
        protocol = image_uri.split("://", 1)[0].upper() if "://" in image_uri else None
        if protocol and protocol in (action.get("TransferProtocol@Redfish.AllowableValues") or []):
            body["TransferProtocol"] = protocol
        if targets:
            body["Targets"] = targets
        if apply_time:
            body["@Redfish.OperationApplyTime"] = apply_time
        return self.settled(lambda: self._wait(self.client.post(action["target"], body), component),
                            self.update_started, "the firmware update of %s" % component, component, tasks=True)

    def update_started(self):
        """After a firmware POST whose answer was lost: whether the service shows the update at work (a task
        it created is looked for anyway). Standard services tell only through that task."""
        return UNKNOWN, "no task appeared for it"

    def staged_firmware_images(self):
        """Image names the service holds for activation at the next reset (DMTF AwaitingActivation)."""
        service = link(self.client.root, "Tasks")   # the root's "Tasks" links the TaskService
        uri = link(self.client.try_get(service) if service else None, "Tasks")
        if not uri:
            return set()
        staged = set()
        for task in self.client.members(uri, optional=True):
            for msg in task.get("Messages") or []:
                if (msg.get("MessageId") or "").endswith("AwaitingActivation") and msg.get("MessageArgs"):
                    staged.add(msg["MessageArgs"][0])
        return staged

    def _multipart_push(self, uri, component, path, apply_time, targets):
        params = {"Targets": targets or []}
        if apply_time:
            params["@Redfish.OperationApplyTime"] = apply_time
        with open(path, "rb") as fh:
            parts = {"UpdateParameters": (None, json.dumps(params), "application/json"),
                     "UpdateFile": (path.rsplit("/", 1)[-1], fh.read(), "application/octet-stream")}
        return self.settled(lambda: self._wait(self.client.request(
            "POST", uri, body=parts, headers={"Content-Type": "multipart/form-data"}), component), self.update_started,
            "the firmware push of %s" % component, component, tasks=True)

    # BIOS ---------------------------------------------------------------------------------
    def bios_uri(self):
        uri = link(self.system, "Bios")
        if not uri:
            raise RedfishUnsupported("%s exposes no BIOS resource" % self.client.endpoint, vendor=self.vendor,
                                     operation="bios")
        return uri

    def bios_state(self):
        uri = link(self.system, "Bios")
        if not uri:
            return dict(current={}, pending={}, settings_uri=None, apply_times=[])
        bios = self.client.get(uri)
        settings = bios.get("@Redfish.Settings") or {}
        settings_uri = link(settings, "SettingsObject")
        pending = {}
        if settings_uri and settings_uri.rstrip("/") != uri.rstrip("/"):
            body = self.client.try_get(settings_uri) or {}
            current = bios.get("Attributes") or {}
            # A settings object lists what will change at the next reset; unchanged echoes are not pending.
            pending = dict((k, v) for k, v in (body.get("Attributes") or {}).items() if current.get(k) != v)
        return dict(current=bios.get("Attributes") or {}, pending=pending, settings_uri=settings_uri or uri,
                    apply_times=settings.get("SupportedApplyTimes") or [])

    def profile_pair(self, feature, attributes):
        """(attribute, desired value) for a profile feature on this BMC, or None."""
        for name, value in self.profile[feature]:
            if name in attributes:
                return name, value
        return None

    def profile_attributes(self, name, attributes):
        """Map a named profile to this vendor's attribute names; returns (attributes, missing features)."""
        if name != "virtualization_host":
            raise RedfishError("unknown BIOS profile %r" % name)
        wanted, missing = {}, []
        for feature in self.profile:
            pair = self.profile_pair(feature, attributes)
            if pair is None:
                missing.append(feature)
            else:
                wanted[pair[0]] = pair[1]
        return wanted, missing

    def bios_registry(self):
        """(BiosRegistry, None), or (None, why the values cannot be checked); read once per run."""
        if self._bios_registry is None:
            uri = link(self.system, "Bios")
            bios = self.client.get(uri, cached=True) if uri else {}
            self._bios_registry = load_bios_registry(self.client, bios)
        return self._bios_registry

    def check_bios_values(self, changes):
        """Refuse, before anything is sent, values the BIOS Attribute Registry says the BMC would refuse
        (``RedfishInvalidValue`` naming each attribute and what it allows). Returns None when the values
        were checked, else a warning text: the service has no registry (or it cannot be read), so the BMC
        alone judges them, as before."""
        registry, why = self.bios_registry()
        if registry is None:
            return ("BIOS values for %s were not checked before the PATCH: %s; the BMC judges them"
                    % (self.client.endpoint, why))
        problems = registry.problems(changes)
        if problems:
            raise RedfishInvalidValue(
                "BIOS value(s) refused before anything was sent to %s (attribute registry %s): %s"
                % (self.client.endpoint, registry.name, "; ".join(problems)),
                registry=registry.name, problems=problems)
        return None

    def set_bios(self, settings_uri, attributes, apply_time):
        self.check_bios_values(attributes)
        body = {"Attributes": attributes}
        if apply_time:
            body["@Redfish.SettingsApplyTime"] = {"ApplyTime": apply_time}

        def staged():
            state = self.bios_state()
            effective = dict(state["current"], **state["pending"])
            return (LANDED, {}) if all(effective.get(k) == v for k, v in attributes.items()) else (ABSENT, None)
        return self.settled(lambda: self._wait(self.client.patch(settings_uri, body), "BIOS"), staged,
                            "the BIOS settings PATCH")

    # power / boot / virtual media --------------------------------------------------------
    def reset(self, reset_type):
        action = (self.refresh_system().get("Actions") or {}).get("#ComputerSystem.Reset") or {}
        allowed = action.get("ResetType@Redfish.AllowableValues")
        candidates = RESET_TYPES[reset_type]
        chosen = next((c for c in candidates if allowed is None or c in allowed), None)
        if chosen is None:
            raise RedfishUnsupported("%s does not offer reset %s (offers %s)" % (self.client.endpoint, reset_type, allowed),
                                     vendor=self.vendor, operation="power")

        def happened():
            power = self.refresh_system().get("PowerState")
            wanted = {"on": ("On", "PoweringOn"), "off": ("Off", "PoweringOff"),
                      "graceful_off": ("Off", "PoweringOff")}.get(reset_type)
            if wanted is None:   # a restart: only a transition shows it
                return (LANDED, chosen) if power in ("PoweringOn", "PoweringOff", "Off") else (
                    UNKNOWN, "a restart leaves no trace once the server is back On (it is %s)" % power)
            return (LANDED, chosen) if power in wanted else (ABSENT, None)
        target = action.get("target") or odata_id(self.system) + "/Actions/ComputerSystem.Reset"
        self.settled(lambda: self.client.post(target, {"ResetType": chosen}), happened, "reset %s" % chosen)
        return chosen

    def set_boot(self, boot):
        def shown():
            now = self.refresh_system().get("Boot") or {}
            return (LANDED, None) if all(now.get(k) == v for k, v in boot.items()) else (ABSENT, None)
        self.settled(lambda: self.client.patch(odata_id(self.system), {"Boot": boot}), shown, "the boot override PATCH")

    def virtual_media_slots(self):
        slots = self._collection(self.system, "VirtualMedia") or self._collection(self.manager, "VirtualMedia")
        if not slots:
            raise RedfishUnsupported("%s exposes no virtual media" % self.client.endpoint, vendor=self.vendor,
                                     operation="virtual_media")
        return slots

    def _media_check(self, slot, inserted, image=None):
        def check():
            now = self.client.get(odata_id(slot))
            if bool(now.get("Inserted")) == inserted and (image is None or now.get("Image") == image):
                return LANDED, None
            return ABSENT, None
        return check

    def insert_media(self, slot, image, write_protected=True):
        action = (slot.get("Actions") or {}).get("#VirtualMedia.InsertMedia")
        body = {"Image": image, "Inserted": True, "WriteProtected": write_protected}

        def send():
            if action:
                return self._wait(self.client.post(action["target"], body), "virtual media")
            return self.client.patch(odata_id(slot), body)
        return self.settled(send, self._media_check(slot, True, image), "inserting %s" % image)

    def eject_media(self, slot):
        action = (slot.get("Actions") or {}).get("#VirtualMedia.EjectMedia")

        def send():
            if action:
                return self.client.post(action["target"], {})
            return self.client.patch(odata_id(slot), {"Image": None, "Inserted": False})
        return self.settled(send, self._media_check(slot, False), "ejecting %s" % slot.get("Image"))
