"""Compose files, Dockerfile and .env.example follow the deployment rules (no Docker engine needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli.config_check import env_example
from bot.infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCALE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SINGLE = yaml.safe_load((ROOT / "compose.sqlite.yml").read_text(encoding="utf-8"))
CXBOT_SERVICES = ("migrate", "worker", "worker-2")


def _cxbot(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if s.get("image") == "cxbot:latest"}


def test_env_example_exists_is_generated_and_names_only_real_settings() -> None:
    """.env.example (which the compose comments tell users to copy) is `make docs` output; every
    CXBOT_ variable in it is a setting, except CXBOT_DOMAIN (Caddy's)."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert text == env_example()
    names = set(re.findall(r"^#? ?(CXBOT_[A-Z_]+)=", text, flags=re.M))
    settings = {f"CXBOT_{n.upper()}" for n in Settings.model_fields}
    assert names - settings == {"CXBOT_DOMAIN"}
    assert {"CXBOT_TELEGRAM_TOKEN", "CXBOT_EVENTS_SECRET", "CXBOT_PUBLIC_URL"} <= names


def test_workers_start_after_a_one_shot_migrate() -> None:
    """`migrate` runs `cxbot db upgrade` once, after PostgreSQL is healthy; the workers wait for it."""
    services = SCALE["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["cxbot", "db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("worker", "worker-2"):
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert "command" not in services[name]  # the image's `cxbot serve`
        assert services[name]["environment"]["CXBOT_DATABASE_URL"].startswith("postgresql://")


@pytest.mark.parametrize("compose", [SCALE, SINGLE], ids=["postgres", "sqlite"])
def test_cxbot_containers_run_as_a_numeric_user_with_exec_healthchecks(compose: dict[str, Any]) -> None:
    """cxbot containers run as a numeric non-root user; healthchecks are exec form (CMD, not CMD-SHELL)."""
    for name, service in _cxbot(compose["services"]).items():
        user = str(service["user"])
        assert re.fullmatch(r"[1-9]\d*:\d+", user), name
        assert service["env_file"] == [{"path": ".env", "required": True}]
    for name, service in compose["services"].items():
        if "healthcheck" in service:
            assert service["healthcheck"]["test"][0] == "CMD", name


def test_named_volumes_only_where_they_are_needed() -> None:
    """PostgreSQL workers mount nothing; the SQLite worker keeps its file on a named volume."""
    for name in CXBOT_SERVICES:
        assert "volumes" not in SCALE["services"][name], name
    worker = SINGLE["services"]["worker"]
    assert worker["environment"]["CXBOT_DATABASE_URL"] == "sqlite:////data/cxbot.db"
    (mount,) = worker["volumes"]
    volume, target = mount.split(":")
    assert target == "/data" and volume in SINGLE["volumes"] and "/" not in volume
    assert list(SINGLE["services"]) == ["worker"]  # SQLite: exactly one writer


def test_caddy_fronts_the_workers_for_webhook_mode() -> None:
    """Caddy publishes 80/443 and proxies to both workers by their /readyz; the workers publish nothing."""
    caddy = SCALE["services"]["caddy"]
    assert {"80:80", "443:443"} <= set(caddy["ports"])
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    assert "reverse_proxy worker:8080 worker-2:8080" in caddyfile and "health_uri /readyz" in caddyfile
    for name in ("worker", "worker-2"):
        assert "ports" not in SCALE["services"][name]
    declared = set(SCALE["volumes"])
    used = {m.split(":")[0] for s in SCALE["services"].values() for m in s.get("volumes", [])}
    assert {v for v in used if not v.startswith(".")} == declared


def test_dockerfile_numeric_user_exec_healthcheck_no_anonymous_volume() -> None:
    """The image runs as USER 10001:10001, its HEALTHCHECK is exec form, and it declares no VOLUME."""
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    instructions = [line.split()[0] for line in lines if line and not line.startswith((" ", "#"))]
    assert "VOLUME" not in instructions
    assert "USER 10001:10001" in lines
    healthcheck = next(i for i, line in enumerate(lines) if line.startswith("HEALTHCHECK"))
    assert lines[healthcheck + 1].strip().startswith('CMD ["python", "-c"')


def test_readme_scale_out_walk_uses_files_that_exist() -> None:
    """README "Scale out": the commands shown name compose files and templates that exist, in order
    SQLite first, then PostgreSQL with two workers."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Scale out", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.strip()
        for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert commands[0] == "cp .env.example .env"
    sqlite_up = commands.index("docker compose -f compose.sqlite.yml up --build -d")
    scale_up = commands.index("docker compose up --build -d")
    assert sqlite_up < scale_up
    for path in re.findall(r"(?:-f |cp )(\S+)", "\n".join(commands)):
        if not path.startswith("."):
            assert (ROOT / path).exists(), path


def _has_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="no `docker compose` client here")
def test_docker_compose_config_accepts_both_files(tmp_path: Path) -> None:
    """`docker compose config` validates both files with a .env copied from .env.example."""
    for name in ("docker-compose.yml", "compose.sqlite.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    env = (
        (ROOT / ".env.example")
        .read_text(encoding="utf-8")
        .replace("POSTGRES_PASSWORD=\n", "POSTGRES_PASSWORD=x\n")
    )
    (tmp_path / ".env").write_text(env, encoding="utf-8")
    for name in ("docker-compose.yml", "compose.sqlite.yml"):
        subprocess.run(["docker", "compose", "-f", name, "config", "-q"], check=True, cwd=tmp_path)
