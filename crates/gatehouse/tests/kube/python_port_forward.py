"""The official Python Kubernetes client's port-forward (WebSocket, ports in the query) through
gatehouse (run by kubernetes_port_forward.rs).

Usage: python3 python_port_forward.py KUBECONFIG PORTS. The kubeconfig's exec plugin
(`gatehouse token --kube`) reads GATEHOUSE_TOKEN. Forwards pod web-0's PORTS (comma-separated),
sends a line to the first and prints one JSON object: what came back (`echoed`), or the
error the client raised (`error`).
"""

import json
import sys

from kubernetes import client, config
from kubernetes.stream import portforward

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
ports = sys.argv[2]
try:
    forward = portforward(
        core.connect_get_namespaced_pod_portforward, "web-0", "default", ports=ports
    )
    sock = forward.socket(int(ports.split(",")[0]))
    sock.settimeout(20)
    sock.sendall(b"through gatehouse\n")
    echoed = b""
    while not echoed.endswith(b"\n"):
        chunk = sock.recv(1024)
        if not chunk:
            break
        echoed += chunk
    sock.close()
    forward.close()
    print(json.dumps({"echoed": echoed.decode()}))
except Exception as error:  # the client raises ApiException or a websocket error
    print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
