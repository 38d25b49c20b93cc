"""Download throughput: arcforge-download against `hf download`, under a per-connection bandwidth cap.

Generates a model repo of --size-gb (safetensors shards made with the `safetensors` package), serves
it from the loopback hub (tests/support/hub_server.py, its own process) behind a CDN redirect with a
per-connection bandwidth cap and added latency, the way a real CDN throttles single streams. Then,
in the same run:

1. `hf download` (huggingface_hub's CLI, as users run it) fetches the repo;
2. `arcforge-download` fetches it: ranged requests over --workers connections, sha256-verified;
3. `arcforge-download` is killed with SIGKILL at 50 % and rerun: the bytes fetched twice are printed.

Prints MB/s for both, their ratio (target ≥ 1.5×), and the re-fetched bytes. The baseline is `hf download`
over HTTP: the stand-in hub serves plain LFS files, so hf_xet (which `hf download` uses for Xet-backed
files on the real Hub) is not in play, even when installed; no Xet CAS can be reached from here, and
this ratio says nothing about hf_xet's speed.

`--compare-clients` adds one uncapped connection read by http.client (the engine's client) and by the
HTTP library huggingface_hub uses (httpx2 or httpx): the per-byte cost of each client, same server.

    python benchmarks/download_throughput.py --size-gb 1 --bandwidth-mbs 20 --latency-ms 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.hub_server import GeneratedRepo, HubServer, generate_repo, running_hub_server  # noqa: E402

REPO_ID = "arcforge-bench/generated-model"
MB = 1e6


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-gb", type=float, default=1.0, help="repo size in GB (default: 1)")
    parser.add_argument("--shards", type=int, default=2, help="safetensors shards (default: 2)")
    parser.add_argument(
        "--bandwidth-mbs", type=float, default=20.0, help="per-connection cap in MB/s (default: 20)"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added per request (default: 20)")
    parser.add_argument("--workers", type=int, default=8, help="arcforge-download connections (default: 8)")
    parser.add_argument(
        "--max-workers", type=int, help="arcforge-download --max-workers (default: its own, twice --workers)"
    )
    parser.add_argument("--range-size", default="64M", help="arcforge-download range size (default: 64M)")
    parser.add_argument(
        "--work-dir", type=Path, help="where to put the repo and downloads (default: a temp dir)"
    )
    parser.add_argument("--skip-hf", action="store_true", help="do not run `hf download`")
    parser.add_argument(
        "--compare-clients",
        action="store_true",
        help="also read one shard over one uncapped connection with http.client and with httpx2/httpx",
    )
    return parser.parse_args()


def baseline_label() -> str:
    """What `hf download` is in this run: its version, and whether hf_xet could have taken part."""
    import importlib.util

    import huggingface_hub

    xet = "installed" if importlib.util.find_spec("hf_xet") else "not installed"
    return (
        f"huggingface_hub {huggingface_hub.__version__}, hf_xet {xet}; the stand-in serves no Xet, "
        "so this is hf download's HTTP path (one connection per file)"
    )


def client_rates(hub: HubServer, repo: GeneratedRepo) -> dict[str, float]:
    """MB/s of one uncapped connection reading the largest shard: http.client (read1 into a buffer,
    as the engine reads) against huggingface_hub's HTTP library (iter_raw). Same server, same bytes."""
    import http.client
    import importlib
    from urllib.parse import quote, urlsplit

    name = max((f for f in repo.files.values() if f.lfs), key=lambda f: f.size).path
    path = f"/{REPO_ID}/resolve/{repo.commit}/{quote(name)}"
    rates: dict[str, float] = {}
    hub.set_faults()  # no cap, no latency, no redirect: only the client differs
    started = time.monotonic()
    conn = http.client.HTTPConnection(urlsplit(hub.url).netloc)
    conn.request("GET", path, headers={"Range": "bytes=0-", "Accept-Encoding": "identity"})
    response = conn.getresponse()
    got = 0
    while block := response.read1(256 << 10):
        got += len(block)
    conn.close()
    rates["http.client"] = got / MB / (time.monotonic() - started)
    for module_name in ("httpx2", "httpx"):
        try:
            library = importlib.import_module(module_name)
        except ImportError:
            continue
        started = time.monotonic()
        got = 0
        with (
            library.Client(timeout=None) as client,
            client.stream(
                "GET", hub.url + path, headers={"Range": "bytes=0-", "Accept-Encoding": "identity"}
            ) as streamed,
        ):
            for block in streamed.iter_raw(256 << 10):
                got += len(block)
        rates[module_name] = got / MB / (time.monotonic() - started)
        break
    return rates


def hf_cli() -> list[str]:
    found = shutil.which("hf", path=str(Path(sys.executable).parent)) or shutil.which("hf")
    if found:
        return [found]
    return [sys.executable, "-c", "from huggingface_hub.cli.hf import main; main()"]


