"""kvtui: a terminal UI for KubeVirt infrastructure clusters under Kubermatic KKP."""

__version__ = "0.1.0"
