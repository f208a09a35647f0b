"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test fetches get-pip-<version>.py from a host these machines cannot
reach; everything it needs is on PyPI, so bootstrap pip from the interpreter's
bundled wheel (ensurepip) and let pip install the requested packages. ansible-test
runs pip with a filtered environment, so the machine's CA bundle (needed where
PyPI is reached through a TLS-inspecting proxy) is written into the venv's own
pip.conf.
"""
import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

cert_options = []
for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"),
                  "/etc/ssl/certs/ca-certificates.crt"):
    if candidate and os.path.isfile(candidate):
        with open(os.path.join(sys.prefix, "pip.conf"), "w") as conf:
            conf.write("[global]\ncert = %s\n" % candidate)
        cert_options = ["--cert", candidate]
        break

ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + cert_options + args)
