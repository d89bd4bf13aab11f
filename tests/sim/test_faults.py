"""Fault injection: errors, latency, dropped and expired watches, failing and stuck migrations.

Faults are set through `/_sim/faults` at run time and through `kvtui sim` flags at start; each
test here breaks its own cluster and puts it back afterwards.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from kubernetes import client

from kvtui.sim.runner import SimHandle, running_simulator
from tests.sim.http_helpers import Api, assert_status, make_api, trusting_session

REPO = Path(__file__).resolve().parents[2]
CMS = "/api/v1/namespaces/default/configmaps"
VMIMS = "/apis/kubevirt.io/v1/namespaces/{ns}/virtualmachineinstancemigrations"
NO_FAULTS = {
    "latency_ms": 0,
    "error_429_share": 0,
    "error_500_share": 0,
    "retry_after_seconds": 1,
    "watch_max_seconds": 0,
    "fail_migrations": [],
    "stall_migrations": [],
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=6) as handle:
        yield handle


@pytest.fixture(scope="module")
def api(cluster: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return make_api(cluster, tmp_path_factory.mktemp("ca"))


@pytest.fixture(autouse=True)
def healthy(api: Api) -> Iterator[None]:
    """Every test starts and ends without faults."""
    set_faults(api, NO_FAULTS)
    yield
    set_faults(api, NO_FAULTS)


def set_faults(api: Api, faults: dict[str, Any]) -> dict:
    resp = api("PUT", "/_sim/faults", faults)
    assert resp.status_code == 200, resp.text
    return resp.json()


def wait_for(what: str, check: Callable[[], Any], deadline: float = 60.0) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {deadline:g}s waiting for {what}")


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


# -- errors and latency ------------------------------------------------------------------
def test_429_with_retry_after(api: Api) -> None:
    set_faults(api, {"error_429_share": 1.0, "retry_after_seconds": 7})
    for method, path in (("GET", "/api/v1/pods"), ("GET", "/version"), ("POST", CMS)):
        resp = api(method, path, configmap("throttled") if method == "POST" else None)
        status = assert_status(resp, 429, "TooManyRequests")
        assert resp.headers["Retry-After"] == "7"
        assert status["details"]["retryAfterSeconds"] == 7
    assert api("GET", "/_sim/faults").json()["error_429_share"] == 1.0  # admin stays usable
    set_faults(api, {"error_429_share": 0})
    assert api("GET", "/api/v1/pods").status_code == 200
    assert_status(api("GET", f"{CMS}/throttled"), 404, "NotFound")


def test_500_then_normal(api: Api) -> None:
    set_faults(api, {"error_500_share": 1.0})
    assert_status(api("GET", "/api/v1/nodes"), 500, "InternalError")
    assert_status(api("POST", CMS, configmap("broken")), 500, "InternalError")
    set_faults(api, {"error_500_share": 0.0})
    assert api("GET", "/api/v1/nodes").json()["items"]
    assert_status(api("GET", f"{CMS}/broken"), 404, "NotFound")


def test_bad_fault_settings_are_refused_whole(api: Api) -> None:
    """A refused change of settings changes none of them, not the first few."""
    for bad in (
        {"error_500_share": 2},
        {"latency_ms": 5, "no_such_fault": 1},
        {"error_429_share": 0.5, "fail_migrations": "not-a-list"},
    ):
        assert_status(api("PUT", "/_sim/faults", bad), 400, "BadRequest")
        assert api.get("/_sim/faults") == NO_FAULTS, bad
    assert_status(
        api("PUT", "/_sim/faults", {"error_500_share": 1}, token="viewer"), 403, "Forbidden"
    )
    assert api.get("/_sim/faults") == NO_FAULTS
    assert api("GET", "/api/v1/nodes").status_code == 200


def test_latency(api: Api) -> None:
    set_faults(api, {"latency_ms": 300})
    started = time.monotonic()
    assert api("GET", "/api/v1/namespaces/default").status_code == 200
    assert time.monotonic() - started >= 0.3
    set_faults(api, {"latency_ms": 0})
    assert api("GET", "/api/v1/namespaces/default").status_code == 200


# -- watches -----------------------------------------------------------------------------
def test_dropped_watch_ends_and_resumes(cluster: SimHandle, api: Api) -> None:
    core = client.CoreV1Api(
        kubernetes.config.new_client_from_config(
            config_file=str(cluster.kubeconfig), context=cluster.context
        )
    )
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    events: queue.Queue = queue.Queue()
    watch = kubernetes.watch.Watch()

    def follow() -> None:
        try:
            for event in watch.stream(
                core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=60
            ):
                events.put(event)
        except Exception as exc:  # handed to the test thread
            events.put(exc)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    first, second = f"before-drop-{uuid.uuid4().hex[:6]}", f"between-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_config_map("default", configmap(first))
    event = events.get(timeout=10)
    assert event["type"] == "ADDED" and event["object"].metadata.name == first
    resp = api("POST", "/_sim/faults/drop-watches")
    assert resp.status_code == 200 and resp.json()["dropped"] >= 1
    thread.join(10)
    assert not thread.is_alive(), "the watch stream did not end"
    leftovers = list(events.queue)
    assert not any(isinstance(e, Exception) for e in leftovers), leftovers
    last = watch.resource_version
    assert last == event["object"].metadata.resource_version

    core.create_namespaced_config_map("default", configmap(second))
    resumed = list(
        kubernetes.watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=last, timeout_seconds=1
        )
    )
    names = [(e["type"], e["object"].metadata.name) for e in resumed]
    assert ("ADDED", second) in names
    assert ("ADDED", first) not in names


def test_compaction_expires_old_versions(api: Api) -> None:
    listed = api.get(CMS)
    old = listed["metadata"]["resourceVersion"]
    page = api.get("/api/v1/pods?limit=2")
    token = page["metadata"]["continue"]
    assert api("POST", CMS, configmap(f"after-{uuid.uuid4().hex[:6]}")).status_code == 201
    compacted = api("POST", "/_sim/faults/compact").json()["compactedResourceVersion"]
    assert int(compacted) > int(old)
    resp = api("GET", CMS, params={"watch": "1", "resourceVersion": old, "timeoutSeconds": "2"})
    assert resp.status_code == 200
    lines = [json.loads(line) for line in resp.text.splitlines() if line.strip()]
    assert [e["type"] for e in lines] == ["ERROR"]
    error = lines[0]["object"]
    assert error["kind"] == "Status" and error["code"] == 410 and error["reason"] == "Expired"
    assert_status(
        api("GET", "/api/v1/pods", params={"limit": "2", "continue": token}), 410, "Expired"
    )
    fresh = api.get(CMS)["metadata"]["resourceVersion"]
    resp = api("GET", CMS, params={"watch": "1", "resourceVersion": fresh, "timeoutSeconds": "1"})
    assert resp.status_code == 200 and "ERROR" not in resp.text


# -- migrations --------------------------------------------------------------------------
def migratable_vmis(cluster: SimHandle) -> list[dict]:
    def ok(vmi: dict) -> bool:
        conds = {c["type"]: c["status"] for c in vmi.get("status", {}).get("conditions", [])}
        return vmi["status"].get("phase") == "Running" and conds.get("LiveMigratable") == "True"

    vmis = cluster.call(lambda: cluster.simulator.store.list("kubevirt.io/virtualmachineinstances"))
    return sorted((v for v in vmis if ok(v)), key=lambda v: v["metadata"]["name"])


def migrate(api: Api, vmi: dict) -> dict:
    """Start a migration as virtctl does and return the VMIM it made."""
    ns, name = vmi["metadata"]["namespace"], vmi["metadata"]["name"]
    resp = api(
        "PUT",
        f"/apis/subresources.kubevirt.io/v1/namespaces/{ns}/virtualmachines/{name}/migrate",
        {},
    )
    assert resp.status_code in (200, 202), resp.text
    mine = [
        m
        for m in api.get(VMIMS.format(ns=ns))["items"]
        if m["spec"]["vmiName"] == name
        and m.get("status", {}).get("phase") not in ("Succeeded", "Failed")
    ]
    assert len(mine) == 1, mine
    return mine[0]


def phase_of(api: Api, vmim: dict) -> str:
    meta = vmim["metadata"]
    current = api.get(f"{VMIMS.format(ns=meta['namespace'])}/{meta['name']}")
    return current.get("status", {}).get("phase", "")


def vmi_now(api: Api, vmi: dict) -> dict:
    meta = vmi["metadata"]
    return api.get(
        f"/apis/kubevirt.io/v1/namespaces/{meta['namespace']}/"
        f"virtualmachineinstances/{meta['name']}"
    )


def test_failed_migration_leaves_the_vmi_in_place(cluster: SimHandle, api: Api) -> None:
    vmi = migratable_vmis(cluster)[0]
    source = vmi["status"]["nodeName"]
    set_faults(api, {"fail_migrations": [vmi["metadata"]["name"]]})
    vmim = migrate(api, vmi)
    wait_for("the migration to fail", lambda: phase_of(api, vmim) == "Failed")
    meta = vmim["metadata"]
    done = api.get(f"{VMIMS.format(ns=meta['namespace'])}/{meta['name']}")
    assert done["status"]["migrationState"]["failed"] is True
    assert done["status"]["migrationState"]["failureReason"]
    after = vmi_now(api, vmi)
    assert after["status"]["phase"] == "Running"
    assert after["status"]["nodeName"] == source


def test_stalled_migration_times_out(cluster: SimHandle, api: Api) -> None:
    vmi = migratable_vmis(cluster)[-1]
    source = vmi["status"]["nodeName"]
    set_faults(api, {"stall_migrations": [vmi["metadata"]["name"]]})
    vmim = migrate(api, vmi)
    wait_for("the transfer to start", lambda: phase_of(api, vmim) == "Running", deadline=20)
    assert api("POST", "/_sim/clock/advance", params={"seconds": "60"}).status_code == 200
    assert phase_of(api, vmim) == "Running", "converged although it was stalled"
    assert api("POST", "/_sim/clock/advance", params={"seconds": "200"}).status_code == 200
    wait_for("the migration to time out", lambda: phase_of(api, vmim) == "Failed", deadline=10)
    meta = vmim["metadata"]
    state = api.get(f"{VMIMS.format(ns=meta['namespace'])}/{meta['name']}")["status"][
        "migrationState"
    ]
    assert re.search(r"stuck|not completed", state["failureReason"]), state
    after = vmi_now(api, vmi)
    assert after["status"]["phase"] == "Running"
    assert after["status"]["nodeName"] == source


# -- the command line --------------------------------------------------------------------
def test_cli_fault_flag(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    flags = ["--port", "0", "--speed", "10", "--fault-500", "1", "--kubeconfig", str(kubeconfig)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvtui.cli", "sim", *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or ()], daemon=True)
    reader.start()
    try:
        output, url = [], None
        end = time.monotonic() + 30
        while url is None and time.monotonic() < end:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                assert proc.poll() is None, "".join(output)
                continue
            output.append(line)
            if "API server:" in line:
                url = line.split("API server:")[1].strip()
        assert url and url.startswith("https://127.0.0.1:"), "".join(output)
        token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
        session = trusting_session(kubeconfig, tmp_path)
        resp = session.get(
            f"{url}/api/v1/nodes", timeout=10, headers={"Authorization": f"Bearer {token}"}
        )
        assert_status(resp, 500, "InternalError")
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=15)
        reader.join(5)
    output += list(lines.queue)
    text = "".join(output)
    assert code == 0, text
    assert "Traceback" not in text, text


def test_cli_refuses_a_non_loopback_host() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kvtui.cli", "sim", "--host", "10.1.2.3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    assert "loopback" in errors[0]
