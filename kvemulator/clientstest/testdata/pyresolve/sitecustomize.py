"""Name resolution for Python clients run against kvemulator in tests.

A directory on PYTHONPATH holding this file makes every Python process (the
conformance suite, azure-cli) resolve the emulator's names to its listener,
as DNS would, without touching /etc/hosts:

  KVEMU_ADDR   127.0.0.1:<port> of the emulator's HTTPS listener
  KVEMU_HOSTS  comma-separated host names; a name also covers its subdomains

The port of the URL (443 for login.microsoftonline.com, management.azure.com,
<vault>.vault.azure.net) is replaced by the listener's, like a port-forward.
TLS still verifies the name the client asked for, against the emulator's CA
(REQUESTS_CA_BUNDLE). Nothing else changes. Without KVEMU_ADDR it does nothing.
"""

import os
import socket


def _install():
    addr = os.environ.get("KVEMU_ADDR")
    if not addr:
        return
    host, port = addr.rsplit(":", 1)
    target = (host.strip("[]"), int(port))
    names = [n.strip().lower().rstrip(".") for n in os.environ.get("KVEMU_HOSTS", "").split(",") if n.strip()]
    family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
    system = socket.getaddrinfo

    def emulated(name):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        if not isinstance(name, str):
            return False
        name = name.lower().rstrip(".")
        return any(name == n or name.endswith("." + n) for n in names)

    def getaddrinfo(name, port, *args, **kwargs):
        if emulated(name):
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", target)]
        return system(name, port, *args, **kwargs)

    getaddrinfo.kvemulator = True
    socket.getaddrinfo = getaddrinfo


_install()
