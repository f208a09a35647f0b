// vcsimlab: the reforge lab's vCenter. Debian's govmomi simulator (vcsim as a
// library; Debian ships no vcsim program) plus the extension in this
// directory: sparse disks, snapshot deltas, changed-block tracking and
// QueryChangedDiskAreas, an authenticated /folder, and a /_lab control API.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
)

func envInt(name string, def int64) int64 {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return def
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	listen := flag.String("listen", envStr("VCSIM_LISTEN", "127.0.0.1:18443"), "address to serve HTTPS on")
	cert := flag.String("tlscert", os.Getenv("VCSIM_TLS_CERT"), "PEM certificate")
	key := flag.String("tlskey", os.Getenv("VCSIM_TLS_KEY"), "PEM key")
	caFile := flag.String("tlsca", os.Getenv("VCSIM_TLS_CA"), "CA of the certificate (to tag VMs through our own REST API)")
	dsDir := flag.String("datastore-dir", envStr("VCSIM_DATASTORE_DIR", "vcsim-datastore"), "directory backing datastore1 (wiped at start)")
	user := flag.String("username", envStr("VCSIM_USERNAME", "user"), "login user")
	pass := flag.String("password", envStr("VCSIM_PASSWORD", "pass"), "login password")
	hosts := flag.Int("hosts", int(envInt("VCSIM_HOSTS", 2)), "ESXi hosts in the cluster")
	extra := flag.Int("extra-vms", int(envInt("VCSIM_EXTRA_VMS", 0)), "extra low-priority batch VMs (scale tests)")
	window := flag.Int64("cbt-window", envInt("VCSIM_CBT_WINDOW", 4*GiB), "bytes of disk one QueryChangedDiskAreas answer covers")
	maxExt := flag.Int("cbt-max-extents", int(envInt("VCSIM_CBT_MAX_EXTENTS", 2048)), "most extents in one answer (0 = unlimited)")
	idle := flag.Duration("session-idle-timeout", time.Duration(envInt("VCSIM_SESSION_IDLE_SECONDS", 1800))*time.Second, "idle session expiry (vCenter: 30 min)")
	folderRate := flag.Int64("folder-stream-rate", envInt("VCSIM_FOLDER_STREAM_BYTES_PER_S", 0), "cap per /folder response in bytes/s (0 = none)")
	esxiListen := flag.String("esxi-listen", envStr("VCSIM_ESXI_LISTEN", "127.0.0.1:0"), "ESXi hosts' own endpoints: ip:0 = a free port per host, ip:P = host i on P+i")
	ready := flag.String("ready-file", os.Getenv("VCSIM_READY_FILE"), "write a JSON description here once serving")
	flag.Parse()

	if *window < BlockSize || *window%BlockSize != 0 {
		log.Fatalf("cbt-window must be a positive multiple of %d", BlockSize)
	}
	start := time.Now()
	if err := os.RemoveAll(*dsDir); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*dsDir, 0o700); err != nil {
		log.Fatal(err)
	}
	abs, _ := filepath.Abs(*dsDir)
	// The NFS datastore's directory sits beside the VMFS-like one.
	nfsDir := filepath.Join(filepath.Dir(abs), "nfs-ds01")
	if err := os.RemoveAll(nfsDir); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(nfsDir, 0o700); err != nil {
		log.Fatal(err)
	}

	simulator.SessionIdleTimeout = *idle
	m := simulator.VPX()
	m.Datacenter, m.Cluster, m.ClusterHost, m.Host = 1, 1, *hosts, 0
	m.Machine, m.Datastore, m.Portgroup, m.Pool, m.App = 0, 0, 0, 0, 0
	if err := m.Create(); err != nil {
		log.Fatal(err)
	}
	installPagingCollector() // maxObjects and ContinueRetrievePropertiesEx, as vCenter pages

	l := newLab(m, *user, *pass, *window, *maxExt)
	l.folderRate.Store(*folderRate)
	simulator.Map.AddHandler(l)

	ctx := context.Background()
	c, err := vim25.NewClient(ctx, m.Service)
	if err != nil {
		log.Fatal(err)
	}
	inv, err := buildInventory(ctx, c, l, abs, nfsDir, *extra)
	if err != nil {
		log.Fatalf("inventory: %v", err)
	}
	l.dcName = inv.DC
	// The inventory is built; clients must now use the configured account.
	built := time.Since(start)

	if *cert == "" || *key == "" {
		log.Fatal("-tlscert and -tlskey are required: vcsim's built-in 1024-bit key fails verification")
	}
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		log.Fatal(err)
	}
	m.Service.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	m.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*user, *pass)}
	m.Service.RegisterEndpoints = true // vapi: /rest tagging
	srv := m.Service.NewServer()
	l.stock = srv.Config.Handler
	// Put the extension in front of the simulator's mux; no request has
	// been served yet, the listener was opened a moment ago.
	srv.Config.Handler = l
	esxiHosts, err := l.serveHosts(*esxiListen, m.Service.TLS)
	if err != nil {
		log.Fatalf("ESXi endpoints: %v", err)
	}
	if *caFile != "" {
		sdk := &url.URL{Scheme: "https", Host: *listen, Path: "/sdk"}
		if err := tagTiers(ctx, sdk, *caFile, *user, *pass, inv.Tiers); err != nil {
			log.Fatalf("tags: %v", err)
		}
	}

	desc := map[string]interface{}{
		"url":               fmt.Sprintf("https://%s/sdk", *listen),
		"listen":            *listen,
		"datacenter":        inv.DC,
		"cluster":           inv.Cluster,
		"datastore":         inv.Datastore,
		"datastore_dir":     abs,
		"nfs_datastore":     "nfs-ds01",
		"nfs_datastore_dir": nfsDir,
		"username":          *user,
		"cbt_window":        *window,
		"startup_ms":        time.Since(start).Milliseconds(),
		"inventory_ms":      built.Milliseconds(),
		"pid":               os.Getpid(),
		"esxi_hosts":        esxiHosts,
	}
	out, _ := json.Marshal(desc)
	if *ready != "" {
		if err := os.WriteFile(*ready, out, 0o600); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("vcsimlab serving %s", out)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	srv.Close()
}
