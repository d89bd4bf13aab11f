"""The simulated cluster's control loops: scheduler, kubelet, KubeVirt, KKP, garbage collector."""
