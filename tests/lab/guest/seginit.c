/* The /init of the lab's traffic guest (tests/lab/guest/build.sh): a Linux VM that sends real UDP
 * traffic from its own NIC, so segmentation is proven on a VM's tap through live migration and
 * failover, not on a namespace standing in for it.
 *
 * From the kernel command line:
 *   seg.ip=A.B.C.D seg.mask=255.255.255.0      the guest's address on eth0
 *   seg.peer=IP,MAC,PORT (repeatable, max 8)   where to send; the MAC is set as a permanent ARP
 *                                              entry, so frames go out even when the peer's ARP
 *                                              reply would be dropped by the segmentation
 *   seg.module=/e1000.ko                        the NIC driver to load first (optional)
 * Every 100 ms it sends "seg <name> <seq>\n" to each peer; every 50 rounds it prints
 * "REFORGE-SEG sent <seq>" on the serial console (ttyS0), after "REFORGE-SEG up" once eth0 is up.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_PEERS 8

struct peer { struct sockaddr_in addr; unsigned char mac[6]; };

static FILE *out;

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputs("\r\n", out);
    fflush(out);
}

static void sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int parse_mac(const char *s, unsigned char *mac) {
    return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6;
}

static void set_addr(int fd, unsigned long req, const char *ifname, const char *ip) {
    struct ifreq ifr;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &sin->sin_addr);
    if (ioctl(fd, req, &ifr) < 0)
        say("REFORGE-SEG error: ioctl %lx %s: %m", req, ip);
}

int main(void) {
    char cmdline[4096] = "", ip[32] = "", mask[32] = "255.255.255.0", module[128] = "", name[64] = "guest";
    struct peer peers[MAX_PEERS];
    int npeers = 0;

    mkdir("/proc", 0755);
    mkdir("/dev", 0755);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    out = fopen("/dev/ttyS0", "w");
    if (!out)
        out = stderr;

    FILE *f = fopen("/proc/cmdline", "r");
    if (f) {
        if (!fgets(cmdline, sizeof cmdline, f))
            cmdline[0] = 0;
        fclose(f);
    }
    for (char *tok = strtok(cmdline, " \n"); tok; tok = strtok(NULL, " \n")) {
        if (!strncmp(tok, "seg.ip=", 7)) snprintf(ip, sizeof ip, "%s", tok + 7);
        else if (!strncmp(tok, "seg.mask=", 9)) snprintf(mask, sizeof mask, "%s", tok + 9);
        else if (!strncmp(tok, "seg.module=", 11)) snprintf(module, sizeof module, "%s", tok + 11);
        else if (!strncmp(tok, "seg.name=", 9)) snprintf(name, sizeof name, "%s", tok + 9);
        else if (!strncmp(tok, "seg.peer=", 9) && npeers < MAX_PEERS) {
            char pip[32], pmac[32];
            int port;
            char *spec = tok + 9;
            if (sscanf(spec, "%31[^,],%31[^,],%d", pip, pmac, &port) == 3) {
                struct peer *p = &peers[npeers];
                memset(p, 0, sizeof *p);
                p->addr.sin_family = AF_INET;
                p->addr.sin_port = htons(port);
                if (inet_pton(AF_INET, pip, &p->addr.sin_addr) == 1 && parse_mac(pmac, p->mac))
                    npeers++;
                else
                    say("REFORGE-SEG error: bad peer %s", spec);
            }
        }
    }
    if (module[0]) {
        int mfd = open(module, O_RDONLY);
        if (mfd < 0 || syscall(SYS_finit_module, mfd, "", 0) != 0)
            say("REFORGE-SEG error: loading %s: %m", module);
        if (mfd >= 0)
            close(mfd);
    }
    for (int i = 0; i < 200 && !if_nametoindex("eth0"); i++)
        sleep_ms(100);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    set_addr(fd, SIOCSIFADDR, "eth0", ip);
    set_addr(fd, SIOCSIFNETMASK, "eth0", mask);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "eth0", IFNAMSIZ - 1);
    ioctl(fd, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        say("REFORGE-SEG error: eth0 up: %m");
    for (int i = 0; i < npeers; i++) {
        struct arpreq ar;
        memset(&ar, 0, sizeof ar);
        memcpy(&ar.arp_pa, &peers[i].addr, sizeof peers[i].addr);
        ((struct sockaddr_in *)&ar.arp_pa)->sin_port = 0;
        ar.arp_ha.sa_family = ARPHRD_ETHER;
        memcpy(ar.arp_ha.sa_data, peers[i].mac, 6);
        ar.arp_flags = ATF_PERM | ATF_COM;
        strncpy(ar.arp_dev, "eth0", sizeof ar.arp_dev - 1);
        if (ioctl(fd, SIOCSARP, &ar) < 0)
            say("REFORGE-SEG error: arp entry %d: %m", i);
    }
    say("REFORGE-SEG up %s %s peers=%d", name, ip, npeers);
    for (unsigned long seq = 1;; seq++) {
        char msg[128];
        int len = snprintf(msg, sizeof msg, "seg %s %lu\n", name, seq);
        for (int i = 0; i < npeers; i++)
            sendto(fd, msg, len, 0, (struct sockaddr *)&peers[i].addr, sizeof peers[i].addr);
        if (seq % 50 == 0)
            say("REFORGE-SEG sent %lu", seq);
        sleep_ms(100);
    }
}
