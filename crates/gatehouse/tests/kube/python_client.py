"""The official Python Kubernetes client through gatehouse (run by kubernetes.rs).

Usage: python3 python_client.py KUBECONFIG. The kubeconfig's exec plugin (`gatehouse token
--kube`) reads GATEHOUSE_TOKEN. Prints one JSON object: the pod names it listed, the replicas
after its patch, and what the API answered to its delete.
"""

import json
import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
apps = client.AppsV1Api()

pods = [pod.metadata.name for pod in core.list_namespaced_pod("default").items]
patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 4}})
try:
    apps.delete_namespaced_deployment("web", "default")
    delete = {"status": 200}
except ApiException as refusal:
    delete = {"status": refusal.status, "reason": refusal.reason, "body": json.loads(refusal.body)}

print(json.dumps({"pods": pods, "replicas": patched.spec.replicas, "delete": delete}))
