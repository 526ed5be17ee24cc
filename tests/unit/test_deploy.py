"""The deployment files, checked offline: the compose file and the Kubernetes manifests validate
against their schemas, every command and environment variable in them is one multillm, Celery or
Flower really has, and the dashboard and alert rules use only metrics the workers export."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import jsonschema
import kubernetes_validate
import promql_parser
import pytest
import redis
import typer
import yaml
from celery.app.utils import find_app
from celery.bin.base import CLIContext
from celery.bin.celery import celery as celery_cli
from flower.options import options as flower_options
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from multillm.common import constants, metrics
from multillm.common.providers import SPECS
from multillm.common.settings import known_variables, load_settings
from multillm.producers.cli.main import app as cli_app
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import free_port, new_password, python_module, redis_binary, spawn, start_redis, stop
from multillm.workers.reaper import Reaper

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
KEDA = json.loads((Path(__file__).parent / "keda_schemas.json").read_text())
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
K8S_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]


def multillm_env_names() -> set[str]:
    return known_variables()


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error}; a required variable must be in `env`."""
    def value(m: re.Match[str]) -> str:
        if m["name"] in env:
            return env[m["name"]]
        assert "?" not in (m["op"] or ""), f"{m['name']} is required"
        return m["arg"] or ""
    return INTERPOLATION.sub(value, text)


def check_command(entrypoint: list[str] | None, args: list[str]) -> None:
    """Parse `args` as the program would; an unknown command or option raises."""
    if entrypoint in (None, ["multillm"]):
        group = typer.main.get_command(cli_app)
        name, *rest = args
        assert name in group.commands, f"no `multillm {name}`"
        group.commands[name].make_context(name, rest)
        return
    assert entrypoint == ["celery"] and args[:2] == ["-A", "multillm.workers"], (entrypoint, args)
    name, rest = args[2], args[3:]
    parent = celery_cli.make_context("celery", args[:2])
    parent.obj = CLIContext(app=find_app(parent.params["app"]), no_color=True, workdir=None, quiet=True)
    assert name in celery_cli.commands, f"no `celery {name}`"
    if name == "flower":  # Flower hands its options to tornado
        for token in rest:
            assert token.startswith("--") and token[2:].split("=")[0] in flower_options, token
        return
    celery_cli.commands[name].make_context(name, rest, parent=parent)


def test_the_command_check_refuses_what_does_not_exist():
    with pytest.raises(Exception, match="No such option"):
        check_command(None, ["worker", "--providers", "openai"])
    with pytest.raises(Exception, match="No such option"):
        check_command(["celery"], ["-A", "multillm.workers", "beat", "--log-level=info"])
    with pytest.raises(AssertionError):
        check_command(["celery"], ["-A", "multillm.workers", "flower", "--basic_auth_file=x"])
    with pytest.raises(AssertionError):
        check_command(None, ["workers", "--provider", "openai"])


# --- docker-compose.yml ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def our_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if str(s.get("image", "")).startswith("multillm:")}


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_the_compose_file_validates_against_the_compose_spec(tmp_path):
    done = check_jsonschema(COMPOSE_FILE)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "docker-compose.yml"  # the same check refuses a misspelt key
    broken.write_text(COMPOSE_FILE.read_text().replace("stop_grace_period:", "stop_grace_periode:"))
    assert check_jsonschema(broken).returncode != 0


def test_one_worker_service_per_provider_queue_with_its_concurrency_and_metrics(compose):
    services = compose["services"]
    scraped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {f"{name}:{c['port']}" for job in scraped["scrape_configs"] for c in job.get("dns_sd_configs", [])
               for name in c["names"]}
    for provider, spec in SPECS.items():
        worker = services[f"worker-{provider}"]
        assert worker["command"] == ["worker", "--provider", provider]
        concurrency = f"{spec.env_prefix}_CONCURRENCY"
        assert worker["environment"][concurrency].startswith(f"${{{concurrency}:-")
        port = worker["environment"]["MULTILLM_METRICS_PORT"]
        assert f"worker-{provider}:{port}" in targets
    workers = [s for s in services.values() if s.get("command", [None])[0] == "worker"]
    assert len(workers) == len(SPECS)


