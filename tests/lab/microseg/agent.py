"""Runs inside a lab namespace: a VM's listeners, its probes, and the node's nflog reader.

    agent.py listen NAME TCP_PORTS UDP_PORTS       answer TCP with NAME, echo UDP; prints "ready"
    agent.py probe JSON                            run probes at once, print JSON results
    agent.py stream DST PORT STOPFILE EXPECT        UDP request/reply until STOPFILE exists; print JSON summary
    agent.py nflog GROUP                           print one JSON line per logged packet (prefix); "ready" first
Standard library only: the namespaces run the host's python3.
"""
import json
import os
import select
import socket
import struct
import sys
import threading
import time

TIMEOUT = 1.0  # a denied probe is concluded after this much silence (the drop counter is the positive proof)


def listen(name, tcp_ports, udp_ports):
    socks = []
    for port in tcp_ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # a probe may send from a listened port
        s.bind(("0.0.0.0", port))
        s.listen(64)
        socks.append(("tcp", s))
    for port in udp_ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        socks.append(("udp", s))
    print("ready", flush=True)
    by_fd = dict((s.fileno(), (kind, s)) for kind, s in socks)
    while True:
        ready, _w, _x = select.select(list(by_fd), [], [])
        for fd in ready:
            kind, s = by_fd[fd]
            if kind == "tcp":
                conn, _addr = s.accept()
                try:
                    conn.sendall(name.encode())
                finally:
                    conn.close()
            else:
                data, addr = s.recvfrom(2048)
                s.sendto(name.encode() + b" " + data, addr)


def _icmp_checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xffff)
    total += total >> 16
    return ~total & 0xffff


def one_probe(p):
    proto, dst, port = p["proto"], p["dst"], p.get("port")
    if proto == "tcp":  # set-up errors raise: only silence or a refusal on the wire is a probe's answer
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        if p.get("sport"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(("0.0.0.0", p["sport"]))
    try:
        if proto == "tcp":
            s.connect((dst, port))
            data = s.recv(100)
            s.close()
            return bool(data), data.decode()
        if proto == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(TIMEOUT)
            s.sendto(b"probe", (dst, port))
            data, _a = s.recvfrom(2048)
            return True, data.decode()
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        ident = (os.getpid() + p["id"]) & 0xffff
        body = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"reforge"
        body = body[:2] + struct.pack("!H", _icmp_checksum(body)) + body[4:]
        s.sendto(body, (dst, 0))
        deadline = time.monotonic() + TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, "no echo reply"
            s.settimeout(left)
            data, addr = s.recvfrom(2048)
            icmp = data[(data[0] & 0x0f) * 4:]
            if addr[0] == dst and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
                return True, "echo reply"
    except ConnectionRefusedError:
        return True, "refused by the target (the packet reached it)"
    except socket.timeout:
        return False, "no answer within %.1f s" % TIMEOUT


def probe(spec):
    probes = json.loads(spec)
    results = [None] * len(probes)

    def work(i):
        ok, detail = one_probe(probes[i])
        results[i] = dict(probes[i], passed=ok, detail=detail)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(probes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(results))


def stream(dst, port, stopfile, expect):
    """Request/reply over UDP until stopfile exists. expect=pass: each request waits for its reply (a loss is
    a reply missing after TIMEOUT). expect=drop: counts replies that should never come."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT if expect == "pass" else 0.01)
    sent = answered = 0
    while not os.path.exists(stopfile):
        sent += 1
        s.sendto(b"%d" % sent, (dst, port))
        try:
            while True:
                data, _a = s.recvfrom(2048)
                if data.split()[-1] == b"%d" % sent:
                    answered += 1
                    break
        except socket.timeout:
            pass
        if sent % 50 == 0:
            print(json.dumps(dict(progress=sent)), flush=True)
    print(json.dumps(dict(sent=sent, answered=answered)), flush=True)


def nflog(group):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
    s.bind((0, 0))

    def attr(kind, data):
        raw = struct.pack("=HH", 4 + len(data), kind) + data
        return raw + b"\0" * ((4 - len(raw) % 4) % 4)

    def config(seq, res_id, attrs):
        payload = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(res_id)) + attrs
        s.send(struct.pack("=IHHII", 16 + len(payload), (4 << 8) | 1, 1 | 4, seq, 0) + payload)  # REQUEST|ACK
        reply = s.recv(65536)
        error = struct.unpack("=i", reply[16:20])[0]
        if error:
            raise OSError(-error, "nflog config")

    config(1, group, attr(1, struct.pack("=B", 1)))                    # NFULA_CFG_CMD: BIND
    config(2, group, attr(2, struct.pack("!IBB", 0, 1, 0)))            # NFULA_CFG_MODE: COPY_META
    print("ready", flush=True)
    while True:
        buf = s.recv(262144)
        off = 0
        while off + 16 <= len(buf):
            length, kind = struct.unpack("=IH", buf[off:off + 6])
            if length < 16:
                break
            if kind == (4 << 8):  # NFULNL_MSG_PACKET
                pos = off + 20
                while pos + 4 <= off + length:
                    alen, atype = struct.unpack("=HH", buf[pos:pos + 4])
                    if alen < 4:
                        break
                    if atype & 0x7fff == 10:  # NFULA_PREFIX
                        prefix = buf[pos + 4:pos + alen].rstrip(b"\0").decode()
                        print(json.dumps(dict(prefix=prefix, t=time.time())), flush=True)
                    pos += (alen + 3) & ~3
            off += (length + 3) & ~3


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "listen":
        listen(sys.argv[2], [int(p) for p in sys.argv[3].split(",")], [int(p) for p in sys.argv[4].split(",")])
    elif mode == "probe":
        probe(sys.argv[2])
    elif mode == "stream":
        stream(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif mode == "nflog":
        nflog(int(sys.argv[2]))
