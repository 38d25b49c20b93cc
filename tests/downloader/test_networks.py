"""arcforge-download on real networks: proxies, rate limits, slow CDN edges, offline mode, Xet, bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.downloader.conftest import RANGE, REPO_ID, cli_command, cli_env, last_run, read_events
from tests.downloader.test_download import SHARD, assert_complete
from tests.support.http_proxy import running_http_proxy
from tests.support.hub_server import GeneratedRepo, HubServer, running_hub_server


def run_cli(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("xet", [False, True], ids=["http-engine", "hf_xet"])
def test_every_request_goes_through_the_proxy(hub: HubServer, repo: GeneratedRepo, tmp_path: Path, xet: bool):
    if xet:
        pytest.importorskip("hf_xet")
    # Metadata (huggingface_hub), the journal engine's ranges and hf_xet's CAS and xorb requests alike.
    hub.set_faults(redirect_to_cdn=True, xet_backed=xet, xet_cas=xet)
    with running_http_proxy(credentials="arc:forge") as proxy:
        env = cli_env(tmp_path / "state")
        authority = proxy.url.removeprefix("http://")
        env |= {"HTTP_PROXY": f"http://arc:forge@{authority}", "NO_PROXY": "", "no_proxy": ""}
        proc = run_cli(cli_command(hub, tmp_path / "out"), env)
        assert proc.returncode == 0, proc.stderr
        seen = proxy.requests
    assert_complete(tmp_path / "out", repo)
    assert proxy.log.refused == 0  # the credentials in HTTP_PROXY went with every request
    hub_requests = [r for r in hub.stats()["requests"] if "/_control/" not in r]
    assert len(seen) == len(hub_requests)  # every request the hub and its CDN saw came through the proxy
    # Small files come straight from /resolve/; the shards from the CDN (/blobs/) or as xorbs.
    for route in ("/resolve/", "/xet-xorbs/" if xet else "/blobs/"):
        assert any(route in line and "[bytes=" in line for line in seen), route
    byte_routes = ("/resolve/", "/blobs/", "/xet-xorbs/")
    relayed = sum(n for line, n in proxy.log.body_bytes.items() if any(r in line for r in byte_routes))
    assert relayed == hub.stats()["body_bytes_total"] > 0


def test_no_proxy_names_the_hub_so_the_proxy_sees_nothing(hub: HubServer, tmp_path: Path):
    with running_http_proxy() as proxy:
        env = cli_env(tmp_path / "state") | {"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"}
        proc = run_cli(cli_command(hub, tmp_path / "out", "--include", "*.json"), env)
        assert proc.returncode == 0, proc.stderr
        assert proxy.requests == []


def test_a_proxy_that_refuses_is_one_clear_error(hub: HubServer, tmp_path: Path):
    with running_http_proxy(credentials="arc:forge") as proxy:
        env = cli_env(tmp_path / "state") | {"HTTP_PROXY": proxy.url, "NO_PROXY": ""}
        proc = run_cli(cli_command(hub, tmp_path / "out"), env)
    assert proc.returncode == 3
    assert "407" in proc.stderr and "Traceback" not in proc.stderr
    assert hub.stats()["body_bytes_total"] == 0


def test_a_rate_limit_is_waited_out_without_spending_retries(
    hub: HubServer, repo: GeneratedRepo, tmp_path: Path
):
    # More 429s than --retries allows: they are waits (RateLimit t + 1 s), not failures.
    hub.set_faults(rate_limit_times=3, rate_limit_reset_s=1, fault_paths="*.safetensors")
    state = tmp_path / "state"
    proc = run_cli(cli_command(hub, tmp_path / "out", "--retries", "1"), cli_env(state))
    assert proc.returncode == 0, proc.stderr
    assert_complete(tmp_path / "out", repo)
    events = last_run(read_events(state))
    waits = [e["data"] for e in events if e["kind"] == "log" and "rate_limit" in e["data"]]
    assert waits, "a rate-limit wait leaves a log event"
    assert all(w["rate_limit"] == "resolvers" and w["wait_s"] == 2.0 for w in waits)  # t=1, plus 1 s
    assert "rate-limited by the Hub's 'resolvers' limit (HTTP 429)" in proc.stderr
    assert "giving up" not in proc.stderr
    assert sum("429" in r for r in hub.stats()["requests"]) == 0  # the stand-in logs requests, not answers
    resolves = [r for r in hub.stats()["requests"] if "/resolve/" in r and r.startswith("GET")]
    assert len(resolves) >= 3 + 2  # each 429 was asked again


def test_the_progress_line_shows_the_rate_limit_wait(hub: HubServer, tmp_path: Path):
    hub.set_faults(rate_limit_times=1, rate_limit_reset_s=2, fault_paths=SHARD)
    command = cli_command(hub, tmp_path / "out", "--progress", "line")
    proc = run_cli(command, cli_env(tmp_path / "state"))
    assert proc.returncode == 0, proc.stderr
    assert "s: rate-limited by the Hub (resolvers)" in proc.stderr  # e.g. "waiting 3 s: rate-limited …"


def test_a_slow_edge_is_left_for_a_new_connection(hub: HubServer, repo: GeneratedRepo, tmp_path: Path):
    # Every connection runs at 1 MB/s except the first, which an "edge" holds at 50 kB/s.
    hub.set_faults(bandwidth_bps=1_000_000, slow_connections=1, slow_connection_bps=50_000)
    state = tmp_path / "state"
    command = cli_command(hub, tmp_path / "out", "--reconnect-slow", "1", "--max-workers", "3")
    proc = run_cli(command, cli_env(state))
    assert proc.returncode == 0, proc.stderr
    assert_complete(tmp_path / "out", repo)
    reconnects = [
        e["data"]
        for e in last_run(read_events(state))
        if e["kind"] == "log" and "reconnecting" in e["data"]["message"]
    ]
    assert len(reconnects) >= 1
    connections = hub.stats()["connections"]
    slow = [c for c in connections if c["slow"]]
    assert len(slow) == 1
    # The slow connection was dropped before it finished even one range; the rest came over others.
    assert slow[0]["bytes"] < RANGE
    assert (
        sum(c["bytes"] for c in connections if not c["slow"])
        > repo.bytes_total - RANGE - repo.files["README.md"].size
    )


def test_without_reconnects_the_slow_edge_keeps_its_range(
    hub: HubServer, repo: GeneratedRepo, tmp_path: Path
):
    # The stand-in's control case: with --reconnect-slow 0 the capped connection carries a whole range.
    hub.set_faults(bandwidth_bps=4_000_000, slow_connections=1, slow_connection_bps=400_000)
    command = cli_command(hub, tmp_path / "out", "--reconnect-slow", "0", "--max-workers", "3")
    proc = run_cli(command, cli_env(tmp_path / "state"))
    assert proc.returncode == 0, proc.stderr
    slow = [c for c in hub.stats()["connections"] if c["slow"]]
    assert len(slow) == 1 and slow[0]["bytes"] >= RANGE - 1


def test_workers_grow_while_throughput_rises(hub: HubServer, repo: GeneratedRepo, tmp_path: Path):
    # A per-connection cap: each added connection adds throughput, so the engine keeps adding them.
    hub.set_faults(bandwidth_bps=300_000)
    state = tmp_path / "state"
    command = cli_command(hub, tmp_path / "out", "--workers", "1", "--max-workers", "3")
    command[command.index("--range-size") + 1] = str(256 << 10)
    proc = run_cli(command, cli_env(state))
    assert proc.returncode == 0, proc.stderr
    assert_complete(tmp_path / "out", repo)
    grown = [
        e["data"]["workers"]
        for e in last_run(read_events(state))
        if e["kind"] == "log" and "workers" in e["data"]
    ]
    assert grown and grown == sorted(grown) and grown[-1] <= 3
    assert len(hub.stats()["connections"]) >= 2  # the server saw the added connections


def test_offline_mode_says_so(hub: HubServer, tmp_path: Path):
    state = tmp_path / "state"
    proc = run_cli(cli_command(hub, tmp_path / "out"), cli_env(state) | {"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 3
    assert "offline mode is on (HF_HUB_OFFLINE=1)" in proc.stderr
    assert "check the network" not in proc.stderr.lower() and "Traceback" not in proc.stderr
    errors = [e["data"] for e in last_run(read_events(state)) if e["kind"] == "error"]
    assert errors[0]["code"] == "offline"
    assert [r for r in hub.stats()["requests"] if "/_control/" not in r] == []


def test_a_file_the_bridge_refuses_names_the_xet_path(hub: HubServer, repo: GeneratedRepo, tmp_path: Path):
    hub.set_faults(redirect_to_cdn=True, bridge_max_bytes=3 << 20)  # only the 3 MiB shard is "too large"
    state = tmp_path / "state"
    proc = run_cli(cli_command(hub, tmp_path / "out"), cli_env(state) | {"HF_HUB_DISABLE_XET": "1"})
    assert proc.returncode == 1
    assert "refuses this" in proc.stderr and "(HTTP 400)" in proc.stderr
    assert "pip install hf_xet" in proc.stderr
    errors = [e["data"] for e in last_run(read_events(state)) if e["kind"] == "error"]
    assert [e["code"] for e in errors] == ["xet_only"]
    assert errors[0]["file"] == f"model/{SHARD}"


def test_xet_backed_files_fall_back_to_the_journal_engine(
    hub: HubServer, repo: GeneratedRepo, tmp_path: Path
):
    pytest.importorskip("hf_xet")
    # The stand-in names a CAS nobody answers (no Xet CAS is reachable from here): hf_xet fails, and
    # the files come through the bridge with the resumable engine, verified the same way.
    hub.set_faults(xet_backed=True)
    state = tmp_path / "state"
    env = cli_env(state) | {"HF_XET_CLIENT_RETRY_MAX_DURATION": "1s"}  # hf_xet's own knob: fail fast here
    proc = run_cli(cli_command(hub, tmp_path / "out"), env)
    assert proc.returncode == 0, proc.stderr
    manifest = assert_complete(tmp_path / "out", repo)
    events = last_run(read_events(state))
    fallbacks = [e["data"]["message"] for e in events if e["kind"] == "log" and "Xet" in e["data"]["message"]]
    assert any("over HTTP with the resumable engine" in m for m in fallbacks), fallbacks
    assert len(fallbacks) == 1  # one failure is enough: the other Xet file does not wait for the CAS again
    assert "1 more Xet-backed file will come over HTTP as well" in proc.stderr
    assert {f["path"]: f["sha256"] for f in manifest["files"]}[f"model/{SHARD}"] == repo.files[SHARD].sha256  # type: ignore[index]
    assert any("xet-read-token" in r for r in hub.stats()["requests"])  # huggingface_hub's xet path ran


def test_xet_backed_files_come_through_hf_xet_and_are_checked_the_same(
    hub: HubServer, repo: GeneratedRepo, tmp_path: Path
):
    pytest.importorskip("hf_xet")
    # The stand-in CAS (tests/support/xet_cas.py) answers the real hf_xet: reconstruction, then xorbs.
    hub.set_faults(xet_backed=True, xet_cas=True)
    state = tmp_path / "state"
    proc = run_cli(cli_command(hub, tmp_path / "out"), cli_env(state))
    assert proc.returncode == 0, proc.stderr
    manifest = assert_complete(tmp_path / "out", repo)
    shards = {name for name, info in repo.files.items() if info.lfs}
    entries = {f["path"]: f for f in manifest["files"]}  # type: ignore[attr-defined]
    for name in shards:
        assert entries[f"model/{name}"]["sha256"] == repo.files[name].sha256
    events = last_run(read_events(state))
    via_xet = {e["data"]["file"] for e in events if e["kind"] == "item" and e["data"].get("via") == "xet"}
    assert via_xet == {f"model/{name}" for name in shards}
    requests = hub.stats()["requests"]
    assert sum("/xet-xorbs/" in r for r in requests) >= len(shards)
    assert not any("/blobs/" in r for r in requests)  # nothing over the HTTP bridge
    assert not any("Xet path" in e["data"]["message"] for e in events if e["kind"] == "log")


def test_a_partial_file_resumes_on_the_journal_engine_even_with_hf_xet(
    hub: HubServer, repo: GeneratedRepo, tmp_path: Path
):
    pytest.importorskip("hf_xet")
    # First run over HTTP only (HF_HUB_DISABLE_XET), slow, killed mid-way: the shards have journals.
    hub.set_faults(xet_backed=True, xet_cas=True, bandwidth_bps=600_000)
    out, state = tmp_path / "out", tmp_path / "state"
    command = cli_command(hub, out, range_size=2 << 20)
    env = cli_env(state)
    proc = subprocess.Popen(
        command, env=env | {"HF_HUB_DISABLE_XET": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    shard_bytes = sum(f.size for f in repo.files.values() if f.lfs)
    try:
        deadline = time.monotonic() + 60
        while hub.stats()["body_bytes_total"] < 0.4 * shard_bytes:
            assert proc.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    partial = {
        "model/" + p.name.removesuffix(".part.journal")
        for p in (out / ".partial" / "model").glob("*.journal")
    }
    assert partial
    placed = (
        {"model/" + p.name for p in (out / "model").glob("*.safetensors")}
        if (out / "model").exists()
        else set()
    )
    hub.set_faults(xet_backed=True, xet_cas=True)
    rerun = run_cli(command, env)
    assert rerun.returncode == 0, rerun.stderr
    assert_complete(out, repo)
    events = last_run(read_events(state))
    resumed = {e["data"]["file"] for e in events if e["kind"] == "item" and e["data"]["state"] == "resumed"}
    via_xet = {e["data"]["file"] for e in events if e["kind"] == "item" and e["data"].get("via") == "xet"}
    assert resumed == partial  # the bytes on disk are kept: those files stay with the journal engine
    assert not via_xet & partial
    shards = {f"model/{name}" for name, info in repo.files.items() if info.lfs}
    assert via_xet == shards - partial - placed  # a shard not begun still goes through hf_xet


def test_a_bad_file_from_hf_xet_is_caught_by_sha256_and_fetched_over_http(
    hub: HubServer, repo: GeneratedRepo, tmp_path: Path
):
    pytest.importorskip("hf_xet")
    hub.set_faults(xet_backed=True, xet_cas=True, corrupt_times=1, fault_paths=SHARD)  # one flipped byte
    state = tmp_path / "state"
    proc = run_cli(cli_command(hub, tmp_path / "out"), cli_env(state))
    assert proc.returncode == 0, proc.stderr
    assert_complete(tmp_path / "out", repo)
    warnings = [e["data"]["message"] for e in last_run(read_events(state)) if e["kind"] == "log"]
    assert any(
        f"model/{SHARD}: the file from the Xet path does not match the Hub's checksum" in w for w in warnings
    ), warnings
    assert any("/blobs/" in r and SHARD in r for r in hub.stats()["requests"])  # refetched over the bridge


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["../../etc"], "REPO_ID '../../etc' is not a Hub repo id"),
        (
            [REPO_ID, "--endpoint", "http://[::1"],
            "--endpoint 'http://[::1' is not a Hub URL: Invalid IPv6 URL",
        ),
        ([REPO_ID, "--endpoint", "ftp://example.invalid"], "is not a Hub URL: it must start with https://"),
        ([REPO_ID, "--stall-timeout", "nan"], "not a finite number of seconds"),
    ],
    ids=["path-as-repo-id", "broken-ipv6-endpoint", "ftp-endpoint", "nan-seconds"],
)
def test_bad_input_is_one_clear_error(tmp_path: Path, args: list[str], message: str):
    command = [sys.executable, "-m", "arcforge_downloader", *args, "--output-dir", str(tmp_path / "out")]
    proc = run_cli(command, cli_env(tmp_path / "state"))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_hf_endpoint_variable_is_named(tmp_path: Path):
    command = [sys.executable, "-m", "arcforge_downloader", REPO_ID, "--output-dir", str(tmp_path / "out")]
    proc = run_cli(command, cli_env(tmp_path / "state") | {"HF_ENDPOINT": "http://[::1"})
    assert proc.returncode == 2
    assert "HF_ENDPOINT 'http://[::1' is not a Hub URL" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: a CA no system store knows, like a corporate one."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
            ),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_hub(repo_root: Path, repo: GeneratedRepo, tls_pair: tuple[Path, Path]) -> Iterator[HubServer]:
    with running_hub_server(repo_root, tls=tls_pair, redirect_to_cdn=True) as hub:
        yield hub


def test_https_bytes_trust_what_the_metadata_trusts(
    tls_hub: HubServer, repo: GeneratedRepo, tls_pair, tmp_path: Path
):
    # SSL_CERT_FILE is how huggingface_hub's client (httpx2) is told of a CA; the byte stream reads it too.
    env = cli_env(tmp_path / "state") | {"SSL_CERT_FILE": str(tls_pair[0])}
    proc = run_cli(cli_command(tls_hub, tmp_path / "out"), env)
    assert proc.returncode == 0, proc.stderr
    assert_complete(tmp_path / "out", repo)


def test_an_unknown_ca_is_one_clear_error(tls_hub: HubServer, tmp_path: Path):
    proc = run_cli(cli_command(tls_hub, tmp_path / "out"), cli_env(tmp_path / "state"))
    assert proc.returncode == 3
    assert "CERTIFICATE_VERIFY_FAILED" in proc.stderr or "certificate verify failed" in proc.stderr
    assert "SSL_CERT_FILE" in proc.stderr and "Traceback" not in proc.stderr


def test_https_goes_through_the_proxy_as_a_tunnel(
    tls_hub: HubServer, repo: GeneratedRepo, tls_pair, tmp_path: Path
):
    tls_hub.reset_stats()
    with running_http_proxy() as proxy:
        env = cli_env(tmp_path / "state") | {
            "SSL_CERT_FILE": str(tls_pair[0]),
            "HTTPS_PROXY": proxy.url,
            "NO_PROXY": "",
            "no_proxy": "",
        }
        proc = run_cli(cli_command(tls_hub, tmp_path / "out"), env)
        seen = proxy.requests
    assert proc.returncode == 0, proc.stderr
    assert_complete(tmp_path / "out", repo)
    hub_port = tls_hub.url.rsplit(":", 1)[1]
    methods = {line.split()[0] for line in seen}
    assert methods == {"CONNECT"}  # the proxy only ever saw tunnels: TLS end to end
    targets = {line.split()[1] for line in seen}
    assert f"127.0.0.1:{hub_port}" in targets and len(targets) == 2  # the hub and its CDN
    assert not proxy.log.body_bytes  # nothing in the clear