def test_exactly_one_beat_and_redis_persists(compose):
    services = compose["services"]
    beats = [s for s in services.values() if "beat" in (s.get("command") or [])]
    assert len(beats) == 1 and "deploy" not in beats[0] and "scale" not in beats[0]
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_flower_needs_basic_auth_and_the_simulator_is_a_profile(compose):
    flower = compose["services"]["flower"]
    auth = flower["environment"]["FLOWER_BASIC_AUTH"]
    assert auth.startswith("${FLOWER_BASIC_AUTH:?")  # compose refuses to start Flower without it
    with pytest.raises(AssertionError, match="required"):
        interpolate(auth, {})
    assert compose["services"]["simulator"]["profiles"] == ["simulator"]
    assert all(p.startswith("127.0.0.1:") for s in compose["services"].values() for p in s.get("ports", []))


def test_the_simulator_env_file_points_every_provider_at_the_simulator_service(compose):
    command = compose["services"]["simulator"]["command"]
    port = command[command.index("--port") + 1]
    printed = CliRunner().invoke(cli_app, ["simulate", "--host", "simulator", "--port", port, "--print-env"])
    assert printed.exit_code == 0, printed.output
    expected = [line.removeprefix("export ") for line in printed.output.splitlines()]
    lines = [line for line in (DEPLOY / "simulator.env").read_text().splitlines() if line and not line.startswith("#")]
    assert lines == expected


def test_every_compose_command_and_variable_is_real(compose):
    known = multillm_env_names()
    env = {"FLOWER_BASIC_AUTH": "user:password", "REDIS_PASSWORD": "pw"}
    for name, service in our_services(compose).items():
        args = [interpolate(a, env) for a in service.get("command", [])]
        check_command(service.get("entrypoint"), args)
        for var, value in (service.get("environment") or {}).items():
            flower_option = var.startswith("FLOWER_") and var.removeprefix("FLOWER_").lower() in flower_options
            assert var in known or (name == "flower" and flower_option), f"{name}: {var}"
            for m in INTERPOLATION.finditer(str(value)):
                allowed = {var, "REDIS_PASSWORD"} if var == "REDIS_URL" else {var}
                assert m["name"] in allowed, f"{name}: {var} takes ${{{m['name']}}}"
    for env_file in ("simulator.env", "multillm.env.example"):
        for line in (DEPLOY / env_file).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                assert line.split("=", 1)[0] in known, f"{env_file}: {line}"


def test_secrets_reach_the_workers_from_an_env_file_only(compose):
    secrets = {spec.api_key_env for spec in SPECS.values()} | {"ENCRYPTION_MASTER_KEY"}
    for name, service in compose["services"].items():
        assert not secrets & set(service.get("environment") or {}), name
        if name.startswith("worker-"):
            assert interpolate(service["env_file"], {}) == "deploy/multillm.env"
        else:
            assert "env_file" not in service, name  # keys go to workers, nowhere else
    assert "multillm.env" in (DEPLOY / ".gitignore").read_text().split()


def test_the_mounted_files_exist(compose):
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), volume


def test_the_dockerfile_runs_multillm_as_a_non_root_user_and_bakes_no_secret():
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert json.loads(next(line for line in lines if line.startswith("ENTRYPOINT")).removeprefix("ENTRYPOINT")) \
        == ["multillm"]
    copied = [part for line in lines if line.startswith("COPY ") for part in line.split()[1:-1]]
    assert copied and not [c for c in copied if "env" in c or c in (".", "deploy")]
    assert not [line for line in lines if line.startswith(("ENV ", "ARG ")) and re.search(r"KEY|TOKEN|SECRET|PASS", line)]