def env_for(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    env["HF_HOME"] = str(work / "hf-home")
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    env["ARCFORGE_STATE_DIR"] = str(work / "state")
    return env


def arcforge_command(hub: HubServer, out: Path, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "arcforge_downloader",
        REPO_ID,
        "--output-dir",
        str(out),
        "--endpoint",
        hub.url,
        "--workers",
        str(args.workers),
        "--range-size",
        args.range_size,
        "--progress",
        "plain",
        *(["--max-workers", str(args.max_workers)] if args.max_workers else []),
    ]


def workers_reached(work: Path, started_with: int) -> int:
    """The most connections the last arcforge-download run used (its `log` events name each addition)."""
    import json

    path = work / "state" / "download.jsonl"
    events = (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )
    starts = [i for i, e in enumerate(events) if e["kind"] == "start"]
    last = events[starts[-1] :] if starts else []
    grown = [e["data"]["workers"] for e in last if e["kind"] == "log" and "workers" in e["data"]]
    return max([started_with, *grown])


def timed(command: list[str], env: dict[str, str], label: str) -> float:
    started = time.monotonic()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def hf_transfer_rate(hub: HubServer, repo: GeneratedRepo, work: Path, workers: int) -> float | None:
    """MB/s of hf_transfer.download over the same files, one file at a time, when it is installed:
    the measurement behind not using it as a fast path (see the package README)."""
    try:
        import hf_transfer
    except ImportError:
        return None
    import http.client
    from urllib.parse import quote, urlsplit

    out = work / "hf-transfer"
    out.mkdir(parents=True, exist_ok=True)
    hub.reset_stats()
    started = time.monotonic()
    for name in sorted(repo.files):
        if not repo.files[name].lfs:
            continue  # small files are not what a fast path is for
        parts = urlsplit(hub.url)
        conn = http.client.HTTPConnection(parts.netloc)
        conn.request("HEAD", f"/{REPO_ID}/resolve/{repo.commit}/{quote(name)}")
        location = conn.getresponse().getheader("Location")
        conn.close()
        assert location, "the benchmark hub redirects LFS files to its CDN"
        hf_transfer.download(
            url=location,
            filename=str(out / name),
            max_files=workers,
            chunk_size=10 << 20,
            parallel_failures=3,
            max_retries=5,
        )
    seconds = time.monotonic() - started
    return float(hub.stats()["body_bytes_total"]) / MB / seconds


def kill_at_half(
    hub: HubServer, repo: GeneratedRepo, work: Path, args: argparse.Namespace
) -> tuple[int, int]:
    """(bytes fetched twice, bytes the rerun fetched) after a SIGKILL at 50 %."""
    out = work / "killed"
    env = env_for(work)
    command = arcforge_command(hub, out, args)
    hub.reset_stats()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while hub.stats()["body_bytes_total"] < repo.bytes_total / 2:
            if proc.poll() is not None:
                raise SystemExit("the download finished before 50 %: raise --size-gb")
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    first = hub.stats()["body_bytes"]
    hub.reset_stats()
    timed(command, env, "arcforge-download rerun")
    second = hub.stats()["body_bytes"]
    fetched_twice = sum(
        first.get(n, 0) + second.get(n, 0) - f.size for n, f in repo.files.items() if n in second
    )
    return fetched_twice, sum(second.values())


def main() -> int:
    args = parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="arcforge-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        shard = int(args.size_gb * 1e9 / args.shards)
        print(f"generating {args.shards} × {shard / MB:.0f} MB shards in {work} …", flush=True)
        repo = generate_repo(work / "repos", REPO_ID, shard_bytes=[shard] * args.shards, seed=7)
        faults = {
            "bandwidth_bps": args.bandwidth_mbs * MB,
            "latency_s": args.latency_ms / 1000,
            "redirect_to_cdn": True,
        }
        with running_hub_server(work / "repos", **faults) as hub:
            print(
                f"repo: {repo.bytes_total / MB:.0f} MB; cap {args.bandwidth_mbs:g} MB/s per connection, "
                f"+{args.latency_ms:g} ms per request, CDN redirect",
                flush=True,
            )
            results: dict[str, float] = {}
            print(f"baseline:          hf download ({baseline_label()})", flush=True)
            if not args.skip_hf:
                hub.reset_stats()
                hf_env = env_for(work) | {"HF_ENDPOINT": hub.url}
                seconds = timed(
                    [*hf_cli(), "download", REPO_ID, "--local-dir", str(work / "hf")], hf_env, "hf download"
                )
                results["hf download"] = hub.stats()["body_bytes_total"] / MB / seconds
                print(f"hf download:       {results['hf download']:7.1f} MB/s  ({seconds:.1f} s)", flush=True)
            hub.reset_stats()
            seconds = timed(
                arcforge_command(hub, work / "arcforge", args), env_for(work), "arcforge-download"
            )
            results["arcforge"] = hub.stats()["body_bytes_total"] / MB / seconds
            reached = workers_reached(work, args.workers)
            print(
                f"arcforge-download: {results['arcforge']:7.1f} MB/s  ({seconds:.1f} s, {args.workers}"
                f"{f'→{reached}' if reached > args.workers else ''} workers, "
                f"ranges of {args.range_size}, sha256 verified)",
                flush=True,
            )
            if "hf download" in results:
                ratio = results["arcforge"] / results["hf download"]
                verdict = "meets" if ratio >= 1.5 else "MISSES"
                print(f"ratio:             {ratio:7.2f}×  ({verdict} the 1.5× target)")
            transfer = hf_transfer_rate(hub, repo, work, args.workers)
            if transfer is not None:
                print(
                    f"hf_transfer:       {transfer:7.1f} MB/s  (the shards, {args.workers} connections, "
                    "10 MiB chunks, no verification, no resume)",
                    flush=True,
                )
            fetched_twice, rerun_bytes = kill_at_half(hub, repo, work, args)
            print(
                f"kill -9 at 50 %:   {fetched_twice / MB:.1f} MB fetched twice ({fetched_twice:,} bytes); "
                f"the rerun fetched {rerun_bytes / MB:.0f} of {repo.bytes_total / MB:.0f} MB"
            )
            if args.compare_clients:
                for client, rate in client_rates(hub, repo).items():
                    print(
                        f"one connection, {client + ':':12} {rate:7.1f} MB/s (uncapped, no latency)",
                        flush=True,
                    )
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
