"""A simulated KubeVirt infrastructure cluster that serves the real Kubernetes HTTP API.

It is a world of its own: nothing here imports the app (`kvtui.cluster`, `kvtui.ui`), and the
app reaches it only over HTTP, exactly as it reaches a real cluster.
"""