def test_compose_refuses_to_start_without_a_redis_password_and_every_client_uses_it(compose):
    services = compose["services"]
    needs = "${REDIS_PASSWORD:?"
    assert any(a.startswith(needs) for a in services["redis"]["command"])
    assert services["redis"]["environment"]["REDISCLI_AUTH"].startswith(needs)  # the health check's redis-cli
    clients = {name: s["environment"]["REDIS_URL"] for name, s in services.items() if "REDIS_URL" in (s.get("environment") or {})}
    assert set(clients) >= {f"worker-{p}" for p in SPECS} | {"beat", "flower"}
    for name, url in clients.items():
        assert interpolate(url, {"REDIS_PASSWORD": "pw"}) == "redis://:pw@redis:6379/0", name
        with pytest.raises(AssertionError, match="REDIS_PASSWORD is required"):
            interpolate(url, {})


def test_the_compose_redis_command_requires_its_password_and_refuses_writes_past_maxmemory(compose, tmp_path):
    """The redis service's own command, run here (addresses changed), with a small REDIS_MAXMEMORY."""
    password, port = new_password(), free_port()
    env = {"REDIS_PASSWORD": password, "REDIS_MAXMEMORY": "4mb"}
    args = [interpolate(a, env) for a in compose["services"]["redis"]["command"]]
    assert args[0] == "redis-server"
    process = spawn([redis_binary(), *args[1:], "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)])
    try:
        client = redis.Redis(host="127.0.0.1", port=port, password=password)
        wait_for(client.ping, 10, "the compose Redis")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port).ping()
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        client.set("first", "kept")
        with pytest.raises(redis.exceptions.OutOfMemoryError, match="maxmemory"):
            for i in range(1000):
                client.set(f"fill:{i}", "x" * 65536)
        assert client.get("first") == b"kept"  # refused new writes, evicted nothing
        client.close()
    finally:
        stop([process])


def test_grafana_has_no_default_admin_password(compose):
    password = compose["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert password.startswith("${GRAFANA_ADMIN_PASSWORD:?")
    with pytest.raises(AssertionError, match="required"):
        interpolate(password, {})


def test_files_that_hold_secrets_are_ignored_by_git():
    for path in (".env", ".env.local", "deploy/multillm.env"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0, path
    assert subprocess.run(["git", "check-ignore", "-q", "deploy/simulator.env"], cwd=ROOT).returncode == 1


def dockerfile_lines() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_dockerfile_installs_every_package_from_the_constraints_file():
    lines = dockerfile_lines()
    assert "COPY deploy/constraints.txt ./deploy/constraints.txt" in lines
    assert "!deploy/constraints.txt" in (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    (run,) = [line for line in lines if line.startswith("RUN pip install")]
    installs = [step.strip() for step in run.removeprefix("RUN ").split("&&") if step.strip().startswith("pip install")]
    assert installs and all("-c deploy/constraints.txt" in step for step in installs)
    # the package is built with the pinned setuptools, not whatever build isolation would fetch
    assert installs[0].split()[-2:] == ["setuptools", "wheel"] and "--no-build-isolation" in installs[1]


def pins() -> dict[str, Version]:
    found = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and " " not in line, f"not pinned: {line}"
            found[canonicalize_name(name)] = Version(version)
    return found


def requirement_closure(root: str, extras: set[str]) -> dict[str, list[tuple[str, Requirement]]]:
    """Every distribution `root[extras]` needs, with the requirements naming it (and who requires it),
    from installed metadata."""
    needed: dict[str, list[tuple[str, Requirement]]] = {}
    todo, done = [(root, frozenset(extras))], set()
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in done:
            continue
        done.add((name, wanted))
        for text in distribution(name).requires or []:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (*wanted, "")):
                continue
            if canonicalize_name(req.name) != canonicalize_name(root):
                needed.setdefault(canonicalize_name(req.name), []).append((canonicalize_name(name), req))
            todo.append((req.name, frozenset(req.extras)))
    return needed


def test_the_constraints_pin_every_package_of_the_image_past_known_advisories():
    pinned = pins()
    needed = requirement_closure("multillm", {"flower", "simulator", "gateway"})
    assert set(needed) | {"setuptools", "wheel"} == set(pinned), "constraints.txt and the image's requirements differ"
    for name, reqs in needed.items():
        for requirer, req in reqs:
            # Another release of the requirer may ask for something else: check the pinned release's own wants.
            if requirer != "multillm" and Version(distribution(requirer).version) != pinned.get(requirer):
                continue
            assert req.specifier.contains(pinned[name], prereleases=True), f"{name}=={pinned[name]} breaks {req}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    build = [Requirement(r) for r in project["build-system"]["requires"]]
    assert all(r.specifier.contains(pinned[canonicalize_name(r.name)]) for r in build)
    floors = {"aiohttp": ("3.12.13", "3.12.14"), "cryptography": ("44.0.0", "44.0.1"), "tornado": ("6.4.2", "6.5"),
              "setuptools": ("78.1.0", "78.1.1")}  # (last with an advisory, first past it)
    texts = [*project["project"]["dependencies"], *(t for extra in project["project"]["optional-dependencies"].values()
                                                    for t in extra if not t.startswith("multillm"))]
    declared = {canonicalize_name(r.name): r for r in [*build, *map(Requirement, texts)]}
    for name, (vulnerable, fixed) in floors.items():
        assert not declared[name].specifier.contains(vulnerable) and declared[name].specifier.contains(fixed), name
        assert pinned[name] >= Version(fixed), name


# --- Kubernetes ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def of_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def test_the_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_validate_strictly(manifests, version):
    builtin = [m for m in manifests if not m["apiVersion"].startswith("keda.sh/")]
    assert {m["kind"] for m in builtin} >= {"Deployment", "PodDisruptionBudget", "StatefulSet", "Service", "ConfigMap"}
    for manifest in builtin:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_keda_objects_validate_against_the_documented_fields(manifests):
    keda = [m for m in manifests if m["apiVersion"].startswith("keda.sh/")]
    assert {m["kind"] for m in keda} == {"ScaledObject", "TriggerAuthentication"}
    for manifest in keda:
        jsonschema.validate(manifest, {"$ref": f"#/$defs/{manifest['kind']}", **KEDA})
    bad = json.loads(json.dumps(next(m for m in keda if m["kind"] == "ScaledObject")))
    bad["spec"]["triggers"][0]["metadata"]["listLength"] = 64  # KEDA's metadata values are strings
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, {"$ref": "#/$defs/ScaledObject", **KEDA})


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_value(c: dict[str, Any], name: str) -> str:
    return next(e["value"] for e in c.get("env", []) if e["name"] == name)


def test_a_deployment_per_provider_queue_scaled_by_keda_on_its_redis_list(manifests):
    deployments, scaled = of_kind(manifests, "Deployment"), of_kind(manifests, "ScaledObject")
    auths = of_kind(manifests, "TriggerAuthentication")
    shapes = set()
    for provider, spec in SPECS.items():
        worker = deployments[f"worker-{provider}"]
        c = container(worker)
        assert c["args"] == ["worker", "--provider", provider]
        concurrency = env_value(c, f"{spec.env_prefix}_CONCURRENCY")
        (trigger,) = scaled[f"worker-{provider}"]["spec"]["triggers"]
        assert scaled[f"worker-{provider}"]["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
        assert trigger["type"] == "redis" and trigger["metadata"]["listName"] == constants.queue(provider)
        assert trigger["metadata"]["listLength"] == concurrency  # one worker's worth of waiting jobs per pod
        assert scaled[f"worker-{provider}"]["spec"]["minReplicaCount"] >= 1  # a queue never without a consumer
        assert trigger["authenticationRef"]["name"] in auths
        text = yaml.safe_dump(worker).replace(provider, "P").replace(spec.env_prefix, "PREFIX")
        shapes.add(text)
    assert len(shapes) == 1, "the worker Deployments differ by more than their provider"
    for auth in auths.values():
        assert {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]} <= {"username", "password"}


def test_exactly_one_beat_and_budgets_that_let_a_node_drain(manifests):
    deployments = of_kind(manifests, "Deployment")
    beats = [d for d in deployments.values() if "beat" in (container(d).get("args") or [])]
    assert len(beats) == 1
    (beat,) = beats
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    targets = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(manifests, "ScaledObject").values()}
    assert beat["metadata"]["name"] not in targets
    budgets = list(of_kind(manifests, "PodDisruptionBudget").values())
    for provider in SPECS:
        pod_labels = deployments[f"worker-{provider}"]["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()]
        assert len(covering) == 1, provider
        assert "minAvailable" not in covering[0]["spec"] and covering[0]["spec"]["maxUnavailable"]


def memory_bytes(text: str) -> int:
    """Redis's `1gb`/`512mb` and Kubernetes' `2Gi`/`512Mi` as bytes."""
    m = re.fullmatch(r"(\d+)(gb|mb|Gi|Mi)", text)
    assert m, text
    return int(m[1]) * 1024 ** (3 if m[2] in ("gb", "Gi") else 2)


def test_kubernetes_redis_requires_the_secret_password_and_caps_memory_below_its_limit(manifests):
    (redis_set,) = of_kind(manifests, "StatefulSet").values()
    (c,) = redis_set["spec"]["template"]["spec"]["containers"]
    args = c["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    (password,) = [e for e in c["env"] if e["name"] == "REDIS_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"] == {"name": "multillm-redis", "key": "password"}
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    maxmemory = memory_bytes(args[args.index("--maxmemory") + 1])
    # room beside the data for an append-only rewrite's copy-on-write pages
    assert maxmemory <= memory_bytes(c["resources"]["limits"]["memory"]) // 2


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) in args; only the variables the container declares in `env` count here."""
    return re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], text)


def test_every_kubernetes_command_and_variable_is_real(manifests):
    known = multillm_env_names()
    config = {k: v for m in of_kind(manifests, "ConfigMap").values() for k, v in m["data"].items()}
    assert set(config) <= known
    for deployment in of_kind(manifests, "Deployment").values():
        c = container(deployment)
        if not c["image"].startswith("multillm:"):
            continue
        env = {e["name"]: e.get("value") or config.get(e.get("valueFrom", {}).get("configMapKeyRef", {}).get("key"), "x")
               for e in c.get("env", [])}
        args = [expand(a, env) for a in c.get("args", [])]
        check_command(c.get("command"), args)
        for name in env:
            flower_option = name.startswith("FLOWER_") and name.removeprefix("FLOWER_").lower() in flower_options
            assert name in known or (c["name"] == "flower" and flower_option), name


def test_the_gateway_is_a_deployment_behind_a_service_scaled_by_cpu(manifests):
    gateway = of_kind(manifests, "Deployment")["gateway"]
    c = container(gateway)
    assert c["args"][:1] == ["serve"] and "--port" in c["args"]
    port = c["ports"][0]["containerPort"]
    assert c["args"][c["args"].index("--port") + 1] == str(port)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["resources"]["requests"]["cpu"]  # the HPA's utilisation is relative to the request
    service = of_kind(manifests, "Service")["gateway"]
    assert service["spec"]["selector"].items() <= gateway["spec"]["template"]["metadata"]["labels"].items()
    hpa = of_kind(manifests, "HorizontalPodAutoscaler")["gateway"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "gateway" and hpa["spec"]["minReplicas"] >= 2
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert not {e["name"] for e in c["env"]} & ({s.api_key_env for s in SPECS.values()} | {"ENCRYPTION_MASTER_KEY"})


def test_the_compose_gateway_serves_on_localhost_only(compose):
    gateway = compose["services"]["gateway"]
    assert gateway["command"][:1] == ["serve"] and gateway["ports"] == ["127.0.0.1:8080:8080"]
    assert "/readyz" in " ".join(gateway["healthcheck"]["test"])


# --- metrics, alerts, dashboard -----------------------------------------------------------------

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_series() -> set[str]:
    """The sample names a worker's /metrics serves, from the families' own types."""
    redis, settings = fakeredis.FakeRedis(), load_settings({"OPENAI_RPM": "600"})
    families = [*REGISTRY.collect(), *metrics.QueueCollector(redis).collect(),
                *metrics.StateCollector(redis, settings).collect(), *metrics.RedisMemoryCollector(redis).collect()]
    ours = {f.name: f.type for f in families if f.name in metrics.metric_names()}
    assert set(ours) == metrics.metric_names()
    return {name + suffix for name, kind in ours.items() for suffix in SUFFIXES[kind]}


def metric_names_in(expr: str) -> set[str]:
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def test_alert_rules_cover_the_failure_modes_and_use_exported_metrics():
    exported = exported_series()
    rules = [r for g in yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    used: dict[str, set[str]] = {}
    for rule in rules:
        assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule) and rule["labels"]["severity"]
        assert rule["annotations"]["summary"]
        used[rule["alert"]] = metric_names_in(rule["expr"])
        assert used[rule["alert"]] and used[rule["alert"]] <= exported, rule["alert"]
    needed = {"multillm_jobs_total", "multillm_rate_limited_total", "multillm_oldest_job_age_seconds",
              "multillm_circuit_open", "multillm_workers", "multillm_redis_memory_used_bytes",
              "multillm_redis_maxmemory_bytes"}
    assert needed <= set().union(*used.values())


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus) is not installed")
def test_the_alert_rules_pass_their_promtool_unit_tests():
    done = subprocess.run(["promtool", "test", "rules", "alerts_test.yml"], cwd=DEPLOY / "prometheus",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_the_dashboard_uses_exported_metrics_and_the_provisioned_datasource():
    exported = exported_series()
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "multillm.json").read_text())
    sources = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {s["uid"] for s in sources["datasources"]}
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    seen: set[str] = set()
    for panel in panels:
        assert panel["datasource"]["uid"] in uids and panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "5m").replace("$provider", ".+")
            names = metric_names_in(expr)
            assert names and names <= exported, (panel["title"], names - exported)
            seen |= names
    for variable in dashboard["templating"]["list"]:
        assert re.fullmatch(r"label_values\((\w+), \w+\)", variable["query"]["query"])[1] in exported
    assert {"multillm_workers", "multillm_queue_depth", "multillm_job_latency_seconds_bucket"} <= seen
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "multillm.yml").read_text())
    mounted = [v for v in yaml.safe_load(COMPOSE_FILE.read_text())["services"]["grafana"]["volumes"] if "dashboards" in v]
    assert mounted[0].split(":")[1] == provider["providers"][0]["options"]["path"]


def test_the_workers_gauge_counts_live_presence_keys_per_queue():
    r = fakeredis.FakeRedis()
    # Written exactly as the workers' reaper threads write them.
    for hostname, queues in [("openai@a", ["multillm.openai", "multillm.health"]),
                             ("openai@b", ["multillm.openai", "multillm.health"]),
                             ("mixed@c", ["multillm.openai", "multillm.google"])]:
        r.set(constants.worker(hostname), Reaper(1.0, hostname, queues).presence, ex=30)
    r.set(constants.worker("gone@d"), Reaper(1.0, "gone@d", ["multillm.grok"]).presence, px=1)  # a worker that died
    r.set(constants.worker("garbled@e"), b"not json")
    deadline = time.monotonic() + 5
    while r.exists(constants.worker("gone@d")) and time.monotonic() < deadline:
        time.sleep(0.005)
    (workers,) = [f for f in metrics.QueueCollector(r).collect() if f.name == "multillm_workers"]
    counts = {s.labels["queue"]: s.value for s in workers.samples}
    assert set(counts) == {constants.queue(p) for p in SPECS}  # every queue, zero included, so the alert can fire
    assert counts["multillm.openai"] == 3 and counts["multillm.google"] == 1
    assert counts["multillm.grok"] == 0 and counts["multillm.anthropic"] == 0


# --- the compose services' own commands, run as local processes -------------------------------------

def service_env(service: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """The service's environment as compose would give it, with this machine's addresses."""
    env = {k: interpolate(str(v), overrides) for k, v in (service.get("environment") or {}).items()}
    return {**env, **{k: v for k, v in overrides.items() if k in env}}


def local_args(service: dict[str, Any], overrides: dict[str, str], ports: dict[str, int], tmp: Path) -> list[str]:
    """The service's command with 127.0.0.1 for 0.0.0.0, free ports and a private /tmp."""
    args = [interpolate(a, overrides).replace("0.0.0.0", "127.0.0.1").replace("/tmp/", f"{tmp}/")
            for a in service["command"]]
    for fixed, free in ports.items():
        args = [a.replace(fixed, str(free)) for a in args]
    return args


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (httpx.HTTPError, redis.RedisError, OSError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def local_compose(compose, tmp_path) -> Any:
    """Redis, then a starter for compose services as processes; everything stopped at the end."""
    redis_process, url = start_redis(password=new_password())  # as compose runs it: AUTH required
    ports = {"8900": free_port(), "9100": free_port(), "5555": free_port()}
    overrides = {"REDIS_URL": url, "MULTILLM_METRICS_ADDR": "127.0.0.1", "MULTILLM_METRICS_PORT": str(ports["9100"]),
                 "FLOWER_BASIC_AUTH": "ops:s3cret-pass", "MULTILLM_HEALTH_INTERVAL_S": "1",
                 "REDIS_PASSWORD": redis.connection.parse_url(url)["password"]}
    simulated = {k: v.replace("simulator:8900", f"127.0.0.1:{ports['8900']}") for k, v in
                 (line.split("=", 1) for line in (DEPLOY / "simulator.env").read_text().splitlines()
                  if line and not line.startswith("#"))}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "FLOWER_"))}
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, log: Path | None = None) -> None:
        service = compose["services"][name]
        program = "celery" if service.get("entrypoint") == ["celery"] else "multillm.producers.cli.main"
        env = {**base, **(simulated if name.startswith("worker-") else {}), **service_env(service, overrides),
               "MULTILLM_HEALTH_INTERVAL_S": "1"}
        processes.append(spawn(python_module(program, *local_args(service, overrides, ports, tmp_path)), env=env, log=log))

    try:
        yield url, ports, start
    finally:
        stop(processes)
        stop([redis_process])


