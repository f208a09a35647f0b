#!/usr/bin/env bash
# A private CA for the lab, so every simulator serves TLS that clients verify
# (the collection verifies certificates by default; the lab must not need a
# switch to turn that off).
set -euo pipefail
source "$(dirname "$0")/../../../scripts/env.sh"
dir="$REFORGE_LAB_DIR/pki"
case "${1:-status}" in
  up)
    if [ ! -s "$dir/server.pem" ]; then
      mkdir -p "$dir"; cd "$dir"
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=reforge lab CA" \
        -keyout ca.key -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > ext.cnf
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile ext.cnf -out server.pem 2>/dev/null
      chmod 600 ca.key server.key
    fi
    printf '{"ca": "%s", "cert": "%s", "key": "%s"}\n' "$dir/ca.pem" "$dir/server.pem" "$dir/server.key" \
      > "$REFORGE_LAB_DIR/pki.json" ;;
  down) : ;;   # kept: certificates are cheap to keep and clients may cache the CA path
  status) [ -s "$dir/server.pem" ] ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