@pytest.mark.integration
def test_the_compose_services_run_and_answer_a_job(local_compose, manifests, tmp_path):
    """The simulator, the openai worker, the beat and Flower started with the commands and environment
    of docker-compose.yml (addresses and the health interval changed). A job waits in the Redis list
    KEDA watches, then is answered; the worker logs JSON naming the job, /metrics counts the job and the
    live worker, the beat's health run happens, Flower wants its password."""
    url, ports, start = local_compose
    start("simulator")
    client = redis.Redis.from_url(url)
    with MultiLLM(url, settings=load_settings({"REDIS_URL": url})) as producer:
        handle = producer.submit("openai", "hello from compose", max_tokens=6)
        (scaled,) = [m for m in manifests if m["kind"] == "ScaledObject" and m["metadata"]["name"] == "worker-openai"]
        assert client.llen(scaled["spec"]["triggers"][0]["metadata"]["listName"]) == 1  # what KEDA scales on
        log = tmp_path / "worker.log"
        for name in ("worker-openai", "beat", "flower"):
            start(name, log if name == "worker-openai" else None)
        result = handle.result(timeout=60)
    assert result.status == "succeeded" and result.text and client.llen(constants.queue("openai")) == 0
    wait_for(lambda: int(client.get("multillm:health:runs") or 0) >= 1, 60, "the beat's health run")
    client.close()

    scraped = wait_for(lambda: httpx.get(f"http://127.0.0.1:{ports['9100']}/metrics", timeout=2).text, 30, "/metrics")
    assert re.search(r'multillm_workers\{queue="multillm.openai"\} 1\.0', scraped)
    assert re.search(r'multillm_jobs_total\{model="[^"]+",provider="openai",status="succeeded"\} 1\.0', scraped)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("job_id") == handle.job_id and line["provider"] == "openai" for line in lines)

    flower = f"http://127.0.0.1:{ports['5555']}/"
    assert wait_for(lambda: httpx.get(flower, timeout=2).status_code, 30, "Flower") == 401
    assert httpx.get(flower, auth=("ops", "s3cret-pass"), timeout=5).status_code == 200
